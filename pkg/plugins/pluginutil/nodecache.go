package pluginutil

import (
	"context"
	"sync"
	"sync/atomic"

	fwk "k8s.io/kube-scheduler/framework"
)

// NodeCache keeps what a plugin derives from each node's NodeInfo (a node's type, its users),
// so that a scheduling cycle derives it again only for the nodes that changed, not from every
// resident pod of every node.
//
// An entry is keyed by the node's name and holds the NodeInfo generation (and pod count) it was
// derived at. The scheduler gives a NodeInfo a new generation, from one process-wide counter, on
// every change to its node or pods, and its snapshot copies a NodeInfo with its generation, so a
// generation names one node and one set of pods. Preemption's what-if NodeInfos are copies with
// pods removed or added, which moves them to generations of their own: they never match the
// real node's entry, and Get misses for them. There is one exception: in a pod group
// scheduling cycle the snapshot assumes and forgets pods in place, keeping the old generation,
// so callers must neither Update nor Get in such a cycle (fwk.CycleState's
// IsPodGroupSchedulingCycle), and derive the value from the NodeInfo itself.
//
// Update is for the serial extension points (PreFilter, PreScore); Get is lock-free, never
// writes and allocates nothing, so Filter and Score may call it in parallel.
type NodeCache[T any] struct {
	compute func(fwk.NodeInfo) T
	changed func(old, new *T) bool

	// mu serializes Update. Get takes no lock: slots is replaced whole, entries are immutable
	// and replaced whole.
	mu    sync.Mutex
	slots atomic.Pointer[map[string]*nodeSlot[T]]
	stale []int // Update's scratch, under mu
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
	c := &NodeCache[T]{compute: compute, changed: changed}
	c.slots.Store(&map[string]*nodeSlot[T]{})
	return c
}

// Get returns the value derived from nodeInfo, if the cache holds it for nodeInfo's
// generation; the value must not be modified. A NodeInfo of generation 0 (not made by the
// scheduler's bookkeeping) is never cached.
func (c *NodeCache[T]) Get(nodeInfo fwk.NodeInfo) (*T, bool) {
	node := nodeInfo.Node()
	if node == nil {
		return nil, false
	}
	s := (*c.slots.Load())[node.Name]
	if s == nil {
		return nil, false
	}
	e := s.entry.Load()
	if e == nil || e.generation == 0 || e.generation != nodeInfo.GetGeneration() || e.pods != len(nodeInfo.GetPods()) {
		return nil, false
	}
	return &e.value, true
}

// Len returns the number of nodes the cache holds a slot for.
func (c *NodeCache[T]) Len() int { return len(*c.slots.Load()) }

// Forget drops the nodes not in nodes, every node of the snapshot, if the cache holds more nodes
// than that: nodes deleted, in a cluster whose nodes come and go under new names. O(1) when it
// holds no more. It returns whether it forgot a node. Call it only from a serial extension point
// (PreFilter is given every node).
func (c *NodeCache[T]) Forget(nodes []fwk.NodeInfo) bool {
	if c.Len() <= len(nodes) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := *c.slots.Load()
	next := make(map[string]*nodeSlot[T], len(nodes))
	for _, n := range nodes {
		if node := n.Node(); node != nil {
			if s := slots[node.Name]; s != nil {
				next[node.Name] = s
			}
		}
	}
	c.slots.Store(&next)
	return len(next) < len(slots)
}

// Update derives the value of every node in nodes whose generation the cache does not hold,
// spreading the work over p when there is much of it. With all set, nodes are every node of
// the snapshot, and the cache forgets the nodes not among them. It returns whether the nodes
// the cache holds changed (a node added or forgotten), changed said so of a node's new value,
// or a node was not cached (generation 0): then the caller cannot know. Call it only from a
// serial extension point.
func (c *NodeCache[T]) Update(ctx context.Context, nodes []fwk.NodeInfo, all bool, p fwk.Parallelizer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	slots := *c.slots.Load()
	c.stale = c.stale[:0]
	missing, named, uncached := 0, 0, false
	for i, n := range nodes {
		node := n.Node()
		if node == nil || n.GetGeneration() == 0 {
			uncached = true
			continue
		}
		named++
		s := slots[node.Name]
		if s == nil {
			missing++
			c.stale = append(c.stale, i)
			continue
		}
		if e := s.entry.Load(); e == nil || e.generation != n.GetGeneration() || e.pods != len(n.GetPods()) {
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
		next := make(map[string]*nodeSlot[T], size)
		if !all {
			for name, s := range slots {
				next[name] = s
			}
		}
		for _, n := range nodes {
			node := n.Node()
			if node == nil || n.GetGeneration() == 0 {
				continue
			}
			if s := slots[node.Name]; s != nil {
				next[node.Name] = s
			} else if next[node.Name] == nil {
				next[node.Name] = &nodeSlot[T]{}
			}
		}
		c.slots.Store(&next)
		slots = next
		changed = true
	}
	var valueChanged atomic.Bool
	derive := func(i int) {
		n := nodes[c.stale[i]]
		s := slots[n.Node().Name]
		e := &nodeEntry[T]{generation: n.GetGeneration(), pods: len(n.GetPods()), value: c.compute(n)}
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
	return changed || uncached || valueChanged.Load()
}
