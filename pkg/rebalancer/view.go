package rebalancer

import (
	"cmp"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

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

	// nodes and bound are what Snapshot was built from, to rebuild it when a move decided in the
	// cycle cannot be applied to it in place.
	nodes []*v1.Node
	bound []*v1.Pod
	infos *podInfos
	// workloads index Pods by the workload that recreates them (planner.podsOf), built on first
	// use.
	workloads *workloadIndex
}

// NewView builds the view. Finished pods take no room and are left out of the snapshot; a pod
// naming an unknown node is left out too (the snapshot would give it a NodeInfo without a node).
// A pending pod nominated for a node is in the snapshot on that node.
func NewView(nodes []*v1.Node, pods []*v1.Pod) *View { return newView(nodes, pods, nil) }

// newView is NewView taking the pods' PodInfos from infos when they are unchanged since the
// last view infos served (nil: computed afresh).
func newView(nodes []*v1.Node, pods []*v1.Pod, infos *podInfos) *View {
	v := &View{Nodes: make(map[string]*v1.Node, len(nodes)), States: make(map[string]NodeState, len(nodes)), infos: infos}
	for _, n := range nodes {
		v.Nodes[n.Name] = n
		label, err := workloadtype.OfNodeLabel(n)
		if err != nil {
			label = workloadtype.None // the plugin ignores an invalid pool label too
		}
		v.States[n.Name] = NodeState{Label: label}
	}
	v.Pods = slices.Clone(pods)
	slices.SortFunc(v.Pods, comparePodKeys)
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
	infos.begin()
	v.Snapshot = newSnapshot(bound, nodes, infos)
	infos.end()
	return v
}

// newSnapshot is cache.NewSnapshot(bound, nodes) with the pods' PodInfos taken from infos. The
// snapshot keeps lists of its nodes with pods with pod (anti-)affinity, the claims in use and
// the pod groups, which only cache.NewSnapshot fills: pods that count in those go through it.
// The others, most pods, are added to their NodeInfos with their kept PodInfo, whose requests
// (the costliest part of a snapshot) are summed once per pod, not once per cycle.
func newSnapshot(bound []*v1.Pod, nodes []*v1.Node, infos *podInfos) *cache.Snapshot {
	var listed []*v1.Pod
	for _, p := range bound {
		if !plainPod(p) {
			listed = append(listed, p)
		}
	}
	snap := cache.NewSnapshot(listed, nodes)
	if len(listed) == len(bound) {
		return snap
	}
	for _, p := range bound {
		if !plainPod(p) {
			continue
		}
		ni := nodeInfo(snap, p.Spec.NodeName)
		if ni == nil {
			// Not one of nodes: cache.NewSnapshot would give it a NodeInfo without a node, which
			// no caller wants.
			return cache.NewSnapshot(bound, nodes)
		}
		ni.AddPodInfo(infos.of(p))
	}
	return snap
}

// plainPod: pod counts in no list of the snapshot but its node's own (no pod affinity, no
// claim, no pod group), and has a UID to find it by.
func plainPod(p *v1.Pod) bool {
	if p.UID == "" || p.Spec.SchedulingGroup != nil {
		return false
	}
	if a := p.Spec.Affinity; a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil) {
		return false
	}
	for _, vol := range p.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil {
			return false
		}
	}
	return true
}

func nodeInfo(snap *cache.Snapshot, name string) *framework.NodeInfo {
	got, err := snap.Get(name)
	if err != nil {
		return nil
	}
	ni, _ := got.(*framework.NodeInfo)
	return ni
}

// podInfos keeps the scheduler's PodInfo of each pod from one view to the next. An informer
// replaces the object of a pod that changed, so a pod at the same address is unchanged and so
// is its PodInfo. Not safe for concurrent use: cycles run one at a time.
type podInfos struct {
	byUID map[types.UID]*keptPodInfo
	view  uint64
}

type keptPodInfo struct {
	pod  *v1.Pod
	info *framework.PodInfo
	view uint64 // the latest view that used it
}

func newPodInfos() *podInfos { return &podInfos{byUID: map[types.UID]*keptPodInfo{}} }

func (c *podInfos) begin() {
	if c != nil {
		c.view++
	}
}

// end forgets the pods the latest view did not use: they are gone or changed.
func (c *podInfos) end() {
	if c == nil {
		return
	}
	for uid, k := range c.byUID {
		if k.view != c.view {
			delete(c.byUID, uid)
		}
	}
}

// of returns pod's PodInfo, kept or new.
func (c *podInfos) of(pod *v1.Pod) *framework.PodInfo {
	if c == nil {
		info, _ := framework.NewPodInfo(pod) // its only error is about affinity terms: a plain pod has none
		return info
	}
	k := c.byUID[pod.UID]
	if k == nil || k.pod != pod {
		info, _ := framework.NewPodInfo(pod)
		k = &keptPodInfo{pod: pod, info: info}
		c.byUID[pod.UID] = k
	}
	k.view = c.view
	return k.info
}

// comparePodKeys orders pods as strings.Compare orders their "namespace/name" keys, without
// building the keys (a sort would build two per comparison).
func comparePodKeys(a, b *v1.Pod) int {
	if a.Namespace == b.Namespace {
		return strings.Compare(a.Name, b.Name)
	}
	x, y := a.Namespace, b.Namespace
	n := min(len(x), len(y))
	if c := strings.Compare(x[:n], y[:n]); c != 0 {
		return c
	}
	// One namespace begins the other: the shorter one's key goes on with '/'.
	if len(x) < len(y) && y[n] != '/' {
		return cmp.Compare(byte('/'), y[n])
	}
	if len(y) < len(x) && x[n] != '/' {
		return cmp.Compare(x[n], byte('/'))
	}
	return strings.Compare(x+"/"+a.Name, y+"/"+b.Name) // a '/' in a namespace: not valid, but ordered all the same
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
	var leaving, replacement *v1.Pod
	for i, p := range v.bound {
		if p.UID == pod.UID {
			leaving = p.DeepCopy()
			leaving.DeletionTimestamp = &metav1.Time{Time: time.Unix(0, 0)}
			v.bound[i] = leaving
		}
	}
	if _, ok := v.Nodes[to]; ok {
		replacement = pod.DeepCopy()
		replacement.UID += "-replacement"
		replacement.Spec.NodeName = to
		v.bound = append(v.bound, replacement)
	}
	if !v.applyInPlace(pod, leaving, replacement) {
		v.Snapshot = newSnapshot(v.bound, v.nodes, v.infos)
	}
}

// applyInPlace applies evicted's change to the snapshot's two NodeInfos (each then has a new
// generation, as the scheduler's cache gives a NodeInfo that changed), and reports whether it
// could: not when the change touches the snapshot's own lists (a pod group, a node's first pod
// with pod affinity). The claims in use do not change: the leaving pod holds them still.
func (v *View) applyInPlace(pod, leaving, replacement *v1.Pod) bool {
	if leaving == nil || pod.Spec.SchedulingGroup != nil {
		return false
	}
	from := nodeInfo(v.Snapshot, pod.Spec.NodeName)
	if from == nil {
		return false
	}
	var to *framework.NodeInfo
	if replacement != nil {
		if to = nodeInfo(v.Snapshot, replacement.Spec.NodeName); to == nil || to == from {
			return false
		}
		if a := replacement.Spec.Affinity; a != nil {
			if (a.PodAffinity != nil || a.PodAntiAffinity != nil) && len(to.PodsWithAffinity) == 0 {
				return false
			}
			if a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 &&
				len(to.PodsWithRequiredAntiAffinity) == 0 {
				return false
			}
		}
	}
	if err := from.RemovePod(klog.Background(), pod); err != nil {
		return false // the snapshot is rebuilt from bound, which has the change
	}
	from.AddPod(leaving)
	if to != nil {
		to.AddPod(replacement)
	}
	return true
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
