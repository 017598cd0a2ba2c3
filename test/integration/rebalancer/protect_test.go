package rebalancer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// TestPodDisruptionBudget: the study's start, with a PodDisruptionBudget that allows oltp-a and
// oltp-b (one pod on each node) no disruption. Their pods stay, the one on the node that becomes
// the OLAP node with an EvictionBlocked Event once the rebalancer tries; every other workload is
// separated.
func TestPodDisruptionBudget(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "pdb", "8", "8")
	c.setUpStudy(ctx)
	budgeted := []string{"oltp-a", "oltp-b"}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "oltp-ab", Namespace: c.Namespace},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: ptr.To(intstr.FromInt32(2)),
			Selector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: budgeted}}},
		},
	}
	if _, err := cluster.Client().PolicyV1().PodDisruptionBudgets(c.Namespace).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The disruption controller must have computed the budget before the test relies on it.
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		got, err := cluster.Client().PolicyV1().PodDisruptionBudgets(c.Namespace).Get(ctx, pdb.Name, metav1.GetOptions{})
		return err == nil && got.Status.ObservedGeneration == got.Generation && got.Status.ExpectedPods == 2, nil
	})
	if err != nil {
		t.Fatalf("the disruption controller never observed the budget: %v", err)
	}
	protected := map[string]string{}
	for _, p := range c.pods(ctx) {
		if slices.Contains(budgeted, p.Labels["app"]) {
			protected[p.Name] = string(p.UID)
		}
	}

	startRebalancer(ctx, t)
	// The end: only one budgeted pod is left on the other type's node (mixing 1).
	var end state
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		end = c.state(ctx)
		total := 0
		for _, n := range end.perNode {
			total += n.OLTP + n.OLAP
		}
		return end.mixing == 1 && total == 12, nil
	})
	if err != nil {
		t.Fatalf("the others were not separated: %v\n%s", err, describe(c.pods(ctx)))
	}
	now := map[string]string{}
	blocked := 0
	for _, p := range c.pods(ctx) {
		if !slices.Contains(budgeted, p.Labels["app"]) {
			continue
		}
		now[p.Name] = string(p.UID)
		blocked += len(rebalancerEvents(ctx, t, p)[rebalancer.ReasonEvictionBlocked])
	}
	if diff := cmp.Diff(protected, now); diff != "" {
		t.Errorf("budgeted pods were replaced despite their budget (-before,+now):\n%s", diff)
	}
	if blocked == 0 {
		t.Error("no EvictionBlocked Event on the budgeted pods")
	}
}

// TestProtectedPods: three OLTP workloads the rebalancer must never move, each one pod per node
// beside three OLAP workloads: a StatefulSet whose volumes are local PersistentVolumes pinned to
// their nodes, a CloudNativePG-style primary, and a Deployment that opted out. Each keeps its
// pods and says why; the OLAP pods still move (the mixing falls from 6 to 3).
func TestProtectedPods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Room for ten: the OLAP node ends with its three protected OLTP pods and all six OLAP ones.
	c := newCase(ctx, t, "protected", "10", "10")

	// Local volumes, one per node, bound in advance to the StatefulSet's claims.
	for i, node := range c.Nodes {
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-data-%d", c.Name, i)},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              "",
				PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/var/lib/postgresql"}},
				ClaimRef:                      &corev1.ObjectReference{Namespace: c.Namespace, Name: fmt.Sprintf("data-pinned-%d", i)},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
				}}}},
			},
		}
		if _, err := cluster.Client().CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client().CoreV1().PersistentVolumes().Delete(context.Background(), pv.Name, metav1.DeleteOptions{})
		})
	}
	protectedWorkloads := []scenario.DatabaseWorkload{
		{Name: "pinned", Kind: "StatefulSet", Replicas: 2, CPU: "1", Memory: "2Gi",
			ClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To(""),
					Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}}},
		{Name: "primary", Kind: "StatefulSet", Replicas: 2, CPU: "1", Memory: "2Gi",
			Labels: map[string]string{apis.LabelCNPGInstanceRole: apis.CNPGRolePrimary}},
		{Name: "optout", Kind: "Deployment", Replicas: 2, CPU: "1", Memory: "2Gi",
			Annotations: map[string]string{apis.AnnotationRebalance: apis.RebalanceDisabled}},
	}
	reasons := map[string]string{
		"pinned":  rebalancer.ReasonNodeLocalStorage,
		"primary": rebalancer.ReasonOperatorPrimary,
		"optout":  rebalancer.ReasonOptedOut,
	}
	olap := []string{"olap-a", "olap-b", "olap-c"}
	for i, w := range protectedWorkloads {
		c.workload(ctx, w)
		c.workload(ctx, scenario.DatabaseWorkload{Name: olap[i], Kind: "Deployment", Replicas: 2, CPU: "1", Memory: "2Gi"})
	}
	for _, w := range protectedWorkloads {
		c.typeWorkload(ctx, w.Name, workloadtype.OLTP)
	}
	for _, name := range olap {
		c.typeWorkload(ctx, name, workloadtype.OLAP)
	}
	start := c.state(ctx)
	if start.mixing != 6 {
		t.Fatalf("start: %s, want three of each type per node", countsString(start.perNode))
	}
	protected := map[string]string{}
	for _, p := range c.pods(ctx) {
		if _, ok := reasons[p.Labels["app"]]; ok {
			protected[p.Name] = string(p.UID)
		}
	}

	startRebalancer(ctx, t)
	for _, p := range c.pods(ctx) {
		reason, ok := reasons[p.Labels["app"]]
		if !ok {
			continue
		}
		note := c.waitEvent(ctx, p.Name, reason, time.Minute)
		t.Logf("%s: %s: %s", p.Name, reason, note)
	}
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		s := c.state(ctx)
		total := 0
		for _, n := range s.perNode {
			total += n.OLTP + n.OLAP
		}
		return s.mixing == 3 && total == 12, nil
	})
	if err != nil {
		t.Fatalf("the OLAP pods did not move: %v\n%s", err, describe(c.pods(ctx)))
	}
	now := map[string]string{}
	for _, p := range c.pods(ctx) {
		if _, ok := reasons[p.Labels["app"]]; ok {
			now[p.Name] = string(p.UID)
		}
	}
	if diff := cmp.Diff(protected, now); diff != "" {
		t.Errorf("protected pods were replaced (-before,+now):\n%s", diff)
	}
	for _, p := range c.pods(ctx) {
		if _, ok := reasons[p.Labels["app"]]; ok && len(rebalancerEvents(ctx, t, p)[rebalancer.ReasonEvicting]) > 0 {
			t.Errorf("%s: an Evicting Event on a protected pod", p.Name)
		}
	}
}
