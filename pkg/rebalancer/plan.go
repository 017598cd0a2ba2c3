package rebalancer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Action is what a cycle decides for one misplaced pod.
type Action string

const (
	// Evict: the pod moves.
	Evict Action = "Evict"
	// Wait: the pod should move, and may later (capacity, limits, the scheduler, its workload).
	Wait Action = "Wait"
	// Keep: the pod may never move as it is (a failed safety check).
	Keep Action = "Keep"
)

// Reasons of Evict and Wait decisions (Event reasons; the result label of
// likewise_rebalancer_decisions_total). Keep decisions use evictable.go's.
const (
	ReasonEvicting             = "Evicting"             // evicted (or, in dry-run, would be)
	ReasonWaitingForCapacity   = "WaitingForCapacity"   // no node of its type (or free) would take it
	ReasonSchedulerPrefersNode = "SchedulerPrefersNode" // one would, but the scheduler's other scores (its workload's spreading, affinities) prefer a node where the move would not help
	ReasonSchedulerUnavailable = "SchedulerUnavailable" // the replacement's scheduler holds no fresh lease
	ReasonLimitReached         = "LimitReached"         // a per-cycle, per-node, per-namespace or rate limit
	ReasonNodeBusy             = "NodeBusy"             // another move in flight involves its node or target
	ReasonCooldown             = "Cooldown"             // its workload moved recently
	ReasonBackingOff           = "BackingOff"           // an eviction was refused or a move did not stick
	ReasonTooManyMoves         = "TooManyMoves"         // --max-moves-per-workload within --move-window
	ReasonAlreadyEvicted       = "AlreadyEvicted"       // this very pod was evicted already
	ReasonSimulationFailed     = "SimulationFailed"     // the scheduler's plugins returned an error: fail closed
)

// Decision is the verdict for one misplaced pod in one cycle.
type Decision struct {
	Pod      *v1.Pod
	Type     workloadtype.Type
	Workload string // Kind/namespace/name of the workload that recreates it
	Action   Action
	Reason   string
	Message  string
	// Targets are the nodes the scheduler would choose for the replacement (Evict, and a
	// WaitingForCapacity that found nodes, none of them better).
	Targets []string
}

// PlaceFunc is the simulation (Simulator.Place).
type PlaceFunc func(ctx context.Context, snap *cache.Snapshot, pod *v1.Pod) (Placement, error)

// planner makes a cycle's decisions. It reads the view and informer caches only.
type planner struct {
	cfg         *Config
	majority    int32
	movable     *movability
	replicaSet  appslisters.ReplicaSetLister
	statefulSet appslisters.StatefulSetLister
	place       PlaceFunc
	mem         *memory
}

// plan returns a decision for every misplaced pod of the profile, evictions first in the order
// they should happen. schedulerAlive is the lease check; leaseMsg says what it found.
func (p *planner) plan(ctx context.Context, view *View, now time.Time, schedulerAlive bool, leaseMsg string) []Decision {
	logger := klog.FromContext(ctx)
	locked := p.lockedNodes()
	// moving are the workloads with a pod evicted in this cycle: at most one unavailable each.
	moving := sets.New[string]()
	perNode, perNamespace, evictions := map[string]int{}, map[string]int{}, 0
	rate := p.mem.evictionsInLastMinute(now)
	var candidates []*v1.Pod
	for _, pod := range view.Misplaced() {
		if pod.Spec.SchedulerName == p.cfg.Profile { // else its replacement is placed by another scheduler: not ours to move
			candidates = append(candidates, pod)
		}
	}
	// A simulation runs every filter on every node: the budget bounds a cycle's cost, and each
	// cycle starts where the last one's simulations stopped, so no pod waits behind the budget
	// for ever.
	start, simulated, next := 0, 0, 0
	if len(candidates) > 0 {
		start = p.mem.cursor % len(candidates)
	}
	candidates = append(candidates[start:], candidates[:start]...)
	defer func() {
		// Move on only past a spent budget; otherwise every candidate had its turn.
		if simulated >= p.cfg.MaxSimulationsPerCycle {
			p.mem.cursor = start + next
		} else {
			p.mem.cursor = 0
		}
	}()
	var out []Decision
	for i, pod := range candidates {
		d := Decision{Pod: pod, Type: workloadtype.Resident(pod), Workload: p.workloadOf(pod)}
		key := d.Workload
		p.check(&d, view, now, moving, locked)
		if d.Action == "" && (evictions >= p.cfg.MaxEvictionsPerCycle || rate+evictions >= p.cfg.MaxEvictionsPerMinute ||
			perNode[pod.Spec.NodeName] >= p.cfg.MaxEvictionsPerNode || perNamespace[pod.Namespace] >= p.cfg.MaxEvictionsPerNamespace) {
			d.set(Wait, ReasonLimitReached, "eviction limits reached for this cycle (per cycle %d, per node %d, per namespace %d, per minute %d)",
				p.cfg.MaxEvictionsPerCycle, p.cfg.MaxEvictionsPerNode, p.cfg.MaxEvictionsPerNamespace, p.cfg.MaxEvictionsPerMinute)
		}
		if d.Action == "" && simulated >= p.cfg.MaxSimulationsPerCycle {
			d.set(Wait, ReasonLimitReached, "simulation budget of this cycle spent (--max-simulations-per-cycle %d); next cycle", p.cfg.MaxSimulationsPerCycle)
		}
		if d.Action == "" {
			simulated, next = simulated+1, i+1
			p.simulate(ctx, &d, view, schedulerAlive, leaseMsg, locked)
		}
		if d.Action == Evict {
			evictions++
			perNode[pod.Spec.NodeName]++
			perNamespace[pod.Namespace]++
			moving.Insert(key)
			// The view (counts and snapshot) follows the move, so later simulations see the node
			// it leaves as the scheduler will, and MaxEvictionsPerNode alone bounds the evictions
			// from it. Its targets stay locked: with a tie the scheduler picks one at random, and a
			// node takes one replacement per cycle.
			locked.Insert(d.Targets...)
			target := ""
			if len(d.Targets) == 1 {
				target = d.Targets[0]
			}
			view.evicted(pod, d.Type, target)
		}
		logger.V(4).Info("Decided", "pod", klog.KObj(pod), "type", d.Type, "node", pod.Spec.NodeName, "action", d.Action,
			"reason", d.Reason, "message", d.Message, "targets", d.Targets)
		out = append(out, d)
	}
	// Report in the view's order (namespace/name), evictions first.
	slices.SortStableFunc(out, func(a, b Decision) int {
		return strings.Compare(a.Pod.Namespace+"/"+a.Pod.Name, b.Pod.Namespace+"/"+b.Pod.Name)
	})
	slices.SortStableFunc(out, func(a, b Decision) int {
		if (a.Action == Evict) != (b.Action == Evict) {
			if a.Action == Evict {
				return -1
			}
			return 1
		}
		return 0
	})
	return out
}

// check runs the checks of one misplaced pod that come before the cycle's limits and the
// simulation, in the order a cycle runs them: the safety checks (Keep), the pod's and its type's
// age, this very pod evicted already, another pod of its workload moved in this cycle, and the
// workload's limits. It leaves d.Action empty when none stops the pod.
func (p *planner) check(d *Decision, view *View, now time.Time, moving, locked sets.Set[string]) {
	pod, key := d.Pod, d.Workload
	switch b := p.movable.check(pod, view.Pods); {
	case b != nil:
		d.set(Keep, b.Reason, "%s", b.Message)
	case !old(pod.CreationTimestamp.Time, now, p.cfg.MinPodAge):
		d.set(Wait, ReasonTooYoung, "pod is younger than --min-pod-age (%v)", p.cfg.MinPodAge)
	case !typeSettled(pod, now, p.cfg.MinPodAge):
		d.set(Wait, ReasonTooYoung, "its type was classified less than --min-pod-age (%v) ago", p.cfg.MinPodAge)
	case p.mem.evicted[pod.UID] != time.Time{}:
		d.set(Wait, ReasonAlreadyEvicted, "this pod was evicted at %s and is still here", p.mem.evicted[pod.UID].Format(time.RFC3339))
	case moving.Has(key):
		d.set(Wait, ReasonWorkloadUnavailable, "another pod of %s is moved in this cycle: at most one unavailable at a time", key)
	default:
		p.limits(d, key, view, now, locked)
	}
}

// set decides d.
func (d *Decision) set(a Action, reason, format string, args ...any) {
	d.Action, d.Reason, d.Message = a, reason, fmt.Sprintf(format, args...)
}

func (p *planner) limits(d *Decision, key string, view *View, now time.Time, locked sets.Set[string]) {
	w := p.mem.workloads[key]
	pod := d.Pod
	switch {
	case w != nil && w.inFlight != nil:
		d.set(Wait, ReasonWorkloadUnavailable, "a move of %s (pod %s) is in flight", key, w.inFlight.pod)
	case !p.workloadAvailable(pod, view):
		d.set(Wait, ReasonWorkloadUnavailable, "another pod of %s is not ready: at most one unavailable at a time", key)
	case w != nil && now.Before(w.backoffUntil):
		d.set(Wait, ReasonBackingOff, "%s backs off until %s", key, w.backoffUntil.UTC().Format(time.RFC3339))
	case w != nil && !w.lastDone.IsZero() && now.Sub(w.lastDone) < p.cfg.WorkloadCooldown:
		d.set(Wait, ReasonCooldown, "%s moved at %s; --workload-cooldown is %v", key, w.lastDone.UTC().Format(time.RFC3339), p.cfg.WorkloadCooldown)
	case w != nil && len(w.moves) >= p.cfg.MaxMovesPerWorkload:
		d.set(Wait, ReasonTooManyMoves, "%s moved %d times within --move-window (%v)", key, len(w.moves), p.cfg.MoveWindow)
	case locked.Has(pod.Spec.NodeName):
		d.set(Wait, ReasonNodeBusy, "another move involves node %s", pod.Spec.NodeName)
	}
}

// simulate asks the scheduler's own plugins where the replacement would go, and decides.
func (p *planner) simulate(ctx context.Context, d *Decision, view *View, schedulerAlive bool, leaseMsg string, locked sets.Set[string]) {
	pod := d.Pod
	placement, err := p.place(ctx, view.Snapshot, pod)
	if err != nil {
		d.set(Wait, ReasonSimulationFailed, "simulating the scheduler: %v", err)
		return
	}
	if len(placement.Best) == 0 {
		d.set(Wait, ReasonWaitingForCapacity, "no node would take the replacement (%s)", placement.Unschedulable)
		return
	}
	d.Targets = placement.Best
	if slices.Contains(placement.Best, pod.Spec.NodeName) {
		p.waitNoBetterBest(d, view, placement, fmt.Sprintf("the scheduler would put the replacement back on %s (best: %s)",
			pod.Spec.NodeName, strings.Join(placement.Best, ", ")))
		return
	}
	var worse []string
	for _, n := range placement.Best {
		if view.moveDelta(d.Type, pod.Spec.NodeName, n) >= 0 {
			worse = append(worse, n)
		}
	}
	if len(worse) > 0 {
		p.waitNoBetterBest(d, view, placement, fmt.Sprintf("the scheduler's best nodes include %s, where the move would not lower mixing",
			strings.Join(worse, ", ")))
		return
	}
	for _, n := range placement.Best {
		if locked.Has(n) {
			d.set(Wait, ReasonNodeBusy, "another move involves node %s", n)
			return
		}
	}
	if !schedulerAlive {
		d.set(Wait, ReasonSchedulerUnavailable, "%s", leaseMsg)
		return
	}
	d.set(Evict, ReasonEvicting, "%s pod on %s node %s; the scheduler would place its replacement on %s",
		d.Type, view.States[pod.Spec.NodeName].Type(p.majority), pod.Spec.NodeName, strings.Join(placement.Best, " or "))
}

// waitNoBetterBest decides Wait for a pod whose replacement the scheduler would not place where
// it lowers the mixing, saying why: no feasible node would (WaitingForCapacity), or some would,
// and the scheduler's other scores prefer another (SchedulerPrefersNode): its workload's own
// spreading wins over the type, by design (docs/design.md).
func (p *planner) waitNoBetterBest(d *Decision, view *View, placement Placement, what string) {
	from := d.Pod.Spec.NodeName
	var better []string
	for _, n := range placement.Feasible {
		if n != from && view.moveDelta(d.Type, from, n) < 0 {
			better = append(better, n)
		}
	}
	if len(better) == 0 {
		d.set(Wait, ReasonWaitingForCapacity, "%s: no node of its type has room", what)
		return
	}
	d.set(Wait, ReasonSchedulerPrefersNode, "%s, though %s would take it and lower mixing: the scheduler's other scores (its workload's spreading, its affinities) weigh more",
		what, strings.Join(better, ", "))
}

// lockedNodes are the nodes that moves in flight leave or go to.
func (p *planner) lockedNodes() sets.Set[string] {
	s := sets.New[string]()
	for _, w := range p.mem.workloads {
		if w.inFlight != nil {
			s.Insert(w.inFlight.from)
			s.Insert(w.inFlight.targets...)
		}
	}
	return s
}

// workloadOf names the workload that recreates pod: a ReplicaSet's Deployment when it has one,
// else the pod's controller.
func (p *planner) workloadOf(pod *v1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "Pod/" + pod.Namespace + "/" + pod.Name
	}
	if ref.Kind == "ReplicaSet" {
		if d, ok := p.deploymentOf(pod.Namespace, ref.Name); ok {
			return "Deployment/" + pod.Namespace + "/" + d
		}
	}
	return ref.Kind + "/" + pod.Namespace + "/" + ref.Name
}

// workloadAvailable: every pod of pod's workload is ready and none is leaving, and pod's
// controller has all the pods it wants. A Deployment's workload spans its ReplicaSets: during a
// rollout the new ReplicaSet's pods that are not ready yet make the old ones' unavailable too.
// Unknown means unavailable.
func (p *planner) workloadAvailable(pod *v1.Pod, view *View) bool {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return false
	}
	key := p.workloadOf(pod)
	deployment := strings.HasPrefix(key, "Deployment/")
	n := 0
	for _, other := range p.podsOf(view, key) {
		oref := metav1.GetControllerOf(other)
		if oref == nil {
			continue
		}
		own := oref.UID == ref.UID
		if !own && !(deployment && oref.Kind == "ReplicaSet") {
			continue
		}
		if other.Status.Phase == v1.PodSucceeded || other.Status.Phase == v1.PodFailed {
			continue
		}
		if other.DeletionTimestamp != nil || !ready(other) {
			return false
		}
		if own {
			n++
		}
	}
	want, known := p.desiredReplicas(pod.Namespace, ref)
	if !known {
		return ref.Kind != "ReplicaSet" && ref.Kind != "StatefulSet" // an operator's: its pods say it all
	}
	return n >= want
}

// podsOf returns the view's pods of workload key (planner.workloadOf), in the view's order. The
// view's pods are grouped by controller once per view; a workload's key is resolved from its
// groups only when asked (a cycle asks for its candidates' workloads, a few of the cluster's),
// so a cycle looks up a ReplicaSet per candidate, not per pod.
func (p *planner) podsOf(view *View, key string) []*v1.Pod {
	w := view.workloads
	if w == nil {
		w = &workloadIndex{byOwner: map[ownerKey][]*v1.Pod{}, answers: map[string][]*v1.Pod{}}
		for _, pod := range view.Pods {
			k := ownerOf(pod)
			w.byOwner[k] = append(w.byOwner[k], pod)
		}
		view.workloads = w
	}
	if pods, ok := w.answers[key]; ok {
		return pods
	}
	kind, rest, _ := strings.Cut(key, "/")
	ns, name, _ := strings.Cut(rest, "/")
	var groups [][]*v1.Pod
	switch kind {
	case "Pod": // a bare pod, or (oddly) a pod whose controller is a Pod
		groups = append(groups, w.byOwner[ownerKey{namespace: ns, name: name, bare: true}], w.byOwner[ownerKey{ns, kind, name, false}])
	case "Deployment": // its ReplicaSets' pods, or (oddly) pods a Deployment controls itself
		groups = append(groups, w.byOwner[ownerKey{ns, kind, name, false}])
		for _, rs := range p.replicaSetsOf(w, ns, name) {
			groups = append(groups, w.byOwner[rs])
		}
	case "ReplicaSet":
		if _, owned := p.deploymentOf(ns, name); !owned {
			groups = append(groups, w.byOwner[ownerKey{ns, kind, name, false}])
		}
	default:
		groups = append(groups, w.byOwner[ownerKey{ns, kind, name, false}])
	}
	var pods []*v1.Pod
	for _, g := range groups {
		switch {
		case len(g) == 0:
		case pods == nil:
			pods = g
		default:
			pods = append(slices.Clip(pods), g...)
			slices.SortFunc(pods, comparePodKeys)
		}
	}
	w.answers[key] = pods
	return pods
}

// workloadIndex is a view's pods by controller, and the workloads asked for so far.
type workloadIndex struct {
	byOwner map[ownerKey][]*v1.Pod
	// deployments are the ReplicaSets (with pods in the view) by their Deployment, namespace/name;
	// built when a Deployment is first asked for.
	deployments map[[2]string][]ownerKey
	answers     map[string][]*v1.Pod
}

// ownerKey is a pod's controller, or the pod itself (bare) when it has none.
type ownerKey struct {
	namespace, kind, name string
	bare                  bool
}

func ownerOf(pod *v1.Pod) ownerKey {
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		return ownerKey{namespace: pod.Namespace, kind: ref.Kind, name: ref.Name}
	}
	return ownerKey{namespace: pod.Namespace, name: pod.Name, bare: true}
}

// replicaSetsOf returns the groups of the ReplicaSets that workloadOf would name Deployment
// ns/name for.
func (p *planner) replicaSetsOf(w *workloadIndex, ns, name string) []ownerKey {
	if w.deployments == nil {
		w.deployments = map[[2]string][]ownerKey{}
		for k := range w.byOwner {
			if k.bare || k.kind != "ReplicaSet" {
				continue
			}
			if d, ok := p.deploymentOf(k.namespace, k.name); ok {
				w.deployments[[2]string{k.namespace, d}] = append(w.deployments[[2]string{k.namespace, d}], k)
			}
		}
	}
	return w.deployments[[2]string{ns, name}]
}

// deploymentOf names the Deployment that controls ReplicaSet ns/name, as workloadOf reads it.
func (p *planner) deploymentOf(ns, name string) (string, bool) {
	if p.replicaSet == nil {
		return "", false
	}
	rs, err := p.replicaSet.ReplicaSets(ns).Get(name)
	if err != nil {
		return "", false
	}
	if d := metav1.GetControllerOfNoCopy(rs); d != nil && d.Kind == "Deployment" {
		return d.Name, true
	}
	return "", false
}

func (p *planner) desiredReplicas(ns string, ref *metav1.OwnerReference) (int, bool) {
	switch ref.Kind {
	case "ReplicaSet":
		if p.replicaSet == nil {
			return 0, false
		}
		rs, err := p.replicaSet.ReplicaSets(ns).Get(ref.Name)
		if err != nil || rs.UID != ref.UID {
			return 0, false
		}
		return int(ptrOr(rs.Spec.Replicas, 1)), true
	case "StatefulSet":
		if p.statefulSet == nil {
			return 0, false
		}
		sts, err := p.statefulSet.StatefulSets(ns).Get(ref.Name)
		if err != nil || sts.UID != ref.UID {
			return 0, false
		}
		return int(ptrOr(sts.Spec.Replicas, 1)), true
	}
	return 0, false
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func old(created, now time.Time, minAge time.Duration) bool {
	return !created.IsZero() && now.Sub(created) >= minAge
}

// typeSettled: a type the classifier wrote must have been held for the minimum age too (its
// classified-at annotation); a declared type is settled. An unreadable time is not settled.
func typeSettled(pod *v1.Pod, now time.Time, minAge time.Duration) bool {
	if pod.Annotations[apis.AnnotationWorkloadTypeSource] != apis.WorkloadTypeSourceClassifier {
		return true
	}
	at, ok := pod.Annotations[apis.AnnotationWorkloadClassifiedAt]
	if !ok {
		return true
	}
	t, err := time.Parse(time.RFC3339, at)
	return err == nil && now.Sub(t) >= minAge
}
