package rebalancer

import (
	"context"
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// BenchmarkCycle times one decision cycle as Rebalancer.Cycle runs it after the informer caches
// (no API read): the view (the snapshot of every pod on its node, the mixing), then the plan.
// Each node holds 30 pods: 5 typed database pods (3 of the node's type, and on every tenth node
// 2 of the other type, so that a tenth of the nodes hold misplaced pods), the rest untyped.
// Every misplaced pod passes the cheap checks, so the cycle simulates the scheduler for each
// until the per-cycle limit is reached and the rest wait.
func BenchmarkCycle(b *testing.B) {
	for _, n := range []int{500, 1000, 5000} {
		b.Run(fmt.Sprintf("%dnodes/%dpods", n, 30*n), func(b *testing.B) {
			nodes, pods, sets := benchCluster(n)
			p := benchPlanner(b, pods, sets)
			ctx := klog.NewContext(context.Background(), klog.Background())
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				p.mem = newMemory()
				view := NewView(nodes, pods)
				decisions := p.plan(ctx, view, t0, true, "")
				if len(decisions) == 0 {
					b.Fatal("no decision: the benchmark's cluster has no misplaced pod")
				}
			}
		})
	}
}

func benchCluster(n int) ([]*v1.Node, []*v1.Pod, []*appsv1.ReplicaSet) {
	var nodes []*v1.Node
	var pods []*v1.Pod
	var sets []*appsv1.ReplicaSet
	for i := range n {
		name := fmt.Sprintf("node-%05d", i)
		nodes = append(nodes, makeNode(name, 64))
		own, other := workloadtype.OLTP, workloadtype.OLAP
		if i%2 == 1 {
			own, other = other, own
		}
		for j := range 30 {
			t := workloadtype.None
			switch {
			case j < 3:
				t = own
			case j < 5 && i%10 == 0:
				t = other
			}
			pod := makePod(fmt.Sprintf("p-%05d-%02d", i, j), name, t, cpu("100m"))
			pods = append(pods, pod)
			sets = append(sets, makeRS("rs-"+pod.Name, 1))
		}
	}
	return nodes, pods, sets
}

func benchPlanner(b *testing.B, pods []*v1.Pod, sets []*appsv1.ReplicaSet) *planner {
	cfg := testConfig()
	ns := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := ns.Add(makeNamespace(testNamespace, nil)); err != nil {
		b.Fatal(err)
	}
	rs := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range sets {
		if err := rs.Add(s); err != nil {
			b.Fatal(err)
		}
	}
	empty := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	return &planner{
		cfg:      &cfg,
		majority: 51,
		movable: &movability{
			cfg:        &cfg,
			namespaces: corelisters.NewNamespaceLister(ns),
			claims:     corelisters.NewPersistentVolumeClaimLister(empty()),
			volumes:    corelisters.NewPersistentVolumeLister(empty()),
		},
		replicaSet:  appslisters.NewReplicaSetLister(rs),
		statefulSet: appslisters.NewStatefulSetLister(empty()),
		place:       sharedSimulator(b).Place,
	}
}
