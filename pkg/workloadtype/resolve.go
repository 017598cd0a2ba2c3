package workloadtype

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// Source is where a pod's type came from.
type Source uint8

const (
	// SourceNone: the pod has no type.
	SourceNone Source = iota
	// SourceLabel: the pod's own likewise.dev/workload-type label.
	SourceLabel
	// SourceWorkload: the record on the pod's controller (StatefulSet, ReplicaSet, Deployment).
	SourceWorkload
	// SourceVolume: the record on one of the pod's PersistentVolumeClaims.
	SourceVolume
)

// String names the source in messages and logs.
func (s Source) String() string {
	switch s {
	case SourceLabel:
		return "label"
	case SourceWorkload:
		return "workload"
	case SourceVolume:
		return "volume"
	default:
		return "none"
	}
}

// Kinds of the objects a record is read from or written to, as Resolution.From names them.
const (
	KindStatefulSet           = "StatefulSet"
	KindReplicaSet            = "ReplicaSet"
	KindDeployment            = "Deployment"
	KindPersistentVolumeClaim = "PersistentVolumeClaim"
)

// Resolution is a pod's type and where it came from.
type Resolution struct {
	Type   Type
	Source Source
	// From names the object that holds the type, "<Kind> <namespace>/<name>" ("Pod ns/name" for a
	// label); "" when the pod has no type.
	From string
	// RecordedBy is the record's likewise.dev/workload-type-source (classifier, manual, ...), ""
	// for a label or no type. A record without one was written by a person.
	RecordedBy string
}

// Resolver reads a pod's type: its label, else the record on what outlives the pod. It reads
// only informer listers, so it is cheap enough for a scheduling cycle (a few map lookups).
type Resolver struct {
	replicaSets  appslisters.ReplicaSetLister
	statefulSets appslisters.StatefulSetLister
	deployments  appslisters.DeploymentLister
	pvcs         corelisters.PersistentVolumeClaimLister
}

// NewResolver returns a resolver over the given listers. Any of them may be nil: that source is
// skipped. kube-scheduler's RBAC (system:kube-scheduler) grants ReplicaSets, StatefulSets and
// PersistentVolumeClaims but not Deployments, so the scheduler passes no Deployment lister and
// relies on the record on the ReplicaSet (which record.Record writes too, and which the
// Deployment controller copies from the Deployment onto every new ReplicaSet).
func NewResolver(rs appslisters.ReplicaSetLister, sts appslisters.StatefulSetLister, deploy appslisters.DeploymentLister, pvc corelisters.PersistentVolumeClaimLister) *Resolver {
	return &Resolver{replicaSets: rs, statefulSets: sts, deployments: deploy, pvcs: pvc}
}

// Resolve returns the pod's type: its label when it has one, else Recorded. An invalid label
// is an error and the pod is untyped: a person's label is never overridden by a record.
func (r *Resolver) Resolve(pod *v1.Pod) (Resolution, error) {
	if value, ok := pod.Labels[apis.LabelWorkloadType]; ok {
		t, err := Parse(value)
		if err != nil {
			return Resolution{}, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		if t != None {
			return Resolution{Type: t, Source: SourceLabel, From: "Pod " + pod.Namespace + "/" + pod.Name}, nil
		}
	}
	return r.Recorded(pod)
}

// Recorded returns the type recorded for the pod's workload, ignoring the pod's label: the
// record on its StatefulSet, or its ReplicaSet, then that ReplicaSet's Deployment; else on its
// PersistentVolumeClaims (operators' pods, owned by a custom resource, keep their claims). An
// owner or claim that does not exist (yet) holds no record. An invalid record, or claims that
// disagree, are an error naming the object and key; the type is then None.
func (r *Resolver) Recorded(pod *v1.Pod) (Resolution, error) {
	if r == nil {
		return Resolution{}, nil
	}
	res, err := r.fromController(pod)
	if err != nil || res.Type != None {
		return res, err
	}
	return r.fromClaims(pod)
}

func (r *Resolver) fromController(pod *v1.Pod) (Resolution, error) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil || !isApps(ref.APIVersion) {
		return Resolution{}, nil
	}
	switch ref.Kind {
	case KindStatefulSet:
		if r.statefulSets == nil {
			return Resolution{}, nil
		}
		sts, err := r.statefulSets.StatefulSets(pod.Namespace).Get(ref.Name)
		if err = absent(err); err != nil || sts == nil || sts.UID != ref.UID {
			return Resolution{}, err
		}
		return recordOn(&sts.ObjectMeta, KindStatefulSet, SourceWorkload)
	case KindReplicaSet:
		if r.replicaSets == nil {
			return Resolution{}, nil
		}
		rs, err := r.replicaSets.ReplicaSets(pod.Namespace).Get(ref.Name)
		if err = absent(err); err != nil || rs == nil || rs.UID != ref.UID {
			return Resolution{}, err
		}
		res, err := recordOn(&rs.ObjectMeta, KindReplicaSet, SourceWorkload)
		if err != nil || res.Type != None {
			return res, err
		}
		return r.fromDeployment(rs)
	}
	return Resolution{}, nil
}

func (r *Resolver) fromDeployment(rs metav1.Object) (Resolution, error) {
	ref := metav1.GetControllerOfNoCopy(rs)
	if r.deployments == nil || ref == nil || ref.Kind != KindDeployment || !isApps(ref.APIVersion) {
		return Resolution{}, nil
	}
	d, err := r.deployments.Deployments(rs.GetNamespace()).Get(ref.Name)
	if err = absent(err); err != nil || d == nil || d.UID != ref.UID {
		return Resolution{}, err
	}
	return recordOn(&d.ObjectMeta, KindDeployment, SourceWorkload)
}

func (r *Resolver) fromClaims(pod *v1.Pod) (Resolution, error) {
	if r.pvcs == nil {
		return Resolution{}, nil
	}
	var found Resolution
	for _, name := range ClaimNames(pod) {
		pvc, err := r.pvcs.PersistentVolumeClaims(pod.Namespace).Get(name)
		if err = absent(err); err != nil {
			return Resolution{}, err
		}
		if pvc == nil {
			continue
		}
		res, err := recordOn(&pvc.ObjectMeta, KindPersistentVolumeClaim, SourceVolume)
		if err != nil {
			return Resolution{}, err
		}
		switch {
		case res.Type == None:
		case found.Type == None:
			found = res
		case found.Type != res.Type:
			return Resolution{}, fmt.Errorf("%s and %s record different types in annotation %s (%s, %s)",
				found.From, res.From, apis.AnnotationWorkloadTypeRecord, found.Type, res.Type)
		}
	}
	return found, nil
}

// ClaimNames returns the PersistentVolumeClaims the pod mounts by name, in volume order. Generic
// ephemeral volumes are left out: their claims are deleted with the pod.
func ClaimNames(pod *v1.Pod) []string {
	var names []string
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName != "" {
			names = append(names, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return names
}

// RecordOf reads the record on an object: its type (None when there is none) and who wrote it.
// An invalid value is an error naming the annotation.
func RecordOf(obj metav1.Object) (Type, string, error) {
	a := obj.GetAnnotations()
	value, ok := a[apis.AnnotationWorkloadTypeRecord]
	if !ok {
		return None, "", nil
	}
	switch value {
	case apis.WorkloadOLTP:
		return OLTP, a[apis.AnnotationWorkloadTypeSource], nil
	case apis.WorkloadOLAP:
		return OLAP, a[apis.AnnotationWorkloadTypeSource], nil
	default:
		return None, "", fmt.Errorf("annotation %s=%q: supported values: %q, %q",
			apis.AnnotationWorkloadTypeRecord, value, apis.WorkloadOLTP, apis.WorkloadOLAP)
	}
}

func recordOn(obj metav1.Object, kind string, source Source) (Resolution, error) {
	from := kind + " " + obj.GetNamespace() + "/" + obj.GetName()
	t, by, err := RecordOf(obj)
	if err != nil {
		return Resolution{}, fmt.Errorf("%s: %w", from, err)
	}
	if t == None {
		return Resolution{}, nil
	}
	return Resolution{Type: t, Source: source, From: from, RecordedBy: by}, nil
}

// isApps reports whether an owner reference is of the apps group: the group keeps out custom
// kinds of the same name.
func isApps(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == appsv1.GroupName
}

// absent turns a lister's NotFound into no error: an owner not in the cache holds no record.
func absent(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
