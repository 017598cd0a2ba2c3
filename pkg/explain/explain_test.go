package explain

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const ns = "shop"

func node(name string, labels map[string]string) *v1.Node {
	return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func statefulSet(name string, annotations map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Annotations: annotations},
		Spec:       appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)},
	}
}

// pod is a running, ready pod of StatefulSet app (its -0), typed typ ("" for none), on node.
func pod(app, typ, nodeName string) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: app + "-0", UID: types.UID("pod-" + app), Labels: map[string]string{"app": app},
			Annotations:       map[string]string{},
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: app,
				UID: types.UID("uid-" + app), Controller: ptr.To(true)}},
		},
		Spec:   v1.PodSpec{NodeName: nodeName, SchedulerName: "likewise-scheduler"},
		Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}},
	}
	if typ != "" {
		p.Labels[apis.LabelWorkloadType] = typ
	}
	return p
}

// world is node-a with three oltp pods and the olap pods given, node-b empty, and a fresh lease.
type world struct {
	nodes []runtime.Object
	objs  []runtime.Object
}

func newWorld(extra ...runtime.Object) []runtime.Object {
	objs := []runtime.Object{
		node("node-a", nil), node("node-b", nil),
		&v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "likewise-system", Name: "likewise-scheduler"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("sched-1"), LeaseDurationSeconds: ptr.To[int32](15),
				RenewTime: &metav1.MicroTime{Time: t0.Add(-2 * time.Second)}}},
	}
	for _, app := range []string{"oltp-1", "oltp-2", "oltp-3"} {
		objs = append(objs, statefulSet(app, nil), pod(app, apis.WorkloadOLTP, "node-a"))
	}
	return append(objs, extra...)
}

// placeOn is a simulation whose best node is always best.
func placeOn(best ...string) rebalancer.PlaceFunc {
	return func(context.Context, *cache.Snapshot, *v1.Pod) (rebalancer.Placement, error) {
		return rebalancer.Placement{Feasible: best, Best: best}, nil
	}
}

func explainer(t *testing.T, objs []runtime.Object, place rebalancer.PlaceFunc, react ...func(*fake.Clientset)) *Explainer {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset(objs...)
	for _, r := range react {
		r(client)
	}
	c, err := Read(ctx, client, "likewise-system", "likewise-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	cfg := rebalancer.DefaultConfig()
	cfg.SchedulerLeaseNamespace, cfg.SchedulerLeaseName = "likewise-system", "likewise-scheduler"
	e, err := New(c, Config{Rebalancer: cfg, MajorityPercent: 51}, place, t0)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func forbid(resource string) func(*fake.Clientset) {
	return func(c *fake.Clientset) {
		c.PrependReactor("list", resource, func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: access denied"))
		})
	}
}

func TestPod(t *testing.T) {
	optedOut := pod("olap-optout", apis.WorkloadOLAP, "node-a")
	optedOut.Annotations[apis.AnnotationRebalance] = apis.RebalanceDisabled
	classified := pod("olap-move", apis.WorkloadOLAP, "node-a")
	classified.Annotations = map[string]string{
		apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier, apis.AnnotationWorkloadMeasured: "olap",
		apis.AnnotationWorkloadConfidence: "0.90", apis.AnnotationWorkloadReasons: "window 7 olap: longShare=0.8",
		apis.AnnotationWorkloadClassifiedAt: t0.Add(-time.Hour).Format(time.RFC3339),
	}
	budget := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "olap-pdb", Generation: 1},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "olap-pdb"}}},
		Status:     policyv1.PodDisruptionBudgetStatus{ObservedGeneration: 1, DisruptionsAllowed: 0},
	}
	recordOnly := pod("olap-rec", "", "node-a")
	tests := []struct {
		name   string
		objs   []runtime.Object
		pod    string
		react  []func(*fake.Clientset)
		want   RebalancerReport
		wantT  TypeReport
		prefix string // of the verdict
		node   *NodeSummary
	}{{
		name: "misplaced and would move",
		objs: newWorld(statefulSet("olap-move", nil), classified),
		pod:  "olap-move-0",
		want: RebalancerReport{Considered: true, Action: "Evict", Reason: rebalancer.ReasonEvicting,
			Message:  "olap pod on oltp node node-a; the scheduler would place its replacement on node-b",
			Workload: "StatefulSet/shop/olap-move", Targets: []string{"node-b"}, CannotKnow: Unknowable},
		wantT: TypeReport{Type: "olap", Source: "label", From: "Pod shop/olap-move-0", SetBy: "classifier", Counted: true,
			Classifier: &Evidence{Measured: "olap", Confidence: "0.90", Reasons: "window 7 olap: longShare=0.8", ClassifiedAt: "2026-03-01T11:00:00Z"}},
		prefix: "moves: the rebalancer would evict it and the scheduler would place its replacement on node-b (Evicting)",
		node:   &NodeSummary{Name: "node-a", Type: "oltp", OLTP: 3, OLAP: 1, Mixing: 1, MajorityPercent: 51},
	}, {
		name: "opted out",
		objs: newWorld(statefulSet("olap-optout", nil), optedOut),
		pod:  "olap-optout-0",
		want: RebalancerReport{Considered: true, Action: "Keep", Reason: rebalancer.ReasonOptedOut,
			Message: "annotation likewise.dev/rebalance=false", Workload: "StatefulSet/shop/olap-optout", CannotKnow: Unknowable},
		wantT:  TypeReport{Type: "olap", Source: "label", From: "Pod shop/olap-optout-0", Counted: true},
		prefix: "stays: misplaced, and never moved as it is (OptedOut: annotation likewise.dev/rebalance=false)",
	}, {
		name: "a budget refuses the eviction",
		objs: newWorld(statefulSet("olap-pdb", nil), pod("olap-pdb", apis.WorkloadOLAP, "node-a"), budget),
		pod:  "olap-pdb-0",
		want: RebalancerReport{Considered: true, Action: "Evict", Reason: rebalancer.ReasonEvicting,
			Message:  "olap pod on oltp node node-a; the scheduler would place its replacement on node-b",
			Workload: "StatefulSet/shop/olap-pdb", Targets: []string{"node-b"}, CannotKnow: Unknowable,
			Disruptions: []DisruptionReport{{Name: "olap-pdb", Blocks: true}}, EvictionBlocked: true},
		wantT:  TypeReport{Type: "olap", Source: "label", From: "Pod shop/olap-pdb-0", Counted: true},
		prefix: "stays: it would be evicted to node-b, but PodDisruptionBudget olap-pdb allows no disruption now (EvictionBlocked)",
	}, {
		name: "typed by its workload's record only",
		objs: newWorld(statefulSet("olap-rec", map[string]string{apis.AnnotationWorkloadTypeRecord: "olap",
			apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier}), recordOnly),
		pod:  "olap-rec-0",
		want: RebalancerReport{Message: "not a resident typed pod: no valid label likewise.dev/workload-type, or terminating or finished"},
		wantT: TypeReport{Type: "olap", Source: "workload", From: "StatefulSet shop/olap-rec", SetBy: "classifier",
			Record: &RecordReport{Type: "olap", From: "StatefulSet shop/olap-rec", RecordedBy: "classifier"}},
		prefix: "stays: typed olap by StatefulSet shop/olap-rec, but not labelled",
		node:   &NodeSummary{Name: "node-a", Type: "oltp", OLTP: 3, MajorityPercent: 51},
	}, {
		name:   "in place",
		objs:   newWorld(),
		pod:    "oltp-1-0",
		want:   RebalancerReport{Message: "not misplaced: it does not add to node node-a's mixing"},
		wantT:  TypeReport{Type: "oltp", Source: "label", From: "Pod shop/oltp-1-0", Counted: true},
		prefix: "stays: oltp pod on oltp node node-a; not misplaced",
	}, {
		name:  "namespaces unreadable: fail closed, and say it was explain",
		objs:  newWorld(statefulSet("olap-move", nil), pod("olap-move", apis.WorkloadOLAP, "node-a")),
		pod:   "olap-move-0",
		react: []func(*fake.Clientset){forbid("namespaces")},
		want: RebalancerReport{Considered: true, Action: "Keep", Reason: rebalancer.ReasonNamespaceUnknown,
			Message:  `reading namespace shop: namespace "shop" not found (explain could not read namespaces: namespaces is forbidden: RBAC: access denied; the rebalancer, with its own rights, may decide otherwise)`,
			Workload: "StatefulSet/shop/olap-move", CannotKnow: Unknowable},
		wantT:  TypeReport{Type: "olap", Source: "label", From: "Pod shop/olap-move-0", Counted: true},
		prefix: "stays: misplaced, and never moved as it is (NamespaceUnknown",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			e := explainer(t, tc.objs, placeOn("node-b"), tc.react...)
			got, err := e.Pod(ctx, ns, tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.Rebalancer); diff != "" {
				t.Errorf("rebalancer (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantT, got.Type); diff != "" {
				t.Errorf("type (-want,+got):\n%s", diff)
			}
			if !strings.HasPrefix(got.Verdict, tc.prefix) {
				t.Errorf("verdict %q, want it to start with %q", got.Verdict, tc.prefix)
			}
			if tc.node != nil {
				if diff := cmp.Diff(tc.node, got.Node); diff != "" {
					t.Errorf("node (-want,+got):\n%s", diff)
				}
			}
			if got.Misplaced != tc.want.Considered {
				t.Errorf("misplaced %v, want %v", got.Misplaced, tc.want.Considered)
			}
		})
	}
}

func TestPodNotFound(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	_, err := explainer(t, newWorld(), placeOn("node-b")).Pod(ctx, ns, "nope")
	if err == nil || err.Error() != "pod shop/nope: not found" {
		t.Errorf("error %v, want pod shop/nope: not found", err)
	}
}

func TestNode(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	optedOut := pod("olap-optout", apis.WorkloadOLAP, "node-a")
	optedOut.Annotations[apis.AnnotationRebalance] = apis.RebalanceDisabled
	pool := node("node-c", map[string]string{apis.LabelWorkloadType: "olap"})
	objs := newWorld(pool, statefulSet("olap-move", nil), pod("olap-move", apis.WorkloadOLAP, "node-a"),
		statefulSet("olap-optout", nil), optedOut, statefulSet("web", nil), pod("web", "", "node-a"))
	objs = append(objs, statefulSet("oltp-4", nil), pod("oltp-4", apis.WorkloadOLTP, "node-a"))
	e := explainer(t, objs, placeOn("node-b"))
	got, err := e.Node(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	want := &NodeReport{
		Kind: "Node", Name: "node-a",
		Verdict: "oltp node, mixing 2: 2 misplaced pod(s), 1 would move, 1 stay or wait",
		Node:    NodeSummary{Name: "node-a", Type: "oltp", OLTP: 4, OLAP: 2, Mixing: 2, MajorityPercent: 51},
		Misplaced: []PodVerdict{{
			Namespace: ns, Name: "olap-move-0", Type: "olap", Action: "Evict", Reason: "Evicting",
			Verdict: "moves: the rebalancer would evict it and the scheduler would place its replacement on node-b (Evicting)",
			Message: "olap pod on oltp node node-a; the scheduler would place its replacement on node-b", Targets: []string{"node-b"},
		}, {
			Namespace: ns, Name: "olap-optout-0", Type: "olap", Action: "Keep", Reason: "OptedOut",
			Verdict: "stays: misplaced, and never moved as it is (OptedOut: annotation likewise.dev/rebalance=false)",
			Message: "annotation likewise.dev/rebalance=false",
		}},
		Untyped: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want,+got):\n%s", diff)
	}
	gotPool, err := e.Node(ctx, "node-c")
	if err != nil {
		t.Fatal(err)
	}
	if want := "olap pool node, mixing 0: no misplaced pod"; gotPool.Verdict != want {
		t.Errorf("pool verdict %q, want %q", gotPool.Verdict, want)
	}
	if _, err := e.Node(ctx, "node-z"); err == nil || err.Error() != "node node-z: not found" {
		t.Errorf("error %v, want node node-z: not found", err)
	}
}

func TestReadRequiresPods(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset(newWorld()...)
	forbid("pods")(client)
	_, err := Read(ctx, client, "", "")
	if err == nil || !strings.Contains(err.Error(), "listing pods in all namespaces") || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("error %v, want one naming the pods it could not list", err)
	}
}

func TestSimulationUnavailable(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	e := explainer(t, newWorld(statefulSet("olap-move", nil), pod("olap-move", apis.WorkloadOLAP, "node-a")),
		func(context.Context, *cache.Snapshot, *v1.Pod) (rebalancer.Placement, error) {
			return rebalancer.Placement{}, errors.New("the scheduler's plugins could not read CSINode")
		})
	e.cluster.Unreadable[KindSimulation] = "the scheduler's plugins could not read CSINode"
	got, err := e.Pod(ctx, ns, "olap-move-0")
	if err != nil {
		t.Fatal(err)
	}
	want := "simulating the scheduler: the scheduler's plugins could not read CSINode (explain could not read simulation: the scheduler's plugins could not read CSINode; the rebalancer, with its own rights, may decide otherwise)"
	if got.Rebalancer.Reason != rebalancer.ReasonSimulationFailed || got.Rebalancer.Message != want {
		t.Errorf("got %s %q, want %s %q", got.Rebalancer.Reason, got.Rebalancer.Message, rebalancer.ReasonSimulationFailed, want)
	}
}

func TestReadOnly(t *testing.T) {
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits = append(hits, r.Method+" "+r.URL.String())
		if r.URL.Path == "/forbidden" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	ro := NewReadOnly(http.DefaultTransport)
	client := &http.Client{Transport: ro}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(method, srv.URL+"/api/v1/namespaces/x/pods/y", nil)
		if _, err := client.Do(req); err == nil || !strings.Contains(err.Error(), "read-only: refusing "+method) {
			t.Errorf("%s: error %v, want a refusal", method, err)
		}
	}
	if _, err := client.Get(srv.URL + "/api/v1/pods?watch=true&sendInitialEvents=true"); err == nil {
		t.Error("a streaming list went through")
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/api/v1/pods?watch=true", nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %v %v, want an empty stream", resp, err)
	}
	cancel()
	if n, err := resp.Body.Read(make([]byte, 8)); n != 0 || err == nil {
		t.Errorf("read %d bytes, err %v from the empty watch after its request ended", n, err)
	}
	if resp, err := client.Get(srv.URL + "/forbidden"); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("get: %v %v", resp, err)
	}
	if resp, err := client.Get(srv.URL + "/api/v1/nodes"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("get: %v %v", resp, err)
	}
	if diff := cmp.Diff([]string{"GET /forbidden", "GET /api/v1/nodes"}, hits); diff != "" {
		t.Errorf("requests that reached the server (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/forbidden: 403 Forbidden"}, ro.Refused()); diff != "" {
		t.Errorf("refused (-want,+got):\n%s", diff)
	}
}
