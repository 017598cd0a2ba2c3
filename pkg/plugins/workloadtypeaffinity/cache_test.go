package workloadtypeaffinity

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// The per-node cache is right only if a cycle sees every node as its NodeInfo is now. These
// tests change NodeInfos as the scheduler does (in place in the snapshot, a new generation;
// copies for preemption; pods assumed in place in a pod group cycle) and would fail if a stale
// or foreign state were served.

func TestCacheDerivesChangedNodeAgain(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a", ""), node("b", "")},
		[]*v1.Pod{dbPod("t1", "oltp", "a"), dbPod("t2", "oltp", "a")})
	pod := dbPod("new", "oltp", "")
	got, s := f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	if diff := cmp.Diff(map[string]int64{"a": 100, "b": 50}, got); diff != "" {
		t.Fatalf("scores before (-want,+got):\n%s", diff)
	}
	// Three OLAP pods bound to a: the snapshot updates its NodeInfo in place.
	a := f.NodeInfo(t, "a")
	for i := range 3 {
		a.AddPod(dbPod(fmt.Sprintf("a%d", i), "olap", "a"))
	}
	got, s = f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	if diff := cmp.Diff(map[string]int64{"a": 0, "b": 50}, got); diff != "" {
		t.Errorf("scores after a became OLAP (-want,+got):\n%s", diff)
	}
	if ns, ok := f.pl.nodes.Get(a); !ok || ns.nodeType != workloadtype.NodeOLAP {
		t.Errorf("cache after PreScore: %+v, %v; want a's new generation, OLAP", ns, ok)
	}

	// Required mode reads the same cache in Filter.
	fr := newFixture(ctx, t, requiredArgs(), []*v1.Node{node("a", "")}, []*v1.Pod{dbPod("t1", "oltp", "a")})
	if code := fr.FilterOne(ctx, t, fr.pl, framework.NewCycleState(), pod, fr.NodeInfos[0]); code != fwk.Success {
		t.Fatalf("Filter on an OLTP node: %v, want Success", code)
	}
	ra := fr.NodeInfo(t, "a")
	for i := range 2 {
		ra.AddPod(dbPod(fmt.Sprintf("a%d", i), "olap", "a"))
	}
	if code := fr.FilterOne(ctx, t, fr.pl, framework.NewCycleState(), pod, ra); code != fwk.Unschedulable {
		t.Errorf("Filter after a became OLAP: %v, want Unschedulable", code)
	}
	if ns, ok := fr.pl.nodes.Get(ra); !ok || ns.nodeType != workloadtype.NodeOLAP {
		t.Errorf("cache after PreFilter: %+v, %v; want a's new generation, OLAP", ns, ok)
	}
}

// TestCacheWhatIfNodeInfos: preemption removes the victims from a copy of the node's NodeInfo
// and filters the copy; RunFilterPluginsWithNominatedPods adds nominated pods to a copy. Each
// copy is judged on its own pods, and neither changes what the real node is.
func TestCacheWhatIfNodeInfos(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	olap := []*v1.Pod{dbPod("o1", "olap", "a"), dbPod("o2", "olap", "a"), dbPod("o3", "olap", "a"), dbPod("t1", "oltp", "a")}
	f := newFixture(ctx, t, requiredArgs(), []*v1.Node{node("a", ""), node("b", "")}, olap)
	pod := dbPod("new", "oltp", "")
	state := framework.NewCycleState()
	a := f.NodeInfo(t, "a")
	if code := f.FilterOne(ctx, t, f.pl, state, pod, a); code != fwk.Unschedulable {
		t.Fatalf("Filter on the OLAP node: %v, want Unschedulable", code)
	}

	victims := a.SnapshotConcrete()
	for _, p := range olap[:3] {
		if err := victims.RemovePod(klog.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	if code := f.pl.Filter(ctx, state, pod, victims); code.Code() != fwk.Success {
		t.Errorf("Filter on a without its OLAP pods: %v, want Success", code)
	}
	if code := f.pl.Filter(ctx, state, pod, a); code.Code() != fwk.Unschedulable {
		t.Errorf("Filter on a after the what-if: %v, want Unschedulable", code)
	}

	b := f.NodeInfo(t, "b")
	nominated := b.SnapshotConcrete()
	nominated.AddPod(dbPod("n1", "olap", "b"))
	if code := f.pl.Filter(ctx, state, pod, nominated); code.Code() != fwk.Unschedulable {
		t.Errorf("Filter on b with a nominated OLAP pod: %v, want Unschedulable", code)
	}
	if code := f.pl.Filter(ctx, state, pod, b); code.Code() != fwk.Success {
		t.Errorf("Filter on b after the what-if: %v, want Success", code)
	}

	// A simulation scores a copy in PreScore; the real node is then scored on its own pods.
	fs := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a", "")}, olap)
	sa := fs.NodeInfo(t, "a")
	copyWithout := sa.SnapshotConcrete()
	for _, p := range olap[:3] {
		if err := copyWithout.RemovePod(klog.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		ni   fwk.NodeInfo
		want int64
	}{{"copy without the OLAP pods", copyWithout, 100}, {"real node", sa, 0}, {"copy again", copyWithout, 100}} {
		state := framework.NewCycleState()
		if s := fs.pl.PreScore(ctx, state, pod, []fwk.NodeInfo{tc.ni}); !s.IsSuccess() {
			t.Fatal(s)
		}
		scores := fwk.NodeScoreList{{Name: "a"}}
		var s *fwk.Status
		if scores[0].Score, s = fs.pl.Score(ctx, state, pod, tc.ni); !s.IsSuccess() {
			t.Fatal(s)
		}
		if s := fs.pl.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
			t.Fatal(s)
		}
		if scores[0].Score != tc.want {
			t.Errorf("%s: score %d, want %d", tc.name, scores[0].Score, tc.want)
		}
	}
}

// TestCachePodGroupCycle: in a pod group cycle the snapshot assumes and forgets the group's pods
// in their NodeInfos and keeps the old generation, so one generation (and pod count) can hold
// other pods from one attempt to the next; Filter and Score must see the pods there are.
func TestCachePodGroupCycle(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, requiredArgs(), []*v1.Node{node("a", "")}, []*v1.Pod{dbPod("o1", "olap", "a")})
	pod := dbPod("new", "oltp", "")
	a := f.NodeInfo(t, "a")
	if code := f.FilterOne(ctx, t, f.pl, framework.NewCycleState(), pod, a); code != fwk.Unschedulable {
		t.Fatalf("Filter on the OLAP node: %v, want Unschedulable", code)
	}
	gen := a.Generation
	// assume and forget as Snapshot.AssumePod and ForgetPod do: the generation stays.
	assume := func(pods ...*v1.Pod) {
		for _, p := range pods {
			a.AddPod(p)
		}
		a.Generation = gen
	}
	forget := func(pods ...*v1.Pod) {
		for _, p := range pods {
			if err := a.RemovePod(klog.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
		a.Generation = gen
	}
	groupCycle := func() fwk.CycleState {
		s := framework.NewCycleState()
		s.SetPodGroupSchedulingCycle(framework.NewCycleState())
		return s
	}
	relation := func() workloadtype.Relation {
		state := groupCycle()
		if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatal(s)
		}
		score, s := f.pl.Score(ctx, state, pod, a)
		if !s.IsSuccess() {
			t.Fatal(s)
		}
		r, _ := unpackScore(score)
		return r
	}

	// The group's first attempt puts two OLTP pods on a: it is OLTP.
	oltp := []*v1.Pod{dbPod("g1", "oltp", "a"), dbPod("g2", "oltp", "a")}
	assume(oltp...)
	if code := f.FilterOne(ctx, t, f.pl, groupCycle(), pod, a); code != fwk.Success {
		t.Errorf("Filter, a with two OLTP pods assumed: %v, want Success", code)
	}
	if r := relation(); r != workloadtype.SameType {
		t.Errorf("Score, a with two OLTP pods assumed: %v, want SameType", r)
	}
	// The next attempt puts two OLAP pods there instead: same generation, same pod count.
	forget(oltp...)
	assume(dbPod("h1", "olap", "a"), dbPod("h2", "olap", "a"))
	if code := f.FilterOne(ctx, t, f.pl, groupCycle(), pod, a); code != fwk.Unschedulable {
		t.Errorf("Filter, a with two OLAP pods assumed: %v, want Unschedulable", code)
	}
	if r := relation(); r != workloadtype.OtherType {
		t.Errorf("Score, a with two OLAP pods assumed: %v, want OtherType", r)
	}
}

// TestCacheSpreadingTerms: the per-node counts of a pod's declared terms follow the nodes'
// changes, for the next replica of the same workload.
func TestCacheSpreadingTerms(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	instance := func(name, node string) *v1.Pod {
		return withLabels(dbPod(name, "oltp", node), apis.LabelCNPGCluster, "pg")
	}
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a", ""), node("b", "")}, []*v1.Pod{instance("pg-1", "a")})
	pod := antiAffinity(instance("pg-2", ""), false, clusterTerm("pg"))
	got, s := f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	// a is OLTP but holds an instance; b is free and holds none.
	if diff := cmp.Diff(map[string]int64{"a": 0, "b": 50}, got); diff != "" {
		t.Fatalf("scores of pg-2 (-want,+got):\n%s", diff)
	}
	f.NodeInfo(t, "b").AddPod(instance("pg-2", "b"))
	pod = antiAffinity(instance("pg-3", ""), false, clusterTerm("pg"))
	got, s = f.score(ctx, t, pod)
	if !s.IsSuccess() {
		t.Fatal(s)
	}
	// One instance on each: both keep their type score.
	if diff := cmp.Diff(map[string]int64{"a": 100, "b": 100}, got); diff != "" {
		t.Errorf("scores of pg-3 (-want,+got):\n%s", diff)
	}
	// A node gone (PreFilter is given every node) is forgotten by the counts too.
	if _, s := f.pl.PreFilter(ctx, framework.NewCycleState(), pod, f.NodeInfos[:1]); !s.IsSuccess() && !s.IsSkip() {
		t.Fatal(s)
	}
	if got := f.pl.terms.entries[0].counts.Len(); got != 1 {
		t.Errorf("counts hold %d nodes after PreFilter of one node, want 1", got)
	}
}

// TestCacheConcurrentScoreAndFilter runs Score and Filter on every node in parallel, as the
// framework does, over cycles in which nodes change; with -race it proves they only read. Each
// result is compared with the plugin's O(pods) answer from the NodeInfo itself.
func TestCacheConcurrentScoreAndFilter(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range 64 {
		n := fmt.Sprintf("n%d", i)
		nodes = append(nodes, node(n, ""))
		for j := range i % 5 {
			typ := "oltp"
			if (i+j)%3 == 0 {
				typ = "olap"
			}
			pods = append(pods, owned(dbPod(fmt.Sprintf("p%d-%d", i, j), typ, n), fmt.Sprintf("s%d", j)))
		}
	}
	f := newFixture(ctx, t, requiredArgs(), nodes, pods)
	pod := owned(dbPod("new", "oltp", ""), "s1")
	for cycle := range 5 {
		f.NodeInfo(t, fmt.Sprintf("n%d", cycle)).AddPod(dbPod(fmt.Sprintf("bound%d", cycle), "olap", fmt.Sprintf("n%d", cycle)))
		state := framework.NewCycleState()
		if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatal(s)
		}
		if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatal(s)
		}
		sp, err := newSpreading(pod, nil)
		if err != nil {
			t.Fatal(err)
		}
		scores := make([]int64, len(f.NodeInfos))
		filtered := make([]fwk.Code, len(f.NodeInfos))
		f.Handle.Parallelizer().Until(ctx, len(f.NodeInfos), func(i int) {
			scores[i], _ = f.pl.Score(ctx, state, pod, f.NodeInfos[i])
			filtered[i] = f.pl.Filter(ctx, state, pod, f.NodeInfos[i]).Code()
		}, "test")
		for i, ni := range f.NodeInfos {
			n := f.pl.nodeType(ni)
			want := packScore(workloadtype.RelationOf(workloadtype.OLTP, n), sp.siblingsOn(ni))
			if scores[i] != want {
				t.Errorf("cycle %d, node %s: score %d, want %d", cycle, ni.Node().Name, scores[i], want)
			}
			wantCode := fwk.Success
			if workloadtype.RelationOf(workloadtype.OLTP, n) == workloadtype.OtherType {
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
	f := newFixture(ctx, t, requiredArgs(), []*v1.Node{node("a", "")}, []*v1.Pod{dbPod("t", "oltp", "a")})
	pod := dbPod("new", "oltp", "")
	state := framework.NewCycleState()
	if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
		t.Fatal(s)
	}
	ni := f.NodeInfos[0]
	if allocs := testing.AllocsPerRun(100, func() { f.pl.Filter(ctx, state, pod, ni) }); allocs != 0 {
		t.Errorf("Filter allocates %v times per call, want 0", allocs)
	}
}

// TestPreFilterResultPools: in Required mode, a typed pod is filtered only on its own pool and
// the unlabelled nodes; the result follows a relabelled node.
func TestPreFilterResultPools(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes := []*v1.Node{node("oltp-1", "oltp"), node("oltp-2", "oltp"), node("olap-1", "olap"), node("free", ""), node("bad", "nonsense")}
	f := newFixture(ctx, t, requiredArgs(), nodes, nil)
	names := func(pod *v1.Pod, list []fwk.NodeInfo) []string {
		res, s := f.pl.PreFilter(ctx, framework.NewCycleState(), pod, list)
		if !s.IsSuccess() {
			t.Fatal(s)
		}
		if res.AllNodes() {
			return nil
		}
		return sets.List(res.NodeNames)
	}
	oltp, olap := dbPod("new", "oltp", ""), dbPod("new", "olap", "")
	if diff := cmp.Diff([]string{"bad", "free", "oltp-1", "oltp-2"}, names(oltp, f.NodeInfos)); diff != "" {
		t.Errorf("OLTP pod (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"bad", "free", "olap-1"}, names(olap, f.NodeInfos)); diff != "" {
		t.Errorf("OLAP pod (-want,+got):\n%s", diff)
	}
	// oltp-2 becomes an OLAP pool.
	n := f.NodeInfo(t, "oltp-2")
	relabelled := n.Node().DeepCopy()
	relabelled.Labels[apis.LabelWorkloadType] = "olap"
	n.SetNode(relabelled)
	if diff := cmp.Diff([]string{"bad", "free", "oltp-1"}, names(oltp, f.NodeInfos)); diff != "" {
		t.Errorf("OLTP pod after oltp-2 was relabelled (-want,+got):\n%s", diff)
	}
	// A new OLAP pool node.
	added := framework.NewNodeInfo()
	added.SetNode(node("olap-2", "olap"))
	if diff := cmp.Diff([]string{"bad", "free", "olap-1", "olap-2", "oltp-2"}, names(olap, append(f.NodeInfos, added))); diff != "" {
		t.Errorf("OLAP pod after olap-2 was added (-want,+got):\n%s", diff)
	}
	// Without an OLAP pool, an OLTP pod is filtered on every node.
	fo := newFixture(ctx, t, requiredArgs(), []*v1.Node{node("oltp-1", "oltp"), node("free", "")}, nil)
	if res, s := fo.pl.PreFilter(ctx, framework.NewCycleState(), oltp, fo.NodeInfos); !s.IsSuccess() || !res.AllNodes() {
		t.Errorf("PreFilter without an OLAP pool = %v, %v; want all nodes", res, s)
	}
}
