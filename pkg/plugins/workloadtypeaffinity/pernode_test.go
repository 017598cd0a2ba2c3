package workloadtypeaffinity

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil/plugintest"
)

// The per-node benchmarks measure one scheduling cycle of one typed pod over 5000 nodes, divided
// by the nodes (ns/node), with 10 and 30 resident pods per node: the cost must not grow with
// the residents. Score and Filter run one node after the other, so ns/node is CPU time, not
// wall time over the parallelizer's goroutines. The cache is warm as in a scheduler that has
// run before: "warm" repeats cycles over the same snapshot; "binding" gives 10 nodes a new
// generation before each cycle, as the pods bound since the last cycle do.

const perNodeNodes = 5000

// perNodeChurns are the nodes given a new generation before each cycle.
var perNodeChurns = []struct {
	name  string
	nodes int
}{{"warm", 0}, {"binding", 10}}

// perNodeCluster makes perNodeNodes nodes with podsPerNode residents each: even nodes hold
// mostly OLTP pods and odd nodes mostly OLAP ones (with pools, they are labelled so), every
// third resident is untyped, and every resident is a replica of a StatefulSet of its own,
// except every third resident of the even nodes, which is a replica of "db" and an instance of
// the CloudNativePG cluster "pg".
func perNodeCluster(podsPerNode int, pools bool) ([]*v1.Node, []*v1.Pod) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	for i := range perNodeNodes {
		n := fmt.Sprintf("node-%d", i)
		typ, other := "oltp", "olap"
		if i%2 == 1 {
			typ, other = other, typ
		}
		label := ""
		if pools {
			label = typ
		}
		nodes = append(nodes, node(n, label))
		for j := range podsPerNode {
			t := typ
			switch {
			case j%3 == 2:
				t = ""
			case j%5 == 4:
				t = other
			}
			p := dbPod(fmt.Sprintf("p-%d-%d", i, j), t, n)
			if j%3 == 0 && i%2 == 0 {
				withLabels(owned(p, "db"), apis.LabelCNPGCluster, "pg")
			} else {
				owned(p, fmt.Sprintf("other-%d", j))
			}
			pods = append(pods, p)
		}
	}
	return nodes, pods
}

// perNodePod is the pending OLTP pod of a scoring scenario: of no workload ("typed"), a replica
// of "db" ("siblings"), or an instance of "pg" with its preferred anti-affinity term
// ("antiaffinity").
func perNodePod(scenario string) *v1.Pod {
	pod := dbPod("new", "oltp", "")
	switch scenario {
	case "siblings":
		owned(pod, "db")
	case "antiaffinity":
		antiAffinity(withLabels(pod, apis.LabelCNPGCluster, "pg"), false, clusterTerm("pg"))
	}
	return pod
}

// quietContext logs at V(2), so that the plugin's V(4) and V(5) lines are not timed.
func quietContext(b *testing.B) context.Context {
	return klog.NewContext(context.Background(), ktesting.NewLogger(b, ktesting.NewConfig(ktesting.Verbosity(2))))
}

// BenchmarkPreScoreScorePerNode: PreScore, then Score on every node.
func BenchmarkPreScoreScorePerNode(b *testing.B) {
	for _, podsPerNode := range []int{10, 30} {
		nodes, pods := perNodeCluster(podsPerNode, false)
		for _, scenario := range []string{"typed", "siblings", "antiaffinity"} {
			for _, churn := range perNodeChurns {
				b.Run(fmt.Sprintf("%dnodes/%dpods/%s/%s", perNodeNodes, perNodeNodes*podsPerNode, scenario, churn.name), func(b *testing.B) {
					ctx := quietContext(b)
					f := newFixture(ctx, b, defaultArgs(), nodes, pods)
					pod := perNodePod(scenario)
					score := func(state fwk.CycleState) {
						for _, ni := range f.NodeInfos {
							if _, s := f.pl.Score(ctx, state, pod, ni); !s.IsSuccess() {
								b.Fatalf("Score(%s): %v", ni.Node().Name, s)
							}
						}
					}
					cycle := func() fwk.CycleState {
						state := framework.NewCycleState()
						if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
							b.Fatalf("PreScore: %v", s)
						}
						score(state)
						return state
					}
					// The cycles before: the first notes every node it misses, the second derives them
					// (NodeCache.Refresh), as a scheduler's first two cycles do.
					cycle()
					cycle()
					runtime.GC() // not the setup's garbage
					next := 0
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if churn.nodes > 0 {
							b.StopTimer()
							for range churn.nodes {
								f.Rebind(b, next)
								next = (next + 1) % len(f.NodeInfos)
							}
							b.StartTimer()
						}
						cycle()
					}
					plugintest.ReportPerNode(b, len(f.NodeInfos))
					state := cycle()
					b.ReportMetric(testing.AllocsPerRun(1, func() { score(state) })/float64(len(f.NodeInfos)), "Score-allocs/node")
				})
			}
		}
	}
}

// BenchmarkFilterPerNode: PreFilter (Required mode), then Filter on every node of its result,
// as the framework calls it (ns/node is still per node of the cluster). "unlabelled" nodes are typed by their residents, so Filter runs on
// every node and rejects the OLAP half (each rejection allocates its Status, which the framework
// writes to); in "pools" the nodes are labelled and the OLAP pool is not even filtered, if
// PreFilter leaves it out.
func BenchmarkFilterPerNode(b *testing.B) {
	for _, podsPerNode := range []int{10, 30} {
		for _, scenario := range []string{"unlabelled", "pools"} {
			nodes, pods := perNodeCluster(podsPerNode, scenario == "pools")
			for _, churn := range perNodeChurns {
				b.Run(fmt.Sprintf("%dnodes/%dpods/%s/%s", perNodeNodes, perNodeNodes*podsPerNode, scenario, churn.name), func(b *testing.B) {
					ctx := quietContext(b)
					f := newFixture(ctx, b, requiredArgs(), nodes, pods)
					pod := perNodePod("typed")
					// The nodes of a PreFilter result, as the framework turns it into the nodes
					// to filter; that is the framework's cost, not timed after the first cycle.
					var lastRes *fwk.PreFilterResult
					var lastNodes []fwk.NodeInfo
					nodesOf := func(res *fwk.PreFilterResult) []fwk.NodeInfo {
						if res.AllNodes() {
							return f.NodeInfos
						}
						if res != lastRes {
							lastRes, lastNodes = res, nil
							for _, ni := range f.NodeInfos {
								if res.NodeNames.Has(ni.Node().Name) {
									lastNodes = append(lastNodes, ni)
								}
							}
						}
						return lastNodes
					}
					filter := func(state fwk.CycleState, res *fwk.PreFilterResult, accepted bool) {
						for _, ni := range nodesOf(res) {
							if accepted && ni.Node().Name[len(ni.Node().Name)-1]%2 == 1 {
								continue // an OLAP node: only accepted nodes count for allocations
							}
							if s := f.pl.Filter(ctx, state, pod, ni); !s.IsSuccess() && !s.IsRejected() {
								b.Fatalf("Filter(%s): %v", ni.Node().Name, s)
							}
						}
					}
					cycle := func() (fwk.CycleState, *fwk.PreFilterResult) {
						state := framework.NewCycleState()
						res, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos)
						if !s.IsSuccess() {
							b.Fatalf("PreFilter: %v", s)
						}
						filter(state, res, false)
						return state, res
					}
					cycle()
					runtime.GC()
					next := 0
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if churn.nodes > 0 {
							b.StopTimer()
							for range churn.nodes {
								f.Rebind(b, next)
								next = (next + 1) % len(f.NodeInfos)
							}
							b.StartTimer()
						}
						cycle()
					}
					plugintest.ReportPerNode(b, len(f.NodeInfos))
					state, res := cycle()
					b.ReportMetric(testing.AllocsPerRun(1, func() { filter(state, res, true) })/float64(len(f.NodeInfos)/2), "Filter-allocs/accepted-node")
				})
			}
		}
	}
}
