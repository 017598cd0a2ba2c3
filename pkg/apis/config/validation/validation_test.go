package validation

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func validNotebook() config.NotebookSpreadArgs {
	return config.NotebookSpreadArgs{
		Mode:           config.ModeSpread,
		PodSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}},
		UserAnnotation: "hub.jupyter.org/username",
		UserLabel:      "hub.jupyter.org/username",
	}
}

func TestValidateNotebookSpreadArgs(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*config.NotebookSpreadArgs)
		want   string
	}{
		{name: "defaults", mutate: func(*config.NotebookSpreadArgs) {}},
		{name: "pack", mutate: func(a *config.NotebookSpreadArgs) { a.Mode = config.ModePack }},
		{name: "label only", mutate: func(a *config.NotebookSpreadArgs) { a.UserAnnotation = "" }},
		{name: "annotation only", mutate: func(a *config.NotebookSpreadArgs) { a.UserLabel = "" }},
		{name: "hub label", mutate: func(a *config.NotebookSpreadArgs) { a.HubLabel = "release" }},
		{name: "adjustment bounds", mutate: func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = -100 }},
		{name: "cap", mutate: func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = 10000 }},
		{name: "selector with expressions", mutate: func(a *config.NotebookSpreadArgs) {
			a.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "component", Operator: metav1.LabelSelectorOpIn, Values: []string{"singleuser-server", "notebook"}},
			}}
		}},
		{
			name:   "unknown mode",
			mutate: func(a *config.NotebookSpreadArgs) { a.Mode = "Balance" },
			want:   `args.mode: Unsupported value: "Balance": supported values: "Spread", "Pack"`,
		},
		{
			name:   "no user key",
			mutate: func(a *config.NotebookSpreadArgs) { a.UserAnnotation = ""; a.UserLabel = "" },
			want:   `args.userAnnotation: Required value: userAnnotation or userLabel must name the key that holds the user`,
		},
		{
			name:   "invalid keys",
			mutate: func(a *config.NotebookSpreadArgs) { a.UserLabel = "user name"; a.HubLabel = "-hub" },
			want: `[args.userLabel: Invalid value: "user name": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), ` +
				`args.hubLabel: Invalid value: "-hub": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')]`,
		},
		{
			name:   "empty selector",
			mutate: func(a *config.NotebookSpreadArgs) { a.PodSelector = &metav1.LabelSelector{} },
			want:   `args.podSelector: Invalid value: "{}": must not be empty: an empty selector makes every pod a notebook server`,
		},
		{
			name:   "nil selector",
			mutate: func(a *config.NotebookSpreadArgs) { a.PodSelector = nil },
			want:   `args.podSelector: Required value`,
		},
		{
			name: "bad selector operator",
			mutate: func(a *config.NotebookSpreadArgs) {
				a.PodSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "component", Operator: "Equals", Values: []string{"x"}}}}
			},
			want: `args.podSelector.matchExpressions[0].operator: Invalid value: "Equals": not a valid selector operator`,
		},
		{
			name:   "adjustment out of range",
			mutate: func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = 101 },
			want:   `args.sameUserNodeAdjustment: Invalid value: 101: must be between -100 and 100: it is a share of the plugin's 0-100 score`,
		},
		{
			name:   "negative cap",
			mutate: func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = -1 },
			want:   `args.maxUsersPerNode: Invalid value: -1: must be between 0 (no cap) and 10000`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := validNotebook()
			tt.mutate(&args)
			err := ValidateNotebookSpreadArgs(field.NewPath("args"), &args)
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
