package v1

import (
	"k8s.io/utils/ptr"
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
