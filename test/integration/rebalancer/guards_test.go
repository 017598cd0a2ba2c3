package rebalancer

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestGuards: with the study's misplaced pods, and room to move them, nothing is evicted while
// the scheduler's lease is stale (SchedulerUnavailable), nor in dry-run (Evicting, "dry run"):
// every pod keeps its UID and every owner its classifier's record.
func TestGuards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "guards", "8", "8")
	c.setUpStudy(ctx)
	before := uids(c.pods(ctx))

	t.Run("stale scheduler lease", func(t *testing.T) {
		// A lease last renewed an hour ago, as a dead scheduler leaves it.
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: "stale-scheduler", Namespace: scenario.ClassifierNamespace},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To("gone_1234"),
				LeaseDurationSeconds: ptr.To[int32](15),
				RenewTime:            &metav1.MicroTime{Time: time.Now().Add(-time.Hour)},
			},
		}
		if _, err := cluster.Client().CoordinationV1().Leases(lease.Namespace).Create(ctx, lease, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client().CoordinationV1().Leases(lease.Namespace).Delete(context.Background(), lease.Name, metav1.DeleteOptions{})
		})
		r := startRebalancer(ctx, t, "--scheduler-lease="+lease.Namespace+"/"+lease.Name)
		for _, p := range c.pods(ctx) {
			note := c.waitEvent(ctx, p.Name, rebalancer.ReasonSchedulerUnavailable, time.Minute)
			if !strings.Contains(note, "stale-scheduler") || !strings.Contains(note, "expired") {
				t.Errorf("%s: SchedulerUnavailable note %q does not say which lease expired", p.Name, note)
			}
		}
		waitDecisions(ctx, t, r, rebalancer.ReasonSchedulerUnavailable, 3*12)
		if diff := cmp.Diff(before, uids(c.pods(ctx))); diff != "" {
			t.Errorf("pods were replaced while the scheduler's lease was stale (-before,+now):\n%s", diff)
		}
		_ = cluster.StopComponent(scenario.RebalancerName)
	})

	t.Run("dry run", func(t *testing.T) {
		r := startRebalancer(ctx, t, "--dry-run")
		err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			text, err := r.Metrics(ctx)
			return err == nil && metricValue(text, `likewise_rebalancer_evictions_total{result="dry_run"}`) >= 3, nil
		})
		if err != nil {
			t.Fatalf("three dry-run evictions: %v", err)
		}
		dry := 0
		for _, p := range c.pods(ctx) {
			for _, note := range rebalancerEvents(ctx, t, p)[rebalancer.ReasonEvicting] {
				if !strings.Contains(note, "dry run: not evicted") {
					t.Errorf("%s: Evicting Event in dry-run without saying so: %q", p.Name, note)
				}
				dry++
			}
		}
		if dry == 0 {
			t.Error("no Evicting Event in dry-run: its decisions must be visible")
		}
		if diff := cmp.Diff(before, uids(c.pods(ctx))); diff != "" {
			t.Errorf("pods were replaced in dry-run (-before,+now):\n%s", diff)
		}
		// Nothing written: every owner still holds the classifier's record, not the rebalancer's.
		for _, s := range c.statefulSets(ctx) {
			if got := s.Annotations[apis.AnnotationWorkloadTypeSource]; got != apis.WorkloadTypeSourceClassifier {
				t.Errorf("StatefulSet %s: record source %q in dry-run, want %q", s.Name, got, apis.WorkloadTypeSourceClassifier)
			}
		}
	})
}

func waitDecisions(ctx context.Context, t *testing.T, r *scenario.Rebalancer, reason string, n float64) {
	t.Helper()
	waitMetric(ctx, t, r, `likewise_rebalancer_decisions_total{result="`+reason+`"}`, n)
}
