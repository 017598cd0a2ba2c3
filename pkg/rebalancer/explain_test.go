package rebalancer

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// TestExplainDecidesAsACycle: for a world with one misplaced pod, the Explainer's decision is
// the cycle's, message included: the same checks in the same order, the same simulation.
func TestExplainDecidesAsACycle(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*harness)
		popts []podOpt
		want  decision
	}{
		{name: "moves", want: decision{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n2"}}},
		{name: "bare", popts: []podOpt{bare()}, want: decision{Pod: "p", Action: Keep, Reason: ReasonBarePod}},
		{name: "opted out", popts: []podOpt{annotate(apis.AnnotationRebalance, apis.RebalanceDisabled)},
			want: decision{Pod: "p", Action: Keep, Reason: ReasonOptedOut}},
		{name: "not ready", popts: []podOpt{notReady()}, want: decision{Pod: "p", Action: Keep, Reason: ReasonNotReady}},
		{name: "too young", popts: []podOpt{createdAt(t0.Add(-time.Minute))}, want: decision{Pod: "p", Action: Wait, Reason: ReasonTooYoung}},
		{name: "scheduler unavailable", setup: func(h *harness) { h.alive, h.leaseMsg = false, "the lease expired" },
			want: decision{Pod: "p", Action: Wait, Reason: ReasonSchedulerUnavailable, Targets: []string{"n2"}}},
		{name: "no room", setup: func(h *harness) { h.nodes[1] = makeNode("n2", 0) },
			want: decision{Pod: "p", Action: Wait, Reason: ReasonWaitingForCapacity, Targets: []string{"n1"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			h := basic(t, tc.popts...)
			if tc.setup != nil {
				tc.setup(h)
			}
			cycle := h.plan(ctx)
			if len(cycle) != 1 {
				t.Fatalf("the cycle decided %d pods, want 1: %v", len(cycle), brief(cycle))
			}
			e := &Explainer{cfg: h.cfg}
			e.p = h.planner()
			e.p.cfg = &e.cfg
			e.p.mem = newMemory() // the Explainer's own: it has none of the cycle's
			view := NewView(h.nodes, h.pods)
			ok, why := e.Candidate(view, cycle[0].Pod)
			if !ok {
				t.Fatalf("not a candidate: %s", why)
			}
			got := e.Explain(ctx, view, cycle[0].Pod, h.clock.Now(), h.alive, h.leaseMsg)
			if diff := cmp.Diff([]decision{tc.want}, brief([]Decision{got})); diff != "" {
				t.Errorf("explained (-want,+got):\n%s", diff)
			}
			if got.Message != cycle[0].Message || got.Workload != cycle[0].Workload {
				t.Errorf("explained %q (%s), the cycle %q (%s)", got.Message, got.Workload, cycle[0].Message, cycle[0].Workload)
			}
		})
	}
}

func TestExplainCandidate(t *testing.T) {
	h := basic(t)
	e, err := NewExplainer(h.cfg, 51, Listers{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	view := NewView(h.nodes, h.pods)
	for _, tc := range []struct{ pod, want string }{
		{"p", ""},
		{"a1", "not misplaced: it does not add to node n1's mixing"},
	} {
		var pod = h.pods[0]
		for _, p := range h.pods {
			if p.Name == tc.pod {
				pod = p
			}
		}
		ok, why := e.Candidate(view, pod)
		if ok != (tc.want == "") || why != tc.want {
			t.Errorf("%s: candidate %v %q, want %q", tc.pod, ok, why, tc.want)
		}
	}
	other := h.pods[2].DeepCopy()
	other.Spec.SchedulerName = "default-scheduler"
	if ok, why := e.Candidate(NewView(h.nodes, append(h.pods[:2:2], other)), other); ok ||
		why != `scheduled by "default-scheduler", not the rebalancer's profile "likewise-scheduler": another scheduler would place its replacement` {
		t.Errorf("another scheduler's pod: candidate %v %q", ok, why)
	}
}
