package notebookspread

import (
	"context"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

// PreScore counts the users on every candidate node once, in parallel, and records the pod's
// score on each (see nodeScore). It returns Skip for pods that are not notebook servers of a
// known user, so Score is not called for them.
func (pl *NotebookSpread) PreScore(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) *fwk.Status {
	o, ok := pl.pendingOwner(ctx, pod, true)
	if !ok {
		return fwk.NewStatus(fwk.Skip)
	}
	users := make([]int, len(nodes))
	hasUser := make([]bool, len(nodes))
	pl.handle.Parallelizer().Until(ctx, len(nodes), func(i int) {
		users[i], hasUser[i] = pl.usersOn(nodes[i], o)
	}, Name)
	s := make(pluginutil.NodeScores, len(nodes))
	if len(nodes) > 0 {
		lo, hi := slices.Min(users), slices.Max(users)
		for i, n := range nodes {
			s[n.Node().Name] = pl.nodeScore(users[i], lo, hi, hasUser[i])
		}
		klog.FromContext(ctx).V(5).Info("Counted notebook users on the candidate nodes", "pod", klog.KObj(pod), "nodes", len(nodes), "minUsers", lo, "maxUsers", hi)
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

// Score returns the score PreScore computed for the node: O(1), no allocation.
func (pl *NotebookSpread) Score(_ context.Context, state fwk.CycleState, _ *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	return pluginutil.Score(state, preScoreStateKey, nodeInfo)
}

// ScoreExtensions returns nil: PreScore already normalizes over the candidate nodes, and the
// scores are in [0, MaxNodeScore].
func (pl *NotebookSpread) ScoreExtensions() fwk.ScoreExtensions { return nil }
