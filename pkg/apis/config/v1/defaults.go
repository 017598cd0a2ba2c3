package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// Defaults of WorkloadTypeAffinityArgs, also quoted by the plugin README.
const (
	DefaultSameTypeScore   int32 = 100
	DefaultFreeScore       int32 = 50
	DefaultMixedScore      int32 = 20
	DefaultOtherTypeScore  int32 = 0
	DefaultMajorityPercent int32 = 51
)

// SetDefaults_WorkloadTypeAffinityArgs sets only the fields left unset.
func SetDefaults_WorkloadTypeAffinityArgs(args *WorkloadTypeAffinityArgs) {
	if args.Mode == "" {
		args.Mode = ModePreferred
	}
	if args.Scores == nil {
		args.Scores = &NodeClassScores{}
	}
	s := args.Scores
	if s.SameType == nil {
		s.SameType = ptr.To(DefaultSameTypeScore)
	}
	if s.Free == nil {
		s.Free = ptr.To(DefaultFreeScore)
	}
	if s.Mixed == nil {
		s.Mixed = ptr.To(DefaultMixedScore)
	}
	if s.OtherType == nil {
		s.OtherType = ptr.To(DefaultOtherTypeScore)
	}
	if args.MajorityPercent == nil {
		args.MajorityPercent = ptr.To(DefaultMajorityPercent)
	}
}

// Defaults of NotebookSpreadArgs, also quoted by the plugin README.
const (
	DefaultNotebookUserKey              = apis.AnnotationHubUsername
	DefaultSameUserNodeAdjustment int32 = 0
	DefaultMaxUsersPerNode        int32 = 0
)

// DefaultNotebookPodSelector returns the selector of KubeSpawner's notebook server pods.
func DefaultNotebookPodSelector() *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{apis.LabelComponent: apis.ComponentSingleUserServer}}
}

// SetDefaults_NotebookSpreadArgs sets only the fields left unset.
func SetDefaults_NotebookSpreadArgs(args *NotebookSpreadArgs) {
	if args.Mode == "" {
		args.Mode = ModeSpread
	}
	if args.PodSelector == nil {
		args.PodSelector = DefaultNotebookPodSelector()
	}
	if args.UserAnnotation == nil {
		args.UserAnnotation = ptr.To(DefaultNotebookUserKey)
	}
	if args.UserLabel == nil {
		args.UserLabel = ptr.To(DefaultNotebookUserKey)
	}
	if args.HubLabel == nil {
		args.HubLabel = ptr.To("")
	}
	if args.SameUserNodeAdjustment == nil {
		args.SameUserNodeAdjustment = ptr.To(DefaultSameUserNodeAdjustment)
	}
	if args.MaxUsersPerNode == nil {
		args.MaxUsersPerNode = ptr.To(DefaultMaxUsersPerNode)
	}
}
