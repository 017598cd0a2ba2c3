package pluginutil

import (
	"context"
	"sync"
	"sync/atomic"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// NodeCache keeps what a plugin derives from each node's NodeInfo (a node's type, its users),
// so that a scheduling cycle derives it again only for the nodes that changed, not from every
// resident pod of every node.
//
// An entry is keyed by the NodeInfo itself (its address: the scheduler's snapshot keeps one
// NodeInfo per node for the node's life and updates it in place) and holds the generation (and
// pod count) it was derived at. The scheduler gives a NodeInfo a new generation, from one
// process-wide counter, on every change to its node or pods, so a generation names one node and
// one set of pods. Preemption's what-if NodeInfos are copies, other NodeInfos with pods removed
// or added: they never match the real node's entry, and Get misses for them (a copy given to
// Update gets an entry of its own). Keying by address, not by node name, also spares Get the
// hashing of a name. NodeInfos of another implementation than the framework's are not cached.
// There is one exception: in a pod group scheduling cycle the snapshot assumes and forgets pods
// in place, keeping the old generation, so callers must neither Update nor Get in such a cycle
// (fwk.CycleState's IsPodGroupSchedulingCycle), and derive the value from the NodeInfo itself.
//
// Update, Refresh and Forget write, and are for the serial extension points (PreFilter,
// PreScore); Get and Note are for the parallel ones (Filter, Score): they allocate nothing, and
// Get only reads. The two never run at once: a plugin instance serves one profile, whose
// scheduling cycles run one at a time, each extension point after the last returned; the
// binding cycle, which runs beside the next scheduling cycle, calls no extension point that
// uses a NodeCache. That is what lets an entry sit in the map itself, so that Get, run for
// every candidate node of every cycle, is one map probe and no further load: at 5000 nodes the
// loads behind a probe (a slot, then an entry, each somewhere else on the heap) were most of
// Score's cost in scheduler_perf.
//
// Two ways to keep it current. Update checks every node it is given: what PreFilter needs when
// Filter must read the cache on every node. Refresh derives only the nodes that Score told it
// (Note) it had missed in the cycles since: what PreScore needs, where a check of each candidate
// costs a serial pass over hundreds of NodeInfos and map slots scattered over the heap, while
// the nodes that changed are the few that bindings touched. A node Score misses is derived from
// its NodeInfo there and then, so every result is exact; the cache only saves the work.
type NodeCache[T any] struct {
	compute func(fwk.NodeInfo) T
	changed func(old, new *T) bool

	// mu serializes the writers, a guard for callers outside a scheduler (the framework runs
	// them one at a time anyway); Get takes no lock.
	mu      sync.Mutex
	entries map[*framework.NodeInfo]nodeEntry[T]
	stale   []int // Update's scratch, under mu
	derived []T   // Update's scratch, under mu

	// notes[:noted] are the NodeInfos that Note was told of since the last Refresh, each at its
	// own index (noted is claimed atomically); notes beyond len(notes), which Refresh sizes, are
	// dropped. refresh is Refresh's scratch, under mu.
	notes   []*framework.NodeInfo
	noted   atomic.Int64
	refresh []fwk.NodeInfo
}

type nodeEntry[T any] struct {
	generation int64
	pods       int
	value      T
}

// parallelUpdate is the number of nodes to derive above which Update spreads the work over
// the parallelizer: a scheduler's first cycle, not the nodes that a binding changed.
const parallelUpdate = 64

// NewNodeCache returns an empty cache whose values compute derives from a NodeInfo; compute may
// run in parallel on different nodes. changed, if not nil, tells Update whether a node's new
// value differs from its old one in a way the caller tracks (see Update's result).
func NewNodeCache[T any](compute func(fwk.NodeInfo) T, changed func(old, new *T) bool) *NodeCache[T] {
	return &NodeCache[T]{compute: compute, changed: changed, entries: map[*framework.NodeInfo]nodeEntry[T]{}}
}

// Get returns the value derived from nodeInfo, if the cache holds it for nodeInfo's
// generation; the value shares what it refers to with the cache and must not be modified. A
// NodeInfo of generation 0 (not made by the scheduler's bookkeeping) is never cached.
func (c *NodeCache[T]) Get(nodeInfo fwk.NodeInfo) (T, bool) {
	ni, ok := nodeInfo.(*framework.NodeInfo)
	if !ok {
		var zero T
		return zero, false
	}
	e, ok := c.entries[ni]
	if !ok || e.generation == 0 || e.generation != ni.Generation || e.pods != len(ni.Pods) {
		var zero T
		return zero, false
	}
	return e.value, true
}

// cacheable returns the NodeInfo as the cache keys it, or nil if it is not cached: not the
// framework's, without a node, or of generation 0 (not made by the scheduler's bookkeeping).
func cacheable(nodeInfo fwk.NodeInfo) *framework.NodeInfo {
	ni, ok := nodeInfo.(*framework.NodeInfo)
	if !ok || ni.Node() == nil || ni.Generation == 0 {
		return nil
	}
	return ni
}

// Len returns the number of NodeInfos the cache holds an entry for. A writer, for what it
// reads: call it where Update may be called.
func (c *NodeCache[T]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Forget drops the NodeInfos not in nodes, every node of the snapshot, if the cache holds more
// than that: nodes deleted, what-if copies a simulation gave Update, the NodeInfos of a
// snapshot no longer used. O(1) when it holds no more. It returns whether it forgot a node.
// Call it only from a serial extension point (PreFilter is given every node).
func (c *NodeCache[T]) Forget(nodes []fwk.NodeInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forget(nodes)
}

// forget is Forget, under mu.
func (c *NodeCache[T]) forget(nodes []fwk.NodeInfo) bool {
	if len(c.entries) <= len(nodes) {
		return false
	}
	next := make(map[*framework.NodeInfo]nodeEntry[T], len(nodes))
	for _, n := range nodes {
		if ni := cacheable(n); ni != nil {
			if e, ok := c.entries[ni]; ok {
				next[ni] = e
			}
		}
	}
	forgot := len(next) < len(c.entries)
	c.entries = next
	return forgot
}

// Update derives the value of every node in nodes whose generation the cache does not hold,
// spreading the work over p when there is much of it. With all set, nodes are every node of
// the snapshot, and the cache forgets the NodeInfos not among them. It returns whether the
// NodeInfos the cache holds changed (one added or forgotten), changed said so of a node's new
// value, or a NodeInfo was not cached (see cacheable): then the caller cannot know. Call it
// only from a serial extension point.
func (c *NodeCache[T]) Update(ctx context.Context, nodes []fwk.NodeInfo, all bool, p fwk.Parallelizer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.update(ctx, nodes, all, p)
}

// Note tells the cache that a Get missed nodeInfo, for the next Refresh to derive it. It is for
// Score, in parallel: lock-free, no allocation. A note beyond the room the last Refresh made is
// dropped (the node is missed, and noted, again). What-if copies are never to be noted: only
// Score calls it, and Score is never given one.
func (c *NodeCache[T]) Note(nodeInfo fwk.NodeInfo) {
	ni := cacheable(nodeInfo)
	if ni == nil {
		return
	}
	if i := c.noted.Add(1) - 1; i < int64(len(c.notes)) {
		c.notes[i] = ni
	}
}

// Refresh derives the nodes noted since the last Refresh (Note) whose generation the cache does
// not hold, as Update does, and makes room for n notes until the next one: n is the number of
// nodes the caller's Score may be called on. It returns what Update returns. Call it only from
// a serial extension point.
func (c *NodeCache[T]) Refresh(ctx context.Context, n int, p fwk.Parallelizer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := min(c.noted.Load(), int64(len(c.notes)))
	c.refresh = c.refresh[:0]
	for i := range k {
		c.refresh = append(c.refresh, c.notes[i])
		c.notes[i] = nil
	}
	c.noted.Store(0)
	if len(c.notes) < n {
		c.notes = make([]*framework.NodeInfo, n)
	}
	changed := false
	if len(c.refresh) > 0 {
		changed = c.update(ctx, c.refresh, false, p)
	}
	clear(c.refresh)
	return changed
}

// update is Update, under mu.
func (c *NodeCache[T]) update(ctx context.Context, nodes []fwk.NodeInfo, all bool, p fwk.Parallelizer) bool {
	changed, uncached := false, false
	c.stale = c.stale[:0]
	named := 0
	for i, n := range nodes {
		ni := cacheable(n)
		if ni == nil {
			uncached = true
			continue
		}
		named++
		e, ok := c.entries[ni]
		if !ok || e.generation != ni.Generation || e.pods != len(ni.Pods) {
			c.stale = append(c.stale, i)
		}
	}
	// Forgetting the NodeInfos not in nodes leaves the entries of those in nodes, which the
	// pass above read.
	if all && len(c.entries) > named {
		changed = c.forget(nodes)
	}
	if len(c.stale) == 0 {
		return changed || uncached
	}
	// Derived in parallel into scratch, stored serially: the map takes one writer.
	if cap(c.derived) < len(c.stale) {
		c.derived = make([]T, len(c.stale))
	}
	c.derived = c.derived[:len(c.stale)]
	derive := func(i int) { c.derived[i] = c.compute(nodes[c.stale[i]]) }
	if len(c.stale) > parallelUpdate && p != nil {
		p.Until(ctx, len(c.stale), derive, "NodeCache")
	} else {
		for i := range c.stale {
			derive(i)
		}
	}
	for i, j := range c.stale {
		// derive read each NodeInfo as it is now (the snapshot does not change in a serial
		// extension point), so the entry's stamp is the NodeInfo's own.
		ni := nodes[j].(*framework.NodeInfo)
		old, had := c.entries[ni]
		e := nodeEntry[T]{generation: ni.Generation, pods: len(ni.Pods), value: c.derived[i]}
		c.entries[ni] = e
		if !had {
			changed = true
		} else if c.changed != nil && c.changed(&old.value, &e.value) {
			changed = true
		}
	}
	clear(c.derived)
	return changed || uncached
}
