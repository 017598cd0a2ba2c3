package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// podBuilder makes database pods for the tests.
type podBuilder struct{ pod *corev1.Pod }

func newPod(name string) *podBuilder {
	return &podBuilder{pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "db", UID: types.UID("uid-" + name), ResourceVersion: "7",
		Labels: map[string]string{}, Annotations: map[string]string{},
	}}}
}

func (b *podBuilder) label(v string) *podBuilder { b.pod.Labels[apis.LabelWorkloadType] = v; return b }
func (b *podBuilder) annotate(k, v string) *podBuilder {
	b.pod.Annotations[k] = v
	return b
}
func (b *podBuilder) source(v string) *podBuilder {
	return b.annotate(apis.AnnotationWorkloadTypeSource, v)
}
func (b *podBuilder) measured(v string) *podBuilder {
	return b.annotate(apis.AnnotationWorkloadMeasured, v)
}

// classifiedAs is a pod the classifier labelled t.
func classifiedAs(t string) *podBuilder {
	return newPod("db-0").label(t).source(apis.WorkloadTypeSourceClassifier).measured(t)
}

var since = time.Date(2026, 3, 1, 12, 30, 0, 0, time.FixedZone("CET", 3600))

func result(t classifier.Measured, confidence float64) classifier.Result {
	return classifier.Result{
		Type: t, Confidence: confidence, Since: since,
		Last: &classifier.Window{Seq: 4, Verdict: classifier.Verdict(t.String()), Why: "why"},
	}
}

// evidence is what Decide records for result(t, 0.9).
func evidence(measured string, source bool) map[string]string {
	r := result(mustMeasured(measured), 0.9)
	a := map[string]string{
		apis.AnnotationWorkloadMeasured:     measured,
		apis.AnnotationWorkloadConfidence:   "0.90",
		apis.AnnotationWorkloadReasons:      r.Reasons(),
		apis.AnnotationWorkloadClassifiedAt: "2026-03-01T11:30:00Z",
	}
	if source {
		a[apis.AnnotationWorkloadTypeSource] = apis.WorkloadTypeSourceClassifier
	}
	return a
}

func TestOwnershipOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want Ownership
	}{
		{"no label", newPod("p").pod, OwnedByClassifier},
		{"no label, marked manual", newPod("p").source(apis.WorkloadTypeSourceManual).pod, Declared},
		{"label without a source", newPod("p").label("oltp").pod, Declared},
		{"label marked manual", newPod("p").label("olap").source(apis.WorkloadTypeSourceManual).measured("olap").pod, Declared},
		{"label the classifier wrote", classifiedAs("olap").pod, OwnedByClassifier},
		{"classifier's label changed by a person", classifiedAs("oltp").label("olap").pod, Declared},
		{"source classifier but nothing measured", newPod("p").label("oltp").source(apis.WorkloadTypeSourceClassifier).pod, Declared},
		{"unknown source value", newPod("p").label("oltp").source("gitops").measured("oltp").pod, Declared},
		{"invalid label value by a person", newPod("p").label("OLTP").pod, Declared},
		{"label removed by a person after classification", newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("oltp").pod, OwnedByClassifier},
		{"mixed labelled olap by the classifier", classifiedAs("olap").measured("mixed").pod, OwnedByClassifier},
		{"mixed relabelled oltp by a person", classifiedAs("olap").measured("mixed").label("oltp").pod, Declared},
		{"unreadable measured value", newPod("p").label("olap").source(apis.WorkloadTypeSourceClassifier).measured("OLAP").pod, Declared},
		{"empty label the classifier never writes", newPod("p").label("").source(apis.WorkloadTypeSourceClassifier).measured("").pod, Declared},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OwnershipOf(tc.pod); got != tc.want {
				t.Errorf("OwnershipOf = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	declaredNote := func(label, measured string) string {
		r := result(mustMeasured(measured), 0.9)
		return "label likewise.dev/workload-type=" + label + " was not set by the classifier: kept; measured " + measured +
			" (confidence 0.90; " + r.Reasons() + ")"
	}
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		result classifier.Result
		want   Decision
	}{
		{
			name:   "unknown changes nothing on an unlabelled pod",
			pod:    newPod("p").pod,
			result: classifier.Result{Type: classifier.Unknown},
		},
		{
			name:   "unknown changes nothing on a classified pod",
			pod:    classifiedAs("olap").pod,
			result: classifier.Result{Type: classifier.Unknown},
		},
		{
			name:   "first classification labels the pod",
			pod:    newPod("p").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				SetLabel: "oltp", Annotations: evidence("oltp", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "workload type none -> oltp (confidence 0.90; " + result(classifier.OLTP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "a change of type relabels the classifier's label",
			pod:    classifiedAs("oltp").pod,
			result: result(classifier.OLAP, 0.9),
			want: Decision{
				SetLabel: "olap", Annotations: evidence("olap", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "workload type oltp -> olap (confidence 0.90; " + result(classifier.OLAP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "nothing changed: no patch",
			pod:    classifiedAs("olap").pod,
			result: result(classifier.OLAP, 0.7),
		},
		{
			name:   "a label the classifier wrote and a person removed is written again",
			pod:    newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("oltp").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				SetLabel: "oltp", Annotations: evidence("oltp", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "workload type none -> oltp (confidence 0.90; " + result(classifier.OLTP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "mixed relabels the classifier's oltp label olap",
			pod:    classifiedAs("oltp").pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				SetLabel: "olap", Annotations: evidence("mixed", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadMixed,
				EventNote: "measured mixed: workload type oltp -> olap, so that its analytic work stays off OLTP nodes (confidence 0.90; " +
					result(classifier.Mixed, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "mixed labels an unlabelled pod olap, the measurement mixed",
			pod:    newPod("p").pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				SetLabel: "olap", Annotations: evidence("mixed", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadMixed,
				EventNote: "measured mixed: workload type none -> olap, so that its analytic work stays off OLTP nodes (confidence 0.90; " +
					result(classifier.Mixed, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "olap turning mixed keeps the label, records the measurement",
			pod:    classifiedAs("olap").pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				Annotations: evidence("mixed", true), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadMixed,
				EventNote: "measured olap -> mixed: workload type olap kept, so that its analytic work stays off OLTP nodes (confidence 0.90; " +
					result(classifier.Mixed, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "mixed already shown: no patch",
			pod:    classifiedAs("olap").measured("mixed").pod,
			result: result(classifier.Mixed, 0.8),
		},
		{
			name:   "mixed turning olap keeps the label, records the measurement",
			pod:    classifiedAs("olap").measured("mixed").pod,
			result: result(classifier.OLAP, 0.9),
			want: Decision{
				Annotations: evidence("olap", true), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "measured mixed -> olap: workload type olap kept (confidence 0.90; " + result(classifier.OLAP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "mixed turning oltp relabels",
			pod:    classifiedAs("olap").measured("mixed").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				SetLabel: "oltp", Annotations: evidence("oltp", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "workload type olap -> oltp (confidence 0.90; " + result(classifier.OLTP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "an unlabelled mixed pod of an earlier version is labelled olap",
			pod:    newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("mixed").pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				SetLabel: "olap", Annotations: evidence("mixed", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadMixed,
				EventNote: "measured mixed: workload type none -> olap, so that its analytic work stays off OLTP nodes (confidence 0.90; " +
					result(classifier.Mixed, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "an unlabelled mixed pod of an earlier version, then oltp",
			pod:    newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("mixed").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				SetLabel: "oltp", Annotations: evidence("oltp", true), Result: UpdateLabelled,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeChanged,
				EventNote: "workload type none -> oltp (confidence 0.90; " + result(classifier.OLTP, 0.9).Reasons() + ")",
			},
		},
		{
			name:   "a person's label is kept; the measurement is recorded once",
			pod:    newPod("p").label("olap").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				Annotations: evidence("oltp", false), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeDeclared,
				EventNote: declaredNote("olap", "oltp"),
			},
		},
		{
			name:   "a person's label, measurement already recorded: no patch",
			pod:    newPod("p").label("olap").measured("oltp").pod,
			result: result(classifier.OLTP, 0.9),
		},
		{
			name:   "a person's label agreeing with the measurement is still not the classifier's",
			pod:    newPod("p").label("oltp").pod,
			result: result(classifier.OLTP, 0.9),
			want: Decision{
				Annotations: evidence("oltp", false), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeDeclared,
				EventNote: declaredNote("oltp", "oltp"),
			},
		},
		{
			name:   "a person relabelled a classified pod: kept, even with the classifier's source annotation",
			pod:    classifiedAs("oltp").label("olap").pod,
			result: result(classifier.OLTP, 0.9),
		},
		{
			name:   "a person relabelled a classified pod, then the measurement changes: kept, recorded",
			pod:    classifiedAs("oltp").label("olap").pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				Annotations: evidence("mixed", false), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeDeclared,
				EventNote: declaredNote("olap", "mixed"),
			},
		},
		{
			name:   "mixed never changes a person's label",
			pod:    newPod("p").label("oltp").source(apis.WorkloadTypeSourceManual).pod,
			result: result(classifier.Mixed, 0.9),
			want: Decision{
				Annotations: evidence("mixed", false), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeDeclared,
				EventNote: declaredNote("oltp", "mixed"),
			},
		},
		{
			name:   "a pod marked manual without a label gets none",
			pod:    newPod("p").source(apis.WorkloadTypeSourceManual).pod,
			result: result(classifier.OLAP, 0.9),
			want: Decision{
				Annotations: evidence("olap", false), Result: UpdateAnnotated,
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeDeclared,
				EventNote: "pod is marked likewise.dev/workload-type-source=manual: no label written; measured olap (confidence 0.90; " +
					result(classifier.OLAP, 0.9).Reasons() + ")",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got := Decide(tc.pod, tc.result)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Decide (-want,+got):\n%s", diff)
			}
			if got.IsZero() != (tc.want.SetLabel == "" && !tc.want.RemoveLabel && tc.want.Annotations == nil) {
				t.Errorf("IsZero = %v for %+v", got.IsZero(), got)
			}
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("Decide modified the pod (-before,+after):\n%s", diff)
			}
		})
	}
}

func TestResumptionOf(t *testing.T) {
	const at = "2026-03-01T11:30:00Z"
	adopted := time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want Resumption
		ok   bool
	}{
		{
			name: "olap the classifier wrote, with its time",
			pod:  classifiedAs("olap").annotate(apis.AnnotationWorkloadClassifiedAt, at).pod,
			want: Resumption{Type: classifier.OLAP, Since: adopted}, ok: true,
		},
		{
			name: "mixed, labelled olap: mixed is resumed, not olap",
			pod:  classifiedAs("olap").measured("mixed").annotate(apis.AnnotationWorkloadClassifiedAt, at).pod,
			want: Resumption{Type: classifier.Mixed, Since: adopted}, ok: true,
		},
		{
			name: "an offset time is read as the instant it names",
			pod:  classifiedAs("oltp").annotate(apis.AnnotationWorkloadClassifiedAt, "2026-03-01T12:30:00+01:00").pod,
			want: Resumption{Type: classifier.OLTP, Since: adopted}, ok: true,
		},
		{
			name: "labelled from the classifier's record: no time, adopted when resumed",
			pod:  classifiedAs("oltp").pod,
			want: Resumption{Type: classifier.OLTP, Doubt: "no likewise.dev/workload-classified-at"}, ok: true,
		},
		{
			name: "an unreadable time is doubt: the label is kept, adopted when resumed",
			pod:  classifiedAs("olap").annotate(apis.AnnotationWorkloadClassifiedAt, "yesterday").pod,
			want: Resumption{Type: classifier.OLAP, Doubt: `likewise.dev/workload-classified-at "yesterday" is not RFC 3339`, Invalid: true}, ok: true,
		},
		{name: "no label: nothing to keep", pod: newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("oltp").annotate(apis.AnnotationWorkloadClassifiedAt, at).pod},
		{name: "a person's label", pod: newPod("p").label("olap").annotate(apis.AnnotationWorkloadClassifiedAt, at).pod},
		{name: "a label a person changed", pod: classifiedAs("oltp").label("olap").annotate(apis.AnnotationWorkloadClassifiedAt, at).pod},
		{name: "marked manual", pod: classifiedAs("olap").source(apis.WorkloadTypeSourceManual).annotate(apis.AnnotationWorkloadClassifiedAt, at).pod},
		{name: "a pod never classified", pod: newPod("p").pod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ResumptionOf(tc.pod)
			if ok != tc.ok {
				t.Errorf("ResumptionOf ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ResumptionOf (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestResumedLabelIsKept: a new process's classifier, resumed from the pod a previous process
// labelled olap, holds olap, so Decide leaves the pod as it is (no patch) until its own windows
// change the type, which MinDwell forbids before classified-at + MinDwell (TestResume in
// pkg/classifier). Without the resumption, Decide would act on the first type the new windows
// adopt.
func TestResumedLabelIsKept(t *testing.T) {
	for _, measured := range []string{"olap", "mixed", "oltp"} {
		t.Run(measured, func(t *testing.T) {
			now := time.Date(2026, 3, 1, 11, 35, 0, 0, time.UTC)
			pod := classifiedAs(mustMeasured(measured).Placement().String()).measured(measured).
				annotate(apis.AnnotationWorkloadClassifiedAt, "2026-03-01T11:30:00Z").pod
			c, err := classifier.New(classifier.Config{MinDwell: 10 * time.Minute}, clocktesting.NewFakePassiveClock(now))
			if err != nil {
				t.Fatal(err)
			}
			r, ok := ResumptionOf(pod)
			if !ok || !c.Resume(r.Type, r.Since) {
				t.Fatalf("nothing resumed from %v", pod.Annotations)
			}
			got := c.Result()
			if got.Type != mustMeasured(measured) || !got.Since.Equal(time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC)) {
				t.Errorf("resumed %s since %v, want %s since 11:30", got.Type, got.Since, measured)
			}
			if d := Decide(pod, got); !d.IsZero() {
				t.Errorf("Decide on the resumed result changes the pod: %+v", d)
			}
		})
	}
}

// TestMixedIsPlacedOffOLTPNodes: the decision for a mixed database, made on the pod, gives it
// the type the scheduler plugin and the rebalancer read (pkg/workloadtype, their one definition):
// olap, so a node of OLTP databases (or one labelled oltp) is of the other type to it (Required
// mode filters it out, Preferred mode scores it lowest, the rebalancer moves it off), and on its
// node it counts as olap, not as nothing. Before, it was left untyped: placed anywhere, OLTP
// nodes included.
func TestMixedIsPlacedOffOLTPNodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
	}{
		{"never labelled", newPod("p").pod},
		{"labelled oltp by the classifier", classifiedAs("oltp").pod},
		{"labelled olap by the classifier", classifiedAs("olap").pod},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := tc.pod
			d := Decide(pod, result(classifier.Mixed, 0.9))
			if d.SetLabel != "" {
				pod.Labels[apis.LabelWorkloadType] = d.SetLabel
			}
			for k, v := range d.Annotations {
				pod.Annotations[k] = v
			}
			typ, err := workloadtype.OfPod(pod)
			if err != nil || typ != workloadtype.OLAP {
				t.Fatalf("the mixed pod's type is %v (%v), want olap", typ, err)
			}
			if got := workloadtype.Resident(pod); got != workloadtype.OLAP {
				t.Errorf("resident as %v, want olap", got)
			}
			oltpNode := workloadtype.ClassifyNode(workloadtype.None, workloadtype.Counts{OLTP: 3}, 51)
			for _, node := range []workloadtype.NodeType{oltpNode, workloadtype.ClassifyNode(workloadtype.OLTP, workloadtype.Counts{}, 51)} {
				if got := workloadtype.RelationOf(typ, node); got != workloadtype.OtherType {
					t.Errorf("an %v node is %v to the mixed pod, want %v", node, got, workloadtype.OtherType)
				}
			}
			if got := OwnershipOf(pod); got != OwnedByClassifier {
				t.Errorf("ownership %s after the decision, want %s: the classifier must be able to relabel it", got, OwnedByClassifier)
			}
			if got := pod.Annotations[apis.AnnotationWorkloadMeasured]; got != apis.WorkloadMixed {
				t.Errorf("measured %q, want mixed", got)
			}
		})
	}
}

func TestDecideFormats(t *testing.T) {
	r := result(classifier.OLAP, 2.0/3)
	r.Last.Why = strings.Repeat("x", 2000)
	d := Decide(newPod("p").pod, r)
	if got := d.Annotations[apis.AnnotationWorkloadConfidence]; got != "0.67" {
		t.Errorf("confidence %q, want 0.67", got)
	}
	if got := d.Annotations[apis.AnnotationWorkloadClassifiedAt]; got != "2026-03-01T11:30:00Z" {
		t.Errorf("classified-at %q, want RFC 3339 in UTC", got)
	}
	reasons := d.Annotations[apis.AnnotationWorkloadReasons]
	if len(reasons) != maxReasonsLength || !strings.HasSuffix(reasons, "...") {
		t.Errorf("reasons of %d bytes ending %q: want %d bytes ending ...", len(reasons), reasons[len(reasons)-5:], maxReasonsLength)
	}
}

func TestPatchData(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		d    Decision
		want string
	}{
		{
			name: "set label and annotations",
			pod:  newPod("p").pod,
			d:    Decision{SetLabel: "oltp", Annotations: map[string]string{apis.AnnotationWorkloadMeasured: "oltp"}},
			want: `{"metadata":{"annotations":{"likewise.dev/workload-measured":"oltp"},"labels":{"likewise.dev/workload-type":"oltp"},"resourceVersion":"7"}}`,
		},
		{
			name: "remove label",
			pod:  newPod("p").pod,
			d:    Decision{RemoveLabel: true, Annotations: map[string]string{apis.AnnotationWorkloadMeasured: "mixed"}},
			want: `{"metadata":{"annotations":{"likewise.dev/workload-measured":"mixed"},"labels":{"likewise.dev/workload-type":null},"resourceVersion":"7"}}`,
		},
		{
			name: "annotations only",
			pod:  newPod("p").pod,
			d:    Decision{Annotations: map[string]string{apis.AnnotationWorkloadMeasured: "olap"}},
			want: `{"metadata":{"annotations":{"likewise.dev/workload-measured":"olap"},"resourceVersion":"7"}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PatchData(tc.pod, tc.d)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("patch (-want,+got):\n%s", diff)
			}
		})
	}
	t.Run("no resourceVersion", func(t *testing.T) {
		pod := newPod("p").pod
		pod.ResourceVersion = ""
		if _, err := PatchData(pod, Decision{SetLabel: "oltp"}); err == nil {
			t.Error("no error for a pod without resourceVersion: the patch would be unconditional")
		}
	})
}

func mustMeasured(s string) classifier.Measured {
	m, err := classifier.ParseMeasured(s)
	if err != nil {
		panic(err)
	}
	return m
}
