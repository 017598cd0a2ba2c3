package validation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/likewise-dev/likewise/pkg/apis/config"
)

func valid() config.WorkloadTypeAffinityArgs {
	return config.WorkloadTypeAffinityArgs{
		Mode:            config.ModePreferred,
		Scores:          config.NodeClassScores{SameType: 100, Free: 50, Mixed: 20, OtherType: 0},
		MajorityPercent: 51,
	}
}

func TestValidateWorkloadTypeAffinityArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.WorkloadTypeAffinityArgs)
		want   string
	}{
		{name: "defaults", mutate: func(*config.WorkloadTypeAffinityArgs) {}},
		{name: "required", mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Mode = config.ModeRequired }},
		{name: "equal neighbours allowed", mutate: func(a *config.WorkloadTypeAffinityArgs) {
			a.Scores = config.NodeClassScores{SameType: 100, Free: 100, Mixed: 0, OtherType: 0}
		}},
		{name: "majority bounds", mutate: func(a *config.WorkloadTypeAffinityArgs) { a.MajorityPercent = 100 }},
		{
			name:   "unknown mode",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Mode = "strict" },
			want:   `args.mode: Unsupported value: "strict": supported values: "Preferred", "Required"`,
		},
		{
			name:   "empty mode",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Mode = "" },
			want:   `args.mode: Unsupported value: "": supported values: "Preferred", "Required"`,
		},
		{
			name:   "score out of range",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Scores.SameType = 101; a.Scores.OtherType = -1 },
			want:   `[args.scores.sameType: Invalid value: 101: must be between 0 and 100, args.scores.otherType: Invalid value: -1: must be between 0 and 100]`,
		},
		{
			name:   "free above same type",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Scores.Free = 100; a.Scores.SameType = 90 },
			want:   `args.scores.free: Invalid value: 100: must not exceed sameType: scores must not increase from sameType to free to mixed to otherType`,
		},
		{
			name:   "other type preferred to mixed",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.Scores.OtherType = 30 },
			want:   `args.scores.otherType: Invalid value: 30: must not exceed mixed: scores must not increase from sameType to free to mixed to otherType`,
		},
		{
			name: "all equal has no effect",
			mutate: func(a *config.WorkloadTypeAffinityArgs) {
				a.Scores = config.NodeClassScores{SameType: 7, Free: 7, Mixed: 7, OtherType: 7}
			},
			want: `args.scores.sameType: Invalid value: 7: must exceed otherType, or the plugin has no effect`,
		},
		{
			name:   "a half is not a majority",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.MajorityPercent = 50 },
			want:   `args.majorityPercent: Invalid value: 50: must be between 51 and 100: a node needs a strict majority of one type to have that type`,
		},
		{
			name:   "over 100 percent",
			mutate: func(a *config.WorkloadTypeAffinityArgs) { a.MajorityPercent = 101 },
			want:   `args.majorityPercent: Invalid value: 101: must be between 51 and 100: a node needs a strict majority of one type to have that type`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := valid()
			tt.mutate(&args)
			err := ValidateWorkloadTypeAffinityArgs(field.NewPath("args"), &args)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("error (-want,+got):\n%s", diff)
			}
		})
	}
}
