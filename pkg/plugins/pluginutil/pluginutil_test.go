package pluginutil

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/parallelize"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

func TestMain(m *testing.M) {
	// The parallelizer records scheduler metrics, which must be registered first.
	metrics.Register()
	os.Exit(m.Run())
}

type other struct{}

func (o *other) Clone() fwk.StateData { return o }

type stored struct{ n int }

func (s *stored) Clone() fwk.StateData { return s }

func TestReadState(t *testing.T) {
	state := framework.NewCycleState()
	state.Write("stored", &stored{n: 40})
	state.Write("other", &other{})
	tests := []struct {
		name      string
		key       fwk.StateKey
		want      int
		wantError string
	}{
		{name: "stored", key: "stored", want: 40},
		{name: "nothing stored", key: "missing", wantError: `reading "missing" from cycle state: not found`},
		{name: "other type stored", key: "other", wantError: `"other" in cycle state has type *pluginutil.other, want *pluginutil.stored`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadState[*stored](state, tt.key)
			gotError := ""
			if err != nil {
				gotError = err.Error()
			}
			if gotError != tt.wantError {
				t.Errorf("error = %q, want %q", gotError, tt.wantError)
			}
			if err == nil && got.n != tt.want {
				t.Errorf("value = %d, want %d", got.n, tt.want)
			}
		})
	}
}

func pod(name string) *v1.Pod {
	return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}}}
}

func nodeInfo(name string, pods ...string) *framework.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"pool": "a"}}})
	for _, p := range pods {
		ni.AddPod(pod(p))
	}
	return ni
}

// podNames is what the test caches: the names of the node's pods, in order. calls counts the
// derivations by node.
type podNames struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *podNames) compute(ni fwk.NodeInfo) []string {
	c.mu.Lock()
	c.calls[ni.Node().Name]++
	c.mu.Unlock()
	var names []string
	for _, p := range ni.GetPods() {
		names = append(names, p.GetPod().Name)
	}
	return names
}

func (c *podNames) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.calls
	c.calls = map[string]int{}
	return got
}

func get(c *NodeCache[[]string], ni fwk.NodeInfo) []string {
	v, ok := c.Get(ni)
	if !ok {
		return nil
	}
	return v
}

// TestNodeCache: a node is derived again when, and only when, its NodeInfo changed; copies of
// a NodeInfo with other pods (preemption's what-ifs) are never served the real node's value.
func TestNodeCache(t *testing.T) {
	ctx := context.Background()
	calls := &podNames{calls: map[string]int{}}
	c := NewNodeCache(calls.compute, nil)
	a, b := nodeInfo("a", "p1", "p2"), nodeInfo("b", "p3")
	nodes := []fwk.NodeInfo{a, b}

	if _, ok := c.Get(a); ok {
		t.Fatal("Get before Update: hit, want miss")
	}
	if !c.Update(ctx, nodes, true, nil) {
		t.Error("first Update: not changed, want changed (nodes added)")
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, calls.take()); diff != "" {
		t.Errorf("first Update derived (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p1", "p2"}, get(c, a)); diff != "" {
		t.Errorf("Get(a) (-want,+got):\n%s", diff)
	}

	t.Run("unchanged nodes are not derived again", func(t *testing.T) {
		if c.Update(ctx, nodes, true, nil) {
			t.Error("Update: changed, want not")
		}
		if got := calls.take(); len(got) != 0 {
			t.Errorf("Update derived %v, want nothing", got)
		}
	})

	t.Run("a node whose pods changed is derived again", func(t *testing.T) {
		a.AddPod(pod("p4"))
		if v, ok := c.Get(a); ok {
			t.Errorf("Get(a) after a pod was added: %v, want miss", v)
		}
		c.Update(ctx, nodes, true, nil)
		if diff := cmp.Diff(map[string]int{"a": 1}, calls.take()); diff != "" {
			t.Errorf("Update derived (-want,+got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"p1", "p2", "p4"}, get(c, a)); diff != "" {
			t.Errorf("Get(a) (-want,+got):\n%s", diff)
		}
	})

	t.Run("a copy is not served the node's value", func(t *testing.T) {
		if v, ok := c.Get(a.Snapshot()); ok {
			t.Errorf("Get(copy of a) = %v, want miss", v)
		}
	})

	t.Run("a what-if copy with a pod removed is not served the node's value", func(t *testing.T) {
		whatIf := a.SnapshotConcrete()
		if err := whatIf.RemovePod(klog.Background(), pod("p1")); err != nil {
			t.Fatal(err)
		}
		if v, ok := c.Get(whatIf); ok {
			t.Errorf("Get(what-if) = %v, want miss", v)
		}
		// Given to Update (a simulation's PreScore), the copy is derived on its own pods, and
		// the real node keeps its own value.
		c.Update(ctx, []fwk.NodeInfo{whatIf}, false, nil)
		if diff := cmp.Diff([]string{"p4", "p2"}, get(c, whatIf)); diff != "" {
			t.Errorf("Get(what-if) after Update (-want,+got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"p1", "p2", "p4"}, get(c, a)); diff != "" {
			t.Errorf("Get(a) after the what-if was cached (-want,+got):\n%s", diff)
		}
		calls.take()
		if !c.Update(ctx, nodes, true, nil) {
			t.Error("Update of the snapshot's nodes: not changed, want changed (the copy forgotten)")
		}
		if got := calls.take(); len(got) != 0 {
			t.Errorf("Update derived %v, want nothing", got)
		}
		if _, ok := c.Get(whatIf); ok || c.Len() != 2 {
			t.Errorf("after Update of the snapshot's nodes: Get(what-if) hit %v, Len %d; want miss, 2", ok, c.Len())
		}
	})

	t.Run("a what-if copy with a pod added is not served the node's value", func(t *testing.T) {
		whatIf := b.SnapshotConcrete()
		whatIf.AddPod(pod("nominated"))
		if v, ok := c.Get(whatIf); ok {
			t.Errorf("Get(what-if) = %v, want miss", v)
		}
	})

	t.Run("nodes gone are forgotten when Update is given every node", func(t *testing.T) {
		if c.Update(ctx, []fwk.NodeInfo{a}, false, nil) {
			t.Error("Update of a subset: changed, want not")
		}
		if c.Len() != 2 {
			t.Errorf("Len after Update of a subset = %d, want 2", c.Len())
		}
		if !c.Update(ctx, []fwk.NodeInfo{a}, true, nil) {
			t.Error("Update without b: not changed, want changed")
		}
		if c.Len() != 1 {
			t.Errorf("Len = %d, want 1", c.Len())
		}
		if _, ok := c.Get(b); ok {
			t.Error("Get(b) after b was forgotten: hit, want miss")
		}
		if diff := cmp.Diff([]string{"p1", "p2", "p4"}, get(c, a)); diff != "" {
			t.Errorf("Get(a) (-want,+got):\n%s", diff)
		}
	})

	t.Run("Forget drops the nodes gone", func(t *testing.T) {
		c.Update(ctx, nodes, true, nil)
		if c.Forget(nodes) {
			t.Error("Forget(a, b) forgot a node, want none")
		}
		if !c.Forget([]fwk.NodeInfo{b}) {
			t.Error("Forget(b) forgot nothing, want a")
		}
		if _, ok := c.Get(a); ok {
			t.Error("Get(a) after a was forgotten: hit, want miss")
		}
		if diff := cmp.Diff([]string{"p3"}, get(c, b)); diff != "" {
			t.Errorf("Get(b) (-want,+got):\n%s", diff)
		}
		c.Update(ctx, []fwk.NodeInfo{a}, true, nil)
	})

	t.Run("a NodeInfo of generation 0 is never cached", func(t *testing.T) {
		zero := &framework.NodeInfo{}
		zero.SetNode(&v1.Node{ObjectMeta: metav1.ObjectMeta{Name: "zero"}})
		zero.Generation = 0
		if !c.Update(ctx, []fwk.NodeInfo{a, zero}, true, nil) {
			t.Error("Update with a node of generation 0: not changed, want changed (cannot know)")
		}
		if _, ok := c.Get(zero); ok {
			t.Error("Get(zero): hit, want miss")
		}
	})
}

// TestNodeCacheChanged: Update reports a change of a value that changed says matters.
func TestNodeCacheChanged(t *testing.T) {
	ctx := context.Background()
	pool := func(ni fwk.NodeInfo) string { return ni.Node().Labels["pool"] }
	c := NewNodeCache(pool, func(old, new *string) bool { return *old != *new })
	a := nodeInfo("a", "p1")
	nodes := []fwk.NodeInfo{a}
	c.Update(ctx, nodes, true, nil)

	a.AddPod(pod("p2"))
	if c.Update(ctx, nodes, true, nil) {
		t.Error("Update after a pod was added: changed, want not (same pool)")
	}
	relabelled := a.Node().DeepCopy()
	relabelled.Labels["pool"] = "b"
	a.SetNode(relabelled)
	if !c.Update(ctx, nodes, true, nil) {
		t.Error("Update after the pool label changed: not changed, want changed")
	}
	if v, ok := c.Get(a); !ok || v != "b" {
		t.Errorf("Get(a) = %v, want b", v)
	}
}

// TestNodeCacheRefresh: Refresh derives the nodes noted since the last Refresh, only those, and
// only if they changed; notes beyond the room made are dropped.
func TestNodeCacheRefresh(t *testing.T) {
	ctx := context.Background()
	calls := &podNames{calls: map[string]int{}}
	c := NewNodeCache(calls.compute, nil)
	a, b, d := nodeInfo("a", "p1"), nodeInfo("b", "p2"), nodeInfo("d", "p3")

	if c.Refresh(ctx, 2, nil) {
		t.Error("Refresh with nothing noted: changed, want not")
	}
	c.Note(a)
	c.Note(b)
	if !c.Refresh(ctx, 2, nil) {
		t.Error("Refresh of two new nodes: not changed, want changed (nodes added)")
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, calls.take()); diff != "" {
		t.Errorf("Refresh of a and b derived (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p1"}, get(c, a)); diff != "" {
		t.Errorf("Get(a) after Refresh (-want,+got):\n%s", diff)
	}

	// a changes: Get misses it until it is noted and refreshed; b, noted again unchanged, is
	// not derived again.
	a.AddPod(pod("p4"))
	if _, ok := c.Get(a); ok {
		t.Fatal("Get(a) after a changed: hit, want miss")
	}
	c.Refresh(ctx, 2, nil)
	if got := calls.take(); len(got) != 0 {
		t.Errorf("Refresh with nothing noted derived %v, want nothing", got)
	}
	c.Note(a)
	c.Note(b)
	c.Refresh(ctx, 2, nil)
	if diff := cmp.Diff(map[string]int{"a": 1}, calls.take()); diff != "" {
		t.Errorf("Refresh after a changed derived (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"p1", "p4"}, get(c, a)); diff != "" {
		t.Errorf("Get(a) after the Refresh (-want,+got):\n%s", diff)
	}

	// Room for one note: the second is dropped.
	c.Refresh(ctx, 1, nil)
	c.Note(d)
	c.Note(a)
	c.Refresh(ctx, 1, nil)
	if diff := cmp.Diff(map[string]int{"d": 1}, calls.take()); diff != "" {
		t.Errorf("Refresh with room for one derived (-want,+got):\n%s", diff)
	}
}

// TestNodeCacheConcurrentNote: Score notes its misses in parallel, as the framework runs it;
// run with -race. The next Refresh derives every node noted, once.
func TestNodeCacheConcurrentNote(t *testing.T) {
	ctx := context.Background()
	calls := &podNames{calls: map[string]int{}}
	c := NewNodeCache(calls.compute, nil)
	var nodes []fwk.NodeInfo
	want := map[string]int{}
	for i := range 200 {
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, nodeInfo(name, "p"+name))
		want[name] = 1
	}
	c.Refresh(ctx, len(nodes), nil)
	parallelize.NewParallelizer(4).Until(ctx, len(nodes), func(i int) {
		if _, ok := c.Get(nodes[i]); !ok {
			c.Note(nodes[i])
		}
	}, "test")
	c.Refresh(ctx, len(nodes), parallelize.NewParallelizer(4))
	if diff := cmp.Diff(want, calls.take()); diff != "" {
		t.Errorf("Refresh after parallel notes derived (-want,+got):\n%s", diff)
	}
	for _, n := range nodes {
		if _, ok := c.Get(n); !ok {
			t.Errorf("Get(%s) after Refresh: miss", n.Node().Name)
		}
	}
}

// TestNodeCacheConcurrentGet: Gets run in parallel with each other, between Updates, as the
// framework runs Filter and Score between PreFilter and PreScore; run with -race. Each cycle
// changes some nodes first, and every Get must then serve the node's new pods.
func TestNodeCacheConcurrentGet(t *testing.T) {
	ctx := context.Background()
	calls := &podNames{calls: map[string]int{}}
	c := NewNodeCache(calls.compute, nil)
	var nodes []fwk.NodeInfo
	for i := range 200 {
		nodes = append(nodes, nodeInfo(fmt.Sprintf("n%d", i), fmt.Sprintf("p%d", i)))
	}
	p := parallelize.NewParallelizer(4)
	for cycle := range 20 {
		changed := map[string]int{}
		if cycle > 0 {
			for i := cycle; i < len(nodes); i += 37 {
				nodes[i].(*framework.NodeInfo).AddPod(pod(fmt.Sprintf("c%d-%d", cycle, i)))
				changed[nodes[i].Node().Name] = 1
			}
		}
		c.Update(ctx, nodes, true, p)
		got := calls.take()
		if cycle == 0 {
			if len(got) != len(nodes) {
				t.Fatalf("first Update derived %d nodes, want %d", len(got), len(nodes))
			}
		} else if diff := cmp.Diff(changed, got); diff != "" {
			t.Errorf("cycle %d: Update derived (-want,+got):\n%s", cycle, diff)
		}
		var misses atomic.Int64
		p.Until(ctx, len(nodes), func(i int) {
			v, ok := c.Get(nodes[i])
			if !ok {
				misses.Add(1)
				return
			}
			if len(v) != len(nodes[i].GetPods()) {
				t.Errorf("cycle %d: Get(%s) = %v, want its %d pods", cycle, nodes[i].Node().Name, v, len(nodes[i].GetPods()))
			}
		}, "test")
		if misses.Load() != 0 {
			t.Errorf("cycle %d: %d Gets missed after Update, want 0", cycle, misses.Load())
		}
	}
}

func TestNodeCacheGetDoesNotAllocate(t *testing.T) {
	c := NewNodeCache(func(fwk.NodeInfo) int { return 1 }, nil)
	a := nodeInfo("a", "p1")
	c.Update(context.Background(), []fwk.NodeInfo{a}, true, nil)
	if allocs := testing.AllocsPerRun(100, func() { c.Get(a) }); allocs != 0 {
		t.Errorf("Get allocates %v times per call, want 0", allocs)
	}
}
