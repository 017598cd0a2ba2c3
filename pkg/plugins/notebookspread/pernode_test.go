package notebookspread

import (
	"fmt"
	"runtime"
	"testing"

	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil/plugintest"
)

// The per-node benchmarks measure one scheduling cycle of one notebook pod over 5000 nodes,
// divided by the nodes (ns/node), with 10 and 30 resident pods per node (benchCluster): the
// cost must not grow with the residents. Score and Filter run one node after the other, so
// ns/node is CPU time, not wall time over the parallelizer's goroutines. The cache is warm as
// in a scheduler that has run before: "warm" repeats cycles over the same snapshot; "binding"
// gives 10 nodes a new generation before each cycle, as the pods bound since the last cycle do.

const perNodeNodes = 5000

var perNodeChurns = []struct {
	name  string
	nodes int
}{{"warm", 0}, {"binding", 10}}

// perNodeRun runs cycle twice before timing (the cycles before: the first notes every node
// Score misses, the second derives them, NodeCache.Refresh, as a scheduler's first two cycles
// do), then b.N times, churning nodes before each, and reports ns/node.
func perNodeRun(b *testing.B, f fixture, churn int, cycle func()) {
	cycle()
	cycle()
	runtime.GC() // not the setup's garbage
	next := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if churn > 0 {
			b.StopTimer()
			for range churn {
				f.Rebind(b, next)
				next = (next + 1) % len(f.NodeInfos)
			}
			b.StartTimer()
		}
		cycle()
	}
	plugintest.ReportPerNode(b, len(f.NodeInfos))
}

// BenchmarkPreScoreScorePerNode: PreScore, then Score on every node, then NormalizeScore (which
// turns users into scores).
func BenchmarkPreScoreScorePerNode(b *testing.B) {
	for _, podsPerNode := range []int{10, 30} {
		for _, scenario := range []string{"one-hub", "mixed"} {
			nodes, pods := benchCluster(perNodeNodes, podsPerNode, scenario)
			for _, churn := range perNodeChurns {
				b.Run(fmt.Sprintf("%dnodes/%dpods/%s/%s", perNodeNodes, perNodeNodes*podsPerNode, scenario, churn.name), func(b *testing.B) {
					ctx := benchContext(b)
					f := newFixture(ctx, b, defaultArgs(), nodes, pods)
					pod := server("hub", "new-user", "")
					var state fwk.CycleState
					// The framework's list of the scores, made once per cycle whatever the plugins.
					list := make(fwk.NodeScoreList, len(f.NodeInfos))
					score := func() {
						for i, ni := range f.NodeInfos {
							v, s := f.pl.Score(ctx, state, pod, ni)
							if !s.IsSuccess() {
								b.Fatalf("Score(%s): %v", ni.Node().Name, s)
							}
							list[i] = fwk.NodeScore{Name: ni.Node().Name, Score: v}
						}
					}
					perNodeRun(b, f, churn.nodes, func() {
						state = framework.NewCycleState()
						if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
							b.Fatalf("PreScore: %v", s)
						}
						score()
						if s := f.pl.NormalizeScore(ctx, state, pod, list); !s.IsSuccess() {
							b.Fatalf("NormalizeScore: %v", s)
						}
					})
					b.ReportMetric(testing.AllocsPerRun(1, score)/float64(len(f.NodeInfos)), "Score-allocs/node")
				})
			}
		}
	}
}

// BenchmarkFilterPerNode: PreFilter, then Filter (the maxUsersPerNode check) on every node,
// with a cap no node reaches.
func BenchmarkFilterPerNode(b *testing.B) {
	for _, podsPerNode := range []int{10, 30} {
		for _, scenario := range []string{"one-hub", "mixed"} {
			nodes, pods := benchCluster(perNodeNodes, podsPerNode, scenario)
			for _, churn := range perNodeChurns {
				b.Run(fmt.Sprintf("%dnodes/%dpods/%s/%s", perNodeNodes, perNodeNodes*podsPerNode, scenario, churn.name), func(b *testing.B) {
					ctx := benchContext(b)
					f := newFixture(ctx, b, withArgs(func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = 100 }), nodes, pods)
					pod := server("hub", "new-user", "")
					var state fwk.CycleState
					filter := func() {
						for _, ni := range f.NodeInfos {
							if s := f.pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
								b.Fatalf("Filter(%s): %v", ni.Node().Name, s)
							}
						}
					}
					perNodeRun(b, f, churn.nodes, func() {
						state = framework.NewCycleState()
						if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
							b.Fatalf("PreFilter: %v", s)
						}
						filter()
					})
					b.ReportMetric(testing.AllocsPerRun(1, filter)/float64(len(f.NodeInfos)), "Filter-allocs/node")
				})
			}
		}
	}
}
