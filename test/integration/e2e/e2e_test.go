// Package e2e runs the cluster-agnostic suite test/e2e on the local cluster, once per mode,
// deployed the way the kind path deploys likewise (make kind-up, make kind-e2e with KIND_MODE):
//
//   - replace: likewise-scheduler with manifests/scheduler/replace's config, as
//     system:kube-scheduler (kubeadm's static pod's identity), and test/e2e/deploy/replace;
//   - second: test/e2e/deploy/second, likewise-scheduler from manifests/scheduler/base as its
//     ServiceAccount.
//
// Each controller's Deployment runs as a process with its own args and ServiceAccount
// (scenario.RunDeployments). Three KWOK nodes labelled e2e.likewise.dev/node=true stand for
// kind's workers.
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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// Files the kind path uses too (hack/kind-up.sh, make kind-e2e).
const (
	replaceConfig = "manifests/scheduler/replace/kube-scheduler-config.yaml"
	deployDir     = "test/e2e/deploy/"
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
		_, err = c.AddNodes(ctx, specs)
		return err
	})
}

// deploy starts likewise on the local cluster in mode, replacing what runs of the other mode.
func deploy(ctx context.Context, mode string) error {
	objs, err := scenario.Kustomize(deployDir + mode)
	if err != nil {
		return err
	}
	if err := scenario.InstallObjects(ctx, cluster, objs); err != nil {
		return fmt.Errorf("%s: %w", deployDir+mode, err)
	}
	var controllers []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != localcluster.SchedulerName {
			controllers = append(controllers, o)
		}
	}
	switch mode {
	case "replace":
		config, err := os.ReadFile(filepath.Join(root, replaceConfig))
		if err != nil {
			return err
		}
		if err := cluster.StartScheduler(ctx, config, ""); err != nil {
			return fmt.Errorf("likewise-scheduler in replace mode: %w", err)
		}
	case "second":
		if len(controllers) == len(objs) {
			return fmt.Errorf("%s has no %s Deployment", deployDir+mode, localcluster.SchedulerName)
		}
		// The shipped config, which the base's ConfigMap holds.
		if err := scenario.StartSchedulerAsServiceAccount(ctx, cluster, nil); err != nil {
			return fmt.Errorf("likewise-scheduler as a second scheduler: %w", err)
		}
	}
	_, err = scenario.RunDeployments(ctx, cluster, controllers)
	return err
}

// TestE2E runs `go test ./test/e2e/` with KUBECONFIG naming the local cluster, in each mode, as
// make kind-e2e runs it with kind's.
func TestE2E(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to run test/e2e: %v", err)
	}
	for _, mode := range []string{"replace", "second"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
			defer cancel()
			if err := deploy(ctx, mode); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-timeout=18m", "./test/e2e/")
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.KubeconfigPath(), "LIKEWISE_E2E_MODE="+mode)
			out, err := cmd.CombinedOutput()
			t.Logf("go test ./test/e2e/ (%s mode):\n%s", mode, out)
			if err != nil {
				t.Fatalf("test/e2e failed on the local cluster in %s mode: %v", mode, err)
			}
		})
	}
}
