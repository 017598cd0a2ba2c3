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
// hashing of a name. NodeInfos of another implementation than the framework's are not cached. There is one exception: in a pod group
// scheduling cycle the snapshot assumes and forgets pods in place, keeping the old generation,
// so callers must neither Update nor Get in such a cycle (fwk.CycleState's
// IsPodGroupSchedulingCycle), and derive the value from the NodeInfo itself.
//
// Update and Refresh are for the serial extension points (PreFilter, PreScore); Get and Note are
// lock-free and allocate nothing, so Filter and Score may call them in parallel.
//
// Two ways to keep it current. Update checks every node it is given: what PreFilter needs when
// Filter must read the cache on every node. Refresh derives only the nodes that Score told it
// (Note) it had missed in the cycles since: what PreScore needs, where a check of each candidate
// costs a serial pass over hundreds of NodeInfos and map slots scattered over the heap (the
// larger part of the plugins' cost at 5000 nodes in scheduler_perf), while the nodes that
// changed are the few that bindings touched. A node Score misses is derived from its NodeInfo
// there and then, so every result is exact; the cache only saves the work.
type NodeCache[T any] struct {
	compute func(fwk.NodeInfo) T
	changed func(old, new *T) bool

	// mu serializes Update. Get takes no lock: slots is replaced whole, entries are immutable
	// and replaced whole.
	mu    sync.Mutex
	slots atomic.Pointer[map[*framework.NodeInfo]*nodeSlot[T]]
	// stamps, under mu, is the generation and pod count each slot's entry was derived at, held
	// in the map itself: Update's freshness check is one map probe per node, not the two
	// dependent loads (slot, entry) into memory scattered over the heap that, at 5000 nodes,
	// made most of Update's time (scheduler_perf's profile). Same keys as slots.
	stamps map[*framework.NodeInfo]stamp
	stale  []int // Update's scratch, under mu

	// notes[:noted] are the NodeInfos that Note was told of since the last Refresh, each at its
	// own index (noted is claimed atomically); notes beyond len(notes), which Refresh sizes
	// under mu, are dropped. refresh is Refresh's scratch, under mu.
	notes   []*framework.NodeInfo
	noted   atomic.Int64
	refresh []fwk.NodeInfo
}

type stamp struct {
	generation int64
	pods       int
}

type nodeSlot[T any] struct {
	entry atomic.Pointer[nodeEntry[T]]
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
	c := &NodeCache[T]{compute: compute, changed: changed, stamps: map[*framework.NodeInfo]stamp{}}
	c.slots.Store(&map[*framework.NodeInfo]*nodeSlot[T]{})
	return c
}

// Get returns the value derived from nodeInfo, if the cache holds it for nodeInfo's
// generation; the value must not be modified. A NodeInfo of generation 0 (not made by the
// scheduler's bookkeeping) is never cached.
func (c *NodeCache[T]) Get(nodeInfo fwk.NodeInfo) (*T, bool) {
	ni, ok := nodeInfo.(*framework.NodeInfo)
	if !ok {
		return nil, false
	}
	s := (*c.slots.Load())[ni]
	if s == nil {
		return nil, false
	}
	e := s.entry.Load()
	if e == nil || e.generation == 0 || e.generation != ni.Generation || e.pods != len(ni.Pods) {
		return nil, false
	}
	return &e.value, true
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

// Len returns the number of NodeInfos the cache holds a slot for.
func (c *NodeCache[T]) Len() int { return len(*c.slots.Load()) }

// Forget drops the NodeInfos not in nodes, every node of the snapshot, if the cache holds more
// than that: nodes deleted, what-if copies a simulation gave Update, the NodeInfos of a
// snapshot no longer used. O(1) when it holds no more. It returns whether it forgot a node. Call it only from a serial extension point
// (PreFilter is given every node).
func (c *NodeCache[T]) Forget(nodes []fwk.NodeInfo) bool {
	if c.Len() <= len(nodes) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := *c.slots.Load()
	next := make(map[*framework.NodeInfo]*nodeSlot[T], len(nodes))
	for _, n := range nodes {
		if ni := cacheable(n); ni != nil {
			if s := slots[ni]; s != nil {
				next[ni] = s
			}
		}
	}
	c.slots.Store(&next)
	c.pruneStamps(next)
	return len(next) < len(slots)
}

// pruneStamps drops the stamps of NodeInfos no longer in slots. Under mu.
func (c *NodeCache[T]) pruneStamps(slots map[*framework.NodeInfo]*nodeSlot[T]) {
	for ni := range c.stamps {
		if slots[ni] == nil {
			delete(c.stamps, ni)
		}
	}
}

// Update derives the value of every node in nodes whose generation the cache does not hold,
// spreading the work over p when there is much of it. With all set, nodes are every node of
// the snapshot, and the cache forgets the NodeInfos not among them. It returns whether the
// NodeInfos the cache holds changed (one added or forgotten), changed said so of a node's new
// value, or a NodeInfo was not cached (see cacheable): then the caller cannot know. Call it only from a
// serial extension point.
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
	slots := *c.slots.Load()
	c.stale = c.stale[:0]
	missing, named, uncached := 0, 0, false
	for i, n := range nodes {
		ni := cacheable(n)
		if ni == nil {
			uncached = true
			continue
		}
		named++
		st, ok := c.stamps[ni]
		if !ok {
			if slots[ni] == nil {
				missing++
			}
			c.stale = append(c.stale, i)
			continue
		}
		if st.generation != ni.Generation || st.pods != len(ni.Pods) {
			c.stale = append(c.stale, i)
		}
	}
	changed := false
	if missing > 0 || (all && len(slots) > named) {
		// A new map, published whole: Get may be reading the old one.
		size := len(slots) + missing
		if all {
			size = named
		}
		next := make(map[*framework.NodeInfo]*nodeSlot[T], size)
		if !all {
			for ni, s := range slots {
				next[ni] = s
			}
		}
		for _, n := range nodes {
			ni := cacheable(n)
			if ni == nil {
				continue
			}
			if s := slots[ni]; s != nil {
				next[ni] = s
			} else if next[ni] == nil {
				next[ni] = &nodeSlot[T]{}
			}
		}
		c.slots.Store(&next)
		if all {
			c.pruneStamps(next)
		}
		slots = next
		changed = true
	}
	var valueChanged atomic.Bool
	derive := func(i int) {
		ni := nodes[c.stale[i]].(*framework.NodeInfo)
		s := slots[ni]
		e := &nodeEntry[T]{generation: ni.Generation, pods: len(ni.Pods), value: c.compute(ni)}
		old := s.entry.Swap(e)
		if c.changed != nil && (old == nil || c.changed(&old.value, &e.value)) {
			valueChanged.Store(true)
		}
	}
	if len(c.stale) > parallelUpdate && p != nil {
		p.Until(ctx, len(c.stale), derive, "NodeCache")
	} else {
		for i := range c.stale {
			derive(i)
		}
	}
	// derive read each NodeInfo as it is now (the snapshot does not change in a serial extension
	// point), so the stamp is the NodeInfo's own.
	for _, i := range c.stale {
		ni := nodes[i].(*framework.NodeInfo)
		c.stamps[ni] = stamp{generation: ni.Generation, pods: len(ni.Pods)}
	}
	return changed || uncached || valueChanged.Load()
}
