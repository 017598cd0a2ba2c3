// Package record writes a pod's workload type onto what outlives the pod, so that a replacement
// is placed by type on its first scheduling attempt (pkg/workloadtype's Resolver reads it back).
// The classifier records what it measured when it labels a pod; the rebalancer records a pod's
// type before it evicts it.
//
// Where a record goes:
//   - a pod of a StatefulSet: the StatefulSet;
//   - a pod of a ReplicaSet: the ReplicaSet, and the Deployment that controls it (the scheduler
//     reads ReplicaSets only; the Deployment's record outlives rollouts, and the Deployment
//     controller copies its annotations onto each new ReplicaSet);
//   - a pod with any other controller (an operator's custom resource, CloudNativePG's Cluster):
//     its PersistentVolumeClaims, which the operator keeps for the replacement;
//   - a bare pod: nothing, since nothing recreates it.
//
// A record is the annotation likewise.dev/workload-type with the writer in
// likewise.dev/workload-type-source. A record marked manual, or carrying no source, is a
// person's and is never overwritten or cleared. Every write is a merge patch conditional on the
// object's resourceVersion, retried on conflict, and skipped when the object already says the same.
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Record writes type t (OLTP or OLAP), written by source (e.g. apis.WorkloadTypeSourceClassifier),
// on what outlives pod, and returns the objects it changed as "<Kind> <namespace>/<name>". An
// object that already holds the same record, or a person's record, is left alone and not listed.
// A bare pod, or an operator's pod without claims, has nowhere to record: no objects, no error.
// An owner that no longer exists is skipped. On error, the objects written so far are returned.
//
// RBAC: get and patch on the objects written (statefulsets, replicasets, deployments in apps;
// persistentvolumeclaims in core).
func Record(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, t workloadtype.Type, source string) ([]string, error) {
	if t == workloadtype.None {
		return nil, errors.New("record: no type to record (use Clear to remove a record)")
	}
	if source == "" || source == apis.WorkloadTypeSourceManual {
		return nil, fmt.Errorf("record: source %q: must name the component writing the record", source)
	}
	return apply(ctx, client, pod, func(obj metav1.Object) map[string]any {
		a := obj.GetAnnotations()
		if personal(a) || (a[apis.AnnotationWorkloadTypeRecord] == t.String() && a[apis.AnnotationWorkloadTypeSource] == source) {
			return nil
		}
		return map[string]any{apis.AnnotationWorkloadTypeRecord: t.String(), apis.AnnotationWorkloadTypeSource: source}
	})
}

// Clear removes the records on what outlives pod that source wrote and returns the objects it
// changed. Records written by anyone else are kept. (The classifier no longer clears its record
// for a mixed database: it records olap, the type its label shows.)
func Clear(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, source string) ([]string, error) {
	return apply(ctx, client, pod, func(obj metav1.Object) map[string]any {
		a := obj.GetAnnotations()
		if _, ok := a[apis.AnnotationWorkloadTypeRecord]; !ok || personal(a) || a[apis.AnnotationWorkloadTypeSource] != source {
			return nil
		}
		return map[string]any{apis.AnnotationWorkloadTypeRecord: nil, apis.AnnotationWorkloadTypeSource: nil}
	})
}

// personal reports whether annotations hold a person's record: marked manual, or with no source.
func personal(a map[string]string) bool {
	if _, ok := a[apis.AnnotationWorkloadTypeRecord]; !ok {
		return false
	}
	source, ok := a[apis.AnnotationWorkloadTypeSource]
	return !ok || source == "" || source == apis.WorkloadTypeSourceManual
}

// change returns the annotations to patch on obj (nil values remove), or nil for none.
type change func(obj metav1.Object) map[string]any

// target is one object a record goes on.
type target struct {
	kind, namespace, name string
	uid                   types.UID // "" when any UID will do (a claim, named by the pod)
	get                   func(ctx context.Context) (metav1.Object, error)
	patch                 func(ctx context.Context, data []byte) error
}

func (t target) String() string { return t.kind + " " + t.namespace + "/" + t.name }

func apply(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, c change) ([]string, error) {
	targets, err := targetsOf(ctx, client, pod)
	if err != nil {
		return nil, err
	}
	var written []string
	for _, tg := range targets {
		done, err := applyOne(ctx, tg, c)
		if err != nil {
			return written, fmt.Errorf("%s: %w", tg, err)
		}
		if done {
			written = append(written, tg.String())
		}
	}
	return written, nil
}

// applyOne reads the object, decides and patches it, conditional on what it read; a conflict
// reads it again.
func applyOne(ctx context.Context, tg target, c change) (bool, error) {
	written := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := tg.get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if tg.uid != "" && obj.GetUID() != tg.uid {
			return nil // a new object of the same name: not the pod's owner
		}
		annotations := c(obj)
		if annotations == nil {
			return nil
		}
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": obj.GetResourceVersion(),
			"annotations":     annotations,
		}})
		if err != nil {
			return err
		}
		if err := tg.patch(ctx, data); err != nil {
			return err
		}
		written = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return written, err
}

const fieldManager = "likewise"

func isApps(ref *metav1.OwnerReference) bool {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	return err == nil && gv.Group == "apps"
}

// targetsOf lists where pod's record goes (see the package comment).
func targetsOf(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) ([]target, error) {
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		return nil, nil
	}
	ns := pod.Namespace
	opts := metav1.PatchOptions{FieldManager: fieldManager}
	apps := client.AppsV1()
	switch {
	case isApps(ref) && ref.Kind == workloadtype.KindStatefulSet:
		return []target{{
			kind: workloadtype.KindStatefulSet, namespace: ns, name: ref.Name, uid: ref.UID,
			get: func(ctx context.Context) (metav1.Object, error) {
				return apps.StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			},
			patch: func(ctx context.Context, data []byte) error {
				_, err := apps.StatefulSets(ns).Patch(ctx, ref.Name, types.MergePatchType, data, opts)
				return err
			},
		}}, nil
	case isApps(ref) && ref.Kind == workloadtype.KindReplicaSet:
		rs, err := apps.ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s/%s: %w", workloadtype.KindReplicaSet, ns, ref.Name, err)
		}
		if rs.UID != ref.UID {
			return nil, nil
		}
		targets := []target{{
			kind: workloadtype.KindReplicaSet, namespace: ns, name: ref.Name, uid: ref.UID,
			get: func(ctx context.Context) (metav1.Object, error) {
				return apps.ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			},
			patch: func(ctx context.Context, data []byte) error {
				_, err := apps.ReplicaSets(ns).Patch(ctx, ref.Name, types.MergePatchType, data, opts)
				return err
			},
		}}
		if d := metav1.GetControllerOfNoCopy(rs); d != nil && isApps(d) && d.Kind == workloadtype.KindDeployment {
			targets = append(targets, target{
				kind: workloadtype.KindDeployment, namespace: ns, name: d.Name, uid: d.UID,
				get: func(ctx context.Context) (metav1.Object, error) {
					return apps.Deployments(ns).Get(ctx, d.Name, metav1.GetOptions{})
				},
				patch: func(ctx context.Context, data []byte) error {
					_, err := apps.Deployments(ns).Patch(ctx, d.Name, types.MergePatchType, data, opts)
					return err
				},
			})
		}
		return targets, nil
	}
	// Another controller, an operator's resource most often: the claims outlive the pod.
	pvcs := client.CoreV1().PersistentVolumeClaims(ns)
	var targets []target
	for _, name := range workloadtype.ClaimNames(pod) {
		targets = append(targets, target{
			kind: workloadtype.KindPersistentVolumeClaim, namespace: ns, name: name,
			get: func(ctx context.Context) (metav1.Object, error) {
				return pvcs.Get(ctx, name, metav1.GetOptions{})
			},
			patch: func(ctx context.Context, data []byte) error {
				_, err := pvcs.Patch(ctx, name, types.MergePatchType, data, opts)
				return err
			},
		})
	}
	return targets, nil
}
