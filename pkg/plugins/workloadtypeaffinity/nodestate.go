package workloadtypeaffinity

import (
	"context"
	"sync"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// nodeState is what the plugin derives from a node's NodeInfo: kept per node (pl.nodes) and
// derived again only when the node's generation moves, so that a cycle costs the same whatever
// the pods already resident.
type nodeState struct {
	// pool is the node's workload-type label (see poolLabel), or None.
	pool     workloadtype.Type
	nodeType workloadtype.NodeType
	// replicas counts the node's resident pods that are not leaving, by controllerKey: the
	// siblings of a pod whose spreading is its controller's (spreading.owner).
	replicas map[string]int32
}

// controllerKey names a controller as isSibling compares it: the pod's namespace and the
// controller's UID. A string key hashes faster than a struct; a namespace holds no NUL.
func controllerKey(namespace string, uid types.UID) string {
	return namespace + "\x00" + string(uid)
}

// newNodeState derives a node's state from its NodeInfo, as nodeType and siblingsOn read it.
func (pl *WorkloadTypeAffinity) newNodeState(nodeInfo fwk.NodeInfo) nodeState {
	s := nodeState{pool: poolLabel(nodeInfo.Node())}
	var c workloadtype.Counts
	for _, pi := range nodeInfo.GetPods() {
		p := pi.GetPod()
		if leaving(p) {
			continue
		}
		c.Add(workloadtype.Resident(p))
		if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
			if s.replicas == nil {
				s.replicas = map[string]int32{}
			}
			s.replicas[controllerKey(p.Namespace, ref.UID)]++
		}
	}
	s.nodeType = workloadtype.ClassifyNode(s.pool, c, pl.majorityPercent)
	return s
}

// leaving says whether a resident pod is going (terminating or finished): it counts neither for
// its node's type nor as a sibling.
func leaving(p *v1.Pod) bool {
	return p.DeletionTimestamp != nil || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
}

// poolChanged tells the cache which changes of a node's state make the PreFilter results
// stale: its pool.
func poolChanged(old, new *nodeState) bool { return old.pool != new.pool }

// updateNodes brings the cache up to date for nodes (every node of the snapshot if all) and
// makes the PreFilter results stale if a node's pool, or the nodes themselves, changed. Only
// for the serial extension points.
func (pl *WorkloadTypeAffinity) updateNodes(ctx context.Context, nodes []fwk.NodeInfo, all bool) {
	if pl.nodes.Update(ctx, nodes, all, pl.handle.Parallelizer()) {
		pl.pools.invalidate()
	}
}

// refreshNodes derives again the nodes Score missed since the last call (NodeCache.Refresh),
// making room for the notes of n nodes to score.
func (pl *WorkloadTypeAffinity) refreshNodes(ctx context.Context, n int) {
	if pl.nodes.Refresh(ctx, n, pl.handle.Parallelizer()) {
		pl.pools.invalidate()
	}
}

// usesCache says whether this cycle may read and update the cache: not in a pod group
// scheduling cycle, where the snapshot assumes the group's pods into NodeInfos without moving
// their generations (see pluginutil.NodeCache).
func usesCache(state fwk.CycleState) bool { return !state.IsPodGroupSchedulingCycle() }

// pools holds the PreFilter result of Required mode for each pod type: every node but those
// labelled with the other type, which Filter rejects as unresolvable; nil (all nodes) when no
// node is labelled so. Built from the nodes of one cycle and kept until updateNodes sees a
// pool or the set of nodes change. The framework clones a result before narrowing it, so one
// result may be handed to many cycles.
type pools struct {
	mu      sync.Mutex
	valid   bool
	results [workloadtype.OLAP + 1]*fwk.PreFilterResult
}

func (p *pools) invalidate() {
	p.mu.Lock()
	p.valid = false
	p.mu.Unlock()
}

// result returns the PreFilter result for a pod of type t over nodes, from the last cycle's
// if keep is set and nothing changed since.
func (p *pools) result(t workloadtype.Type, nodes []fwk.NodeInfo, keep bool) *fwk.PreFilterResult {
	if !keep {
		return buildPools(nodes)[t]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.valid {
		p.results = buildPools(nodes)
		p.valid = true
	}
	return p.results[t]
}

func buildPools(nodes []fwk.NodeInfo) [workloadtype.OLAP + 1]*fwk.PreFilterResult {
	var out [workloadtype.OLAP + 1]*fwk.PreFilterResult
	var labelled [workloadtype.OLAP + 1]int
	for _, n := range nodes {
		labelled[poolLabel(n.Node())]++
	}
	for _, t := range []workloadtype.Type{workloadtype.OLTP, workloadtype.OLAP} {
		if labelled[t.Other()] == 0 {
			continue
		}
		names := make(sets.Set[string], len(nodes)-labelled[t.Other()])
		for _, n := range nodes {
			if poolLabel(n.Node()) != t.Other() {
				names.Insert(n.Node().Name)
			}
		}
		out[t] = &fwk.PreFilterResult{NodeNames: names}
	}
	return out
}

// maxTermCounts is how many spreadings by declared terms termCounts keeps: the workloads whose
// replicas are being scheduled at one time.
const maxTermCounts = 8

// termCounts keeps, for the declared spreading terms of the last few workloads (spreading.key),
// each node's count of their siblings at its generation, so that the replicas of one workload
// after the first, and their retries, count siblings only on the nodes that changed. Only
// PreScore uses it.
type termCounts struct {
	mu      sync.Mutex
	entries []termCount // most recently used first
}

type termCount struct {
	key    string
	counts *pluginutil.NodeCache[int64]
}

// forget makes every kept count forget the NodeInfos not in nodes (see NodeCache.Forget).
func (tc *termCounts) forget(nodes []fwk.NodeInfo) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, e := range tc.entries {
		e.counts.Forget(nodes)
	}
}

// get returns the per-node counts of sp's siblings, kept or new.
func (tc *termCounts) get(sp *spreading) *pluginutil.NodeCache[int64] {
	key := sp.key()
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for i, e := range tc.entries {
		if e.key == key {
			copy(tc.entries[1:i+1], tc.entries[:i])
			tc.entries[0] = e
			return e.counts
		}
	}
	terms := *sp // the counts outlive this cycle's state
	e := termCount{key: key, counts: pluginutil.NewNodeCache(terms.siblingsOn, nil)}
	if len(tc.entries) < maxTermCounts {
		tc.entries = append(tc.entries, termCount{})
	}
	copy(tc.entries[1:], tc.entries[:len(tc.entries)-1])
	tc.entries[0] = e
	return e.counts
}
