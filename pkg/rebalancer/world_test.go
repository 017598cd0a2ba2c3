package rebalancer

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
)

// world is a cluster the tests rebalance round after round: plan, then for every Evict the pod
// is gone and its controller's replacement (a new pod, new UID, same owner) is scheduled where
// the simulated scheduler puts it and is Ready at once. The next round's settle ends the moves.
type world struct {
	t     testing.TB
	h     *harness
	r     *Rebalancer
	pl    *planner
	sim   *Simulator
	seq   int
	step  time.Duration // the fake clock's advance after each round
	moves []worldMove
	// infos are kept from round to round, as Rebalancer.view keeps them from cycle to cycle.
	infos *podInfos
}

type worldMove struct {
	pod, workload, from, to string
	uid                     types.UID
	at                      time.Time
	mixingBefore, after     int
}

func newWorld(t testing.TB, h *harness, sim *Simulator) *world {
	pl := h.planner()
	r := &Rebalancer{
		cfg:       h.cfg,
		recorder:  &events.FakeRecorder{},
		clock:     h.clock,
		planner:   pl,
		lastEvent: map[types.UID]string{},
	}
	pl.cfg = &r.cfg
	pl.movable.cfg = &r.cfg
	return &world{t: t, h: h, r: r, pl: pl, sim: sim, step: h.cfg.WorkloadCooldown + time.Minute, infos: newPodInfos()}
}

func (w *world) mixing() int { return NewView(w.h.nodes, w.h.pods).Mixing() }

// round runs one cycle's decisions and acts on them; it returns the decisions.
func (w *world) round(ctx context.Context) ([]Decision, error) {
	now := w.h.clock.Now()
	view := newView(w.h.nodes, w.h.pods, w.infos)
	w.r.settle(ctx, view, now)
	w.pl.mem.forgetOld(now, &w.r.cfg)
	ds := w.pl.plan(ctx, view, now, true, "")
	for _, d := range ds {
		if d.Action != Evict {
			continue
		}
		if err := w.move(ctx, d, now); err != nil {
			return ds, err
		}
	}
	w.h.clock.Step(w.step)
	return ds, nil
}

// move evicts d.Pod as Rebalancer.evict does on success, and reschedules its replacement.
func (w *world) move(ctx context.Context, d Decision, now time.Time) error {
	before := w.mixing()
	old := d.Pod
	w.pl.mem.recordEviction(d.Workload, &move{podUID: old.UID, pod: old.Namespace + "/" + old.Name, typ: d.Type,
		from: old.Spec.NodeName, targets: d.Targets, at: now})
	w.h.pods = slices.DeleteFunc(w.h.pods, func(p *v1.Pod) bool { return p.UID == old.UID })

	w.seq++
	repl := old.DeepCopy()
	repl.Name = fmt.Sprintf("%s-r%d", old.Name, w.seq)
	repl.UID = types.UID(fmt.Sprintf("uid-%s", repl.Name))
	repl.Spec.NodeName = ""
	repl.CreationTimestamp = metav1.NewTime(now)
	snap := NewView(w.h.nodes, w.h.pods).Snapshot
	p, err := w.sim.Place(ctx, snap, repl)
	if err != nil {
		return fmt.Errorf("placing the replacement of %s: %w", old.Name, err)
	}
	if len(p.Best) == 0 {
		return fmt.Errorf("%s was evicted, and its replacement fits nowhere: %s", old.Name, p.Unschedulable)
	}
	repl.Spec.NodeName = p.Best[0]
	repl.Status = v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}
	w.h.pods = append(w.h.pods, repl)
	w.moves = append(w.moves, worldMove{pod: old.Name, workload: d.Workload, from: old.Spec.NodeName, to: p.Best[0],
		uid: old.UID, at: now, mixingBefore: before, after: w.mixing()})
	return nil
}

// run rounds until one evicts nothing, at most maxRounds; it reports whether it converged.
func (w *world) run(ctx context.Context, maxRounds int) (bool, error) {
	for range maxRounds {
		ds, err := w.round(ctx)
		if err != nil {
			return false, err
		}
		// Done when nothing moved and nothing waits for time to pass (a move in flight, a
		// cooldown, a young pod, a limit): what is left waits for capacity or may never move.
		if !slices.ContainsFunc(ds, func(d Decision) bool {
			return d.Action == Evict || d.Action == Wait && d.Reason != ReasonWaitingForCapacity
		}) && !w.busy() {
			return true, nil
		}
	}
	return false, nil
}

// busy: some workload has a move in flight, a cooldown or a back-off that may end in a move.
func (w *world) busy() bool {
	now := w.h.clock.Now()
	for _, m := range w.pl.mem.workloads {
		if m.inFlight != nil || now.Before(m.backoffUntil) ||
			(!m.lastDone.IsZero() && now.Sub(m.lastDone) < w.r.cfg.WorkloadCooldown) {
			return true
		}
	}
	return false
}

// nodeCounts renders each node's typed pods, "n1:oltp=6,olap=0", in node order.
func (w *world) nodeCounts() []string {
	view := NewView(w.h.nodes, w.h.pods)
	var out []string
	for _, n := range w.h.nodes {
		c := view.States[n.Name].Counts
		out = append(out, fmt.Sprintf("%s:oltp=%d,olap=%d", n.Name, c.OLTP, c.OLAP))
	}
	return out
}
