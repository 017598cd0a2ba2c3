package notebookspread

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
)

// The per-node cache is right only if a cycle sees every node as its NodeInfo is now. These
// tests change NodeInfos as the scheduler does (in place in the snapshot, a new generation;
// copies for preemption; pods assumed in place in a pod group cycle) and would fail if a stale
// or foreign count were served.

func capped(n int32) config.NotebookSpreadArgs {
	return withArgs(func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = n })
}

func TestCacheDerivesChangedNodeAgain(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a"), node("b")}, []*v1.Pod{server("hub", "u1", "a")})
	pod := server("hub", "new", "")
	got, s := f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	if diff := cmp.Diff(map[string]int64{"a": 0, "b": 100}, got); diff != "" {
		t.Fatalf("scores before (-want,+got):\n%s", diff)
	}
	// Two users' servers bound to b: the snapshot updates its NodeInfo in place.
	b := f.NodeInfo(t, "b")
	b.AddPod(server("hub", "u2", "b"))
	b.AddPod(server("hub", "u3", "b"))
	got, s = f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	if diff := cmp.Diff(map[string]int64{"a": 100, "b": 0}, got); diff != "" {
		t.Errorf("scores after b gained two users (-want,+got):\n%s", diff)
	}
	if u, ok := f.pl.nodes.Get(b); !ok || len(u.hubs) != 1 || u.hubs[0].users != 2 {
		t.Errorf("cache after PreScore: %+v, %v; want b's new generation, 2 users", u, ok)
	}

	fc := newFixture(ctx, t, capped(1), []*v1.Node{node("a")}, nil)
	a := fc.NodeInfo(t, "a")
	if code := fc.FilterOne(ctx, t, fc.pl, framework.NewCycleState(), pod, a); code != fwk.Success {
		t.Fatalf("Filter on an empty node: %v, want Success", code)
	}
	a.AddPod(server("hub", "u1", "a"))
	if code := fc.FilterOne(ctx, t, fc.pl, framework.NewCycleState(), pod, a); code != fwk.Unschedulable {
		t.Errorf("Filter after a user landed on a (cap 1): %v, want Unschedulable", code)
	}
	if u, ok := fc.pl.nodes.Get(a); !ok || len(u.hubs) != 1 || u.hubs[0].users != 1 {
		t.Errorf("cache after PreFilter: %+v, %v; want a's new generation, 1 user", u, ok)
	}
}

// TestCacheWhatIfNodeInfos: preemption filters a copy of a node without its victims, the
// framework a copy with the nominated pods added; each copy is judged on its own pods, and
// neither changes what the real node is.
func TestCacheWhatIfNodeInfos(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	victim := server("hub", "u1", "a")
	f := newFixture(ctx, t, capped(1), []*v1.Node{node("a"), node("b")}, []*v1.Pod{victim})
	pod := server("hub", "new", "")
	state := framework.NewCycleState()
	a, b := f.NodeInfo(t, "a"), f.NodeInfo(t, "b")
	if code := f.FilterOne(ctx, t, f.pl, state, pod, a); code != fwk.Unschedulable {
		t.Fatalf("Filter on a, at the cap: %v, want Unschedulable", code)
	}
	without := a.SnapshotConcrete()
	if err := without.RemovePod(klog.Background(), victim); err != nil {
		t.Fatal(err)
	}
	if s := f.pl.Filter(ctx, state, pod, without); !s.IsSuccess() {
		t.Errorf("Filter on a without its user: %v, want Success", s)
	}
	if code := f.pl.Filter(ctx, state, pod, a).Code(); code != fwk.Unschedulable {
		t.Errorf("Filter on a after the what-if: %v, want Unschedulable", code)
	}
	nominated := b.SnapshotConcrete()
	nominated.AddPod(server("hub", "u2", "b"))
	if code := f.pl.Filter(ctx, state, pod, nominated).Code(); code != fwk.Unschedulable {
		t.Errorf("Filter on b with a nominated user: %v, want Unschedulable", code)
	}
	if s := f.pl.Filter(ctx, state, pod, b); !s.IsSuccess() {
		t.Errorf("Filter on b after the what-if: %v, want Success", s)
	}

	// A simulation scores a copy in PreScore; the real nodes are then scored on their own pods.
	got := func(nodes ...fwk.NodeInfo) []int64 {
		state := framework.NewCycleState()
		if s := f.pl.PreScore(ctx, state, pod, nodes); !s.IsSuccess() {
			t.Fatal(s)
		}
		var list fwk.NodeScoreList
		for _, n := range nodes {
			score, s := f.pl.Score(ctx, state, pod, n)
			if !s.IsSuccess() {
				t.Fatal(s)
			}
			list = append(list, fwk.NodeScore{Name: n.Node().Name, Score: score})
		}
		return normalized(ctx, t, f.pl, state, pod, list)
	}
	if diff := cmp.Diff([]int64{100, 0}, got(without, nominated)); diff != "" {
		t.Errorf("scores of the copies (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]int64{0, 100}, got(a, b)); diff != "" {
		t.Errorf("scores of the real nodes (-want,+got):\n%s", diff)
	}
}

// TestCachePodGroupCycle: in a pod group cycle the snapshot assumes and forgets the group's pods
// in their NodeInfos and keeps the old generation, so one generation (and pod count) can hold
// other pods from one attempt to the next; Filter must see the users there are.
func TestCachePodGroupCycle(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, capped(1), []*v1.Node{node("a")}, nil)
	pod := server("hub", "new", "")
	a := f.NodeInfo(t, "a")
	if code := f.FilterOne(ctx, t, f.pl, framework.NewCycleState(), pod, a); code != fwk.Success {
		t.Fatalf("Filter on an empty node: %v, want Success", code)
	}
	gen := a.Generation
	groupCycle := func() fwk.CycleState {
		s := framework.NewCycleState()
		s.SetPodGroupSchedulingCycle(framework.NewCycleState())
		return s
	}
	// The first attempt assumes another of new's own servers on a: new's user counts once.
	own := named("hub", "new", "second", "a")
	a.AddPod(own)
	a.Generation = gen
	if code := f.FilterOne(ctx, t, f.pl, groupCycle(), pod, a); code != fwk.Success {
		t.Errorf("Filter, a with the user's own server assumed: %v, want Success", code)
	}
	// The next assumes another user's server instead: same generation, same pod count.
	if err := a.RemovePod(klog.Background(), own); err != nil {
		t.Fatal(err)
	}
	a.AddPod(server("hub", "other", "a"))
	a.Generation = gen
	if code := f.FilterOne(ctx, t, f.pl, groupCycle(), pod, a); code != fwk.Unschedulable {
		t.Errorf("Filter, a with another user assumed (cap 1): %v, want Unschedulable", code)
	}
}

// TestCacheConcurrentScoreAndFilter runs Score and Filter on every node in parallel, as the
// framework does, over cycles in which nodes change; with -race it proves they only read. Each
// result is compared with the plugin's O(pods) count from the NodeInfo itself.
func TestCacheConcurrentScoreAndFilter(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 64 {
		n := fmt.Sprintf("n%d", i)
		nodes = append(nodes, node(n))
		for j := range i % 5 {
			pods = append(pods, server("hub", fmt.Sprintf("u%d-%d", i, j), n))
		}
	}
	f := newFixture(ctx, t, capped(3), nodes, pods)
	pod := server("hub", "new", "")
	for cycle := range 5 {
		n := fmt.Sprintf("n%d", cycle)
		f.NodeInfo(t, n).AddPod(server("hub", "bound-"+n, n))
		state := framework.NewCycleState()
		if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatal(s)
		}
		if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatal(s)
		}
		scores := make([]int64, len(f.NodeInfos))
		filtered := make([]fwk.Code, len(f.NodeInfos))
		f.Handle.Parallelizer().Until(ctx, len(f.NodeInfos), func(i int) {
			scores[i], _ = f.pl.Score(ctx, state, pod, f.NodeInfos[i])
			filtered[i] = f.pl.Filter(ctx, state, pod, f.NodeInfos[i]).Code()
		}, "test")
		list := make(fwk.NodeScoreList, len(scores))
		for i, ni := range f.NodeInfos {
			list[i] = fwk.NodeScore{Name: ni.Node().Name, Score: scores[i]}
		}
		scores = normalized(ctx, t, f.pl, state, pod, list)
		lo, hi := 1<<30, -1
		for _, ni := range f.NodeInfos {
			users, _ := f.pl.usersOn(ni, owner{hub: "hub", user: "new"})
			lo, hi = min(lo, users), max(hi, users)
		}
		for i, ni := range f.NodeInfos {
			users, hasUser := f.pl.usersOn(ni, owner{hub: "hub", user: "new"})
			if want := f.pl.nodeScore(users, lo, hi, hasUser); scores[i] != want {
				t.Errorf("cycle %d, node %s: score %d, want %d", cycle, ni.Node().Name, scores[i], want)
			}
			wantCode := fwk.Success
			if users >= 3 {
				wantCode = fwk.Unschedulable
			}
			if filtered[i] != wantCode {
				t.Errorf("cycle %d, node %s: Filter %v, want %v", cycle, ni.Node().Name, filtered[i], wantCode)
			}
		}
	}
}

// TestFilterDoesNotAllocate holds Filter to its contract on a node it accepts: no allocation.
func TestFilterDoesNotAllocate(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes, pods := cluster()
	f := newFixture(ctx, t, capped(10), nodes, pods)
	pod := server("hub-a", "zoe", "")
	state := framework.NewCycleState()
	if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	ni := f.NodeInfos[0]
	if allocs := testing.AllocsPerRun(100, func() { f.pl.Filter(ctx, state, pod, ni) }); allocs != 0 {
		t.Errorf("Filter allocates %v times per call, want 0", allocs)
	}
}

// TestNodeUsersMatchesUsersOn: the cached users answer as usersOn does for every user of a
// node, whose Bloom bits are set, and for users absent from it, some of whose bits collide.
func TestNodeUsersMatchesUsersOn(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes, pods := cluster()
	for i := range 100 {
		pods = append(pods, server("hub-a", fmt.Sprintf("many-%d", i), "c"), server("hub-b", fmt.Sprintf("many-%d", i), "c"))
	}
	f := newFixture(ctx, t, defaultArgs(), nodes, pods)
	f.pl.nodes.Update(ctx, f.NodeInfos, true, nil)
	var owners []owner
	for _, hub := range []string{"hub-a", "hub-b", "hub-c"} {
		for _, user := range []string{"alice", "bob", "carol", "dave", "erin", "frank", "ivan", "judy", "zoe"} {
			owners = append(owners, owner{hub: hub, user: user})
		}
		for i := range 200 {
			owners = append(owners, owner{hub: hub, user: fmt.Sprintf("many-%d", i)})
		}
	}
	for _, ni := range f.NodeInfos {
		u, ok := f.pl.nodes.Get(ni)
		if !ok {
			t.Fatalf("node %s not cached", ni.Node().Name)
		}
		for _, o := range owners {
			p := f.pl.newPending(o)
			gotOthers, gotHas := u.on(&p)
			wantOthers, wantHas := f.pl.usersOn(ni, o)
			if gotOthers != wantOthers || gotHas != wantHas {
				t.Errorf("node %s, %s/%s: on = %d, %v; usersOn = %d, %v", ni.Node().Name, o.hub, o.user, gotOthers, gotHas, wantOthers, wantHas)
			}
		}
	}
}

// normalized runs NormalizeScore on Score's results, as the framework does, and returns the
// scores in list's order.
func normalized(ctx context.Context, t *testing.T, pl *NotebookSpread, state fwk.CycleState, pod *v1.Pod, list fwk.NodeScoreList) []int64 {
	t.Helper()
	if s := pl.NormalizeScore(ctx, state, pod, list); !s.IsSuccess() {
		t.Fatal(s)
	}
	out := make([]int64, len(list))
	for i, ns := range list {
		out[i] = ns.Score
	}
	return out
}
