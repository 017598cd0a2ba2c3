package rebalancer

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/test/scenario"
)

// TestRestarts: the study, with kube-apiserver killed and restarted after the first eviction,
// and the rebalancer killed (SIGKILL: no shutdown code runs) and started again right after the
// second. No pod is lost, no pod is evicted
// twice, and the run completes: one node all OLTP, the other all OLAP.
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
	r = startRebalancer(ctx, t)
	t.Log("rebalancer killed and restarted")

	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := c.listPods(ctx)
		if err != nil {
			return false, nil
		}
		s := c.state(ctx)
		total := 0
		for _, n := range s.perNode {
			total += n.OLTP + n.OLAP
		}
		return s.mixing == 0 && total == 12 && len(pods) == 12, nil
	})
	if err != nil {
		t.Fatalf("the run did not complete: %v\n%s", err, describe(c.pods(ctx)))
	}
	// Every pod evicted was evicted once: at most one Evicting Event per pod UID, over both
	// rebalancers' lives (Events name the pod's UID).
	list, err := cluster.Client().EventsV1().Events(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evicted := map[types.UID]int{}
	for _, e := range list.Items {
		if e.ReportingController == rebalancer.Name && e.Reason == rebalancer.ReasonEvicting {
			evicted[e.Regarding.UID]++
			if e.Series != nil {
				evicted[e.Regarding.UID] += int(e.Series.Count) - 1
			}
		}
	}
	for uid, n := range evicted {
		if n > 1 {
			t.Errorf("pod UID %s: %d Evicting Events, want at most 1", uid, n)
		}
	}
	if len(evicted) < 6 {
		t.Errorf("%d pods evicted, want at least 6", len(evicted))
	}
}

func waitEvictions(ctx context.Context, t *testing.T, r *scenario.Rebalancer, n float64) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		text, err := r.Metrics(ctx)
		return err == nil && metricValue(text, `likewise_rebalancer_evictions_total{result="evicted"}`) >= n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %v evictions: %v", n, err)
	}
}
