package workloadtypeaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// preFilterState is the pod's type, resolved once per cycle (PreScore reuses it).
type preFilterState struct {
	podType workloadtype.Type
}

// Clone shares the state: it is never written after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter skips the Filter phase unless the mode is Required and the pod is typed.
func (pl *WorkloadTypeAffinity) PreFilter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if pl.mode != config.ModeRequired {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	t := pl.podType(ctx, pod, true)
	state.Write(preFilterStateKey, &preFilterState{podType: t})
	if t == workloadtype.None {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	return nil, nil
}

// PreFilterExtensions returns nil: Filter reads the NodeInfo it is given, so preemption's
// what-if NodeInfos need no incremental updates.
func (pl *WorkloadTypeAffinity) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node of the other type. A labelled node (a pool) cannot change by preempting
// pods, so it is unresolvable; a node typed by its pods can.
func (pl *WorkloadTypeAffinity) Filter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	n := pl.nodeType(nodeInfo)
	if workloadtype.RelationOf(s.podType, n) != workloadtype.OtherType {
		return nil
	}
	klog.FromContext(ctx).V(4).Info("Node has the other workload type", "pod", klog.KObj(pod), "node", klog.KObj(nodeInfo.Node()), "podType", s.podType, "nodeType", n)
	code := fwk.Unschedulable
	if label, _ := workloadtype.OfNodeLabel(nodeInfo.Node()); label != workloadtype.None {
		code = fwk.UnschedulableAndUnresolvable
	}
	return fwk.NewStatus(code, pl.reasons[n])
}
