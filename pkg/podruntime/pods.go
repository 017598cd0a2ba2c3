package podruntime

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Image is the image name, without registry path, tag or digest, of the pods the runtime runs.
const Image = "postgres"

// imageName strips an image reference down to its name: "registry:5000/lib/postgres:15@sha256:…"
// is "postgres".
func imageName(ref string) string {
	if i := strings.LastIndex(ref, "/"); i >= 0 {
		ref = ref[i+1:]
	}
	ref, _, _ = strings.Cut(ref, "@")
	ref, _, _ = strings.Cut(ref, ":")
	return ref
}

// isPostgresPod says whether pod's first container runs the postgres image.
func isPostgresPod(pod *corev1.Pod) bool {
	return len(pod.Spec.Containers) > 0 && imageName(pod.Spec.Containers[0].Image) == Image
}

// want says whether pod should have a running server now. A pod that should but cannot (its IP
// is not one the runtime may serve on) has a non-empty failure.
func want(pod *corev1.Pod) (ok bool, failure string) {
	if pod == nil || !isPostgresPod(pod) || pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil ||
		pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false, ""
	}
	ip, err := netip.ParseAddr(pod.Status.PodIP)
	if err != nil || !ip.Is4() || !ip.IsLoopback() {
		return false, fmt.Sprintf("pod IP %q is not an IPv4 loopback address: the local runtime serves on 127.0.0.0/8 only", pod.Status.PodIP)
	}
	return true, ""
}

// identity is the name of pod's data directory inside its namespace's, and whether it is
// ephemeral (the pod's own, removed with it).
func identity(pod *corev1.Pod) (name string, ephemeral bool, err error) {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "StatefulSet" {
			return checkedIdentity(pod.Name, "the StatefulSet pod's name", false)
		}
	}
	for i, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return checkedIdentity("pvc-"+v.PersistentVolumeClaim.ClaimName, fmt.Sprintf("spec.volumes[%d].persistentVolumeClaim.claimName", i), false)
		}
	}
	return checkedIdentity(string(pod.UID), "metadata.uid", true)
}

// checkedIdentity refuses a name that is not one directory entry.
func checkedIdentity(name, field string, ephemeral bool) (string, bool, error) {
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || name != filepath.Base(name) {
		return "", false, fmt.Errorf("%s %q cannot name a data directory: %s", field, name, strings.Join(errs, "; "))
	}
	return name, ephemeral, nil
}

// cpuLimitMilli is the sum of pod's containers' CPU limits, 0 when any container has none (the
// pod is then bounded by its node alone).
func cpuLimitMilli(pod *corev1.Pod) int64 {
	var sum int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceCPU]
		if !ok || q.IsZero() {
			return 0
		}
		sum += q.MilliValue()
	}
	return sum
}

// allocatableMilli is the node's allocatable CPU, the quota of its group.
func allocatableMilli(node *corev1.Node) (int64, error) {
	q, ok := node.Status.Allocatable[corev1.ResourceCPU]
	if !ok || q.MilliValue() <= 0 {
		return 0, fmt.Errorf("node %s: status.allocatable has no positive cpu: its group would have no bound", node.Name)
	}
	return q.MilliValue(), nil
}
