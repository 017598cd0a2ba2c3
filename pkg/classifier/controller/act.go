package controller

import (
	"context"
	"encoding/json"
	"errors"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// PatchData is the JSON merge patch that makes decision d on pod. It carries the pod's
// resourceVersion, which the API server treats as a precondition: if anyone changed the pod
// since it was read (a person labelling it, say), the patch fails with a Conflict instead of
// overwriting their change.
func PatchData(pod *corev1.Pod, d Decision) ([]byte, error) {
	if pod.ResourceVersion == "" {
		return nil, errors.New("pod has no resourceVersion: refusing an unconditional patch")
	}
	meta := map[string]any{"resourceVersion": pod.ResourceVersion}
	switch {
	case d.RemoveLabel:
		meta["labels"] = map[string]any{apis.LabelWorkloadType: nil}
	case d.SetLabel != "":
		meta["labels"] = map[string]any{apis.LabelWorkloadType: d.SetLabel}
	}
	if len(d.Annotations) > 0 {
		meta["annotations"] = d.Annotations
	}
	return json.Marshal(map[string]any{"metadata": meta})
}

// PatchPod makes decision d on pod with a conditional patch (see PatchData) and returns the
// patched pod.
func PatchPod(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, d Decision) (*corev1.Pod, error) {
	data, err := PatchData(pod, d)
	if err != nil {
		return nil, err
	}
	return client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, data, metav1.PatchOptions{FieldManager: Name})
}
