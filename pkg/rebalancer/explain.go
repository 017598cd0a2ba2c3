package rebalancer

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Listers are what the planner reads besides the View: the safety checks' namespaces, claims
// and volumes, and the workloads' ReplicaSets and StatefulSets (who recreates a pod, how many
// replicas it wants).
type Listers struct {
	Namespaces   corelisters.NamespaceLister
	Claims       corelisters.PersistentVolumeClaimLister
	Volumes      corelisters.PersistentVolumeLister
	ReplicaSets  appslisters.ReplicaSetLister
	StatefulSets appslisters.StatefulSetLister
}

func newPlanner(cfg *Config, majority int32, l Listers, place PlaceFunc) *planner {
	return &planner{
		cfg:         cfg,
		majority:    majority,
		movable:     &movability{cfg: cfg, namespaces: l.Namespaces, claims: l.Claims, volumes: l.Volumes},
		replicaSet:  l.ReplicaSets,
		statefulSet: l.StatefulSets,
		place:       place,
		mem:         newMemory(),
	}
}

// Explainer decides for one pod what a cycle of the rebalancer would decide for it, with the
// planner's own checks in the planner's order (safety checks, ages, its workload, the
// simulation, the mixing rule, the scheduler's lease). It evicts nothing and writes nothing.
//
// It has no memory of moves: a running rebalancer's cooldowns, back-offs, moves in flight, moves
// per workload, this cycle's and this minute's eviction counts and its simulation budget are
// held in that process alone, so an Explainer never answers Cooldown, BackingOff, TooManyMoves,
// AlreadyEvicted, NodeBusy or LimitReached, and a pod it would evict may wait behind them.
type Explainer struct {
	cfg Config
	p   *planner
}

// NewExplainer returns an Explainer deciding as a rebalancer with cfg would, nodes typed with
// majorityPercent (SchedulerConfig.MajorityPercent), the simulation place (Simulator.Place).
func NewExplainer(cfg Config, majorityPercent int32, l Listers, place PlaceFunc) (*Explainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Explainer{cfg: cfg}
	e.p = newPlanner(&e.cfg, majorityPercent, l, place)
	return e, nil
}

// Candidate reports whether a cycle would decide anything for pod: it is bound to a node of the
// view, typed by its label, adds to its node's mixing, and its replacement is placed by the
// profile. When not, the message says which of these fails.
func (e *Explainer) Candidate(view *View, pod *v1.Pod) (bool, string) {
	s, ok := view.States[pod.Spec.NodeName]
	t := workloadtype.Resident(pod)
	switch {
	case pod.Spec.NodeName == "":
		return false, "not bound to a node"
	case !ok:
		return false, fmt.Sprintf("its node %s is not known", pod.Spec.NodeName)
	case t == workloadtype.None:
		return false, "not a resident typed pod: no valid label " + apis.LabelWorkloadType + ", or terminating or finished"
	case !workloadtype.Misplaced(t, s.Label, s.Counts):
		return false, fmt.Sprintf("not misplaced: it does not add to node %s's mixing", pod.Spec.NodeName)
	case pod.Spec.SchedulerName != e.cfg.Profile:
		return false, fmt.Sprintf("scheduled by %q, not the rebalancer's profile %q: another scheduler would place its replacement", pod.Spec.SchedulerName, e.cfg.Profile)
	}
	return true, ""
}

// Explain returns the decision a cycle would make for pod (a Candidate) at now, as if it were
// the cycle's only candidate and the rebalancer had just started. schedulerAlive and leaseMsg are
// SchedulerAlive's answer.
func (e *Explainer) Explain(ctx context.Context, view *View, pod *v1.Pod, now time.Time, schedulerAlive bool, leaseMsg string) Decision {
	d := Decision{Pod: pod, Type: workloadtype.Resident(pod), Workload: e.p.workloadOf(pod)}
	none := sets.New[string]()
	e.p.check(&d, view, now, none, none)
	if d.Action == "" {
		e.p.simulate(ctx, &d, view, schedulerAlive, leaseMsg, none)
	}
	return d
}
