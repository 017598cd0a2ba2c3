package rebalancer

import (
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// NodeState is what the rebalancer knows of a node's type: its pool label and its resident typed
// pods, counted as WorkloadTypeAffinity counts them (workloadtype.Resident).
type NodeState struct {
	Label  workloadtype.Type
	Counts workloadtype.Counts
}

// Type is the node's type, as the plugin classifies it.
func (s NodeState) Type(majorityPercent int32) workloadtype.NodeType {
	return workloadtype.ClassifyNode(s.Label, s.Counts, majorityPercent)
}

// Mixing is the node's mixing (workloadtype.Mixing).
func (s NodeState) Mixing() int { return workloadtype.Mixing(s.Label, s.Counts) }

// View is one cycle's picture of the cluster, taken from informer caches: no API read.
type View struct {
	// Nodes by name; a pod bound to a node not here is ignored.
	Nodes map[string]*v1.Node
	// States by node name.
	States map[string]NodeState
	// Pods are every pod the informer holds, sorted by namespace/name.
	Pods []*v1.Pod
	// Snapshot holds the bound, non-terminal pods on their nodes, for the simulation.
	Snapshot *cache.Snapshot

	// nodes and bound are what Snapshot was built from, to rebuild it as moves are decided.
	nodes []*v1.Node
	bound []*v1.Pod
	// workloads are Pods by the workload that recreates them (planner.workloadOf), built on
	// first use: a cycle asks for a workload's pods once per candidate.
	workloads map[string][]*v1.Pod
}

// NewView builds the view. Finished pods take no room and are left out of the snapshot; a pod
// naming an unknown node is left out too (the snapshot would give it a NodeInfo without a node).
// A pending pod nominated for a node is in the snapshot on that node.
func NewView(nodes []*v1.Node, pods []*v1.Pod) *View {
	v := &View{Nodes: make(map[string]*v1.Node, len(nodes)), States: make(map[string]NodeState, len(nodes))}
	for _, n := range nodes {
		v.Nodes[n.Name] = n
		label, err := workloadtype.OfNodeLabel(n)
		if err != nil {
			label = workloadtype.None // the plugin ignores an invalid pool label too
		}
		v.States[n.Name] = NodeState{Label: label}
	}
	v.Pods = slices.Clone(pods)
	slices.SortFunc(v.Pods, func(a, b *v1.Pod) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	bound := make([]*v1.Pod, 0, len(pods))
	for _, p := range v.Pods {
		if p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		if p.Spec.NodeName == "" {
			// A pod the scheduler nominated for a node (it preempted there) will take that room: the
			// scheduler filters with it there, and so must the simulation, which has no nominator.
			// It is not resident yet, so it does not type the node.
			if n := p.Status.NominatedNodeName; n != "" && p.DeletionTimestamp == nil && v.Nodes[n] != nil {
				nominated := p.DeepCopy()
				nominated.Spec.NodeName = n
				bound = append(bound, nominated)
			}
			continue
		}
		s, ok := v.States[p.Spec.NodeName]
		if !ok {
			continue
		}
		s.Counts.Add(workloadtype.Resident(p))
		v.States[p.Spec.NodeName] = s
		bound = append(bound, p)
	}
	v.nodes, v.bound = nodes, bound
	v.Snapshot = cache.NewSnapshot(bound, nodes)
	return v
}

// Mixing is the cluster's mixing: the sum of its nodes'.
func (v *View) Mixing() int {
	total := 0
	for _, s := range v.States {
		total += s.Mixing()
	}
	return total
}

// Misplaced returns the bound typed pods that add to their node's mixing, in the view's order.
func (v *View) Misplaced() []*v1.Pod {
	var out []*v1.Pod
	for _, p := range v.Pods {
		s, ok := v.States[p.Spec.NodeName]
		if !ok {
			continue
		}
		if t := workloadtype.Resident(p); workloadtype.Misplaced(t, s.Label, s.Counts) {
			out = append(out, p)
		}
	}
	return out
}

// moveDelta is the change in the cluster's mixing if pod (of type t, on node from) moved to node to.
func (v *View) moveDelta(t workloadtype.Type, from, to string) int {
	if from == to {
		return 0
	}
	f, g := v.States[from], v.States[to]
	return workloadtype.MoveDelta(t, f.Label, f.Counts, g.Label, g.Counts)
}

// evicted updates the view for a move decided in this cycle, as the scheduler will see the
// cluster while the pod terminates: the pod no longer counts for its node's type, yet still
// takes its room there (its node's room is freed only once it is gone, which settle waits for),
// and, when its target is known (to != ""), its replacement takes room on the target.
func (v *View) evicted(pod *v1.Pod, t workloadtype.Type, to string) {
	v.move(t, pod.Spec.NodeName, to)
	bound := make([]*v1.Pod, 0, len(v.bound)+1)
	for _, p := range v.bound {
		if p.UID == pod.UID {
			leaving := p.DeepCopy()
			leaving.DeletionTimestamp = &metav1.Time{Time: time.Unix(0, 0)}
			p = leaving
		}
		bound = append(bound, p)
	}
	if _, ok := v.Nodes[to]; ok {
		r := pod.DeepCopy()
		r.UID += "-replacement"
		r.Spec.NodeName = to
		bound = append(bound, r)
	}
	v.bound = bound
	v.Snapshot = cache.NewSnapshot(bound, v.nodes)
}

// move updates the counts as if a pod of type t moved from one node to another ("" for
// unknown: it only leaves).
func (v *View) move(t workloadtype.Type, from, to string) {
	if s, ok := v.States[from]; ok {
		s.Counts = s.Counts.Without(t)
		v.States[from] = s
	}
	if s, ok := v.States[to]; ok {
		s.Counts = s.Counts.With(t)
		v.States[to] = s
	}
}
