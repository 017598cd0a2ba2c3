package rebalancer

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"
)

// study is the study's cluster: nodes n1 and n2 of cpus CPU, each running three OLTP and three
// OLAP pods of 1 CPU, from two ReplicaSets (oltp, olap) of six replicas.
func study(t *testing.T, cpus int64) *harness {
	h := newHarness(t)
	h.nodes = []*v1.Node{makeNode("n1", cpus), makeNode("n2", cpus)}
	for i, node := range []string{"n1", "n1", "n1", "n2", "n2", "n2"} {
		h.pods = append(h.pods,
			makePod(fmt.Sprintf("oltp-%d", i+1), node, oltp, inRS("oltp")),
			makePod(fmt.Sprintf("olap-%d", i+1), node, olap, inRS("olap")))
	}
	return h
}

func TestStudyScenario(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	w := newWorld(t, study(t, 8), sharedSimulator(t))
	if got := w.mixing(); got != 6 {
		t.Fatalf("initial mixing %d, want 6", got)
	}
	converged, err := w.run(ctx, 40)
	if err != nil {
		t.Fatal(err)
	}
	if !converged {
		t.Fatalf("not converged after 40 rounds; nodes %v, moves %+v", w.nodeCounts(), w.moves)
	}
	if diff := cmp.Diff([]string{"n1:oltp=6,olap=0", "n2:oltp=0,olap=6"}, w.nodeCounts()); diff != "" {
		t.Errorf("final nodes (-want,+got):\n%s", diff)
	}
	if len(w.moves) != 6 {
		t.Errorf("%d moves, want 6: %+v", len(w.moves), w.moves)
	}
	for i, m := range w.moves {
		if m.after >= m.mixingBefore {
			t.Errorf("move %d (%s %s -> %s) took mixing from %d to %d", i, m.pod, m.from, m.to, m.mixingBefore, m.after)
		}
	}
	if got := w.mixing(); got != 0 {
		t.Errorf("final mixing %d, want 0", got)
	}
}

// Full nodes: every misplaced pod waits for capacity and nothing is evicted; a third, free node
// gives the room, and moves happen.
func TestStudyFullNodes(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := study(t, 6)
	w := newWorld(t, h, sharedSimulator(t))
	ds, err := w.round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want, got []string
	for _, p := range h.pods {
		want = append(want, p.Name+" "+string(Wait)+" "+ReasonWaitingForCapacity)
	}
	for _, d := range ds {
		got = append(got, d.Pod.Name+" "+string(d.Action)+" "+d.Reason)
	}
	if diff := cmp.Diff(slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))); diff != "" {
		t.Errorf("decisions on full nodes (-want,+got):\n%s", diff)
	}
	if len(w.moves) != 0 {
		t.Errorf("moves on full nodes: %+v", w.moves)
	}

	h.nodes = append(h.nodes, makeNode("n3", 6))
	ds, err = w.round(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One olap pod leaves n1 for n3. The room it leaves on n1 is not given to an oltp pod of n2
	// in the same cycle: the scheduler sees it taken until the evicted pod is gone.
	got = nil
	for _, d := range ds {
		if d.Action == Evict || d.Pod.Name == "oltp-4" {
			got = append(got, fmt.Sprintf("%s %s %s %v", d.Pod.Name, d.Action, d.Reason, d.Targets))
		}
	}
	if diff := cmp.Diff([]string{"olap-1 Evict Evicting [n3]", "oltp-4 Wait WaitingForCapacity [n3]"}, got); diff != "" {
		t.Errorf("first decisions with n3 (-want,+got):\n%s", diff)
	}
	converged, err := w.run(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if !converged {
		t.Fatalf("not converged after 60 rounds; nodes %v", w.nodeCounts())
	}
	if len(w.moves) == 0 {
		t.Fatalf("no move once n3 was added")
	}
	for i, m := range w.moves {
		if m.after >= m.mixingBefore {
			t.Errorf("move %d (%s %s -> %s) took mixing from %d to %d", i, m.pod, m.from, m.to, m.mixingBefore, m.after)
		}
	}
	// n1's olap pods leave for the free node, one a cycle, and n2's oltp pods take their room on
	// n1 a cycle later: six moves, mixing 0.
	if diff := cmp.Diff([]string{"n1:oltp=6,olap=0", "n2:oltp=0,olap=3", "n3:oltp=0,olap=3"}, w.nodeCounts()); diff != "" {
		t.Errorf("final nodes (-want,+got):\n%s", diff)
	}
	if len(w.moves) != 6 {
		t.Errorf("%d moves, want 6: %+v", len(w.moves), w.moves)
	}
}
