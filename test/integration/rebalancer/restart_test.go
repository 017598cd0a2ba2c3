package rebalancer

import (
	"context"
	"testing"
	"time"

	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestRestarts: the study, with kube-apiserver killed and restarted after the first eviction,
// and the rebalancer killed (SIGKILL: no shutdown code runs) and started again right after the
// second. No pod is lost, no pod is evicted twice, and the run completes: one node all OLTP, the
// other all OLAP. The scheduler and the classifier, not restarted, recover from the API server's
// restart on their own: the scheduler places the replacements made after it, and the classifier
// labels each from its workload's record.
func TestRestarts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "restarts", "8", "8")
	c.setUpStudy(ctx)

	r := startRebalancer(ctx, t)
	waitEvictions(ctx, t, r, 1)
	if err := cluster.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Log("kube-apiserver restarted")
	waitEvictions(ctx, t, r, 2)
	if err := cluster.KillComponent(scenario.RebalancerName); err != nil {
		t.Fatal(err)
	}
	startRebalancer(ctx, t)
	t.Log("rebalancer killed and restarted")

	c.waitStudyDone(ctx, 4*time.Minute)
}

func waitEvictions(ctx context.Context, t *testing.T, r *scenario.Rebalancer, n float64) {
	t.Helper()
	waitMetric(ctx, t, r, `likewise_rebalancer_evictions_total{result="evicted"}`, n)
}
