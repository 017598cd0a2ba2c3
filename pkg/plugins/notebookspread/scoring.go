package notebookspread

import (
	"context"
	"math"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

// preScoreState is what Score needs of the cycle: the pod's owner and the fewest and most
// other users over the candidate nodes.
type preScoreState struct {
	pending pending
	lo, hi  int
	// cached: the per-node cache is up to date for the candidate nodes (see usesCache).
	cached bool
}

// Clone shares the state: it is never written after PreScore.
func (s *preScoreState) Clone() fwk.StateData { return s }

// PreScore brings the per-node cache up to date for the candidate nodes (unless PreFilter did
// for every node), then reads each node's users from it to find the fewest and most; Score
// scores each node against them (see nodeScore). It returns Skip for pods that are not notebook
// servers of a known user, so Score is not called for them. Where the cache cannot serve (a pod
// group cycle), it counts every node's users from its pods, in parallel.
func (pl *NotebookSpread) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	o, ok := pl.pendingOwner(ctx, pod, true)
	if !ok {
		return fwk.NewStatus(fwk.Skip)
	}
	s := &preScoreState{pending: pl.newPending(o), cached: usesCache(state)}
	if len(nodes) > 0 {
		s.lo, s.hi = math.MaxInt, math.MinInt
		if s.cached {
			if f, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey); err != nil || !f.cached {
				pl.nodes.Update(ctx, nodes, false, pl.handle.Parallelizer())
			}
			for _, n := range nodes {
				users, _ := pl.users(true, n, &s.pending)
				s.lo, s.hi = min(s.lo, users), max(s.hi, users)
			}
		} else {
			users := make([]int, len(nodes))
			pl.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
				users[i], _ = pl.usersOn(nodes[i], o)
			}, Name)
			s.lo, s.hi = slices.Min(users), slices.Max(users)
		}
		if logger := klog.FromContext(ctx).V(5); logger.Enabled() {
			logger.Info("Counted notebook users on the candidate nodes", "pod", klog.KObj(pod), "nodes", len(nodes), "minUsers", s.lo, "maxUsers", s.hi)
		}
	}
	state.Write(preScoreStateKey, s)
	return nil
}

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

// Score scores the node against the fewest and most users PreScore found, reading its users
// from the cache (O(1)) or, for a NodeInfo the cache does not hold, from its pods; no
// allocation.
func (pl *NotebookSpread) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	s, err := pluginutil.ReadState[*preScoreState](state, preScoreStateKey)
	if err != nil {
		return 0, fwk.AsStatus(err)
	}
	users, hasUser := pl.users(s.cached, nodeInfo, &s.pending)
	// The framework scores only PreScore's nodes; should it not, stay in range.
	users = min(max(users, s.lo), s.hi)
	return pl.nodeScore(users, s.lo, s.hi, hasUser), nil
}

// ScoreExtensions returns nil: Score already normalizes against the candidates' lo and hi, and the
// scores are in [0, MaxNodeScore].
func (pl *NotebookSpread) ScoreExtensions() fwk.ScoreExtensions { return nil }
