package manifests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// TestRebalancerSchedulerConfigIsTheSchedulers: the rebalancer simulates the profile the
// scheduler runs, so its base ships the second scheduler's config unchanged, and its replace-mode
// overlay the replace-mode config (kustomize reads no file outside a base, hence the copies).
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
	for scheduler, copied := range map[string]string{
		"manifests/scheduler/base/scheduler-config.yaml":         "manifests/rebalancer/base/scheduler-config.yaml",
		"manifests/scheduler/replace/kube-scheduler-config.yaml": "manifests/rebalancer/replace/kube-scheduler-config.yaml",
	} {
		if diff := cmp.Diff(read(scheduler), read(copied)); diff != "" {
			t.Errorf("%s differs from %s (-scheduler,+rebalancer):\n%s", copied, scheduler, diff)
		}
	}
}
