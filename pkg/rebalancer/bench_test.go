package rebalancer

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	appslisters "k8s.io/client-go/listers/apps/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// BenchmarkCycle times Rebalancer.Cycle in dry run over listers backed by informer indexers:
// the lists, the view (every pod on its node in a scheduler snapshot, the mixing), settle, the
// plan and the dry-run acts. The clients of the rebalancer and of its simulator must see no
// request during the cycles: a cycle reads caches only.
//
// Each node holds 30 pods: 5 typed database pods (3 of the node's type, and on every tenth node 2
// of the other type, so that a tenth of the nodes hold misplaced pods), the rest untyped. Every
// misplaced pod passes the cheap checks, so the cycle simulates the scheduler for each until the
// per-cycle limit is reached and the rest wait.
//
// Scenarios: first is the first cycle after a start (nothing kept from an earlier cycle); steady
// is a cycle after one that saw the same objects; churn is a cycle after 5% of the pods were
// updated (new objects, as an informer delivers updates).
//
// Besides time and allocations it reports the live heap: view-B/pod is what one cycle's view
// holds (its snapshot included) per pod, kept-B/pod what the rebalancer and its simulator keep
// from one cycle to the next, and heap-MB the whole live heap between cycles (the informers'
// objects included).
func BenchmarkCycle(b *testing.B) {
	for _, n := range []int{500, 1000, 5000} {
		var (
			nodes []*v1.Node
			pods  []*v1.Pod
			sets  []*appsv1.ReplicaSet
		)
		for _, scenario := range []string{"first", "steady", "churn"} {
			b.Run(fmt.Sprintf("%dnodes/%dpods/%s", n, 30*n, scenario), func(b *testing.B) {
				if nodes == nil { // built by the first scenario that runs, for the next ones
					nodes, pods, sets = benchCluster(n)
				}
				sim, simClient := benchSimulator(b)
				r, client, podIdx := benchRebalancer(b, nodes, pods, sets, sim)
				ctx := klog.NewContext(context.Background(), logr.Discard())
				requests := len(simClient.Actions())
				base := heapAlloc()
				if err := r.Cycle(ctx); err != nil {
					b.Fatal(err)
				}
				churned := 0
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					switch scenario {
					case "first":
						r.forget()
					case "churn":
						b.StopTimer()
						churned = churn(b, podIdx, pods, churned, len(pods)/20)
						b.StartTimer()
					}
					if err := r.Cycle(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				if a := client.Actions(); len(a) > 0 {
					b.Fatalf("the cycle sent %d requests to the API, the first %v; it must read caches only", len(a), a[0])
				}
				if a := simClient.Actions()[requests:]; len(a) > 0 {
					b.Fatalf("the simulation sent %d requests to the API, the first %v; it must read caches only", len(a), a[0])
				}
				if !evictedInDryRun(r) {
					b.Fatal("no dry-run eviction: the benchmark's cluster has no pod to move")
				}
				between := heapAlloc()
				listed, err := r.pods.List(labels.Everything())
				if err != nil {
					b.Fatal(err)
				}
				view := r.view(nodes, listed)
				withView := heapAlloc()
				runtime.KeepAlive(view)
				view, listed = nil, nil
				without := heapAlloc()
				per := func(v uint64, w uint64) float64 { return (float64(v) - float64(w)) / float64(len(pods)) }
				b.ReportMetric(per(withView, without), "view-B/pod")
				b.ReportMetric(per(between, base), "kept-B/pod")
				b.ReportMetric(float64(between)/(1<<20), "heap-MB")
				runtime.KeepAlive(r) // and its listers' objects, through the last measurement
				runtime.KeepAlive(sim)
			})
		}
	}
}

// churn replaces count pods in the indexer, from index from on, by updated copies; it returns
// where the next churn starts.
func churn(b *testing.B, idx cache.Indexer, pods []*v1.Pod, from, count int) int {
	for i := range count {
		k := (from + i) % len(pods)
		p := pods[k].DeepCopy()
		p.ResourceVersion = fmt.Sprint(from + i + 1)
		pods[k] = p
		if err := idx.Update(p); err != nil {
			b.Fatal(err)
		}
	}
	return (from + count) % len(pods)
}

// evictedInDryRun: the latest Event of some pod says it would be evicted.
func evictedInDryRun(r *Rebalancer) bool {
	for _, key := range r.lastEvent {
		if strings.HasPrefix(key, ReasonEvicting+"\x00") {
			return true
		}
	}
	return false
}

// heapAlloc is the live heap. Two collections: the first leaves what sync.Pools dropped in
// their victim caches, the second frees it.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
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

// benchSimulator is a Simulator of the shipped profile over a fake clientset, whose requests the
// benchmark counts.
func benchSimulator(b *testing.B) (*Simulator, *fake.Clientset) {
	logger := klog.Background()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logger))
	b.Cleanup(cancel)
	sc, err := LoadSchedulerConfig(logger, shippedConfig, profileName)
	if err != nil {
		b.Fatal(err)
	}
	client := fake.NewClientset()
	factory := informers.NewSharedInformerFactory(client, 0)
	sim, err := NewSimulator(ctx, sc.Profile, client, factory)
	if err != nil {
		b.Fatal(err)
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			b.Fatalf("informer %v did not sync", typ)
		}
	}
	return sim, client
}

// benchRebalancer is a dry-run Rebalancer over indexers holding the cluster, a fresh scheduler
// lease, and a fake client that must see no request; it returns the pods' indexer too.
func benchRebalancer(b *testing.B, nodes []*v1.Node, pods []*v1.Pod, sets []*appsv1.ReplicaSet, sim *Simulator) (*Rebalancer, *fake.Clientset, cache.Indexer) {
	cfg := testConfig()
	cfg.DryRun = true
	namespaced := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	index := func(indexers cache.Indexers, objs ...any) cache.Indexer {
		idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, indexers)
		for _, o := range objs {
			if err := idx.Add(o); err != nil {
				b.Fatal(err)
			}
		}
		return idx
	}
	podIdx := index(namespaced, anys(pods)...)
	client := fake.NewClientset()
	r := &Rebalancer{
		cfg:       cfg,
		client:    client,
		recorder:  &events.FakeRecorder{},
		clock:     testingclock.NewFakeClock(t0),
		pods:      corelisters.NewPodLister(podIdx),
		nodes:     corelisters.NewNodeLister(index(cache.Indexers{}, anys(nodes)...)),
		leases:    coordinationlisters.NewLeaseLister(index(namespaced, freshLease(t0))),
		lastEvent: map[types.UID]string{},
	}
	r.planner = newPlanner(&r.cfg, 51, Listers{
		Namespaces:   corelisters.NewNamespaceLister(index(cache.Indexers{}, makeNamespace(testNamespace, nil))),
		Claims:       corelisters.NewPersistentVolumeClaimLister(index(namespaced)),
		Volumes:      corelisters.NewPersistentVolumeLister(index(cache.Indexers{})),
		ReplicaSets:  appslisters.NewReplicaSetLister(index(namespaced, anys(sets)...)),
		StatefulSets: appslisters.NewStatefulSetLister(index(namespaced)),
	}, sim.Place)
	return r, client, podIdx
}

func anys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
