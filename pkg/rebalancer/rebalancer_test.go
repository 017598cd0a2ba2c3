package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/events"
	"k8s.io/component-base/metrics/testutil"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/metrics"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// rig is a Rebalancer over a fake clientset, its informers started and synced.
type rig struct {
	t       *testing.T
	ctx     context.Context
	client  *fake.Clientset
	r       *Rebalancer
	rec     *events.FakeRecorder
	clock   *testingclock.FakeClock
	records []string // "ns/name type" per RecordFunc call, with the evictions made before it
}

func freshLease(renewed time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "likewise-system", Name: "likewise-scheduler"},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("scheduler-0"),
			LeaseDurationSeconds: ptr.To[int32](15),
			RenewTime:            ptr.To(metav1.NewMicroTime(renewed)),
		},
	}
}

// basicObjects is basic()'s cluster as API objects, with its namespace, ReplicaSets and a fresh
// scheduler lease.
func basicObjects(popts ...podOpt) []runtime.Object {
	return basic(nil, popts...).objects()
}

// objects is the harness's cluster as API objects, with its namespace, ReplicaSets and a fresh
// scheduler lease.
func (h *harness) objects() []runtime.Object {
	objs := []runtime.Object{makeNamespace(testNamespace, nil), freshLease(t0)}
	for _, n := range h.nodes {
		objs = append(objs, n)
	}
	for _, p := range h.pods {
		objs = append(objs, p)
	}
	for _, rs := range h.replicaSets() {
		objs = append(objs, rs)
	}
	return objs
}

func newRig(t *testing.T, cfg Config, record RecordFunc, objs ...runtime.Object) *rig {
	t.Helper()
	metrics.Register()
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	sched, err := LoadSchedulerConfig(logger, shippedConfig, profileName)
	if err != nil {
		t.Fatal(err)
	}
	g := &rig{t: t, ctx: ctx, client: fake.NewClientset(objs...), rec: events.NewFakeRecorder(100), clock: testingclock.NewFakeClock(t0)}
	if record == nil {
		record = func(context.Context, *v1.Pod, workloadtype.Type) error { return nil }
	}
	recordAndLog := func(ctx context.Context, pod *v1.Pod, typ workloadtype.Type) error {
		g.records = append(g.records, fmt.Sprintf("%s/%s %s after %d evictions", pod.Namespace, pod.Name, typ, len(g.evictions())))
		return record(ctx, pod, typ)
	}
	factory := informers.NewSharedInformerFactory(g.client, 0)
	g.r, err = New(cfg, sched, g.client, factory, factory, sharedSimulator(t), recordAndLog, g.rec, g.clock)
	if err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer %v did not sync", typ)
		}
	}
	g.client.ClearActions()
	return g
}

func (g *rig) cycle() {
	g.t.Helper()
	if err := g.r.Cycle(g.ctx); err != nil {
		g.t.Fatalf("Cycle: %v", err)
	}
}

// step advances the clock, and the scheduler renews its lease at the new time.
func (g *rig) step(d time.Duration) {
	g.t.Helper()
	g.clock.Step(d)
	now := g.clock.Now()
	if _, err := g.client.CoordinationV1().Leases("likewise-system").Update(g.ctx, freshLease(now), metav1.UpdateOptions{}); err != nil {
		g.t.Fatal(err)
	}
	err := wait.PollUntilContextTimeout(g.ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		l, err := g.r.leases.Leases("likewise-system").Get("likewise-scheduler")
		return err == nil && l.Spec.RenewTime.Time.Equal(now), nil
	})
	if err != nil {
		g.t.Fatalf("the informer did not see the renewed lease: %v", err)
	}
}

// mutations are the client's calls other than reads, and other than the lease renewals step
// makes as the scheduler.
func (g *rig) mutations() []string {
	var out []string
	for _, a := range g.client.Actions() {
		switch {
		case a.GetVerb() == "get", a.GetVerb() == "list", a.GetVerb() == "watch":
			continue
		case a.GetVerb() == "update" && a.GetResource().Resource == "leases":
			continue
		}
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		out = append(out, a.GetVerb()+" "+r)
	}
	return out
}

// evictions are the pods named in eviction calls, "ns/name uid-precondition".
func (g *rig) evictions() []string {
	var out []string
	for _, a := range g.client.Actions() {
		c, ok := a.(clienttesting.CreateAction)
		if !ok || a.GetSubresource() != "eviction" {
			continue
		}
		e := c.GetObject().(*policyv1.Eviction)
		uid := ""
		if e.DeleteOptions != nil && e.DeleteOptions.Preconditions != nil && e.DeleteOptions.Preconditions.UID != nil {
			uid = string(*e.DeleteOptions.Preconditions.UID)
		}
		out = append(out, e.Namespace+"/"+e.Name+" "+uid)
	}
	return out
}

// events drains the recorder.
func (g *rig) events() []string {
	var out []string
	for {
		select {
		case e := <-g.rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// waitForPods waits until the informer holds exactly the pods named.
func (g *rig) waitForPods(names ...string) {
	g.t.Helper()
	err := wait.PollUntilContextTimeout(g.ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		for _, n := range names {
			if _, err := g.r.pods.Pods(testNamespace).Get(n); err != nil {
				return false, nil
			}
		}
		all, err := g.r.pods.List(labels.Everything())
		return err == nil && len(all) == len(names), nil
	})
	if err != nil {
		g.t.Fatalf("the informer did not see pods %v: %v", names, err)
	}
}

// counter reads likewise_rebalancer_<vec>{result}.
func counter(t *testing.T, vec string, result string) float64 {
	t.Helper()
	m := metrics.RebalancerEvictions
	switch vec {
	case "decisions":
		m = metrics.RebalancerDecisions
	case "moves":
		m = metrics.RebalancerMoves
	}
	v, err := testutil.GetCounterMetricValue(m.WithLabelValues(result))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

type counterDelta struct {
	t      *testing.T
	before map[string]float64
}

var counted = []string{"evictions/evicted", "evictions/dry_run", "evictions/blocked", "evictions/failed", "evictions/gone",
	"evictions/record_failed", "moves/stuck", "moves/not_stuck", "moves/timed_out"}

func countersNow(t *testing.T) map[string]float64 {
	out := map[string]float64{}
	for _, k := range counted {
		vec, result, _ := strings.Cut(k, "/")
		out[k] = counter(t, vec, result)
	}
	return out
}

func startCounting(t *testing.T) *counterDelta { return &counterDelta{t: t, before: countersNow(t)} }

// delta returns the counters that changed since startCounting.
func (c *counterDelta) delta() map[string]float64 {
	out := map[string]float64{}
	for k, v := range countersNow(c.t) {
		if d := v - c.before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

const evictNote = "olap pod on oltp node n1; the scheduler would place its replacement on n2"

func TestCycleDryRun(t *testing.T) {
	cfg := testConfig()
	cfg.DryRun = true
	g := newRig(t, cfg, nil, basicObjects()...)
	c := startCounting(t)
	g.cycle()
	g.step(time.Minute)
	g.cycle()
	if diff := cmp.Diff([]string(nil), g.mutations()); diff != "" {
		t.Errorf("mutating calls in dry run (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal Evicting " + evictNote + " (dry run: not evicted)"}, g.events()); diff != "" {
		t.Errorf("events over two cycles (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"evictions/dry_run": 2}, c.delta()); diff != "" {
		t.Errorf("counters (-want,+got):\n%s", diff)
	}
	if g.records != nil {
		t.Errorf("dry run recorded types: %v", g.records)
	}
}

func TestCycleEvictsAndSettles(t *testing.T) {
	g := newRig(t, testConfig(), nil, basicObjects()...)
	c := startCounting(t)
	g.cycle()
	if diff := cmp.Diff([]string{"create pods/eviction"}, g.mutations()); diff != "" {
		t.Errorf("mutating calls (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"db/p uid-p"}, g.evictions()); diff != "" {
		t.Errorf("evictions (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"db/p olap after 0 evictions"}, g.records); diff != "" {
		t.Errorf("type records before evicting (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal Evicting " + evictNote}, g.events()); diff != "" {
		t.Errorf("events (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"evictions/evicted": 1}, c.delta()); diff != "" {
		t.Errorf("counters (-want,+got):\n%s", diff)
	}

	// The pod is still there (terminating slowly): the next cycle waits, and evicts nothing.
	g.client.ClearActions()
	g.step(time.Minute)
	g.cycle()
	if diff := cmp.Diff([]string(nil), g.mutations()); diff != "" {
		t.Errorf("mutating calls while the move is in flight (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Normal AlreadyEvicted this pod was evicted at 2026-03-01T12:00:00Z and is still here"}, g.events()); diff != "" {
		t.Errorf("events while the move is in flight (-want,+got):\n%s", diff)
	}

	// The pod is gone; its replacement runs, Ready, on n2.
	if err := g.client.CoreV1().Pods(testNamespace).Delete(g.ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	repl := makePod("p-2", "n2", olap, inRS("rs-p"), createdAt(g.clock.Now()))
	if _, err := g.client.CoreV1().Pods(testNamespace).Create(g.ctx, repl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	g.waitForPods("a1", "a2", "b1", "b2", "p-2")
	g.step(time.Minute)
	g.cycle()
	if diff := cmp.Diff([]string{"Normal Moved replaces db/p (olap), moved from n1 to olap node n2"}, g.events()); diff != "" {
		t.Errorf("events once the move is done (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]float64{"evictions/evicted": 1, "moves/stuck": 1}, c.delta()); diff != "" {
		t.Errorf("counters (-want,+got):\n%s", diff)
	}
	w := g.r.planner.mem.workloads["ReplicaSet/db/rs-p"]
	if w == nil || w.inFlight != nil || !w.lastDone.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("memory of the workload after the move: %+v", w)
	}
}

func TestCycleEvictionRefused(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantEvents []string
		wantCount  map[string]float64
	}{
		{
			name: "429: blocked by a PodDisruptionBudget",
			err:  apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10),
			wantEvents: []string{"Warning EvictionBlocked eviction refused (a PodDisruptionBudget allows no disruption now): " +
				"Cannot evict pod as it would violate the pod's disruption budget.; ReplicaSet/db/olap backs off 10m0s"},
			wantCount: map[string]float64{"evictions/blocked": 1},
		},
		{
			name:       "500",
			err:        apierrors.NewInternalError(errors.New("etcd is down")),
			wantEvents: []string{"Warning EvictionFailed eviction failed: Internal error occurred: etcd is down; ReplicaSet/db/olap backs off 10m0s"},
			wantCount:  map[string]float64{"evictions/failed": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// p (n1 -> n2) and q (n3 -> n4) are two pods of one ReplicaSet.
			h := twoMoves(nil)
			h.pods[2] = makePod("p", "n1", olap, inRS("olap"), nodeSelector2("n1", "n2"))
			h.pods[5] = makePod("c1", "n3", oltp)
			h.pods[6] = makePod("c2", "n3", oltp)
			h.pods[7] = makePod("q", "n3", olap, inRS("olap"), nodeSelector2("n3", "n4"))
			h.pods[8] = makePod("d1", "n4", olap)
			h.pods[9] = makePod("d2", "n4", olap)
			g := newRig(t, testConfig(), nil, h.objects()...)
			g.client.PrependReactor("create", "pods/eviction", func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, nil, tt.err
			})
			c := startCounting(t)
			g.cycle()
			if diff := cmp.Diff([]string{"db/p uid-p"}, g.evictions()); diff != "" {
				t.Errorf("evictions in the cycle (-want,+got):\n%s", diff)
			}
			wantEvents := append(tt.wantEvents,
				"Normal WorkloadUnavailable another pod of ReplicaSet/db/olap is moved in this cycle: at most one unavailable at a time")
			if diff := cmp.Diff(wantEvents, g.events()); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantCount, c.delta()); diff != "" {
				t.Errorf("counters (-want,+got):\n%s", diff)
			}

			// Within the back-off, no pod of the workload is tried again.
			g.client.ClearActions()
			g.step(9 * time.Minute)
			g.cycle()
			if diff := cmp.Diff([]string(nil), g.evictions()); diff != "" {
				t.Errorf("evictions within the back-off (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{
				"Normal BackingOff ReplicaSet/db/olap backs off until 2026-03-01T12:10:00Z",
				"Normal BackingOff ReplicaSet/db/olap backs off until 2026-03-01T12:10:00Z",
			}, g.events()); diff != "" {
				t.Errorf("events within the back-off (-want,+got):\n%s", diff)
			}
			// After it, one pod is tried again; a second refusal doubles the back-off.
			g.step(time.Minute)
			g.cycle()
			if diff := cmp.Diff([]string{"db/p uid-p"}, g.evictions()); diff != "" {
				t.Errorf("evictions after the back-off (-want,+got):\n%s", diff)
			}
			if w := g.r.planner.mem.workloads["ReplicaSet/db/olap"]; w == nil || w.backoff != 20*time.Minute {
				t.Errorf("back-off after a second refusal: %+v, want 20m", w)
			}
		})
	}
}

func TestCycleDoesNotEvict(t *testing.T) {
	tests := []struct {
		name       string
		objs       []runtime.Object
		setup      func(*rig)
		record     RecordFunc
		wantEvents []string
		wantCount  map[string]float64
	}{
		{
			name: "pod recreated under the same name since the informer saw it",
			objs: basicObjects(),
			setup: func(g *rig) {
				g.client.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
					if a.(clienttesting.GetAction).GetName() != "p" {
						return false, nil, nil
					}
					p := makePod("p", "n1", olap)
					p.UID = "uid-p-new"
					return true, p, nil
				})
			},
			wantCount: map[string]float64{"evictions/gone": 1},
		},
		{
			name: "pod moved to another node since the informer saw it",
			objs: basicObjects(),
			setup: func(g *rig) {
				g.client.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
					if a.(clienttesting.GetAction).GetName() != "p" {
						return false, nil, nil
					}
					return true, makePod("p", "n2", olap), nil
				})
			},
			wantCount: map[string]float64{"evictions/gone": 1},
		},
		{
			name: "pod terminating since the informer saw it",
			objs: basicObjects(),
			setup: func(g *rig) {
				g.client.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
					if a.(clienttesting.GetAction).GetName() != "p" {
						return false, nil, nil
					}
					return true, makePod("p", "n1", olap, func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }), nil
				})
			},
			wantCount: map[string]float64{"evictions/gone": 1},
		},
		{
			name: "pod gone",
			objs: basicObjects(),
			setup: func(g *rig) {
				g.client.PrependReactor("get", "pods", func(a clienttesting.Action) (bool, runtime.Object, error) {
					if a.(clienttesting.GetAction).GetName() != "p" {
						return false, nil, nil
					}
					return true, nil, apierrors.NewNotFound(v1.Resource("pods"), "p")
				})
			},
			wantCount: map[string]float64{"evictions/gone": 1},
		},
		{
			name:   "recording the type fails",
			objs:   basicObjects(),
			record: func(context.Context, *v1.Pod, workloadtype.Type) error { return errors.New("conflict on rs-p") },
			wantEvents: []string{"Warning RecordFailed not evicted: recording type olap for the replacement failed: conflict on rs-p; " +
				"retrying in 10m0s"},
			wantCount: map[string]float64{"evictions/record_failed": 1},
		},
		{
			name: "scheduler lease expired",
			objs: append(basicObjects()[2:], makeNamespace(testNamespace, nil), freshLease(t0.Add(-16*time.Second))),
			wantEvents: []string{"Warning SchedulerUnavailable the scheduler's lease likewise-system/likewise-scheduler was last renewed at " +
				"2026-03-01T11:59:44Z by scheduler-0 and expired 1s ago"},
		},
		{
			name: "scheduler lease missing",
			objs: append(basicObjects()[2:], makeNamespace(testNamespace, nil)),
			wantEvents: []string{"Warning SchedulerUnavailable the scheduler's lease likewise-system/likewise-scheduler: " +
				"lease.coordination.k8s.io \"likewise-scheduler\" not found"},
		},
		{
			name: "scheduler lease not held",
			objs: append(basicObjects()[2:], makeNamespace(testNamespace, nil), func() *coordinationv1.Lease {
				l := freshLease(t0)
				l.Spec.HolderIdentity = ptr.To("")
				return l
			}()),
			wantEvents: []string{"Warning SchedulerUnavailable the scheduler's lease likewise-system/likewise-scheduler is not held"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRig(t, testConfig(), tt.record, tt.objs...)
			if tt.setup != nil {
				tt.setup(g)
			}
			c := startCounting(t)
			g.cycle()
			if diff := cmp.Diff([]string(nil), g.mutations()); diff != "" {
				t.Errorf("mutating calls (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantEvents, g.events()); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}
			want := tt.wantCount
			if want == nil {
				want = map[string]float64{}
			}
			if diff := cmp.Diff(want, c.delta()); diff != "" {
				t.Errorf("counters (-want,+got):\n%s", diff)
			}
		})
	}
}

// An Event is recorded when a pod's decision changes, not every cycle.
func TestCycleEventsDeduplicated(t *testing.T) {
	objs := append(basicObjects()[2:], makeNamespace(testNamespace, nil), freshLease(t0.Add(-time.Hour)))
	g := newRig(t, testConfig(), nil, objs...)
	stale := "Warning SchedulerUnavailable the scheduler's lease likewise-system/likewise-scheduler was last renewed at " +
		"2026-03-01T11:00:00Z by scheduler-0 and expired 59m45s ago"
	g.cycle()
	if diff := cmp.Diff([]string{stale}, g.events()); diff != "" {
		t.Errorf("first cycle's events (-want,+got):\n%s", diff)
	}
	g.cycle()
	if diff := cmp.Diff([]string(nil), g.events()); diff != "" {
		t.Errorf("second cycle's events, same decision (-want,+got):\n%s", diff)
	}
	// The scheduler is back: a new decision, a new Event.
	g.step(time.Second)
	g.cycle()
	if diff := cmp.Diff([]string{"Normal Evicting " + evictNote}, g.events()); diff != "" {
		t.Errorf("third cycle's events (-want,+got):\n%s", diff)
	}
}

// Losing the lease cancels the context: nothing more is evicted.
func TestCycleStopsWhenContextEnds(t *testing.T) {
	g := newRig(t, testConfig(), nil, basicObjects()...)
	ctx, cancel := context.WithCancel(g.ctx)
	cancel()
	if err := g.r.Cycle(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Cycle = %v, want %v", err, context.Canceled)
	}
	if diff := cmp.Diff([]string(nil), g.mutations()); diff != "" {
		t.Errorf("mutating calls (-want,+got):\n%s", diff)
	}
}
