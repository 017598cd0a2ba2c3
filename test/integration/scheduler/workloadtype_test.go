package scheduler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

const placeTimeout = 2 * time.Minute

// TestStudyScenario is the study's setup: two nodes with room for six database pods each, six
// OLTP and six OLAP pods created interleaved. likewise separates the types; kube-scheduler's
// default profile, on the same run, leaves both nodes mixed (three of each), which is what makes
// this test prove the plugin matters.
func TestStudyScenario(t *testing.T) {
	pods := scenario.StudyPods()
	alternating := alternate(pods)
	tests := []struct {
		name    string
		profile string
		pods    []scenario.Pod
		want    func(nodes []string) map[string]scenario.TypeCounts
	}{
		{
			name:    "likewise separates the types",
			profile: profileLikewise,
			pods:    pods,
			want:    separated,
		},
		{
			name:    "likewise separates strictly alternating pods too",
			profile: profileLikewise,
			pods:    alternating,
			want:    separated,
		},
		{
			name:    "the default profile mixes them",
			profile: profileDefault,
			pods:    pods,
			want: func(nodes []string) map[string]scenario.TypeCounts {
				return map[string]scenario.TypeCounts{
					nodes[0]: {apis.WorkloadOLTP: 3, apis.WorkloadOLAP: 3},
					nodes[1]: {apis.WorkloadOLTP: 3, apis.WorkloadOLAP: 3},
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{}, {}}, "6", "24Gi")
			if _, err := scenario.Create(ctx, client(), ns, tt.profile, caseName, tt.pods); err != nil {
				t.Fatal(err)
			}
			placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, len(tt.pods), placeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			got := placement.TypesPerNode(scenario.TypesOf(tt.pods))
			want := tt.want(nodes)
			if tt.profile == profileLikewise {
				// Which node gets which type is the first pod's coin toss; compare both ways.
				if other := tt.want([]string{nodes[1], nodes[0]}); cmp.Equal(other, got) {
					want = other
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pods per node and type (-want,+got):\n%s", diff)
			}
		})
	}
}

func separated(nodes []string) map[string]scenario.TypeCounts {
	return map[string]scenario.TypeCounts{
		nodes[0]: {apis.WorkloadOLTP: 6},
		nodes[1]: {apis.WorkloadOLAP: 6},
	}
}

// alternate reorders the study's pods as oltp, olap, oltp, olap, ...
func alternate(pods []scenario.Pod) []scenario.Pod {
	var oltp, olap, out []scenario.Pod
	for _, p := range pods {
		if p.Type == apis.WorkloadOLTP {
			oltp = append(oltp, p)
		} else {
			olap = append(olap, p)
		}
	}
	for i := range oltp {
		out = append(out, oltp[i], olap[i])
	}
	return out
}

// TestNodePools: nodes labelled likewise.dev/workload-type are pools; typed pods go to their
// pool even when the other pool is emptier.
func TestNodePools(t *testing.T) {
	pools := []localcluster.NodeSpec{
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP}},
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP}},
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}},
		{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}},
	}
	ctx, nodes, ns, caseName := newCase(t, pools, "8", "32Gi")
	// The OLTP pool starts half full of untyped pods, so resource balancing alone would send
	// OLTP pods to the OLAP pool.
	for i, n := range nodes[:2] {
		prebind(ctx, t, ns, caseName, fmt.Sprintf("filler-%d", i), n, "", "4", "16Gi")
	}
	var pods []scenario.Pod
	for i := 1; i <= 4; i++ {
		pods = append(pods,
			scenario.Pod{Name: fmt.Sprintf("oltp-%d", i), Type: apis.WorkloadOLTP, CPU: "1", Memory: "1Gi"},
			scenario.Pod{Name: fmt.Sprintf("olap-%d", i), Type: apis.WorkloadOLAP, CPU: "1", Memory: "1Gi"})
	}
	if _, err := scenario.Create(ctx, client(), ns, profileLikewise, caseName, pods); err != nil {
		t.Fatal(err)
	}
	placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, len(pods)+2, placeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	poolOf := map[string]string{nodes[0]: apis.WorkloadOLTP, nodes[1]: apis.WorkloadOLTP, nodes[2]: apis.WorkloadOLAP, nodes[3]: apis.WorkloadOLAP}
	got := map[string]string{}
	want := map[string]string{}
	for _, p := range pods {
		got[p.Name] = poolOf[placement[p.Name]]
		want[p.Name] = p.Type
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pool of each pod's node (-want,+got):\n%s\nplacement: %v", diff, placement)
	}
}

// TestRequiredMode: with mode Required, an OLTP pod whose only room is on OLAP nodes stays
// Pending with the plugin's reason, and is scheduled as soon as a change admits it (a pool
// relabelled; an OLAP resident leaving), through the plugin's queueing hints.
func TestRequiredMode(t *testing.T) {
	t.Run("labelled pool", func(t *testing.T) {
		ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}}}, "4", "16Gi")
		pod := scenario.Pod{Name: "oltp-1", Type: apis.WorkloadOLTP, CPU: "1"}
		if _, err := scenario.Create(ctx, client(), ns, profileRequired, caseName, []scenario.Pod{pod}); err != nil {
			t.Fatal(err)
		}
		waitUnschedulable(ctx, t, ns, pod.Name, "1 node(s) had the other database workload type (olap)")

		// The operator turns the pool into an OLTP pool: the pod is scheduled there.
		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, apis.LabelWorkloadType, apis.WorkloadOLTP)
		if _, err := client().CoreV1().Nodes().Patch(ctx, nodes[0], "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 1, placeTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if placement[pod.Name] != nodes[0] {
			t.Errorf("pod on %q, want %q", placement[pod.Name], nodes[0])
		}
	})

	t.Run("node typed by its pods", func(t *testing.T) {
		ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{}}, "4", "16Gi")
		prebind(ctx, t, ns, caseName, "olap-resident", nodes[0], apis.WorkloadOLAP, "1", "1Gi")
		pod := scenario.Pod{Name: "oltp-1", Type: apis.WorkloadOLTP, CPU: "1"}
		if _, err := scenario.Create(ctx, client(), ns, profileRequired, caseName, []scenario.Pod{pod}); err != nil {
			t.Fatal(err)
		}
		waitUnschedulable(ctx, t, ns, pod.Name, "1 node(s) had the other database workload type (olap)")

		// The OLAP pod leaves (as if the rebalancer moved it): the node is free again.
		if err := client().CoreV1().Pods(ns).Delete(ctx, "olap-resident", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
			p, err := client().CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			return err == nil && p.Spec.NodeName == nodes[0], err
		})
		if err != nil {
			t.Fatalf("pod not scheduled after the OLAP resident left: %v", err)
		}
	})

	// The node rejected the pod for its residents, not for a label; the operator then declares
	// it a pool of the pod's type. The label change must requeue the pod at once: the scheduler
	// runs with a flush of unschedulable pods far longer than the wait (TestMain), so only the
	// plugin's queueing hint can bring the pod back in time.
	t.Run("node typed by its pods, then labelled with the pod's type", func(t *testing.T) {
		// Other cases' pods, deleted with their namespaces, would requeue the pod through the
		// plugin's other hints; start once they are gone.
		waitNoTerminatingNamespaces(t)
		ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{}}, "4", "16Gi")
		prebind(ctx, t, ns, caseName, "olap-resident", nodes[0], apis.WorkloadOLAP, "1", "1Gi")
		pod := scenario.Pod{Name: "oltp-1", Type: apis.WorkloadOLTP, CPU: "1"}
		if _, err := scenario.Create(ctx, client(), ns, profileRequired, caseName, []scenario.Pod{pod}); err != nil {
			t.Fatal(err)
		}
		waitUnschedulable(ctx, t, ns, pod.Name, "1 node(s) had the other database workload type (olap)")

		patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, apis.LabelWorkloadType, apis.WorkloadOLTP)
		if _, err := client().CoreV1().Nodes().Patch(ctx, nodes[0], "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 2, placeTimeout)
		if err != nil {
			t.Fatalf("pod not scheduled after its node was labelled %s: %v", apis.WorkloadOLTP, err)
		}
		if placement[pod.Name] != nodes[0] {
			t.Errorf("pod on %q, want %q", placement[pod.Name], nodes[0])
		}
	})

	t.Run("preferred mode uses the other type's room rather than wait", func(t *testing.T) {
		ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}}}, "4", "16Gi")
		pod := scenario.Pod{Name: "oltp-1", Type: apis.WorkloadOLTP, CPU: "1"}
		if _, err := scenario.Create(ctx, client(), ns, profileLikewise, caseName, []scenario.Pod{pod}); err != nil {
			t.Fatal(err)
		}
		placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 1, placeTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if placement[pod.Name] != nodes[0] {
			t.Errorf("pod on %q, want %q", placement[pod.Name], nodes[0])
		}
	})
}

// TestUntypedPodsAsDefault: pods without a type land where kube-scheduler's default profile puts
// them, whatever typed pods the nodes hold. Two identical sets of nodes, one per profile, get the
// same sequence of untyped pods.
func TestUntypedPodsAsDefault(t *testing.T) {
	placeSequence := func(t *testing.T, profile string) []int {
		// Unequal free room, so that no two nodes ever tie and the default's choice is
		// deterministic (requests keep 1 CPU : 4Gi, the nodes' ratio, so only the free room
		// counts); the emptiest node hosts an OLAP pod, the fullest an OLTP one.
		ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{}, {}, {}}, "8", "32Gi")
		prebind(ctx, t, ns, caseName, "filler-0", nodes[0], apis.WorkloadOLTP, "3", "12Gi")
		prebind(ctx, t, ns, caseName, "filler-1", nodes[1], "", "1800m", "7372Mi")
		prebind(ctx, t, ns, caseName, "filler-2", nodes[2], apis.WorkloadOLAP, "500m", "2Gi")
		index := map[string]int{nodes[0]: 0, nodes[1]: 1, nodes[2]: 2}
		var seq []int
		for i := range 5 {
			p := scenario.Pod{Name: fmt.Sprintf("web-%d", i), CPU: "1", Memory: "4Gi"}
			if _, err := scenario.Create(ctx, client(), ns, profile, caseName, []scenario.Pod{p}); err != nil {
				t.Fatal(err)
			}
			placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 4+i, placeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			seq = append(seq, index[placement[p.Name]])
		}
		return seq
	}
	want := placeSequence(t, profileDefault)
	got := placeSequence(t, profileLikewise)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("node index of each untyped pod, default profile (-) vs likewise (+):\n%s", diff)
	}
}

// prebind creates a running pod bound to node directly (no scheduler), with an optional type.
func prebind(ctx context.Context, t *testing.T, ns, caseName, name, node, typ, cpu, memory string) {
	t.Helper()
	pod := scenario.Pod{Name: name, Type: typ, CPU: cpu, Memory: memory}.Build(ns, "", caseName)
	pod.Spec.NodeName = node
	if _, err := client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitUnschedulable waits for the scheduler to report the pod unschedulable with a message
// containing reason, and checks it stays unbound.
func waitUnschedulable(ctx context.Context, t *testing.T, ns, name, reason string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Spec.NodeName != "" {
			return false, fmt.Errorf("pod %s was bound to %s, want it Pending", name, p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				last = c.Message
				return strings.Contains(c.Message, reason), nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("pod %s: want PodScheduled=False Unschedulable with %q; last message %q: %v", name, reason, last, err)
	}
}

// newCase creates nodes with the given capacity (cpu, memory) and a namespace for a new case,
// all removed when the test ends. It returns the node names in spec order.
func newCase(t *testing.T, specs []localcluster.NodeSpec, cpu, memory string) (context.Context, []string, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	k, err := scenario.NewCase(ctx, cluster, "sched", specs, corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(cpu),
		corev1.ResourceMemory: resource.MustParse(memory),
	})
	keepCase(t, k, err)
	return ctx, k.Nodes, k.Namespace, k.Name
}

// waitNoTerminatingNamespaces waits until the namespaces of earlier cases, and so their pods,
// are gone.
func waitNoTerminatingNamespaces(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), placeTimeout)
	defer cancel()
	var terminating []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		terminating = terminating[:0]
		for _, n := range list.Items {
			if n.DeletionTimestamp != nil {
				terminating = append(terminating, n.Name)
			}
		}
		return len(terminating) == 0, nil
	})
	if err != nil {
		t.Fatalf("namespaces still terminating: %v: %v", terminating, err)
	}
}
