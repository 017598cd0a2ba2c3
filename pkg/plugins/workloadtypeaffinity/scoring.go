package workloadtypeaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// PreScore classifies every candidate node once, in parallel, and records the pod's score on each.
// It returns Skip for untyped pods, so Score is not called for them. The pod's type is the one
// PreFilter resolved in this cycle (Required mode), else resolved here.
func (pl *WorkloadTypeAffinity) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	var t workloadtype.Type
	if s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey); err == nil {
		t = s.podType
	} else {
		t = pl.podType(ctx, pod, true)
	}
	if t == workloadtype.None {
		return fwk.NewStatus(fwk.Skip)
	}
	scores := make([]int64, len(nodes))
	pl.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
		scores[i] = pl.scores[workloadtype.RelationOf(t, pl.nodeType(nodes[i]))]
	}, Name)
	s := make(pluginutil.NodeScores, len(nodes))
	for i, n := range nodes {
		s[n.Node().Name] = scores[i]
	}
	state.Write(preScoreStateKey, s)
	return nil
}

// Score returns the score PreScore computed for the node: O(1), no allocation.
func (pl *WorkloadTypeAffinity) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	return pluginutil.Score(state, preScoreStateKey, nodeInfo)
}

// ScoreExtensions returns nil: scores are absolute (each in [0, MaxNodeScore]) and need no
// normalizing, which also keeps them comparable from one cycle to the next.
func (pl *WorkloadTypeAffinity) ScoreExtensions() fwk.ScoreExtensions { return nil }
