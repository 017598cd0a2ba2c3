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

// preFilterState is the pod's type, resolved once per cycle (PreScore reuses it), and whether
// this cycle reads the per-node cache.
type preFilterState struct {
	podType workloadtype.Type
	// cached: PreFilter brought the cache up to date for every node (see usesCache).
	cached bool
}

// Clone shares the state: it is never written after PreFilter.
func (s *preFilterState) Clone() fwk.StateData { return s }

// PreFilter skips the Filter phase unless the mode is Required and the pod is typed; in every
// mode, it makes the per-node cache forget the nodes deleted since. For a
// typed pod it brings the per-node cache up to date for every node, so that Filter reads each
// node's type in O(1), and returns every node but those of the other type's pool: Filter runs
// only on the pool of the pod's type and the unlabelled nodes (on every node when that leaves
// none, so that each is rejected with the reason).
func (pl *WorkloadTypeAffinity) PreFilter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodes []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if usesCache(state) {
		// PreScore is given only the candidates: nodes deleted are forgotten here.
		if pl.nodes.Forget(nodes) {
			pl.pools.invalidate()
		}
		pl.terms.forget(nodes)
	}
	if pl.mode != config.ModeRequired {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	t := pl.podType(ctx, pod, true)
	if t == workloadtype.None {
		state.Write(preFilterStateKey, &preFilterState{podType: t})
		return nil, fwk.NewStatus(fwk.Skip)
	}
	cached := usesCache(state)
	if cached {
		pl.updateNodes(ctx, nodes, true)
	}
	state.Write(preFilterStateKey, &preFilterState{podType: t, cached: cached})
	res := pl.pools.result(t, nodes, cached)
	if res != nil && res.NodeNames.Len() == 0 {
		// Every node is the other type's pool: Filter says so on each, where an empty result
		// would leave the pod with the framework's "didn't satisfy plugin" and no reason.
		return nil, nil
	}
	return res, nil
}

// PreFilterExtensions returns nil: Filter reads the NodeInfo it is given, so preemption's
// what-if NodeInfos need no incremental updates.
func (pl *WorkloadTypeAffinity) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// Filter rejects a node of the other type. A labelled node (a pool) cannot change by preempting
// pods, so it is unresolvable; a node typed by its pods can. It reads the node's type from the
// cache, or, for a NodeInfo the cache does not hold (preemption's what-if copies), from the
// NodeInfo's pods; it allocates nothing unless it rejects.
func (pl *WorkloadTypeAffinity) Filter(ctx context.Context, state fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) *fwk.Status {
	s, err := pluginutil.ReadState[*preFilterState](state, preFilterStateKey)
	if err != nil {
		return fwk.AsStatus(err)
	}
	var n workloadtype.NodeType
	var pool workloadtype.Type
	if ns, ok := pl.cachedNode(s.cached, nodeInfo); ok {
		n, pool = ns.nodeType, ns.pool
	} else {
		n, pool = pl.nodeType(nodeInfo), poolLabel(nodeInfo.Node())
	}
	if workloadtype.RelationOf(s.podType, n) != workloadtype.OtherType {
		return nil
	}
	if logger := klog.FromContext(ctx).V(4); logger.Enabled() {
		logger.Info("Node has the other workload type", "pod", klog.KObj(pod), "node", klog.KObj(nodeInfo.Node()), "podType", s.podType, "nodeType", n)
	}
	code := fwk.Unschedulable
	if pool != workloadtype.None {
		code = fwk.UnschedulableAndUnresolvable
	}
	return fwk.NewStatus(code, pl.reasons[n]...)
}

// cachedNode returns the node's state from the cache, if this cycle reads it and it holds the
// NodeInfo's generation.
func (pl *WorkloadTypeAffinity) cachedNode(cached bool, nodeInfo fwk.NodeInfo) (nodeState, bool) {
	if !cached {
		return nodeState{}, false
	}
	return pl.nodes.Get(nodeInfo)
}
