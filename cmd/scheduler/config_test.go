package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	"k8s.io/kubernetes/pkg/scheduler"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	"sigs.k8s.io/yaml"

	"github.com/likewise-dev/likewise/pkg/plugins"
	"github.com/likewise-dev/likewise/pkg/plugins/notebookspread"
	"github.com/likewise-dev/likewise/pkg/plugins/workloadtypeaffinity"
)

var kindSchedulerConfig = regexp.MustCompile(`(?m)^kind:\s*KubeSchedulerConfiguration\s*$`)

// writeKubeconfig writes a kubeconfig for a server nobody listens on: Setup builds clients but
// does not call the API server.
func writeKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	data := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
    insecure-skip-tls-verify: true
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: not-a-secret}
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// setup runs kube-scheduler's own Setup, as the binary does at start, on a config file whose
// clientConnection.kubeconfig is pointed at kubeconfig.
func setup(t *testing.T, configFile, kubeconfig string) (*scheduler.Scheduler, error) {
	t.Helper()
	data, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	// The shipped files name the in-cluster or kubeadm kubeconfig; point it at ours.
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("%s: %v", configFile, err)
	}
	cc, _ := doc["clientConnection"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
	}
	cc["kubeconfig"] = kubeconfig
	doc["clientConnection"] = cc
	if data, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), filepath.Base(configFile))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, ctx := ktesting.NewTestContext(t)
	opts := options.NewOptions()
	opts.ConfigFile = path
	// No secure port: the config is what is under test, and tests must not take port 10259.
	opts.SecureServing.BindPort = 0
	_, sched, err := app.Setup(ctx, opts, plugins.RegistryOptions()...)
	return sched, err
}

// ourScorePlugins are the likewise Score plugins, with their weights, of each shipped profile:
// database pods get WorkloadTypeAffinity, notebook servers NotebookSpread, never both.
var ourScorePlugins = map[string][]schedconfig.Plugin{
	"likewise-scheduler": {{Name: workloadtypeaffinity.Name, Weight: 5}},
	"default-scheduler":  {{Name: workloadtypeaffinity.Name, Weight: 5}},
	"notebook-scheduler": {{Name: notebookspread.Name, Weight: 5}},
}

// TestManifestSchedulerConfigs loads every KubeSchedulerConfiguration shipped under manifests/
// through the real scheduler setup, and checks that each profile keeps the in-tree plugins and
// runs ours with valid args.
func TestManifestSchedulerConfigs(t *testing.T) {
	var files []string
	err := filepath.WalkDir("../../manifests", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if kindSchedulerConfig.Match(data) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d scheduler configs under manifests/, want at least 2 (second scheduler, replacement): %v", len(files), files)
	}
	kubeconfig := writeKubeconfig(t)
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			sched, err := setup(t, f, kubeconfig)
			if err != nil {
				t.Fatalf("scheduler setup: %v", err)
			}
			defaults := defaultProfilePlugins(t, kubeconfig)
			for name, prof := range sched.Profiles {
				got := prof.ListPlugins()
				// Every in-tree plugin of kube-scheduler's default profile stays enabled, at every
				// extension point, with its weight.
				for point, want := range map[string][]schedconfig.Plugin{
					"PreFilter": defaults.PreFilter.Enabled, "Filter": defaults.Filter.Enabled,
					"PreScore": defaults.PreScore.Enabled, "Score": defaults.Score.Enabled,
					"Reserve": defaults.Reserve.Enabled, "PreBind": defaults.PreBind.Enabled, "Bind": defaults.Bind.Enabled,
				} {
					have := pluginsAt(got, point)
					for _, p := range want {
						if !slices.Contains(have, p) {
							t.Errorf("profile %s: in-tree plugin %s (weight %d) is missing at %s; have %v", name, p.Name, p.Weight, point, have)
						}
					}
				}
				want, known := ourScorePlugins[name]
				if !known {
					t.Errorf("profile %s: unknown profile; add it to ourScorePlugins", name)
					continue
				}
				var have []schedconfig.Plugin
				for _, p := range got.Score.Enabled {
					if p.Name == workloadtypeaffinity.Name || p.Name == notebookspread.Name {
						have = append(have, p)
					}
				}
				if diff := cmp.Diff(want, have); diff != "" {
					t.Errorf("profile %s: likewise Score plugins (-want,+got):\n%s", name, diff)
				}
				// The adaptive default, as kube-scheduler's: at 5000 nodes, scoring every node cost
				// 4x the throughput for no better placement (docs/benchmarks.md).
				if pct := prof.PercentageOfNodesToScore(); pct != nil {
					t.Errorf("profile %s: percentageOfNodesToScore = %v, want unset (the adaptive default)", name, *pct)
				}
			}
		})
	}
}

// defaultProfilePlugins returns the plugins of kube-scheduler's own default profile.
func defaultProfilePlugins(t *testing.T, kubeconfig string) *schedconfig.Plugins {
	t.Helper()
	sched, err := setup(t, "testdata/default.yaml", kubeconfig)
	if err != nil {
		t.Fatalf("setting up the default scheduler: %v", err)
	}
	return sched.Profiles["default-scheduler"].ListPlugins()
}

func pluginsAt(p *schedconfig.Plugins, point string) []schedconfig.Plugin {
	switch point {
	case "PreFilter":
		return p.PreFilter.Enabled
	case "Filter":
		return p.Filter.Enabled
	case "PreScore":
		return p.PreScore.Enabled
	case "Score":
		return p.Score.Enabled
	case "Reserve":
		return p.Reserve.Enabled
	case "PreBind":
		return p.PreBind.Enabled
	case "Bind":
		return p.Bind.Enabled
	}
	return nil
}

// TestBadConfigRefusesToStart checks that the scheduler refuses bad args with the field's path
// and, for enums, the valid values.
func TestBadConfigRefusesToStart(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{
			file: "testdata/bad-mode.yaml",
			want: []string{`profiles[likewise-scheduler].pluginConfig[WorkloadTypeAffinity].args.mode: Unsupported value: "Strict": supported values: "Preferred", "Required"`},
		},
		{
			file: "testdata/bad-scores.yaml",
			want: []string{
				`profiles[likewise-scheduler].pluginConfig[WorkloadTypeAffinity].args.scores.otherType: Invalid value: 60: must not exceed mixed`,
				`profiles[likewise-scheduler].pluginConfig[WorkloadTypeAffinity].args.majorityPercent: Invalid value: 40: must be between 51 and 100`,
			},
		},
		{
			file: "testdata/unknown-field.yaml",
			want: []string{`unknown field "majority"`},
		},
		{
			file: "testdata/bad-notebook-args.yaml",
			want: []string{
				`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.mode: Unsupported value: "Balance": supported values: "Spread", "Pack"`,
				`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.podSelector: Invalid value: "{}": must not be empty: an empty selector makes every pod a notebook server`,
				`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.userAnnotation: Required value: userAnnotation or userLabel must name the key that holds the user`,
				`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.sameUserNodeAdjustment: Invalid value: 150: must be between -100 and 100`,
				`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.maxUsersPerNode: Invalid value: -1: must be between 0 (no cap) and 10000`,
			},
		},
		{
			file: "testdata/bad-notebook-hub-label.yaml",
			want: []string{`profiles[notebook-scheduler].pluginConfig[NotebookSpread].args.hubLabel: Invalid value: "hub name": name part must consist of alphanumeric characters`},
		},
		{
			file: "testdata/notebook-unknown-field.yaml",
			want: []string{`unknown field "maxUsers"`},
		},
	}
	kubeconfig := writeKubeconfig(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, err := setup(t, tt.file, kubeconfig)
			if err == nil {
				t.Fatal("scheduler setup accepted a bad config")
			}
			var missing []string
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					missing = append(missing, w)
				}
			}
			if diff := cmp.Diff([]string(nil), missing); diff != "" {
				t.Errorf("error %q lacks (-want,+got):\n%s", err, diff)
			}
		})
	}
}
