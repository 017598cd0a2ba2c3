package notebookspread

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

// preFilterState is the pod's owner, computed once per cycle, and whether this cycle reads the
// per-node cache.
type preFilterState struct {
	pending pending
	// cached: PreFilter brought the cache up to date for every node (see usesCache).
	cached bool
}

// Clone shares the state: it is never written after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter skips the Filter phase unless maxUsersPerNode is set and the pod is a notebook
// server of a known user; in every case, it makes the per-node cache forget the nodes deleted
// since. Then it brings the per-node cache up to date for every node, so that
// Filter reads each node's users in O(1).
func (pl *NotebookSpread) PreFilter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if usesCache(state) {
		// PreScore is given only the candidates: nodes deleted are forgotten here.
		pl.nodes.Forget(nodes)
	}
	if pl.maxUsers == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	o, ok := pl.pendingOwner(ctx, pod, false)
	if !ok {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cached := usesCache(state)
	if cached {
		pl.nodes.Update(ctx, nodes, true, pl.handle.Parallelizer())
	}
	state.Write(preFilterStateKey, &preFilterState{pending: pl.newPending(o), cached: cached})
	return nil, nil
}

// PreFilterExtensions returns nil: Filter reads the NodeInfo it is given, so preemption's
// what-if NodeInfos need no incremental updates.
func (pl *NotebookSpread) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node that already serves maxUsersPerNode other users of the pod's hub. A node
// that already runs one of the user's servers is always accepted: the user counts once.
// Unschedulable, not unresolvable: preempting a lower-priority server frees a slot. It reads the
// node's users from the cache, or, for a NodeInfo the cache does not hold (preemption's what-if
// copies), from the NodeInfo's pods; it allocates nothing unless it rejects.
func (pl *NotebookSpread) Filter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	others, hasUser := pl.users(s.cached, false, nodeInfo, &s.pending)
	if hasUser || others < pl.maxUsers {
		return nil
	}
	if logger := klog.FromContext(ctx).V(4); logger.Enabled() {
		logger.Info("Node is at the notebook user cap", "pod", klog.KObj(pod), "node", klog.KObj(nodeInfo.Node()), "users", others, "maxUsersPerNode", pl.maxUsers)
	}
	if others != pl.maxUsers {
		// Over the cap: the cap was lowered, or pods were bound past the scheduler.
		return fwk.NewStatus(fwk.Unschedulable, fmt.Sprintf(ErrReasonTooManyUsers, others, pl.maxUsers))
	}
	return fwk.NewStatus(fwk.Unschedulable, pl.capReason...)
}
