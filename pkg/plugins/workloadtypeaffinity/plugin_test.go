package workloadtypeaffinity

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil/plugintest"
)

// defaultArgs are the v1 defaults, as the scheduler hands them to New.
func defaultArgs() config.WorkloadTypeAffinityArgs {
	return config.WorkloadTypeAffinityArgs{
		Mode:            config.ModePreferred,
		Scores:          config.NodeClassScores{SameType: 100, Free: 50, Mixed: 20, OtherType: 0},
		MajorityPercent: 51,
	}
}

func requiredArgs() config.WorkloadTypeAffinityArgs {
	a := defaultArgs()
	a.Mode = config.ModeRequired
	return a
}

func dbPod(name, typ, node string) *v1.Pod {
	w := st.MakePod().Namespace("db").Name(name).UID(name).Node(node)
	if typ != "" {
		w = w.Label(apis.LabelWorkloadType, typ)
	}
	return w.Obj()
}

func node(name, label string) *v1.Node {
	w := st.MakeNode().Name(name)
	if label != "" {
		w = w.Label(apis.LabelWorkloadType, label)
	}
	return w.Obj()
}

type fixture struct {
	plugintest.Fixture
	pl *WorkloadTypeAffinity
}

func newFixture(ctx context.Context, t testing.TB, args config.WorkloadTypeAffinityArgs, nodes []*v1.Node, pods []*v1.Pod) fixture {
	t.Helper()
	f := plugintest.New(ctx, t, nodes, pods)
	p, err := New(ctx, &args, f.Handle)
	if err != nil {
		t.Fatalf("creating plugin: %v", err)
	}
	return fixture{Fixture: f, pl: p.(*WorkloadTypeAffinity)}
}

// newFixtureWithObjects is newFixture with an informer factory over a fake client holding objs
// (the owners and claims records are read from), started after New as kube-scheduler does.
func newFixtureWithObjects(ctx context.Context, t testing.TB, args config.WorkloadTypeAffinityArgs, nodes []*v1.Node, pods []*v1.Pod, objs ...k8sruntime.Object) fixture {
	t.Helper()
	snapshot := cache.NewSnapshot(pods, nodes)
	recorder := events.NewFakeRecorder(100)
	factory := informers.NewSharedInformerFactory(fake.NewClientset(objs...), 0)
	fh, err := runtime.NewFramework(ctx, nil, nil,
		runtime.WithSnapshotSharedLister(snapshot),
		runtime.WithEventRecorder(recorder),
		runtime.WithInformerFactory(factory))
	if err != nil {
		t.Fatalf("creating framework: %v", err)
	}
	p, err := New(ctx, &args, fh)
	if err != nil {
		t.Fatalf("creating plugin: %v", err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	t.Cleanup(func() {
		close(stop)
		factory.Shutdown()
	})
	for typ, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			t.Fatalf("informer of %v did not sync", typ)
		}
	}
	nodeInfos, err := snapshot.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	return fixture{Fixture: plugintest.Fixture{Handle: fh, NodeInfos: nodeInfos, Recorder: recorder}, pl: p.(*WorkloadTypeAffinity)}
}

// score runs PreScore, then Score on every node, and returns the scores by node name.
func (f fixture) score(ctx context.Context, t testing.TB, pod *v1.Pod) (map[string]int64, *fwk.Status) {
	t.Helper()
	return f.Score(ctx, t, f.pl, pod)
}

func TestScore(t *testing.T) {
	// Four nodes, one of each class for an OLTP pod, plus a pool.
	nodes := []*v1.Node{node("oltp-node", ""), node("free-node", ""), node("mixed-node", ""), node("olap-node", ""), node("olap-pool", "olap")}
	residents := []*v1.Pod{
		dbPod("t1", "oltp", "oltp-node"), dbPod("t2", "oltp", "oltp-node"), dbPod("a0", "olap", "oltp-node"),
		dbPod("web", "", "free-node"),
		dbPod("t3", "oltp", "mixed-node"), dbPod("a1", "olap", "mixed-node"),
		dbPod("a2", "olap", "olap-node"),
		dbPod("t4", "oltp", "olap-pool"), dbPod("t5", "oltp", "olap-pool"),
	}
	custom := defaultArgs()
	custom.Scores = config.NodeClassScores{SameType: 90, Free: 90, Mixed: 10, OtherType: 5}
	strictMajority := defaultArgs()
	strictMajority.MajorityPercent = 100

	tests := []struct {
		name       string
		args       config.WorkloadTypeAffinityArgs
		pod        *v1.Pod
		want       map[string]int64
		wantStatus *fwk.Status
	}{
		{
			name: "oltp pod",
			args: defaultArgs(),
			pod:  dbPod("new", "oltp", ""),
			want: map[string]int64{"oltp-node": 100, "free-node": 50, "mixed-node": 20, "olap-node": 0, "olap-pool": 0},
		},
		{
			name: "olap pod",
			args: defaultArgs(),
			pod:  dbPod("new", "olap", ""),
			want: map[string]int64{"oltp-node": 0, "free-node": 50, "mixed-node": 20, "olap-node": 100, "olap-pool": 100},
		},
		{
			name: "custom scores",
			args: custom,
			pod:  dbPod("new", "olap", ""),
			want: map[string]int64{"oltp-node": 5, "free-node": 90, "mixed-node": 10, "olap-node": 90, "olap-pool": 90},
		},
		{
			name: "majority 100 makes 2:1 mixed",
			args: strictMajority,
			pod:  dbPod("new", "oltp", ""),
			want: map[string]int64{"oltp-node": 20, "free-node": 50, "mixed-node": 20, "olap-node": 0, "olap-pool": 0},
		},
		{
			name:       "untyped pod is skipped",
			args:       defaultArgs(),
			pod:        dbPod("new", "", ""),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
		{
			name:       "invalid type is skipped",
			args:       defaultArgs(),
			pod:        dbPod("new", "OLTP", ""),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, tt.args, nodes, residents)
			got, status := f.score(ctx, t, tt.pod)
			if diff := cmp.Diff(tt.wantStatus, status); diff != "" {
				t.Errorf("PreScore status (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestScoreIgnoresLeavingPods(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	leaving := st.MakePod().Namespace("db").Name("leaving").UID("leaving").Node("n").Label(apis.LabelWorkloadType, "olap").Terminating().Obj()
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("n", "")}, []*v1.Pod{leaving})
	got, status := f.score(ctx, t, dbPod("new", "oltp", ""))
	if !status.IsSuccess() {
		t.Fatalf("PreScore: %v", status)
	}
	want := map[string]int64{"n": 50}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("a terminating pod of the other type must not make the node its type (-want,+got):\n%s", diff)
	}
}

func TestInvalidTypeIsReported(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("n", "")}, nil)
	if _, status := f.score(ctx, t, dbPod("typo", "OLAP", "")); status.Code() != fwk.Skip {
		t.Fatalf("PreScore status = %v, want Skip", status)
	}
	select {
	case e := <-f.Recorder.Events:
		want := `Warning InvalidWorkloadType pod db/typo: label likewise.dev/workload-type="OLAP": supported values: "oltp", "olap"; scheduling the pod as untyped`
		if e != want {
			t.Errorf("event = %q, want %q", e, want)
		}
	default:
		t.Error("no event recorded for an invalid workload type")
	}
}

func TestFilter(t *testing.T) {
	nodes := []*v1.Node{node("oltp-node", ""), node("olap-node", ""), node("mixed-node", ""), node("empty", ""), node("olap-pool", "olap"), node("bad-label", "analytics")}
	residents := []*v1.Pod{
		dbPod("t1", "oltp", "oltp-node"),
		dbPod("a1", "olap", "olap-node"), dbPod("a2", "olap", "olap-node"), dbPod("t2", "oltp", "olap-node"),
		dbPod("t3", "oltp", "mixed-node"), dbPod("a3", "olap", "mixed-node"),
		dbPod("a4", "olap", "bad-label"),
	}
	tests := []struct {
		name          string
		args          config.WorkloadTypeAffinityArgs
		pod           *v1.Pod
		wantPreFilter *fwk.Status
		want          map[string]*fwk.Status
	}{
		{
			name: "required oltp pod",
			args: requiredArgs(),
			pod:  dbPod("new", "oltp", ""),
			want: map[string]*fwk.Status{
				"olap-node": fwk.NewStatus(fwk.Unschedulable, "node(s) had the other database workload type (olap)"),
				"olap-pool": fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node(s) had the other database workload type (olap)"),
				"bad-label": fwk.NewStatus(fwk.Unschedulable, "node(s) had the other database workload type (olap)"),
			},
		},
		{
			name: "required olap pod",
			args: requiredArgs(),
			pod:  dbPod("new", "olap", ""),
			want: map[string]*fwk.Status{
				"oltp-node": fwk.NewStatus(fwk.Unschedulable, "node(s) had the other database workload type (oltp)"),
			},
		},
		{
			name:          "preferred mode never filters",
			args:          defaultArgs(),
			pod:           dbPod("new", "oltp", ""),
			wantPreFilter: fwk.NewStatus(fwk.Skip),
		},
		{
			name:          "untyped pod is skipped",
			args:          requiredArgs(),
			pod:           dbPod("new", "", ""),
			wantPreFilter: fwk.NewStatus(fwk.Skip),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, tt.args, nodes, residents)
			got, s := f.Filter(ctx, f.pl, tt.pod)
			if diff := cmp.Diff(tt.wantPreFilter, s); diff != "" {
				t.Fatalf("PreFilter status (-want,+got):\n%s", diff)
			}
			if !s.IsSuccess() {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rejected nodes (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	bad := defaultArgs()
	bad.Mode = "Strict"
	bad.MajorityPercent = 50
	bad.Scores.Mixed = 70
	_, ctx := ktesting.NewTestContext(t)
	fh, err := runtime.NewFramework(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(ctx, &bad, fh)
	if err == nil {
		t.Fatal("New accepted invalid args")
	}
	for _, want := range []string{
		`args.mode: Unsupported value: "Strict": supported values: "Preferred", "Required"`,
		`args.scores.mixed: Invalid value: 70: must not exceed free`,
		`args.majorityPercent: Invalid value: 50: must be between 51 and 100`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := New(ctx, &v1.Pod{}, fh); err == nil || !strings.Contains(err.Error(), "want args of type WorkloadTypeAffinityArgs, got *v1.Pod") {
		t.Errorf("New with the wrong args type: err = %v", err)
	}
}

func TestSignPod(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), nil, nil)
	tests := []struct {
		pod  *v1.Pod
		want []fwk.SignFragment
	}{
		{pod: dbPod("untyped", "", ""), want: nil},
		{pod: dbPod("invalid", "x", ""), want: nil},
		{pod: dbPod("oltp", "oltp", ""), want: []fwk.SignFragment{{Key: "WorkloadTypeAffinity/likewise.dev/workload-type", Value: "oltp"}}},
		{pod: dbPod("olap", "olap", ""), want: []fwk.SignFragment{{Key: "WorkloadTypeAffinity/likewise.dev/workload-type", Value: "olap"}}},
	}
	for _, tt := range tests {
		t.Run(tt.pod.Name, func(t *testing.T) {
			got, s := f.pl.SignPod(ctx, tt.pod)
			if !s.IsSuccess() {
				t.Fatalf("SignPod status: %v", s)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fragments (-want,+got):\n%s", diff)
			}
		})
	}
}

// BenchmarkScore measures one scheduling cycle's scoring for a typed pod: PreScore, then Score
// on each node, then NormalizeScore. In "siblings" the pod is a StatefulSet's replica and every
// third resident on half the nodes is one too; in "antiaffinity" it is a CloudNativePG instance
// (a preferred anti-affinity term) with its cluster's instances spread the same way.
func BenchmarkScore(b *testing.B) {
	for _, bc := range []struct{ nodes, podsPerNode int }{{100, 10}, {1000, 10}, {5000, 20}} {
		for _, scenario := range []string{"separated", "mixed", "siblings", "antiaffinity"} {
			name := fmt.Sprintf("%dnodes/%dpods/%s", bc.nodes, bc.nodes*bc.podsPerNode, scenario)
			b.Run(name, func(b *testing.B) {
				_, ctx := ktesting.NewTestContext(b)
				var nodes []*v1.Node
				var pods []*v1.Pod
				for i := range bc.nodes {
					n := fmt.Sprintf("node-%d", i)
					nodes = append(nodes, node(n, ""))
					for j := range bc.podsPerNode {
						typ := "oltp"
						if (scenario != "mixed" && i%2 == 1) || (scenario == "mixed" && j%2 == 1) {
							typ = "olap"
						}
						if j%3 == 2 {
							typ = "" // some untyped neighbours
						}
						p := dbPod(fmt.Sprintf("p-%d-%d", i, j), typ, n)
						if j%3 == 0 && i%2 == 0 {
							switch scenario {
							case "siblings":
								owned(p, "db")
							case "antiaffinity":
								withLabels(p, apis.LabelCNPGCluster, "pg")
							}
						} else {
							owned(p, fmt.Sprintf("other-%d", j))
						}
						pods = append(pods, p)
					}
				}
				f := newFixture(ctx, b, defaultArgs(), nodes, pods)
				pod := dbPod("new", "oltp", "")
				switch scenario {
				case "siblings":
					owned(pod, "db")
				case "antiaffinity":
					antiAffinity(withLabels(pod, apis.LabelCNPGCluster, "pg"), false, clusterTerm("pg"))
				}
				scores := make(fwk.NodeScoreList, len(f.NodeInfos))
				var failed atomic.Pointer[fwk.Status]
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					state := framework.NewCycleState()
					if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
						b.Fatalf("PreScore: %v", s)
					}
					// In parallel, as the framework runs Score.
					f.Handle.Parallelizer().Until(ctx, len(f.NodeInfos), func(i int) {
						ni := f.NodeInfos[i]
						score, s := f.pl.Score(ctx, state, pod, ni)
						if !s.IsSuccess() {
							failed.Store(s)
						}
						scores[i] = fwk.NodeScore{Name: ni.Node().Name, Score: score}
					}, Name)
					if s := failed.Load(); s != nil {
						b.Fatalf("Score: %v", s)
					}
					if s := f.pl.NormalizeScore(ctx, state, pod, scores); !s.IsSuccess() {
						b.Fatalf("NormalizeScore: %v", s)
					}
				}
			})
		}
	}
}

// TestScoreDoesNotAllocate holds Score to its contract: no allocation per node, on a node the
// cache misses (the first cycle: Score reads the NodeInfo and notes the node) and on one it holds
// (the next cycle's PreScore derived the noted node): O(1) there.
func TestScoreDoesNotAllocate(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a", ""), node("b", "")}, []*v1.Pod{dbPod("t", "oltp", "a")})
	pod := dbPod("new", "oltp", "")
	f.ScoreDoesNotAllocate(ctx, t, f.pl, pod, func(ni fwk.NodeInfo) bool {
		_, ok := f.pl.nodes.Get(ni)
		return ok
	})
}
