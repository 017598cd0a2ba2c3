package controller

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier"
)

// maxReasonsLength bounds the reasons annotation: it is for people, and a pod's annotations
// share a 256 KiB budget with everyone else's.
const maxReasonsLength = 1024

// Results of a Decision, the values of metrics.ClassifierPodUpdates' result label.
const (
	UpdateLabelled   = "labelled"   // the label was set or changed
	UpdateUnlabelled = "unlabelled" // the classifier's label was removed: the database is mixed
	UpdateAnnotated  = "annotated"  // annotations only: a declared type, or mixed without a label
	UpdateConflict   = "conflict"   // the pod changed under the patch
	UpdateError      = "error"      // the patch failed
)

// Ownership says whose a pod's workload-type label is.
type Ownership string

const (
	// OwnedByClassifier: no label (and not marked manual), or a label the classifier wrote and
	// nobody changed since.
	OwnedByClassifier Ownership = "classifier"
	// Declared: a person's label, or a pod marked manual. The classifier never writes its label.
	Declared Ownership = "declared"
)

// OwnershipOf applies the marker rules (docs/classifier.md, "Who owns the label"):
//   - annotation likewise.dev/workload-type-source=manual: declared, with or without a label;
//   - no label: the classifier's;
//   - a label, the source annotation "classifier", and the label equal to the type the classifier
//     recorded in likewise.dev/workload-measured: the classifier's;
//   - any other label: declared. A person who relabels a classified pod has changed the label
//     away from the measured type, so it becomes theirs even if they left the source annotation.
func OwnershipOf(pod *corev1.Pod) Ownership {
	source := pod.Annotations[apis.AnnotationWorkloadTypeSource]
	if source == apis.WorkloadTypeSourceManual {
		return Declared
	}
	label, labelled := pod.Labels[apis.LabelWorkloadType]
	if !labelled {
		return OwnedByClassifier
	}
	if source == apis.WorkloadTypeSourceClassifier && label == pod.Annotations[apis.AnnotationWorkloadMeasured] {
		return OwnedByClassifier
	}
	return Declared
}

// Decision is what the classifier's result means for one pod: the change to make, if any, and
// the Event to record once it is made. The zero Decision changes nothing.
type Decision struct {
	// SetLabel is the workload-type label's new value; "" leaves it (see RemoveLabel).
	SetLabel string
	// RemoveLabel removes the workload-type label.
	RemoveLabel bool
	// Annotations are set (never removed).
	Annotations map[string]string
	// EventType (corev1.EventTypeNormal or Warning), EventReason and EventNote describe the
	// change for people; EventReason is "" for none.
	EventType, EventReason, EventNote string
	// Result is the metrics.ClassifierPodUpdates result of making the change.
	Result string
}

// IsZero reports whether d changes nothing.
func (d Decision) IsZero() bool {
	return d.SetLabel == "" && !d.RemoveLabel && len(d.Annotations) == 0
}

// Decide says what the classifier's result r means for pod. It is pure: the pod and the result
// in, the change out.
//
//   - Unknown (not enough windows yet, or never busy) changes nothing.
//   - The classifier records what it measured (likewise.dev/workload-measured, confidence,
//     reasons, classified-at) when the measured type differs from the one recorded; the
//     evidence is that of the decision, not refreshed every window.
//   - On a pod it owns, it sets the label to oltp or olap, with workload-type-source=classifier.
//     Mixed is never a label value (the scheduler knows only oltp and olap): it removes its own
//     label, so the pod becomes untyped, and records mixed in the annotation.
//   - A declared label is never changed; the measurement is recorded beside it.
//
// Nothing changes when the pod already shows what r says.
func Decide(pod *corev1.Pod, r classifier.Result) Decision {
	if r.Type == classifier.Unknown {
		return Decision{}
	}
	measured := r.Type.String()
	label, labelled := pod.Labels[apis.LabelWorkloadType]
	recorded := pod.Annotations[apis.AnnotationWorkloadMeasured]
	evidence := func() map[string]string {
		return map[string]string{
			apis.AnnotationWorkloadMeasured:     measured,
			apis.AnnotationWorkloadConfidence:   fmt.Sprintf("%.2f", r.Confidence),
			apis.AnnotationWorkloadReasons:      truncate(r.Reasons(), maxReasonsLength),
			apis.AnnotationWorkloadClassifiedAt: r.Since.UTC().Format(time.RFC3339),
		}
	}
	summary := fmt.Sprintf("confidence %.2f; %s", r.Confidence, truncate(r.Reasons(), maxReasonsLength))

	if OwnershipOf(pod) == Declared {
		if recorded == measured {
			return Decision{}
		}
		note := fmt.Sprintf("label %s=%s was not set by the classifier: kept; measured %s (%s)",
			apis.LabelWorkloadType, label, measured, summary)
		if !labelled {
			note = fmt.Sprintf("pod is marked %s=%s: no label written; measured %s (%s)",
				apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceManual, measured, summary)
		}
		return Decision{
			Annotations: evidence(),
			EventType:   corev1.EventTypeNormal,
			EventReason: ReasonWorkloadTypeDeclared,
			EventNote:   note,
			Result:      UpdateAnnotated,
		}
	}

	if measured == apis.WorkloadMixed {
		if !labelled && recorded == measured {
			return Decision{}
		}
		d := Decision{
			Annotations: evidence(),
			EventType:   corev1.EventTypeNormal,
			EventReason: ReasonWorkloadMixed,
			Result:      UpdateAnnotated,
			EventNote:   fmt.Sprintf("measured mixed: no label, the scheduler treats the pod as untyped (%s)", summary),
		}
		if labelled {
			d.RemoveLabel = true
			d.Annotations[apis.AnnotationWorkloadTypeSource] = apis.WorkloadTypeSourceClassifier
			d.Result = UpdateUnlabelled
			d.EventNote = fmt.Sprintf("measured mixed: removed label %s=%s, the scheduler treats the pod as untyped (%s)",
				apis.LabelWorkloadType, label, summary)
		}
		return d
	}

	if labelled && label == measured && recorded == measured {
		return Decision{}
	}
	d := Decision{
		Annotations: evidence(),
		EventType:   corev1.EventTypeNormal,
		EventReason: ReasonWorkloadTypeChanged,
		Result:      UpdateAnnotated,
	}
	d.Annotations[apis.AnnotationWorkloadTypeSource] = apis.WorkloadTypeSourceClassifier
	from := "none"
	if labelled {
		from = label
	}
	if !labelled || label != measured {
		d.SetLabel = measured
		d.Result = UpdateLabelled
	}
	d.EventNote = fmt.Sprintf("workload type %s -> %s (%s)", from, measured, summary)
	return d
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
