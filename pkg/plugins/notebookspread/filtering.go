package notebookspread

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

// preFilterState is the pod's owner, computed once per cycle.
type preFilterState struct {
	owner owner
}

// Clone shares the state: it is never written after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter skips the Filter phase unless maxUsersPerNode is set and the pod is a notebook
// server of a known user.
func (pl *NotebookSpread) PreFilter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if pl.maxUsers == 0 {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	o, ok := pl.pendingOwner(ctx, pod, false)
	if !ok {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	state.Write(preFilterStateKey, &preFilterState{owner: o})
	return nil, nil
}

// PreFilterExtensions returns nil: Filter reads the NodeInfo it is given, so preemption's
// what-if NodeInfos need no incremental updates.
func (pl *NotebookSpread) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node that already serves maxUsersPerNode other users of the pod's hub. A node
// that already runs one of the user's servers is always accepted: the user counts once.
// Unschedulable, not unresolvable: preempting a lower-priority server frees a slot.
func (pl *NotebookSpread) Filter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	others, hasUser := pl.usersOn(nodeInfo, s.owner)
	if hasUser || others < pl.maxUsers {
		return nil
	}
	klog.FromContext(ctx).V(4).Info("Node is at the notebook user cap", "pod", klog.KObj(pod), "node", klog.KObj(nodeInfo.Node()), "users", others, "maxUsersPerNode", pl.maxUsers)
	reason := pl.capReason
	if others != pl.maxUsers {
		// Over the cap: the cap was lowered, or pods were bound past the scheduler.
		reason = fmt.Sprintf(ErrReasonTooManyUsers, others, pl.maxUsers)
	}
	return fwk.NewStatus(fwk.Unschedulable, reason)
}
