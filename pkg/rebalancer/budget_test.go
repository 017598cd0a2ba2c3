package rebalancer

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
)

// TestSimulationBudget: with a budget of two simulations, a cycle simulates two candidates and
// defers the rest (LimitReached); the next cycle goes on from where it stopped, so every
// candidate gets its turn. Full nodes make every simulated candidate wait for capacity.
func TestSimulationBudget(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := newHarness(t)
	h.cfg.MaxSimulationsPerCycle = 2
	h.nodes = []*v1.Node{makeNode("n1", 4), makeNode("n2", 4)}
	for i := range 2 {
		h.pods = append(h.pods,
			makePod(fmt.Sprintf("a%d", i), "n1", oltp), makePod(fmt.Sprintf("b%d", i), "n1", olap),
			makePod(fmt.Sprintf("c%d", i), "n2", oltp), makePod(fmt.Sprintf("d%d", i), "n2", olap))
	}
	p := h.planner()
	simulatedIn := func() []string {
		var got []string
		for _, d := range p.plan(ctx, NewView(h.nodes, h.pods), h.clock.Now(), true, "") {
			if d.Reason != ReasonLimitReached {
				got = append(got, d.Pod.Name+" "+d.Reason)
			}
		}
		return got
	}
	for i, want := range [][]string{
		{"a0 WaitingForCapacity", "a1 WaitingForCapacity"},
		{"b0 WaitingForCapacity", "b1 WaitingForCapacity"},
		{"c0 WaitingForCapacity", "c1 WaitingForCapacity"},
		{"d0 WaitingForCapacity", "d1 WaitingForCapacity"},
		{"a0 WaitingForCapacity", "a1 WaitingForCapacity"},
	} {
		if diff := cmp.Diff(want, simulatedIn()); diff != "" {
			t.Errorf("cycle %d: simulated (-want,+got):\n%s", i+1, diff)
		}
	}
}
