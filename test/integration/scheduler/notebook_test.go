package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/scenario"
)

const (
	profileNotebook    = scenario.ProfileNotebook
	profileNotebookCap = scenario.ProfileNotebookCap
)

// TestNotebookSpread: 30 users log in within seconds (40 servers with small, unequal requests;
// ten users start a second, named server) on three nodes whose free room differs because other
// workloads run there. The shipped notebook profile keeps the users per node within one of each
// other. kube-scheduler's default profile, on the same scene, sends every server to the emptiest
// node, because the servers request too little for resource-based scoring to change its mind:
// that is what makes this test prove the plugin matters.
func TestNotebookSpread(t *testing.T) {
	servers := scenario.NotebookLogins(30)
	pods := scenario.NotebookPods(servers)
	users := scenario.UsersOf(servers)
	scene := scenario.DefaultNotebookScene()
	tests := []struct {
		name    string
		profile string
		check   func(t *testing.T, nodes []string, perNode map[string]int)
	}{
		{
			name:    "NotebookSpread balances users per node",
			profile: profileNotebook,
			check: func(t *testing.T, _ []string, perNode map[string]int) {
				if s := scenario.Spread(perNode); s > 1 {
					t.Errorf("users per node %v differ by %d, want at most 1", perNode, s)
				}
			},
		},
		{
			name:    "the default profile puts every user on the emptiest node",
			profile: profileDefault,
			check: func(t *testing.T, nodes []string, perNode map[string]int) {
				want := map[string]int{nodes[0]: 0, nodes[1]: 0, nodes[2]: 30}
				if diff := cmp.Diff(want, perNode); diff != "" {
					t.Errorf("users per node (-want,+got):\n%s", diff)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, k := newNotebookCase(t, scene)
			if _, err := k.Create(ctx, cluster, tt.profile, pods); err != nil {
				t.Fatal(err)
			}
			placement, err := k.WaitPlaced(ctx, cluster, scene.OtherPods()+len(pods), placeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			perNode := placement.UsersPerNode(k.Nodes, users)
			t.Logf("users per node: %v; servers per node: %v", perNode, placement.ServersPerNode(k.Nodes, users))
			tt.check(t, k.Nodes, perNode)
		})
	}
}

// TestNotebookCap: with maxUsersPerNode, a user who would exceed the cap on every node stays
// Pending with the plugin's reason, a named server of a user already on a full node is still
// placed (a user counts once), and the waiting user is scheduled as soon as another user logs
// out, through the plugin's Pod/Delete queueing hint.
func TestNotebookCap(t *testing.T) {
	ctx, k := newNotebookCase(t, scenario.NotebookScene{
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("32Gi")},
		Others:   make([]scenario.Pod, 2),
	})
	server := func(user, name string) scenario.NotebookServer {
		return scenario.NotebookServer{User: user, Server: name, CPU: "20m", Memory: "128Mi"}
	}
	var first []scenario.NotebookServer
	for i := 1; i <= 2*scenario.NotebookCap; i++ {
		first = append(first, server(fmt.Sprintf("user-%d", i), ""))
	}
	if _, err := k.Create(ctx, cluster, profileNotebookCap, scenario.NotebookPods(first)); err != nil {
		t.Fatal(err)
	}
	placement, err := k.WaitPlaced(ctx, cluster, len(first), placeTimeout)
	if err != nil {
		t.Fatal(err)
	}
	users := scenario.UsersOf(first)
	want := map[string]int{k.Nodes[0]: scenario.NotebookCap, k.Nodes[1]: scenario.NotebookCap}
	if diff := cmp.Diff(want, placement.UsersPerNode(k.Nodes, users)); diff != "" {
		t.Fatalf("users per node before the cap is tested (-want,+got):\n%s", diff)
	}

	// Both nodes are full, but user-1 is one of a node's users already.
	named := server("user-1", "analysis")
	if _, err := k.Create(ctx, cluster, profileNotebookCap, scenario.NotebookPods([]scenario.NotebookServer{named})); err != nil {
		t.Fatal(err)
	}
	placement, err = k.WaitPlaced(ctx, cluster, len(first)+1, placeTimeout)
	if err != nil {
		t.Fatalf("a named server of a user on a full node: %v", err)
	}
	firstPod := first[0].Pod().Name
	if got, want := placement[named.Pod().Name], placement[firstPod]; got != want {
		t.Errorf("user-1's named server on %q, want %q, next to %s", got, want, firstPod)
	}

	// A new user: every node is at the cap.
	waiting := server(fmt.Sprintf("user-%d", 2*scenario.NotebookCap+1), "")
	if _, err := k.Create(ctx, cluster, profileNotebookCap, scenario.NotebookPods([]scenario.NotebookServer{waiting})); err != nil {
		t.Fatal(err)
	}
	reason := fmt.Sprintf("2 node(s) already had %d notebook users (maxUsersPerNode is %d)", scenario.NotebookCap, scenario.NotebookCap)
	waitUnschedulable(ctx, t, k.Namespace, waiting.Pod().Name, reason)

	// user-2 logs out. A graceful delete, as JupyterHub's: the deleted pod carries its
	// deletionTimestamp when the scheduler hears of it.
	leaving := first[1].Pod().Name
	freed := placement[leaving]
	if err := client().CoreV1().Pods(k.Namespace).Delete(ctx, leaving, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var node string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		p, err := client().CoreV1().Pods(k.Namespace).Get(ctx, waiting.Pod().Name, metav1.GetOptions{})
		node = p.Spec.NodeName
		return err == nil && node != "", err
	})
	if err != nil {
		t.Fatalf("the waiting user was not scheduled after another logged out: %v", err)
	}
	if node != freed {
		t.Errorf("the waiting user is on %q, want %q, where the user who logged out was", node, freed)
	}
}

// newNotebookCase creates a notebook scene's nodes, other workloads and namespace, all removed
// when the test ends.
func newNotebookCase(t *testing.T, scene scenario.NotebookScene) (context.Context, *scenario.Case) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	k, err := scenario.NewNotebookCase(ctx, cluster, "notebook", scene)
	keepCase(t, k, err)
	return ctx, k
}
