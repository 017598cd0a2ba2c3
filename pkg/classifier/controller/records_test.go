package controller

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

func TestDecideFromRecord(t *testing.T) {
	byClassifier := workloadtype.Resolution{Type: workloadtype.OLAP, Source: workloadtype.SourceWorkload, From: "StatefulSet db/pg", RecordedBy: apis.WorkloadTypeSourceClassifier}
	byPerson := workloadtype.Resolution{Type: workloadtype.OLTP, Source: workloadtype.SourceVolume, From: "PersistentVolumeClaim db/pg-1", RecordedBy: apis.WorkloadTypeSourceManual}
	unsourced := byPerson
	unsourced.RecordedBy = ""
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		res  workloadtype.Resolution
		want Decision
	}{
		{
			name: "a new pod gets the classifier's record, and stays the classifier's",
			pod:  newPod("p").pod,
			res:  byClassifier,
			want: Decision{
				SetLabel: "olap",
				Annotations: map[string]string{
					apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier,
					apis.AnnotationWorkloadMeasured:   "olap",
				},
				EventType: corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeFromRecord, Result: UpdateLabelled,
				EventNote: "workload type none -> olap from the record on StatefulSet db/pg (recorded by classifier); not sampled yet",
			},
		},
		{
			name: "a person's record is a declaration carried over",
			pod:  newPod("p").pod,
			res:  byPerson,
			want: Decision{
				SetLabel:    "oltp",
				Annotations: map[string]string{apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceManual},
				EventType:   corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeFromRecord, Result: UpdateLabelled,
				EventNote: "workload type none -> oltp from the record on PersistentVolumeClaim db/pg-1 (recorded by manual); not sampled yet",
			},
		},
		{
			name: "a record without a source is a person's",
			pod:  newPod("p").pod,
			res:  unsourced,
			want: Decision{
				SetLabel:    "oltp",
				Annotations: map[string]string{apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceManual},
				EventType:   corev1.EventTypeNormal, EventReason: ReasonWorkloadTypeFromRecord, Result: UpdateLabelled,
				EventNote: "workload type none -> oltp from the record on PersistentVolumeClaim db/pg-1 (recorded by a person (no source)); not sampled yet",
			},
		},
		{name: "no record", pod: newPod("p").pod},
		{name: "a labelled pod keeps its label", pod: classifiedAs("oltp").pod, res: byClassifier},
		{name: "a declared pod is not labelled", pod: newPod("p").source(apis.WorkloadTypeSourceManual).pod, res: byClassifier},
		{name: "a pod the classifier measured (mixed) is not relabelled", pod: newPod("p").source(apis.WorkloadTypeSourceClassifier).measured("mixed").pod, res: byClassifier},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, DecideFromRecord(tc.pod, tc.res)); diff != "" {
				t.Errorf("DecideFromRecord (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestDecideFromRecordKeepsOwnership(t *testing.T) {
	pod := newPod("p").pod
	d := DecideFromRecord(pod, workloadtype.Resolution{Type: workloadtype.OLTP, From: "ReplicaSet db/x", RecordedBy: apis.WorkloadTypeSourceClassifier})
	pod.Labels[apis.LabelWorkloadType] = d.SetLabel
	for k, v := range d.Annotations {
		pod.Annotations[k] = v
	}
	if got := OwnershipOf(pod); got != OwnedByClassifier {
		t.Errorf("a pod labelled from the classifier's record is %s, want %s: the classifier must be able to correct it", got, OwnedByClassifier)
	}
}

func TestTrimToRecord(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "pg", Annotations: map[string]string{apis.AnnotationWorkloadTypeRecord: "oltp"},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "x"}}}
	got, err := TrimToRecord(&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{ServiceName: "pg"}})
	if err != nil {
		t.Fatal(err)
	}
	want := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "pg", Annotations: map[string]string{apis.AnnotationWorkloadTypeRecord: "oltp"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want,+got):\n%s", diff)
	}
}
