// Package e2e runs the cluster-agnostic suite test/e2e on the local cluster, deployed the way the
// kind path deploys likewise: likewise-scheduler in replace mode with
// manifests/scheduler/replace's config, as system:kube-scheduler (kubeadm's static pod's
// identity), and the controllers of test/e2e/deploy, each Deployment run as a process with its
// own args and ServiceAccount (scenario.RunDeployments). Three KWOK nodes labelled
// e2e.likewise.dev/node=true stand for kind's workers.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// Files the kind path uses too (hack/kind-up.sh, make kind-e2e).
const (
	replaceConfig = "manifests/scheduler/replace/kube-scheduler-config.yaml"
	deployDir     = "test/e2e/deploy"
	labelNode     = "e2e.likewise.dev/node"
)

var (
	cluster *localcluster.Cluster
	root    string
)

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		var err error
		if root, err = localcluster.RepoRoot(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		specs := make([]localcluster.NodeSpec, 3)
		for i := range specs {
			specs[i] = localcluster.NodeSpec{
				Labels: map[string]string{labelNode: "true"},
				Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi"),
					corev1.ResourcePods: resource.MustParse("110")},
			}
		}
		if _, err := c.AddNodes(ctx, specs); err != nil {
			return err
		}
		config, err := os.ReadFile(filepath.Join(root, replaceConfig))
		if err != nil {
			return err
		}
		if err := c.StartScheduler(ctx, config, ""); err != nil {
			return fmt.Errorf("likewise-scheduler in replace mode: %w", err)
		}
		objs, err := scenario.Kustomize(deployDir)
		if err != nil {
			return err
		}
		if err := scenario.InstallObjects(ctx, c, objs); err != nil {
			return fmt.Errorf("%s: %w", deployDir, err)
		}
		_, err = scenario.RunDeployments(ctx, c, objs)
		return err
	})
}

// TestE2E runs `go test ./test/e2e/` with KUBECONFIG naming the local cluster, as make kind-e2e
// runs it with kind's.
func TestE2E(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to run test/e2e: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-timeout=18m", "./test/e2e/")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.KubeconfigPath())
	out, err := cmd.CombinedOutput()
	t.Logf("go test ./test/e2e/:\n%s", out)
	if err != nil {
		t.Fatalf("test/e2e failed on the local cluster: %v", err)
	}
}
