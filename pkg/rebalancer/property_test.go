package rebalancer

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

var (
	propertySeed     = flag.Uint64("rebalancer.seed", 0, "seed of TestPropertyRebalance's clusters (0: from the time)")
	propertyClusters = flag.Int("rebalancer.clusters", 2000, "number of random clusters TestPropertyRebalance runs")
)

// randomCluster builds 2-6 nodes of 2-12 CPU, a third of them node pools, and fills them with
// typed and untyped pods of 0.5-3 CPU from a few ReplicaSets, each pod on a random node where it
// fits: a cluster in any state, with no regard for types. The per-cycle, per-node and
// per-namespace limits are random too.
func randomCluster(t testing.TB, rng *rand.Rand) *harness {
	h := newHarness(t.(*testing.T))
	h.cfg.MaxEvictionsPerCycle = 1 + rng.IntN(5)
	h.cfg.MaxEvictionsPerNode = 1 + rng.IntN(3)
	h.cfg.MaxEvictionsPerNamespace = 1 + rng.IntN(5)
	free := map[string]int64{} // milli-CPU left per node
	for i := range 2 + rng.IntN(5) {
		var opts []nodeOpt
		switch rng.IntN(6) {
		case 0:
			opts = append(opts, pool(oltp))
		case 1:
			opts = append(opts, pool(olap))
		}
		cpus := int64(2 + rng.IntN(11))
		n := makeNode(fmt.Sprintf("n%d", i+1), cpus, opts...)
		h.nodes = append(h.nodes, n)
		free[n.Name] = cpus * 1000
	}
	for i := range rng.IntN(4 * len(h.nodes) * 3) {
		var t workloadtype.Type
		kind := "web"
		switch rng.IntN(5) {
		case 0, 1:
			t, kind = oltp, "oltp"
		case 2, 3:
			t, kind = olap, "olap"
		}
		milli := int64(500 * (1 + rng.IntN(6)))
		node := h.nodes[rng.IntN(len(h.nodes))].Name
		if free[node] < milli {
			continue
		}
		free[node] -= milli
		rs := fmt.Sprintf("%s-%d", kind, rng.IntN(3))
		h.pods = append(h.pods, makePod(fmt.Sprintf("%s-%d", rs, i), node, t, inRS(rs), cpu(fmt.Sprintf("%dm", milli))))
	}
	return h
}

// TestPropertyRebalance rebalances thousands of random clusters with the real scheduler
// framework, round after round, and checks what must always hold:
//   - it ends: a round with nothing to do comes within a bounded number of rounds;
//   - mixing never rises, at any move;
//   - no pod (UID) is evicted twice, and a replacement always has a node to go to;
//   - no workload moves again within its cooldown;
//   - when no move would lower mixing, nothing is evicted.
func TestPropertyRebalance(t *testing.T) {
	seed := *propertySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	clusters := *propertyClusters
	if testing.Short() {
		clusters /= 10
	}
	t.Logf("seed %d (rerun with -args -rebalancer.seed=%d)", seed, seed)
	// Decisions are logged at V(4) per pod: keep the test's log to failures.
	ctx := klog.NewContext(context.Background(), klog.Background().V(1))
	sim := sharedSimulator(t)
	const maxRounds = 200
	var stats propertyStats
	for i := range clusters {
		cs := seed + uint64(i)
		rng := rand.New(rand.NewPCG(cs, 0))
		h := randomCluster(t, rng)
		if msg := checkCluster(ctx, t, h, sim, maxRounds, &stats); msg != "" {
			t.Fatalf("cluster %d (seed %d; rerun with -args -rebalancer.seed=%d -rebalancer.clusters=1): %s\nnodes and pods at start:\n%s",
				i, cs, cs, msg, describe(randomCluster(t, rand.New(rand.NewPCG(cs, 0)))))
		}
	}
	t.Logf("%+v", stats)
	// The clusters must exercise the rebalancer: moves, and clusters left mixed for want of room.
	if clusters >= 100 && (stats.Moves < clusters/10 || stats.MixedAtStart < clusters/4 || stats.StillMixed == 0) {
		t.Errorf("the random clusters do not exercise the rebalancer: %+v", stats)
	}
}

type propertyStats struct {
	MixedAtStart, Moves, StillMixed, MaxRounds int
}

// checkCluster runs the rounds and returns what went wrong, or "".
func checkCluster(ctx context.Context, t *testing.T, h *harness, sim *Simulator, maxRounds int, stats *propertyStats) string {
	w := newWorld(t, h, sim)
	if w.mixing() > 0 {
		stats.MixedAtStart++
	}
	evicted := map[types.UID]bool{}
	lastMove := map[string]time.Time{}
	var open []string // the last round's decisions that keep it from ending
	// A pod passed over for the simulation budget is settled when its last simulation was: the
	// budget rotates, so with more candidates than budget some wait behind it in every round.
	lastSimulated := map[types.UID]string{}
	for round := range maxRounds {
		now := h.clock.Now()
		helps, err := someMoveHelps(ctx, h, sim)
		if err != nil {
			return err.Error()
		}
		first := len(w.moves)
		ds, err := w.round(ctx)
		if err != nil {
			return fmt.Sprintf("round %d: %v", round, err)
		}
		newMoves := w.moves[first:]
		if !helps && len(newMoves) > 0 {
			return fmt.Sprintf("round %d: no move lowers mixing, yet %s was evicted", round, newMoves[0].pod)
		}
		for _, m := range newMoves {
			if m.after > m.mixingBefore {
				return fmt.Sprintf("round %d: moving %s from %s to %s raised mixing from %d to %d", round, m.pod, m.from, m.to, m.mixingBefore, m.after)
			}
			if evicted[m.uid] {
				return fmt.Sprintf("round %d: %s (UID %s) evicted twice", round, m.pod, m.uid)
			}
			evicted[m.uid] = true
			if last, ok := lastMove[m.workload]; ok && now.Sub(last) < h.cfg.WorkloadCooldown {
				return fmt.Sprintf("round %d: %s moved at %v and again at %v, within its cooldown %v",
					round, m.workload, last.Sub(t0), now.Sub(t0), h.cfg.WorkloadCooldown)
			}
			lastMove[m.workload] = now
		}
		open = open[:0]
		for _, d := range ds {
			if d.Reason == ReasonLimitReached && strings.Contains(d.Message, "--max-simulations-per-cycle") {
				if settled(lastSimulated[d.Pod.UID]) {
					continue
				}
			} else {
				lastSimulated[d.Pod.UID] = d.Reason
			}
			if d.Action == Evict || d.Action == Wait && !settled(d.Reason) {
				open = append(open, fmt.Sprintf("%s %s/%s: %s", d.Action, d.Pod.Name, d.Reason, d.Message))
			}
		}
		if len(open) == 0 && !w.busy() {
			stats.Moves += len(w.moves)
			stats.MaxRounds = max(stats.MaxRounds, round+1)
			if w.mixing() > 0 {
				stats.StillMixed++
			}
			return ""
		}
	}
	return fmt.Sprintf("not converged after %d rounds (%d moves); nodes %v; last round:\n  %s",
		maxRounds, len(w.moves), w.nodeCounts(), strings.Join(open, "\n  "))
}

// settled: a wait that no later round ends by itself, since only the cluster changing would: no
// node of the pod's type has room, or the scheduler's other scores keep the pod where the move
// would not help.
func settled(reason string) bool {
	return reason == ReasonWaitingForCapacity || reason == ReasonSchedulerPrefersNode
}

// someMoveHelps: some misplaced pod of the profile has a feasible node, other than its own, where
// it would lower mixing. It asks the simulator for feasibility only, not for the best node.
func someMoveHelps(ctx context.Context, h *harness, sim *Simulator) (bool, error) {
	view := NewView(h.nodes, h.pods)
	for _, p := range view.Misplaced() {
		pl, err := sim.Place(ctx, view.Snapshot, p)
		if err != nil {
			return false, err
		}
		for _, n := range pl.Feasible {
			if n != p.Spec.NodeName && view.moveDelta(workloadtype.Resident(p), p.Spec.NodeName, n) < 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func describe(h *harness) string {
	var b strings.Builder
	for _, n := range h.nodes {
		fmt.Fprintf(&b, "  node %s cpu=%s pool=%q:", n.Name, n.Status.Allocatable.Cpu(), n.Labels["likewise.dev/workload-type"])
		for _, p := range h.pods {
			if p.Spec.NodeName == n.Name {
				fmt.Fprintf(&b, " %s(%s,%s)", p.Name, workloadtype.Resident(p), p.Spec.Containers[0].Resources.Requests.Cpu())
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
