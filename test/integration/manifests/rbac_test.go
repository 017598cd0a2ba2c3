package manifests

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestSchedulerRunsWithItsServiceAccount applies the second-scheduler manifests for real and
// runs bin/likewise-scheduler as their ServiceAccount, with the shipped config (leader election
// on): it must take its own lease and schedule a typed pod, and its log must show no request
// refused for lack of rights. The Deployment itself is not applied: KWOK runs no containers, so
// the test runs the binary in its place.
func TestSchedulerRunsWithItsServiceAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a := newApplier(t)
	var base manifestSet
	for _, s := range loadManifests(t) {
		if s.source == "manifests/scheduler/base" {
			base = s
		}
	}
	if base.objects == nil {
		t.Fatal("manifests/scheduler/base not found")
	}
	// The namespace the base expects (it holds only the scheduler's own objects).
	if err := scenario.InstallBase(ctx, cluster, scenario.CommonBase); err != nil {
		t.Fatal(err)
	}
	var namespace, config string
	for _, o := range base.objects {
		switch o.GetKind() {
		case "Deployment":
			continue
		case "ServiceAccount":
			namespace = o.GetNamespace()
		case "ConfigMap":
			config, _, _ = unstructuredString(o.Object, "data", "config.yaml")
		}
		if err := a.Apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
	}
	if config == "" {
		t.Fatal("the base has no ConfigMap with config.yaml")
	}
	kubeconfig, err := cluster.KubeconfigForServiceAccount(ctx, namespace, localcluster.SchedulerName)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.StartScheduler(ctx, []byte(config), kubeconfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.StopComponent(localcluster.SchedulerName) })

	// It leads through its own lease.
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		lease, err := cluster.Client().CoordinationV1().Leases(namespace).Get(ctx, "likewise-scheduler", metav1.GetOptions{})
		return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", nil
	})
	if err != nil {
		t.Fatalf("no leader in lease %s/likewise-scheduler: %v", namespace, err)
	}

	// It schedules a typed pod onto the node of its type.
	k, err := scenario.NewCase(ctx, cluster, "rbac", []localcluster.NodeSpec{
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}},
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP}},
	}, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(context.Background(), cluster) })
	pod := scenario.Pod{Name: "oltp-1", Type: apis.WorkloadOLTP, CPU: "1"}
	if _, err := k.Create(ctx, cluster, scenario.ProfileLikewise, []scenario.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	placement, err := k.WaitPlaced(ctx, cluster, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if placement[pod.Name] != k.Nodes[1] {
		t.Errorf("pod on %s, want the oltp pool node %s", placement[pod.Name], k.Nodes[1])
	}

	log, err := os.ReadFile(filepath.Join(cluster.LogsDir(), localcluster.SchedulerName+".log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden") {
			t.Errorf("the scheduler was refused a request: %s", line)
		}
	}
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	cur := any(obj)
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}
