package rebalancer

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// Reasons a pod may not move: the Event reason on the pod and the result label of
// likewise_rebalancer_decisions_total. Each names the check that failed.
const (
	ReasonBarePod             = "BarePod"             // no controller would recreate it
	ReasonUnknownController   = "UnknownController"   // its controller's kind is not known to recreate pods
	ReasonDaemonSetPod        = "DaemonSetPod"        // bound to its node by design
	ReasonMirrorPod           = "MirrorPod"           // a static pod's mirror: the kubelet owns it
	ReasonTerminating         = "Terminating"         // already leaving
	ReasonSystemCritical      = "SystemCritical"      // system-cluster-critical or system-node-critical
	ReasonNodeLocalStorage    = "NodeLocalStorage"    // hostPath, emptyDir, or a local / node-pinned PV
	ReasonVolumeUnknown       = "VolumeUnknown"       // a claim or volume could not be read: fail closed
	ReasonOperatorPrimary     = "OperatorPrimary"     // a PostgreSQL operator's primary instance
	ReasonSingleInstance      = "SingleInstance"      // the only instance of an operator's cluster
	ReasonOptedOut            = "OptedOut"            // likewise.dev/rebalance=false on the pod
	ReasonNamespaceOptedOut   = "NamespaceOptedOut"   // likewise.dev/rebalance=false on the namespace
	ReasonNamespaceExcluded   = "NamespaceExcluded"   // --excluded-namespaces
	ReasonNamespaceUnknown    = "NamespaceUnknown"    // the namespace could not be read: fail closed
	ReasonTooYoung            = "TooYoung"            // younger than --min-pod-age, or its type is
	ReasonNotReady            = "NotReady"            // not running and ready: moving it proves nothing
	ReasonWorkloadUnavailable = "WorkloadUnavailable" // another pod of its workload is not ready
)

// Controller kinds known to recreate an evicted pod.
// Zalando's and Crunchy's operators run their instances as StatefulSets; CloudNativePG's Cluster
// creates instance pods itself.
var recreatingKinds = map[string]bool{
	"apps/ReplicaSet":            true,
	"apps/StatefulSet":           true,
	"/ReplicationController":     true,
	"postgresql.cnpg.io/Cluster": true,
}

// Operators' primaries and cluster labels: (role label, primary value, cluster label).
var operatorRoles = []struct{ role, primary, cluster string }{
	{apis.LabelCNPGInstanceRole, apis.CNPGRolePrimary, apis.LabelCNPGCluster},
	{apis.LabelSpiloRole, apis.SpiloRoleMaster, apis.LabelZalandoCluster},
	{apis.LabelCrunchyRole, apis.CrunchyRoleMaster, apis.LabelCrunchyCluster},
}

// Blocked is why a pod may not move: a reason (above) and a sentence for people.
type Blocked struct {
	Reason  string
	Message string
}

func blocked(reason, format string, args ...any) *Blocked {
	return &Blocked{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// movability checks whether a pod may be evicted at all, whatever the cluster looks like. It reads
// only informer caches.
type movability struct {
	cfg        *Config
	namespaces corelisters.NamespaceLister
	claims     corelisters.PersistentVolumeClaimLister
	volumes    corelisters.PersistentVolumeLister
}

// check returns nil when pod may move; pods is every pod of the view, for counting an operator
// cluster's instances.
func (m *movability) check(pod *v1.Pod, pods []*v1.Pod) *Blocked {
	if pod.Annotations[apis.AnnotationRebalance] == apis.RebalanceDisabled {
		return blocked(ReasonOptedOut, "annotation %s=%s", apis.AnnotationRebalance, apis.RebalanceDisabled)
	}
	if slices.Contains(m.cfg.ExcludedNamespaces, pod.Namespace) {
		return blocked(ReasonNamespaceExcluded, "namespace %s is excluded (--excluded-namespaces)", pod.Namespace)
	}
	ns, err := m.namespaces.Get(pod.Namespace)
	if err != nil {
		return blocked(ReasonNamespaceUnknown, "reading namespace %s: %v", pod.Namespace, err)
	}
	if ns.Labels[apis.LabelRebalance] == apis.RebalanceDisabled {
		return blocked(ReasonNamespaceOptedOut, "namespace %s has label %s=%s", pod.Namespace, apis.LabelRebalance, apis.RebalanceDisabled)
	}
	if _, mirror := pod.Annotations[v1.MirrorPodAnnotationKey]; mirror {
		return blocked(ReasonMirrorPod, "a static pod's mirror: its kubelet owns it")
	}
	if pod.DeletionTimestamp != nil {
		return blocked(ReasonTerminating, "already terminating")
	}
	if critical(pod) {
		return blocked(ReasonSystemCritical, "priority class %q: system-critical pods are never evicted", pod.Spec.PriorityClassName)
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return blocked(ReasonBarePod, "no controller would recreate it")
	}
	if ref.Kind == "DaemonSet" {
		return blocked(ReasonDaemonSetPod, "owned by DaemonSet %s: it belongs to its node", ref.Name)
	}
	if !recreatingKinds[groupKind(ref)] {
		return blocked(ReasonUnknownController, "its controller %s %s is not known to recreate evicted pods", ref.Kind, ref.Name)
	}
	for _, r := range operatorRoles {
		if pod.Labels[r.role] == r.primary {
			return blocked(ReasonOperatorPrimary, "label %s=%s: the operator's primary; switch over first", r.role, r.primary)
		}
		if cluster, ok := pod.Labels[r.cluster]; ok && instances(pods, pod.Namespace, r.cluster, cluster) < 2 {
			return blocked(ReasonSingleInstance, "the only instance of cluster %s (label %s)", cluster, r.cluster)
		}
	}
	if b := m.storage(pod); b != nil {
		return b
	}
	if !ready(pod) {
		return blocked(ReasonNotReady, "not running and ready")
	}
	return nil
}

func (m *movability) storage(pod *v1.Pod) *Blocked {
	for _, vol := range pod.Spec.Volumes {
		switch {
		case vol.HostPath != nil:
			return blocked(ReasonNodeLocalStorage, "volume %s is a hostPath: its data stays on the node", vol.Name)
		case vol.EmptyDir != nil:
			if !slices.Contains(m.cfg.MovableEmptyDirs, vol.Name) {
				return blocked(ReasonNodeLocalStorage, "volume %s is an emptyDir: its data would be lost (allow it with --movable-emptydir-volumes)", vol.Name)
			}
		case vol.PersistentVolumeClaim != nil:
			if b := m.claim(pod, vol.PersistentVolumeClaim.ClaimName); b != nil {
				return b
			}
		case vol.Ephemeral != nil:
			return blocked(ReasonNodeLocalStorage, "volume %s is a generic ephemeral volume: it is deleted with the pod", vol.Name)
		}
	}
	return nil
}

func (m *movability) claim(pod *v1.Pod, name string) *Blocked {
	pvc, err := m.claims.PersistentVolumeClaims(pod.Namespace).Get(name)
	if err != nil {
		return blocked(ReasonVolumeUnknown, "reading PersistentVolumeClaim %s: %v", name, err)
	}
	if pvc.Spec.VolumeName == "" {
		return blocked(ReasonVolumeUnknown, "PersistentVolumeClaim %s is not bound", name)
	}
	pv, err := m.volumes.Get(pvc.Spec.VolumeName)
	if err != nil {
		return blocked(ReasonVolumeUnknown, "reading PersistentVolume %s of claim %s: %v", pvc.Spec.VolumeName, name, err)
	}
	if pv.Spec.Local != nil || pv.Spec.HostPath != nil {
		return blocked(ReasonNodeLocalStorage, "PersistentVolume %s of claim %s is node-local", pv.Name, name)
	}
	if pinned(pv) {
		return blocked(ReasonNodeLocalStorage, "PersistentVolume %s of claim %s is pinned to node %s", pv.Name, name, pod.Spec.NodeName)
	}
	return nil
}

// pinned reports whether pv's node affinity names nodes by hostname or name: the volume cannot
// follow its pod off its node. Zonal affinity is left to the scheduler's VolumeBinding filter,
// which the simulation runs.
func pinned(pv *v1.PersistentVolume) bool {
	if pv.Spec.NodeAffinity == nil || pv.Spec.NodeAffinity.Required == nil {
		return false
	}
	for _, term := range pv.Spec.NodeAffinity.Required.NodeSelectorTerms {
		for _, e := range term.MatchExpressions {
			if e.Key == v1.LabelHostname && e.Operator == v1.NodeSelectorOpIn {
				return true
			}
		}
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" {
				return true
			}
		}
	}
	return false
}

func critical(pod *v1.Pod) bool {
	switch pod.Spec.PriorityClassName {
	case "system-cluster-critical", "system-node-critical":
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= 2000000000
}

func groupKind(ref *metav1.OwnerReference) string {
	group := ref.APIVersion
	for i := range group {
		if group[i] == '/' {
			group = group[:i]
			break
		}
	}
	if group == "v1" {
		group = ""
	}
	return group + "/" + ref.Kind
}

func instances(pods []*v1.Pod, ns, key, value string) int {
	n := 0
	for _, p := range pods {
		if p.Namespace == ns && p.Labels[key] == value && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func ready(pod *v1.Pod) bool {
	if pod.Status.Phase != v1.PodRunning {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
