// Package plugintest runs likewise's scheduler plugins in unit tests the way the framework does:
// over a snapshot of nodes and pods, with a fake event recorder.
package plugintest

import (
	"context"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/runtime"
)

// Fixture is a framework handle over a snapshot, for a plugin's New.
type Fixture struct {
	Handle fwk.Handle
	// NodeInfos are the snapshot's nodes with their pods, in the snapshot's order.
	NodeInfos []fwk.NodeInfo
	// Recorder receives the Events the plugin records.
	Recorder *events.FakeRecorder
}

// New returns a Fixture whose snapshot holds nodes and pods (bound by spec.nodeName).
func New(ctx context.Context, t testing.TB, nodes []*v1.Node, pods []*v1.Pod) Fixture {
	t.Helper()
	snapshot := cache.NewSnapshot(pods, nodes)
	recorder := events.NewFakeRecorder(100)
	fh, err := runtime.NewFramework(ctx, nil, nil,
		runtime.WithSnapshotSharedLister(snapshot),
		runtime.WithEventRecorder(recorder))
	if err != nil {
		t.Fatalf("creating framework: %v", err)
	}
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatalf("listing node infos: %v", err)
	}
	return Fixture{Handle: fh, NodeInfos: nodeInfos, Recorder: recorder}
}

// ScorePlugin is a plugin with PreScore and Score.
type ScorePlugin interface {
	fwk.PreScorePlugin
	fwk.ScorePlugin
}

// Score runs PreScore, then Score on every node, then NormalizeScore if the plugin has
// ScoreExtensions, as the framework does, and returns the scores by node name; a PreScore or
// NormalizeScore status other than Success is returned instead.
func (f Fixture) Score(ctx context.Context, t testing.TB, pl ScorePlugin, pod *v1.Pod) (map[string]int64, *fwk.Status) {
	t.Helper()
	state := framework.NewCycleState()
	if s := pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
		return nil, s
	}
	list := make(fwk.NodeScoreList, 0, len(f.NodeInfos))
	for _, ni := range f.NodeInfos {
		score, s := pl.Score(ctx, state, pod, ni)
		if !s.IsSuccess() {
			t.Fatalf("Score(%s): %v", ni.Node().Name, s)
		}
		list = append(list, fwk.NodeScore{Name: ni.Node().Name, Score: score})
	}
	if ext := pl.ScoreExtensions(); ext != nil {
		if s := ext.NormalizeScore(ctx, state, pod, list); !s.IsSuccess() {
			return nil, s
		}
	}
	got := map[string]int64{}
	for _, ns := range list {
		if ns.Score < fwk.MinNodeScore || ns.Score > fwk.MaxNodeScore {
			t.Errorf("node %s: score %d out of [%d, %d]", ns.Name, ns.Score, fwk.MinNodeScore, fwk.MaxNodeScore)
		}
		got[ns.Name] = ns.Score
	}
	return got, nil
}

// FilterPlugin is a plugin with PreFilter and Filter.
type FilterPlugin interface {
	fwk.PreFilterPlugin
	fwk.FilterPlugin
}

// Filter runs PreFilter, then Filter on every node, as the framework does, and returns the
// statuses of the nodes Filter rejected, by node name; a PreFilter status other than Success is
// returned instead.
func (f Fixture) Filter(ctx context.Context, pl FilterPlugin, pod *v1.Pod) (map[string]*fwk.Status, *fwk.Status) {
	state := framework.NewCycleState()
	if _, s := pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
		return nil, s
	}
	rejected := map[string]*fwk.Status{}
	for _, ni := range f.NodeInfos {
		if s := pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
			rejected[ni.Node().Name] = s
		}
	}
	return rejected, nil
}

// NodeInfo returns the snapshot's own NodeInfo of the node named name (the one the scheduler
// updates in place), failing t if there is none.
func (f Fixture) NodeInfo(t testing.TB, name string) *framework.NodeInfo {
	t.Helper()
	for _, ni := range f.NodeInfos {
		if ni.Node().Name == name {
			return ni.(*framework.NodeInfo)
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

// FilterOne runs PreFilter over every node, then Filter on nodeInfo alone, with state, and
// returns Filter's code; a PreFilter status other than Success fails t.
func (f Fixture) FilterOne(ctx context.Context, t testing.TB, pl FilterPlugin, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) fwk.Code {
	t.Helper()
	if _, s := pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	return pl.Filter(ctx, state, pod, nodeInfo).Code()
}

// Rebind gives node i's NodeInfo a new generation in place, as the scheduler's snapshot does
// when a pod was bound there: the NodeInfo keeps its address and its pods (the last one is
// removed and added back), only its generation moves on.
func (f Fixture) Rebind(t testing.TB, i int) {
	t.Helper()
	ni, ok := f.NodeInfos[i].(*framework.NodeInfo)
	if !ok {
		t.Fatalf("node %d: NodeInfo of type %T, want *framework.NodeInfo", i, f.NodeInfos[i])
	}
	pods := ni.GetPods()
	if len(pods) == 0 {
		ni.SetNode(ni.Node())
		return
	}
	last := pods[len(pods)-1]
	if err := ni.RemovePod(klog.Background(), last.GetPod()); err != nil {
		t.Fatalf("node %s: %v", ni.Node().Name, err)
	}
	ni.AddPodInfo(last)
}

// ReportPerNode reports the benchmark's time per operation divided by nodes, as ns/node: the
// cost of one scheduling cycle per node of the cluster.
func ReportPerNode(b *testing.B, nodes int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes), "ns/node")
}

// ScoreDoesNotAllocate holds pl's Score to its contract on the fixture's first node: no
// allocation, in a first cycle, where the plugin's cache misses the node (Score reads the
// NodeInfo and notes it), and in the next, where PreScore derived the noted node. cached says
// whether the plugin's cache holds a NodeInfo.
func (f Fixture) ScoreDoesNotAllocate(ctx context.Context, t *testing.T, pl ScorePlugin, pod *v1.Pod, cached func(fwk.NodeInfo) bool) {
	t.Helper()
	ni := f.NodeInfos[0]
	for _, cycle := range []string{"miss", "hit"} {
		state := framework.NewCycleState()
		if s := pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
			t.Fatalf("PreScore: %v", s)
		}
		if got := cached(ni); got != (cycle == "hit") {
			t.Fatalf("%s cycle: the cache holds the node: %v", cycle, got)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, s := pl.Score(ctx, state, pod, ni); !s.IsSuccess() {
				t.Fatalf("Score: %v", s)
			}
		})
		if allocs != 0 {
			t.Errorf("%s cycle: Score allocates %v times per call, want 0", cycle, allocs)
		}
	}
}
