package rebalancer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// studyWorkloads are the study's twelve databases, each its own workload of one pod (1 CPU,
// 2Gi), as the study's twelve containers were twelve databases: six OLTP StatefulSets and six
// OLAP Deployments. Created untyped, one after the other, in pairs of one type, each pair is
// split over the two nodes by kube-scheduler's resource scoring (the second pod of a pair goes to
// the emptier node), so each node ends with three of each kind: the study's starting point, as
// kube-scheduler leaves it.
func studyWorkloads() []scenario.DatabaseWorkload {
	var out []scenario.DatabaseWorkload
	for _, pair := range [][2]string{{"a", "b"}, {"c", "d"}, {"e", "f"}} {
		for _, s := range pair {
			out = append(out, scenario.DatabaseWorkload{Name: "oltp-" + s, Kind: "StatefulSet", Replicas: 1, CPU: "1", Memory: "2Gi"})
		}
		for _, s := range pair {
			out = append(out, scenario.DatabaseWorkload{Name: "olap-" + s, Kind: "Deployment", Replicas: 1, CPU: "1", Memory: "2Gi"})
		}
	}
	return out
}

// setUpStudy creates the study's workloads on the case's nodes, types them through the
// classifier's record, and checks the start: three OLTP and three OLAP pods per node.
func (c *dbCase) setUpStudy(ctx context.Context) {
	c.t.Helper()
	for _, w := range studyWorkloads() {
		c.workload(ctx, w)
	}
	for _, w := range studyWorkloads() {
		t := workloadtype.OLAP
		if strings.HasPrefix(w.Name, "oltp") {
			t = workloadtype.OLTP
		}
		c.typeWorkload(ctx, w.Name, t)
	}
	start := c.state(ctx)
	want := map[string]workloadtype.Counts{}
	for _, n := range c.Nodes {
		want[n] = workloadtype.Counts{OLTP: 3, OLAP: 3}
	}
	if diff := cmp.Diff(want, start.perNode); diff != "" {
		c.t.Fatalf("the start is not the study's (-want,+got):\n%s", diff)
	}
}

// TestStudy is the study's experiment: two nodes with room for eight database pods each, three
// OLTP and three OLAP pods on each, placed as kube-scheduler's default profile places untyped
// pods. The rebalancer must end with one node all OLTP and the other all OLAP, by evictions and
// the scheduler's own placements alone, with the mixing falling at every step and never rising.
func TestStudy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "study", "8", "8")
	c.setUpStudy(ctx)
	before := uids(c.pods(ctx))

	r := startRebalancer(ctx, t)
	var trace []string
	last := c.state(ctx)
	trace = append(trace, fmt.Sprintf("mixing %d: %s", last.mixing, countsString(last.perNode)))
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 4*time.Minute, true, func(ctx context.Context) (bool, error) {
		s := c.state(ctx)
		if s.mixing != last.mixing {
			trace = append(trace, fmt.Sprintf("mixing %d: %s", s.mixing, countsString(s.perNode)))
		}
		if s.mixing > last.mixing {
			return false, fmt.Errorf("mixing rose from %d to %d", last.mixing, s.mixing)
		}
		last = s
		if s.mixing > 0 {
			return false, nil
		}
		// Separated: every pod typed and on a node of its type.
		total := 0
		for _, n := range s.perNode {
			total += n.OLTP + n.OLAP
		}
		return total == 12, nil
	})
	if err != nil {
		t.Fatalf("%v\nsteps:\n  %s\npods:\n%s", err, strings.Join(trace, "\n  "), describe(c.pods(ctx)))
	}
	t.Logf("steps:\n  %s", strings.Join(trace, "\n  "))

	end := c.state(ctx)
	var got []workloadtype.Counts
	for _, n := range c.Nodes {
		got = append(got, end.perNode[n])
	}
	if !(cmp.Equal(got, []workloadtype.Counts{{OLTP: 6}, {OLAP: 6}}) || cmp.Equal(got, []workloadtype.Counts{{OLAP: 6}, {OLTP: 6}})) {
		t.Errorf("end: %s, want one node 6 oltp and the other 6 olap", countsString(end.perNode))
	}
	// Exactly the six misplaced pods moved: each move lowered the mixing by one.
	after := uids(c.pods(ctx))
	moved := 0
	for name, uid := range before {
		if after[name] != uid {
			moved++
		}
	}
	if moved != 6 {
		t.Errorf("%d pods were replaced, want 6 (one per unit of mixing)", moved)
	}
	// The rebalancer saw each move stick: the replacement ready on a node of its type.
	var text string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if got, err := r.Metrics(ctx); err == nil {
			text = got // keep the last answer: a call cut short by the deadline says nothing
		}
		return metricValue(text, `likewise_rebalancer_moves_total{result="stuck"}`) == 6, nil
	})
	if err != nil {
		t.Errorf("likewise_rebalancer_moves_total{result=\"stuck\"} = %v, want 6", metricValue(text, `likewise_rebalancer_moves_total{result="stuck"}`))
	}
	if got := metricValue(text, `likewise_rebalancer_evictions_total{result="evicted"}`); got != 6 {
		t.Errorf("likewise_rebalancer_evictions_total{result=\"evicted\"} = %v, want 6", got)
	}
	// It ran as its ServiceAccount: nothing it needed was refused.
	for _, line := range strings.Split(logSince(t, r), "\n") {
		if strings.Contains(line, "forbidden") {
			t.Errorf("the rebalancer was refused a request: %s", line)
		}
	}
	for _, p := range c.pods(ctx) {
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s is %s", p.Name, p.Status.Phase)
		}
	}
}

// metricValue returns the value of the sample named exactly series in a /metrics text, or -1.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			if _, err := fmt.Sscanf(line[len(series)+1:], "%g", &v); err == nil {
				return v
			}
		}
	}
	return -1
}
