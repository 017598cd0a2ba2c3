package scheme

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"

	"github.com/likewise-dev/likewise/pkg/apis/config"
)

const header = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: likewise-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: WorkloadTypeAffinity
`

func decode(t *testing.T, data string) (*schedconfig.KubeSchedulerConfiguration, error) {
	t.Helper()
	obj, _, err := Codecs.UniversalDecoder().Decode([]byte(data), nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, ok := obj.(*schedconfig.KubeSchedulerConfiguration)
	if !ok {
		t.Fatalf("decoded %T, want KubeSchedulerConfiguration", obj)
	}
	return cfg, nil
}

func argsOf(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration) *config.WorkloadTypeAffinityArgs {
	t.Helper()
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == "WorkloadTypeAffinity" {
			args, ok := pc.Args.(*config.WorkloadTypeAffinityArgs)
			if !ok {
				t.Fatalf("args have type %T, want *config.WorkloadTypeAffinityArgs", pc.Args)
			}
			return args
		}
	}
	t.Fatal("no pluginConfig for WorkloadTypeAffinity")
	return nil
}

func TestDecodeWorkloadTypeAffinityArgs(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		want    *config.WorkloadTypeAffinityArgs
		wantErr string
	}{
		{
			name:   "no pluginConfig gets the defaults",
			config: header,
			want: &config.WorkloadTypeAffinityArgs{
				Mode:            config.ModePreferred,
				Scores:          config.NodeClassScores{SameType: 100, Free: 50, Mixed: 20, OtherType: 0},
				MajorityPercent: 51,
			},
		},
		{
			name: "partial args are defaulted field by field",
			config: header + `  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      mode: Required
      scores:
        free: 0
`,
			want: &config.WorkloadTypeAffinityArgs{
				Mode:            config.ModeRequired,
				Scores:          config.NodeClassScores{SameType: 100, Free: 0, Mixed: 20, OtherType: 0},
				MajorityPercent: 51,
			},
		},
		{
			name: "unknown field",
			config: header + `  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      mode: Required
      majority: 60
`,
			wantErr: `unknown field "majority"`,
		},
		{
			name: "misspelt nested field",
			config: header + `  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      scores:
        same: 90
`,
			wantErr: `unknown field "scores.same"`,
		},
		{
			name: "wrong value type",
			config: header + `  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      majorityPercent: "sixty"
`,
			wantErr: `majorityPercent`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := decode(t, tt.config)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := argsOf(t, cfg)
			got.TypeMeta = tt.want.TypeMeta
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("args (-want,+got):\n%s", diff)
			}
		})
	}
}

const notebookHeader = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: notebook-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: NotebookSpread
`

func notebookArgsOf(t *testing.T, cfg *schedconfig.KubeSchedulerConfiguration) *config.NotebookSpreadArgs {
	t.Helper()
	for _, pc := range cfg.Profiles[0].PluginConfig {
		if pc.Name == "NotebookSpread" {
			args, ok := pc.Args.(*config.NotebookSpreadArgs)
			if !ok {
				t.Fatalf("args have type %T, want *config.NotebookSpreadArgs", pc.Args)
			}
			return args
		}
	}
	t.Fatal("no pluginConfig for NotebookSpread")
	return nil
}

func TestDecodeNotebookSpreadArgs(t *testing.T) {
	kubeSpawner := &metav1.LabelSelector{MatchLabels: map[string]string{"component": "singleuser-server"}}
	tests := []struct {
		name    string
		config  string
		want    *config.NotebookSpreadArgs
		wantErr string
	}{
		{
			name:   "no pluginConfig gets the defaults",
			config: notebookHeader,
			want: &config.NotebookSpreadArgs{
				Mode:           config.ModeSpread,
				PodSelector:    kubeSpawner,
				UserAnnotation: "hub.jupyter.org/username",
				UserLabel:      "hub.jupyter.org/username",
			},
		},
		{
			name: "partial args are defaulted field by field",
			config: notebookHeader + `  pluginConfig:
  - name: NotebookSpread
    args:
      mode: Pack
      userAnnotation: ""
      hubLabel: release
      sameUserNodeAdjustment: -20
      maxUsersPerNode: 30
      podSelector:
        matchExpressions:
        - {key: component, operator: In, values: [singleuser-server]}
`,
			want: &config.NotebookSpreadArgs{
				Mode: config.ModePack,
				PodSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "component", Operator: metav1.LabelSelectorOpIn, Values: []string{"singleuser-server"}},
				}},
				UserAnnotation:         "",
				UserLabel:              "hub.jupyter.org/username",
				HubLabel:               "release",
				SameUserNodeAdjustment: -20,
				MaxUsersPerNode:        30,
			},
		},
		{
			name: "unknown field",
			config: notebookHeader + `  pluginConfig:
  - name: NotebookSpread
    args:
      maxUsers: 30
`,
			wantErr: `unknown field "maxUsers"`,
		},
		{
			name: "misspelt selector field",
			config: notebookHeader + `  pluginConfig:
  - name: NotebookSpread
    args:
      podSelector:
        matchLabel:
          component: singleuser-server
`,
			wantErr: `unknown field "podSelector.matchLabel"`,
		},
		{
			name: "wrong value type",
			config: notebookHeader + `  pluginConfig:
  - name: NotebookSpread
    args:
      maxUsersPerNode: many
`,
			wantErr: `maxUsersPerNode`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := decode(t, tt.config)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			got := notebookArgsOf(t, cfg)
			got.TypeMeta = tt.want.TypeMeta
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("args (-want,+got):\n%s", diff)
			}
		})
	}
}
