package manifests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/test/localcluster"
)

// TestRebalancerSchedulerConfigIsTheSchedulers: the rebalancer simulates the profile the
// scheduler runs, so its base ships the scheduler's config unchanged (kustomize reads no file
// outside a base, hence the copy).
func TestRebalancerSchedulerConfigIsTheSchedulers(t *testing.T) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if diff := cmp.Diff(read("manifests/scheduler/base/scheduler-config.yaml"), read("manifests/rebalancer/base/scheduler-config.yaml")); diff != "" {
		t.Errorf("manifests/rebalancer/base/scheduler-config.yaml differs from the scheduler's (-scheduler,+rebalancer):\n%s", diff)
	}
}
