package rebalancer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// shippedConfig is the scheduler config likewise-scheduler is deployed with: the simulation in
// these tests runs exactly that profile.
const shippedConfig = "../../manifests/scheduler/base/scheduler-config.yaml"

const (
	testNamespace = "db"
	profileName   = "likewise-scheduler"
)

// t0 is the fake clock's start; every test pod was created an hour before it.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var (
	simOnce   sync.Once
	simShared *Simulator
	simErr    error
)

// sharedSimulator is one Simulator over an empty fake clientset, for every test that needs no
// volume objects in the scheduler's informers. Place takes the snapshot as an argument, so one
// framework serves every cluster; it is not safe for concurrent use, so no test here is parallel.
func sharedSimulator(t testing.TB) *Simulator {
	t.Helper()
	simOnce.Do(func() {
		logger := klog.Background()
		ctx := klog.NewContext(context.Background(), logger)
		simShared, simErr = buildSimulator(ctx, logger)
	})
	if simErr != nil {
		t.Fatalf("building the simulator: %v", simErr)
	}
	return simShared
}

func buildSimulator(ctx context.Context, logger klog.Logger, objs ...runtime.Object) (*Simulator, error) {
	sc, err := LoadSchedulerConfig(logger, shippedConfig, profileName)
	if err != nil {
		return nil, err
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	sim, err := NewSimulator(ctx, sc.Profile, client, factory)
	if err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return nil, fmt.Errorf("informer %v did not sync", typ)
		}
	}
	return sim, nil
}

// simulatorWith builds a Simulator whose informers hold objs (claims and volumes the
// VolumeBinding plugin reads); it lives as long as the test.
func simulatorWith(t *testing.T, objs ...runtime.Object) *Simulator {
	t.Helper()
	logger, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	sim, err := buildSimulator(ctx, logger, objs...)
	if err != nil {
		t.Fatalf("building the simulator: %v", err)
	}
	return sim
}

// --- builders ---

type nodeOpt func(*v1.Node)

func makeNode(name string, cpu int64, opts ...nodeOpt) *v1.Node {
	n := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-node-" + name),
			Labels: map[string]string{v1.LabelHostname: name}},
		Status: v1.NodeStatus{
			Capacity:    nodeResources(cpu),
			Allocatable: nodeResources(cpu),
			Conditions:  []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
	for _, o := range opts {
		o(n)
	}
	return n
}

func nodeResources(cpu int64) v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(cpu, resource.DecimalSI),
		v1.ResourceMemory: resource.MustParse("64Gi"),
		v1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
}

// pool labels the node as a node pool of type t.
func pool(t workloadtype.Type) nodeOpt {
	return func(n *v1.Node) { n.Labels[apis.LabelWorkloadType] = t.String() }
}

type podOpt func(*v1.Pod)

// makePod builds a Running, Ready pod of type t (None: untyped) bound to node ("" for pending),
// requesting 1 CPU, created an hour before t0, scheduled by likewise-scheduler and owned by a
// ReplicaSet of its own ("rs-<name>") unless an option says otherwise.
func makePod(name, node string, t workloadtype.Type, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: testNamespace, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour)),
			Labels:            map[string]string{},
			Annotations:       map[string]string{},
		},
		Spec: v1.PodSpec{
			NodeName:      node,
			SchedulerName: profileName,
			Containers: []v1.Container{{Name: "postgres", Image: "postgres:18", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("1Gi")},
			}}},
		},
		Status: v1.PodStatus{
			Phase:      v1.PodRunning,
			Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}},
		},
	}
	if t != workloadtype.None {
		p.Labels[apis.LabelWorkloadType] = t.String()
	}
	ownedBy("apps/v1", "ReplicaSet", "rs-"+name)(p)
	if node == "" {
		p.Status = v1.PodStatus{Phase: v1.PodPending}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(apiVersion, kind, name string) podOpt {
	return func(p *v1.Pod) {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name,
			UID: ownerUID(kind, name), Controller: ptr.To(true)}}
	}
}

func ownerUID(kind, name string) types.UID { return types.UID("uid-" + kind + "-" + name) }

// inRS makes the pod one of ReplicaSet name's.
func inRS(name string) podOpt { return ownedBy("apps/v1", "ReplicaSet", name) }

func bare() podOpt { return func(p *v1.Pod) { p.OwnerReferences = nil } }

func cpu(q string) podOpt {
	return func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse(q) }
}

func inNamespace(ns string) podOpt { return func(p *v1.Pod) { p.Namespace = ns } }

func label(k, v string) podOpt { return func(p *v1.Pod) { p.Labels[k] = v } }

func annotate(k, v string) podOpt { return func(p *v1.Pod) { p.Annotations[k] = v } }

func createdAt(at time.Time) podOpt {
	return func(p *v1.Pod) { p.CreationTimestamp = metav1.NewTime(at) }
}

func notReady() podOpt {
	return func(p *v1.Pod) {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionFalse}}
	}
}

func volume(vol v1.Volume) podOpt {
	return func(p *v1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, vol) }
}

func claimVolume(name, claim string) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{
		PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}
}

func nodeSelector(node string) podOpt {
	return func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{v1.LabelHostname: node} }
}

func makeNamespace(name string, labels map[string]string) *v1.Namespace {
	return &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func makeRS(name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, UID: ownerUID("ReplicaSet", name)},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas)},
	}
}

func makePVC(name, volume string) *v1.PersistentVolumeClaim {
	pvc := &v1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNamespace, UID: types.UID("uid-pvc-" + name)},
		Spec: v1.PersistentVolumeClaimSpec{
			AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			VolumeName:  volume,
			Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}},
		},
		Status: v1.PersistentVolumeClaimStatus{Phase: v1.ClaimBound},
	}
	if volume != "" {
		// What the PV controller sets on a bound claim; VolumeBinding insists on it.
		pvc.Annotations = map[string]string{"pv.kubernetes.io/bind-completed": "yes"}
	}
	return pvc
}

func makePV(name, claim string, src v1.PersistentVolumeSource, affinity *v1.VolumeNodeAffinity) *v1.PersistentVolume {
	pv := &v1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-pv-" + name)},
		Spec: v1.PersistentVolumeSpec{
			AccessModes:            []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")},
			PersistentVolumeSource: src,
			NodeAffinity:           affinity,
		},
		Status: v1.PersistentVolumeStatus{Phase: v1.VolumeBound},
	}
	if claim != "" {
		pv.Spec.ClaimRef = &v1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: testNamespace, Name: claim,
			UID: types.UID("uid-pvc-" + claim)}
	}
	return pv
}

// --- the planner harness ---

// harness builds a View and a planner over listers backed by plain cache indexers, with the real
// Simulator.
type harness struct {
	t          *testing.T
	cfg        Config
	nodes      []*v1.Node
	pods       []*v1.Pod
	namespaces []*v1.Namespace
	rs         []*appsv1.ReplicaSet
	sts        []*appsv1.StatefulSet
	pvcs       []*v1.PersistentVolumeClaim
	pvs        []*v1.PersistentVolume
	sim        *Simulator
	mem        *memory
	clock      *testingclock.FakeClock
	alive      bool
	leaseMsg   string
	// noAutoRS: do not add the ReplicaSets pods name (with replicas = their pods) that the test
	// did not add itself.
	noAutoRS bool
}

func newHarness(t *testing.T) *harness {
	return &harness{
		t:          t,
		cfg:        testConfig(),
		namespaces: []*v1.Namespace{makeNamespace(testNamespace, nil)},
		mem:        newMemory(),
		clock:      testingclock.NewFakeClock(t0),
		alive:      true,
	}
}

// testConfig is DefaultConfig with the lease the shipped scheduler config names.
func testConfig() Config {
	c := DefaultConfig()
	c.SchedulerLeaseNamespace, c.SchedulerLeaseName = "likewise-system", "likewise-scheduler"
	return c
}

func indexerOf[T runtime.Object](t *testing.T, objs []T, indexers cache.Indexers) cache.Indexer {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, indexers)
	for _, o := range objs {
		if err := idx.Add(o); err != nil {
			t.Fatalf("adding %T to an indexer: %v", o, err)
		}
	}
	return idx
}

func (h *harness) replicaSets() []*appsv1.ReplicaSet {
	out := append([]*appsv1.ReplicaSet(nil), h.rs...)
	if h.noAutoRS {
		return out
	}
	have := map[string]bool{}
	for _, rs := range h.rs {
		have[rs.Namespace+"/"+rs.Name] = true
	}
	counts := map[string]int32{}
	var order []string
	for _, p := range h.pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" {
			continue
		}
		key := p.Namespace + "/" + ref.Name
		if have[key] {
			continue
		}
		if _, ok := counts[key]; !ok {
			order = append(order, key)
		}
		counts[key]++
	}
	for _, key := range order {
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		rs := makeRS(name, counts[key])
		rs.Namespace = ns
		out = append(out, rs)
	}
	return out
}

func (h *harness) planner() *planner {
	sim := h.sim
	if sim == nil {
		sim = sharedSimulator(h.t)
	}
	nsIdx := indexerOf(h.t, h.namespaces, cache.Indexers{})
	return &planner{
		cfg:      &h.cfg,
		majority: 51,
		movable: &movability{
			cfg:        &h.cfg,
			namespaces: corelisters.NewNamespaceLister(nsIdx),
			claims:     corelisters.NewPersistentVolumeClaimLister(indexerOf(h.t, h.pvcs, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})),
			volumes:    corelisters.NewPersistentVolumeLister(indexerOf(h.t, h.pvs, cache.Indexers{})),
		},
		replicaSet:  appslisters.NewReplicaSetLister(indexerOf(h.t, h.replicaSets(), cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})),
		statefulSet: appslisters.NewStatefulSetLister(indexerOf(h.t, h.sts, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})),
		place:       sim.Place,
		mem:         h.mem,
	}
}

// plan runs one planning pass at the fake clock's time.
func (h *harness) plan(ctx context.Context) []Decision {
	return h.planner().plan(ctx, NewView(h.nodes, h.pods), h.clock.Now(), h.alive, h.leaseMsg)
}

// decision is the part of a Decision tests compare.
type decision struct {
	Pod     string
	Action  Action
	Reason  string
	Targets []string
}

func brief(ds []Decision) []decision {
	var out []decision
	for _, d := range ds {
		out = append(out, decision{Pod: d.Pod.Name, Action: d.Action, Reason: d.Reason, Targets: d.Targets})
	}
	return out
}
