package rebalancer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/plugins/workloadtypeaffinity"
)

// FuzzLoadSchedulerConfig loads arbitrary bytes as the scheduler config the rebalancer simulates,
// seeded with every shipped one: it never panics, every error says which file, and a profile it
// returns runs WorkloadTypeAffinity with valid args, a lease when leader election is on, and is
// the profile asked for.
func FuzzLoadSchedulerConfig(f *testing.F) {
	for _, path := range []string{
		"../../manifests/scheduler/base/scheduler-config.yaml",
		"../../manifests/scheduler/replace/kube-scheduler-config.yaml",
		"../../manifests/rebalancer/base/scheduler-config.yaml",
	} {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		for _, profile := range []string{"likewise-scheduler", "default-scheduler", "notebook-scheduler"} {
			f.Add(data, profile)
		}
	}
	f.Add([]byte(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
leaderElection: {leaderElect: false}
profiles:
- schedulerName: db
  plugins: {multiPoint: {enabled: [{name: WorkloadTypeAffinity}]}}
  pluginConfig:
  - name: WorkloadTypeAffinity
    args: {majorityPercent: 40}
`), "db")
	// One file per worker process, rewritten per input: a fresh directory each time costs more
	// than the load itself.
	path := filepath.Join(f.TempDir(), "scheduler-config.yaml")
	logger := klog.Background().V(10) // quiet
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := LoadSchedulerConfig(logger, path, profile)
		if err != nil {
			if prefix := "scheduler config " + path + ": "; !strings.HasPrefix(err.Error(), prefix) {
				t.Fatalf("error %q does not start with %q", err, prefix)
			}
			return
		}
		if got.Profile == nil || got.Profile.SchedulerName != profile {
			t.Fatalf("asked for profile %q, got %+v", profile, got.Profile)
		}
		if !enabled(got.Profile.Plugins, workloadtypeaffinity.Name) {
			t.Fatalf("profile %q accepted without %s", profile, workloadtypeaffinity.Name)
		}
		if got.MajorityPercent < 51 || got.MajorityPercent > 100 {
			t.Fatalf("profile %q accepted with majorityPercent %d, which the plugin refuses", profile, got.MajorityPercent)
		}
		if (got.LeaseNamespace == "") != (got.LeaseName == "") {
			t.Fatalf("half a lease: %q/%q", got.LeaseNamespace, got.LeaseName)
		}
	})
}
