package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
)

// TestMisplacedPodMoves: a Deployment's pod, untyped, lands on node a (it prefers a). A user
// then labels it olap: it sits on the oltp node. The rebalancer evicts it, the Deployment
// recreates it, and the scheduler places the replacement on b, the olap node: the type follows
// the workload (the rebalancer recorded it on the ReplicaSet before evicting).
func TestMisplacedPodMoves(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t)
	a, b, _ := typedNodes(ctx, t, ns)
	tmpl := template("cache", databaseScheduler, nil)
	tmpl.Spec.Affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = []corev1.PreferredSchedulingTerm{{
		Weight: 100, Preference: corev1.NodeSelectorTerm{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{a}}},
		},
	}}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, deployment(ns, "cache", tmpl), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	first := waitPods(ctx, t, ns, "app=cache", "cache running", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && running(pods[0])
	})[0]
	if first.Spec.NodeName != a {
		t.Fatalf("untyped %s on %s, want %s, the node it prefers", first.Name, first.Spec.NodeName, a)
	}

	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Pods(ns).Patch(ctx, first.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s labelled olap on %s, an oltp node", first.Name, a)

	moved := waitPods(ctx, t, ns, "app=cache", "cache's replacement running", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && pods[0].UID != first.UID && running(pods[0])
	})[0]
	if moved.Spec.NodeName != b {
		t.Errorf("replacement %s on %s, want %s, the olap node", moved.Name, moved.Spec.NodeName, b)
	}
	if got := events(ctx, t, ns, string(first.UID), rebalancer.Name); !slices.Contains(got, rebalancer.ReasonEvicting) {
		t.Errorf("%s: Events %v from %s, want %s", first.Name, got, rebalancer.Name, rebalancer.ReasonEvicting)
	}
	rs := metav1.GetControllerOf(&moved)
	if rs == nil {
		t.Fatalf("%s has no controller", moved.Name)
	}
	owner, err := client.AppsV1().ReplicaSets(ns).Get(ctx, rs.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := owner.Annotations[apis.AnnotationWorkloadTypeRecord]; got != apis.WorkloadOLAP {
		t.Errorf("ReplicaSet %s: record %s=%q, want %q", owner.Name, apis.AnnotationWorkloadTypeRecord, got, apis.WorkloadOLAP)
	}
}
