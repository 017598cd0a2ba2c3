package controller

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/metrics"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
	"github.com/likewise-dev/likewise/pkg/workloadtype/record"
)

// Workloads are the informers of what outlives a pod, where its type is recorded
// (pkg/workloadtype/record). A nil informer leaves that kind out: its records are neither read
// nor needed by the cluster's RBAC.
type Workloads struct {
	ReplicaSets  appsinformers.ReplicaSetInformer
	StatefulSets appsinformers.StatefulSetInformer
	Deployments  appsinformers.DeploymentInformer
	Claims       coreinformers.PersistentVolumeClaimInformer
}

// informers returns the shared informers that are set.
func (w Workloads) informers() []cache.SharedIndexInformer {
	var out []cache.SharedIndexInformer
	if w.ReplicaSets != nil {
		out = append(out, w.ReplicaSets.Informer())
	}
	if w.StatefulSets != nil {
		out = append(out, w.StatefulSets.Informer())
	}
	if w.Deployments != nil {
		out = append(out, w.Deployments.Informer())
	}
	if w.Claims != nil {
		out = append(out, w.Claims.Informer())
	}
	return out
}

func (w Workloads) resolver() *workloadtype.Resolver {
	var (
		rs     appslisters.ReplicaSetLister
		sts    appslisters.StatefulSetLister
		deploy appslisters.DeploymentLister
		pvc    corelisters.PersistentVolumeClaimLister
	)
	if w.ReplicaSets != nil {
		rs = w.ReplicaSets.Lister()
	}
	if w.StatefulSets != nil {
		sts = w.StatefulSets.Lister()
	}
	if w.Deployments != nil {
		deploy = w.Deployments.Lister()
	}
	if w.Claims != nil {
		pvc = w.Claims.Lister()
	}
	return workloadtype.NewResolver(rs, sts, deploy, pvc)
}

// Event reasons of records.
const (
	// ReasonWorkloadTypeFromRecord: a new pod was labelled from its workload's record, unsampled.
	ReasonWorkloadTypeFromRecord = "WorkloadTypeFromRecord"
	// ReasonWorkloadTypeRecorded: the classifier recorded the pod's type on its workload.
	ReasonWorkloadTypeRecorded = "WorkloadTypeRecorded"
	// ReasonInvalidWorkloadTypeRecord: a record is not a known value; the pod is sampled instead.
	ReasonInvalidWorkloadTypeRecord = "InvalidWorkloadTypeRecord"
	// ReasonRecordFailed: writing or clearing a record failed; the next sample tries again.
	ReasonRecordFailed = "RecordFailed"
)

const actionRecord = "Record"

// DecideFromRecord says how to label a pod from the type recorded for its workload (res, from
// workloadtype.Resolver.Recorded). Only a pod the classifier may label (OwnershipOf), with no
// label and never classified itself (no likewise.dev/workload-measured), is labelled:
//   - a record the classifier wrote gives the label with source classifier, and the measured
//     annotation set to the recorded type, so that the classifier keeps owning the label and
//     changes it if its own measurements of this pod disagree (after MinDwell from when it
//     starts tracking the pod: ResumptionOf);
//   - a person's record (manual, or without a source) gives the label with source manual: it is
//     a declaration carried over to the replacement, which the classifier then never changes.
//
// The zero Decision means no label from the record.
func DecideFromRecord(pod *corev1.Pod, res workloadtype.Resolution) Decision {
	if res.Type == workloadtype.None || OwnershipOf(pod) != OwnedByClassifier {
		return Decision{}
	}
	if _, labelled := pod.Labels[apis.LabelWorkloadType]; labelled {
		return Decision{}
	}
	if _, measured := pod.Annotations[apis.AnnotationWorkloadMeasured]; measured {
		return Decision{}
	}
	by := res.RecordedBy
	if by == "" {
		by = "a person (no source)"
	}
	d := Decision{
		SetLabel:    res.Type.String(),
		EventType:   corev1.EventTypeNormal,
		EventReason: ReasonWorkloadTypeFromRecord,
		EventNote: fmt.Sprintf("workload type none -> %s from the record on %s (recorded by %s); not sampled yet",
			res.Type, res.From, by),
		Result: UpdateLabelled,
	}
	if res.RecordedBy == apis.WorkloadTypeSourceClassifier {
		d.Annotations = map[string]string{
			apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier,
			apis.AnnotationWorkloadMeasured:   res.Type.String(),
		}
	} else {
		d.Annotations = map[string]string{apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceManual}
	}
	return d
}

// labelFromRecord labels a new pod from its workload's record (DecideFromRecord) and reports
// whether it did; the pod's update brings it back for sampling.
func (c *Controller) labelFromRecord(ctx context.Context, pod *corev1.Pod) (bool, error) {
	logger := klog.FromContext(ctx)
	if OwnershipOf(pod) != OwnedByClassifier || pod.Labels[apis.LabelWorkloadType] != "" {
		return false, nil
	}
	res, err := c.resolver.Recorded(pod)
	if err != nil {
		logger.V(2).Info("Ignoring invalid workload type record", "err", err)
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonInvalidWorkloadTypeRecord, actionRecord,
			"%s; the pod is classified by sampling", truncate(err.Error(), maxReasonsLength))
		return false, nil
	}
	d := DecideFromRecord(pod, res)
	if d.IsZero() {
		return false, nil
	}
	patched, err := PatchPod(ctx, c.client, pod, d)
	if err != nil {
		metrics.ClassifierPodUpdates.WithLabelValues(updateResultOf(err)).Inc()
		return false, fmt.Errorf("labelling pod %s/%s from its record: %w", pod.Namespace, pod.Name, err)
	}
	metrics.ClassifierPodUpdates.WithLabelValues(d.Result).Inc()
	logger.V(2).Info("Labelled pod from its workload's record", "type", res.Type, "from", res.From, "recordedBy", res.RecordedBy)
	c.recorder.Eventf(patched, nil, d.EventType, d.EventReason, actionClassify, "%s", d.EventNote)
	return true, nil
}

// keepRecord keeps the record of a pod the classifier owns in line with what it measured: the
// type its label shows (olap for mixed: classifier.Measured.Placement), so that a replacement is
// placed as the pod is. Declared pods are left alone (docs/classifier.md, "The type follows the
// workload"). The listers say whether anything needs writing, so a pod already recorded costs no
// API call.
func (c *Controller) keepRecord(ctx context.Context, pod *corev1.Pod, r classifier.Result) {
	if r.Type == classifier.Unknown || OwnershipOf(pod) != OwnedByClassifier {
		return
	}
	logger := klog.FromContext(ctx)
	t := r.Type.Placement()
	rec, err := c.resolver.Recorded(pod)
	if err == nil && rec.Type != workloadtype.None && rec.RecordedBy != apis.WorkloadTypeSourceClassifier {
		return // a person's record: the writer would keep it anyway
	}
	if err == nil && rec.Type == t {
		return
	}
	written, err := record.Record(ctx, c.client, pod, t, apis.WorkloadTypeSourceClassifier)
	if len(written) > 0 {
		logger.V(2).Info("Recorded the workload type", "type", t, "measured", r.Type, "objects", written)
		note := fmt.Sprintf("recorded workload type %s on %s", t, strings.Join(written, ", "))
		if r.Type == classifier.Mixed {
			note += " (measured mixed)"
		}
		c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonWorkloadTypeRecorded, actionRecord, "%s", note)
	}
	if err != nil {
		logger.V(2).Info("Recording the workload type failed", "err", err)
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonRecordFailed, actionRecord,
			"%s; retrying at the next sample", truncate(err.Error(), maxReasonsLength))
	}
}

// enqueueNamespaceOf queues the selected pods of a workload object's namespace when its record
// changed, so that a pod that appeared before its owner's record reached the cache is labelled
// as soon as it does. Records change seldom; pods are listed from the cache.
func (c *Controller) enqueueNamespaceOf(oldObj, newObj any) {
	newMeta, err := metaOf(newObj)
	if err != nil {
		return
	}
	if oldObj != nil {
		if oldMeta, err := metaOf(oldObj); err == nil &&
			oldMeta.GetAnnotations()[apis.AnnotationWorkloadTypeRecord] == newMeta.GetAnnotations()[apis.AnnotationWorkloadTypeRecord] {
			return
		}
	}
	if _, ok := newMeta.GetAnnotations()[apis.AnnotationWorkloadTypeRecord]; !ok {
		return
	}
	pods, err := c.pods.Pods(newMeta.GetNamespace()).List(labels.Everything())
	if err != nil {
		return
	}
	for _, p := range pods {
		if _, labelled := p.Labels[apis.LabelWorkloadType]; !labelled {
			c.enqueue(p)
		}
	}
}

func metaOf(obj any) (metav1.Object, error) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	return meta.Accessor(obj)
}

// updateResultOf is the metrics.ClassifierPodUpdates result of a failed patch.
func updateResultOf(err error) string {
	if apierrors.IsConflict(err) {
		return UpdateConflict
	}
	return UpdateError
}

// TrimToRecord is an informer transform for Workloads: a record is read from metadata alone
// (annotations, owner references, UID), so specs, statuses and managed fields are dropped to
// keep the cache of every ReplicaSet, StatefulSet, Deployment and claim small.
func TrimToRecord(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		o.Spec, o.Status = appsv1.ReplicaSetSpec{}, appsv1.ReplicaSetStatus{}
	case *appsv1.StatefulSet:
		o.Spec, o.Status = appsv1.StatefulSetSpec{}, appsv1.StatefulSetStatus{}
	case *appsv1.Deployment:
		o.Spec, o.Status = appsv1.DeploymentSpec{}, appsv1.DeploymentStatus{}
	case *corev1.PersistentVolumeClaim:
		o.Spec, o.Status = corev1.PersistentVolumeClaimSpec{}, corev1.PersistentVolumeClaimStatus{}
	default:
		return obj, nil
	}
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
