package v1

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestSetDefaultsWorkloadTypeAffinityArgs(t *testing.T) {
	tests := []struct {
		name string
		in   *WorkloadTypeAffinityArgs
		want *WorkloadTypeAffinityArgs
	}{
		{
			name: "empty",
			in:   &WorkloadTypeAffinityArgs{},
			want: &WorkloadTypeAffinityArgs{
				Mode:            ModePreferred,
				Scores:          &NodeClassScores{SameType: ptr.To[int32](100), Free: ptr.To[int32](50), Mixed: ptr.To[int32](20), OtherType: ptr.To[int32](0)},
				MajorityPercent: ptr.To[int32](51),
			},
		},
		{
			name: "set fields are kept, zero included",
			in: &WorkloadTypeAffinityArgs{
				Mode:            ModeRequired,
				Scores:          &NodeClassScores{Free: ptr.To[int32](0), OtherType: ptr.To[int32](0)},
				MajorityPercent: ptr.To[int32](100),
			},
			want: &WorkloadTypeAffinityArgs{
				Mode:            ModeRequired,
				Scores:          &NodeClassScores{SameType: ptr.To[int32](100), Free: ptr.To[int32](0), Mixed: ptr.To[int32](20), OtherType: ptr.To[int32](0)},
				MajorityPercent: ptr.To[int32](100),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults_WorkloadTypeAffinityArgs(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("defaulted args (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestSetDefaultsNotebookSpreadArgs(t *testing.T) {
	kubeSpawner := &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}}
	custom := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "jupyterhub"}}
	tests := []struct {
		name string
		in   *NotebookSpreadArgs
		want *NotebookSpreadArgs
	}{
		{
			name: "empty",
			in:   &NotebookSpreadArgs{},
			want: &NotebookSpreadArgs{
				Mode:                   ModeSpread,
				PodSelector:            kubeSpawner,
				UserAnnotation:         ptr.To("hub.jupyter.org/username"),
				UserLabel:              ptr.To("hub.jupyter.org/username"),
				HubLabel:               ptr.To(""),
				SameUserNodeAdjustment: ptr.To[int32](0),
				MaxUsersPerNode:        ptr.To[int32](0),
			},
		},
		{
			name: "set fields are kept, empty strings included",
			in: &NotebookSpreadArgs{
				Mode:                   ModePack,
				PodSelector:            custom,
				UserAnnotation:         ptr.To(""),
				HubLabel:               ptr.To("release"),
				SameUserNodeAdjustment: ptr.To[int32](-30),
				MaxUsersPerNode:        ptr.To[int32](20),
			},
			want: &NotebookSpreadArgs{
				Mode:                   ModePack,
				PodSelector:            custom,
				UserAnnotation:         ptr.To(""),
				UserLabel:              ptr.To("hub.jupyter.org/username"),
				HubLabel:               ptr.To("release"),
				SameUserNodeAdjustment: ptr.To[int32](-30),
				MaxUsersPerNode:        ptr.To[int32](20),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetDefaults_NotebookSpreadArgs(tt.in)
			if diff := cmp.Diff(tt.want, tt.in); diff != "" {
				t.Errorf("defaulted args (-want,+got):\n%s", diff)
			}
		})
	}
}
