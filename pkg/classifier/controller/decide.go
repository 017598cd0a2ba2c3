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
	UpdateLabelled  = "labelled"  // the label was set or changed
	UpdateAnnotated = "annotated" // annotations only: a declared type, or a measured type whose label the pod has
	UpdateConflict  = "conflict"  // the pod changed under the patch
	UpdateError     = "error"     // the patch failed
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
//   - a label, the source annotation "classifier", and the label the one the classifier writes
//     for the type it recorded in likewise.dev/workload-measured (that type, or olap for mixed):
//     the classifier's;
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
	if source == apis.WorkloadTypeSourceClassifier && label != "" && label == labelFor(pod.Annotations[apis.AnnotationWorkloadMeasured]) {
		return OwnedByClassifier
	}
	return Declared
}

// labelFor is the label the classifier writes for a measured annotation value, "" for none.
func labelFor(measured string) string {
	m, err := classifier.ParseMeasured(measured)
	if err != nil {
		return ""
	}
	return m.Placement().String()
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
//     Mixed is never a label value (the scheduler knows only oltp and olap): a mixed database is
//     labelled olap, so that its analytic work stays off OLTP nodes, and the annotation says
//     mixed (classifier.Measured.Placement; docs/classifier.md, "A mixed database is placed as
//     olap").
//   - A declared label is never changed; the measurement is recorded beside it.
//
// Nothing changes when the pod already shows what r says.
func Decide(pod *corev1.Pod, r classifier.Result) Decision {
	if r.Type == classifier.Unknown {
		return Decision{}
	}
	measured := r.Type.String()
	place := r.Type.Placement().String()
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

	if labelled && label == place && recorded == measured {
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
	if !labelled || label != place {
		d.SetLabel = place
		d.Result = UpdateLabelled
	}
	switch {
	case r.Type == classifier.Mixed && d.SetLabel != "":
		d.EventReason = ReasonWorkloadMixed
		d.EventNote = fmt.Sprintf("measured mixed: workload type %s -> %s, so that its analytic work stays off OLTP nodes (%s)",
			from, place, summary)
	case r.Type == classifier.Mixed:
		d.EventReason = ReasonWorkloadMixed
		d.EventNote = fmt.Sprintf("measured %s -> mixed: workload type %s kept, so that its analytic work stays off OLTP nodes (%s)",
			recorded, label, summary)
	case d.SetLabel != "":
		d.EventNote = fmt.Sprintf("workload type %s -> %s (%s)", from, place, summary)
	default: // mixed -> olap: the label was olap already
		d.EventNote = fmt.Sprintf("measured %s -> %s: workload type %s kept (%s)", recorded, measured, label, summary)
	}
	return d
}

// ReasonInvalidClassifiedAt (a Warning Event): the classified-at annotation of a label the
// classifier wrote cannot be read; the label is kept and its dwell counted from now.
const ReasonInvalidClassifiedAt = "InvalidClassifiedAt"

// Resumption is the type a classifier process adopted for a pod before this one tracked it (a
// restart, a failover), read from what it wrote on the pod, for classifier.Classifier.Resume.
type Resumption struct {
	// Type is the measured type (likewise.dev/workload-measured).
	Type classifier.Measured
	// Since is when it was adopted (likewise.dev/workload-classified-at); zero when that is
	// missing or unreadable, which is doubt: Resume holds the type as adopted now.
	Since time.Time
	// Doubt says why Since is zero, "" when it is not.
	Doubt string
	// Invalid is set when the classified-at annotation is present but unreadable.
	Invalid bool
}

// ResumptionOf reads the type to resume from pod, so that the label a previous process wrote
// does not change before MinDwell has passed since it adopted the type, whichever process
// measures next. Only a label the classifier owns is resumed (OwnershipOf): a declared label is
// never the classifier's to change, and an unlabelled pod has no label to protect. A pod
// labelled from its workload's record has no classified-at: its type counts as adopted when this
// process resumes it. It reports false when there is nothing to resume.
func ResumptionOf(pod *corev1.Pod) (Resumption, bool) {
	if _, labelled := pod.Labels[apis.LabelWorkloadType]; !labelled || OwnershipOf(pod) != OwnedByClassifier {
		return Resumption{}, false
	}
	m, err := classifier.ParseMeasured(pod.Annotations[apis.AnnotationWorkloadMeasured])
	if err != nil || m == classifier.Unknown {
		return Resumption{}, false // OwnershipOf already needs a readable type
	}
	r := Resumption{Type: m}
	at, ok := pod.Annotations[apis.AnnotationWorkloadClassifiedAt]
	if !ok {
		r.Doubt = "no " + apis.AnnotationWorkloadClassifiedAt
		return r, true
	}
	since, err := time.Parse(time.RFC3339, at)
	if err != nil {
		r.Doubt = fmt.Sprintf("%s %q is not RFC 3339", apis.AnnotationWorkloadClassifiedAt, truncate(at, 64))
		r.Invalid = true
		return r, true
	}
	r.Since = since
	return r, true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
