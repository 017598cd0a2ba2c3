package notebookspread

import (
	"context"
	"fmt"
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

// preScoreState is what Score needs of the cycle: the pod's owner.
type preScoreState struct {
	pending pending
	// cached: the per-node cache is up to date for the candidate nodes (see usesCache).
	cached bool
}

// Clone shares the state: it is never written after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// PreScore derives again the nodes that Score missed in the last cycle (NodeCache.Refresh),
// unless PreFilter brought the per-node cache up to date for every node; Score derives a node it
// misses from its NodeInfo, so the scores are exact either way. It returns Skip for pods that are
// not notebook servers of a known user, so Score is not called for them.
func (pl *NotebookSpread) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	o, ok := pl.pendingOwner(ctx, pod, true)
	if !ok {
		return fwk.NewStatus(fwk.Skip)
	}
	s := &preScoreState{pending: pl.newPending(o), cached: usesCache(state)}
	if s.cached {
		if f, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey); err != nil || !f.cached {
			pl.nodes.Refresh(ctx, len(nodes), pl.handle.Parallelizer())
		}
	}
	state.Write(preScoreStateKey, s)
	return nil
}

// packUsers packs a node's other users and whether the pod's user runs a server there into one
// Score result, unpackUsers the reverse: NormalizeScore scores the nodes against the fewest and
// most users over them. A node's user count is below 2^62.
func packUsers(users int, hasUser bool) int64 {
	v := int64(users) << 1
	if hasUser {
		v |= 1
	}
	return v
}

func unpackUsers(v int64) (users int, hasUser bool) { return int(v >> 1), v&1 == 1 }

// nodeScore is the score, 0-100, of a node where users other users of the pod's hub run a
// notebook server, lo and hi being the fewest and most over the candidate nodes:
//
//	Spread: base = 100 * (hi - users) / (hi - lo)
//	Pack:   base = 100 * (users - lo) / (hi - lo)
//	base = 100 on every node when hi == lo
//
// Then, with adjustment a (sameUserNodeAdjustment), base is scaled into [0, 100-|a|] and the
// nodes that a favours get |a| on top: with a > 0 the nodes already running one of the user's
// servers, with a < 0 the others. So a always means |a| points between two otherwise equal nodes
// and never pushes a score out of range.
func (pl *NotebookSpread) nodeScore(users, lo, hi int, hasUser bool) int64 {
	base := fwk.MaxNodeScore
	if hi > lo {
		if pl.mode == config.ModePack {
			base = fwk.MaxNodeScore * int64(users-lo) / int64(hi-lo)
		} else {
			base = fwk.MaxNodeScore * int64(hi-users) / int64(hi-lo)
		}
	}
	a := pl.adjustment
	if a == 0 {
		return base
	}
	magnitude := a
	if a < 0 {
		magnitude = -a
	}
	score := base * (fwk.MaxNodeScore - magnitude) / fwk.MaxNodeScore
	if (a > 0) == hasUser {
		score += magnitude
	}
	return score
}

// Score returns the node's other users of the pod's hub and whether the pod's user runs a server
// there, packed (packUsers) for NormalizeScore, which scores each node against the fewest and
// most over the candidates (nodeScore). It reads the node's users from the cache (O(1)) or, for a
// NodeInfo the cache does not hold, from its pods; no allocation.
func (pl *NotebookSpread) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*preScoreState](state, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	return packUsers(pl.users(s.cached, true, nodeInfo, &s.pending)), nil
}

// ScoreExtensions returns the plugin: NormalizeScore turns users into scores.
func (pl *NotebookSpread) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore finds the fewest and most users over the scored nodes (the candidates) and
// scores each node against them (nodeScore), in [0, MaxNodeScore]. One pass over the scores the
// framework already holds: reading every candidate's users a second time, in PreScore, cost
// as much as Score itself at 5000 nodes.
func (pl *NotebookSpread) NormalizeScore(ctx context.Context, _ fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := math.MaxInt, math.MinInt
	for _, s := range scores {
		if s.Score < 0 {
			return fwk.AsStatus(fmt.Errorf("node %q: score %d is not one Score returned", s.Name, s.Score))
		}
		users, _ := unpackUsers(s.Score)
		lo, hi = min(lo, users), max(hi, users)
	}
	for i := range scores {
		users, hasUser := unpackUsers(scores[i].Score)
		scores[i].Score = pl.nodeScore(users, lo, hi, hasUser)
	}
	if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
		logger.Info("Counted notebook users on the candidate nodes", "pod", klog.KObj(pod), "nodes", len(scores), "minUsers", lo, "maxUsers", hi)
	}
	return nil
}
