package workloadtype

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

func TestParse(t *testing.T) {
	tests := []struct {
		value   string
		want    Type
		wantErr string
	}{
		{value: "", want: None},
		{value: "oltp", want: OLTP},
		{value: "olap", want: OLAP},
		{value: "OLTP", want: None, wantErr: `label likewise.dev/workload-type="OLTP": supported values: "oltp", "olap"`},
		{value: "mixed", want: None, wantErr: `label likewise.dev/workload-type="mixed": supported values: "oltp", "olap"`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := Parse(tt.value)
			if got != tt.want {
				t.Errorf("Parse(%q) = %v, want %v", tt.value, got, tt.want)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("Parse(%q) error = %q, want %q", tt.value, gotErr, tt.wantErr)
			}
		})
	}
}

func TestResident(t *testing.T) {
	now := metav1.Now()
	pod := func(label string, mutate func(*v1.Pod)) *v1.Pod {
		p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{}}}
		if label != "" {
			p.Labels[apis.LabelWorkloadType] = label
		}
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	tests := []struct {
		name string
		pod  *v1.Pod
		want Type
	}{
		{name: "untyped", pod: pod("", nil), want: None},
		{name: "oltp running", pod: pod("oltp", func(p *v1.Pod) { p.Status.Phase = v1.PodRunning }), want: OLTP},
		{name: "olap pending on node", pod: pod("olap", nil), want: OLAP},
		{name: "invalid value", pod: pod("analytics", nil), want: None},
		{name: "terminating", pod: pod("olap", func(p *v1.Pod) { p.DeletionTimestamp = &now }), want: None},
		{name: "succeeded", pod: pod("oltp", func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }), want: None},
		{name: "failed", pod: pod("oltp", func(p *v1.Pod) { p.Status.Phase = v1.PodFailed }), want: None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Resident(tt.pod); got != tt.want {
				t.Errorf("Resident() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifyNode(t *testing.T) {
	tests := []struct {
		name     string
		label    Type
		counts   Counts
		majority int32
		want     NodeType
	}{
		{name: "empty", majority: 51, want: NodeFree},
		{name: "label wins over pods", label: OLAP, counts: Counts{OLTP: 5}, majority: 51, want: NodeOLAP},
		{name: "label on empty node", label: OLTP, majority: 100, want: NodeOLTP},
		{name: "all oltp", counts: Counts{OLTP: 3}, majority: 51, want: NodeOLTP},
		{name: "all olap", counts: Counts{OLAP: 1}, majority: 100, want: NodeOLAP},
		{name: "tie is mixed", counts: Counts{OLTP: 3, OLAP: 3}, majority: 51, want: NodeMixed},
		{name: "2 of 3 is a majority at 51", counts: Counts{OLTP: 2, OLAP: 1}, majority: 51, want: NodeOLTP},
		{name: "2 of 3 is short of 67", counts: Counts{OLTP: 2, OLAP: 1}, majority: 67, want: NodeMixed},
		{name: "2 of 3 reaches 66", counts: Counts{OLAP: 2, OLTP: 1}, majority: 66, want: NodeOLAP},
		{name: "any mixing is mixed at 100", counts: Counts{OLTP: 9, OLAP: 1}, majority: 100, want: NodeMixed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyNode(tt.label, tt.counts, tt.majority); got != tt.want {
				t.Errorf("ClassifyNode(%v, %+v, %d) = %v, want %v", tt.label, tt.counts, tt.majority, got, tt.want)
			}
		})
	}
}

func TestRelationOf(t *testing.T) {
	got := map[string]string{}
	for _, pt := range []Type{OLTP, OLAP} {
		for _, nt := range []NodeType{NodeFree, NodeOLTP, NodeOLAP, NodeMixed} {
			got[pt.String()+" pod on "+nt.String()+" node"] = RelationOf(pt, nt).String()
		}
	}
	want := map[string]string{
		"oltp pod on free node":  "Free",
		"oltp pod on oltp node":  "SameType",
		"oltp pod on olap node":  "OtherType",
		"oltp pod on mixed node": "Mixed",
		"olap pod on free node":  "Free",
		"olap pod on oltp node":  "OtherType",
		"olap pod on olap node":  "SameType",
		"olap pod on mixed node": "Mixed",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RelationOf (-want,+got):\n%s", diff)
	}
}
