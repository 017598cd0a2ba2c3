package rebalancer

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/rebalancer"
)

// TestFullNodesWait: two nodes with room for six database pods each, six on each (three of
// each type). No node of either type has room, so the scheduler would put every replacement
// back where it was: nothing is evicted and the misplaced pods report WaitingForCapacity. Once a
// free node joins, the moves happen and the mixing falls to zero.
func TestFullNodesWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "full", "6", "6")
	c.setUpStudy(ctx)
	before := uids(c.pods(ctx))

	r := startRebalancer(ctx, t)
	for _, p := range c.pods(ctx) {
		note := c.waitEvent(ctx, p.Name, rebalancer.ReasonWaitingForCapacity, time.Minute)
		t.Logf("%s: %s", p.Name, note)
	}
	// Several cycles later, still nothing evicted.
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		text, err := r.Metrics(ctx)
		return err == nil && metricValue(text, `likewise_rebalancer_decisions_total{result="WaitingForCapacity"}`) >= 3*12, nil
	})
	if err != nil {
		t.Fatalf("three cycles of WaitingForCapacity decisions: %v", err)
	}
	if diff := cmp.Diff(before, uids(c.pods(ctx))); diff != "" {
		t.Fatalf("pods were replaced on full nodes (-before,+now):\n%s", diff)
	}
	text, _ := r.Metrics(ctx)
	if got := metricValue(text, `likewise_rebalancer_pods_waiting`); got != 12 {
		t.Errorf("likewise_rebalancer_pods_waiting = %v, want 12", got)
	}

	// Room appears: the moves happen.
	c.addNode(ctx, "6")
	last := c.state(ctx).mixing
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		s := c.state(ctx)
		if s.mixing > last {
			t.Errorf("mixing rose from %d to %d: %s", last, s.mixing, countsString(s.perNode))
		}
		last = s.mixing
		total := 0
		for _, n := range s.perNode {
			total += n.OLTP + n.OLAP
		}
		return s.mixing == 0 && total == 12, nil
	})
	if err != nil {
		t.Fatalf("no separation after a free node joined: %v\n%s", err, describe(c.pods(ctx)))
	}
	for _, p := range c.pods(ctx) {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s is %s", p.Name, p.Status.Phase)
		}
	}
	t.Logf("end: %s", countsString(c.state(ctx).perNode))
}
