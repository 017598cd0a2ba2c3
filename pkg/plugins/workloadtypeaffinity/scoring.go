package workloadtypeaffinity

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// preScoreState is what Score needs of the pod, read once per cycle.
type preScoreState struct {
	podType   workloadtype.Type
	spreading spreading
	// cached: the per-node cache is up to date for the nodes to score (see usesCache).
	cached bool
}

// Clone shares the state: it is never written after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// PreScore resolves the pod's type (unless PreFilter did in this cycle) and reads its spreading
// intent; it returns Skip for untyped pods, so Score is not called for them. Unless PreFilter
// brought the per-node cache up to date for every node, it derives again the nodes that Score
// missed in the last cycle (NodeCache.Refresh), not checks every candidate: Score derives a node
// it misses from its NodeInfo, so the scores are exact either way.
func (pl *WorkloadTypeAffinity) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	var t workloadtype.Type
	updated := false
	if s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey); err == nil {
		t, updated = s.podType, s.cached
	} else {
		t = pl.podType(ctx, pod, true)
	}
	if t == workloadtype.None {
		return fwk.NewStatus(fwk.Skip)
	}
	sp, err := newSpreading(pod, pl.nsLister)
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("reading the spreading of pod %s/%s: %w", pod.Namespace, pod.Name, err))
	}
	cached := usesCache(state)
	if cached && !updated {
		pl.refreshNodes(ctx, len(nodes))
	}
	if cached && len(sp.terms) > 0 {
		sp.counts = pl.terms.get(&sp)
		sp.counts.Refresh(ctx, len(nodes), pl.handle.Parallelizer())
	}
	state.Write(preScoreStateKey, &preScoreState{podType: t, spreading: sp, cached: cached})
	return nil
}

// Score returns the node's relation to the pod and its count of the pod's siblings, packed
// (packScore) for NormalizeScore, with no allocation. From the cache it is O(1); for a NodeInfo
// the cache does not hold at its generation, O(pods on the node), and the node is noted for the
// next PreScore to derive again.
func (pl *WorkloadTypeAffinity) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*preScoreState](state, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	if ns, ok := pl.cachedNode(s.cached, nodeInfo); ok {
		return packScore(workloadtype.RelationOf(s.podType, ns.nodeType), s.spreading.siblingsIn(&ns, nodeInfo)), nil
	}
	if s.cached {
		pl.nodes.Note(nodeInfo)
		if s.spreading.counts != nil {
			s.spreading.counts.Note(nodeInfo)
		}
	}
	r := workloadtype.RelationOf(s.podType, pl.nodeType(nodeInfo))
	return packScore(r, s.spreading.siblingsOn(nodeInfo)), nil
}

// ScoreExtensions returns the plugin: NormalizeScore applies the spreading rule.
func (pl *WorkloadTypeAffinity) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore turns the packed scores into type scores and applies the spreading rule
// (spreadScore) over the scored nodes. Every result is a type score or 0, so in
// [0, MaxNodeScore]; with no siblings anywhere the scores are the type scores, comparable from
// one cycle to the next.
func (pl *WorkloadTypeAffinity) NormalizeScore(_ context.Context, _ fwk.CycleState, _ *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	least := int64(math.MaxInt64)
	for _, s := range scores {
		if s.Score < 0 {
			return fwk.AsStatus(fmt.Errorf("node %q: score %d is not one Score returned", s.Name, s.Score))
		}
		if r, siblings := unpackScore(s.Score); suits(r) {
			least = min(least, siblings)
		}
	}
	for i := range scores {
		r, siblings := unpackScore(scores[i].Score)
		scores[i].Score = spreadScore(pl.scores[r], siblings, least)
	}
	return nil
}
