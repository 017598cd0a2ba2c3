package rebalancer

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

func TestComparePodKeys(t *testing.T) {
	words := []string{"", "a", "a-b", "a0", "ab", "b", "db", "db-1", "dba", "a/b", "-", "0", "z"}
	pod := func(ns, name string) *v1.Pod {
		return &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	for _, ns1 := range words {
		for _, ns2 := range words {
			for _, n1 := range words {
				for _, n2 := range words {
					want := strings.Compare(ns1+"/"+n1, ns2+"/"+n2)
					if got := comparePodKeys(pod(ns1, n1), pod(ns2, n2)); got != want {
						t.Errorf("comparePodKeys(%q/%q, %q/%q) = %d, want %d (as their keys compare)", ns1, n1, ns2, n2, got, want)
					}
				}
			}
		}
	}
}

// snapshotCluster has every kind of pod the snapshot treats apart: plain ones, pod affinity,
// required anti-affinity, claims, host ports, a nominated pending pod, a finished one.
func snapshotCluster() ([]*v1.Node, []*v1.Pod) {
	nodes := []*v1.Node{makeNode("n1", 8), makeNode("n2", 8), makeNode("n3", 8, pool(olap))}
	nodes[0].Status.Images = []v1.ContainerImage{{Names: []string{"postgres:18"}, SizeBytes: 400 << 20}}
	nodes[1].Status.Images = nodes[0].Status.Images
	affinity := &v1.Affinity{PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
		Weight: 1, PodAffinityTerm: v1.PodAffinityTerm{TopologyKey: v1.LabelHostname,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}}}}
	anti := &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{{
		TopologyKey: v1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}}}}}
	withAffinity := func(a *v1.Affinity) podOpt { return func(p *v1.Pod) { p.Spec.Affinity = a } }
	hostPort := func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 5432, HostPort: 5432}}
	}
	memory := func(q string) podOpt {
		return func(p *v1.Pod) { p.Spec.Containers[0].Resources.Requests[v1.ResourceMemory] = resource.MustParse(q) }
	}
	pods := []*v1.Pod{
		makePod("plain-1", "n1", oltp),
		makePod("plain-2", "n1", workloadtype.None, cpu("250m"), memory("3Gi")),
		makePod("olap-1", "n1", olap, label("app", "db")),
		makePod("affine", "n2", workloadtype.None, withAffinity(affinity), label("app", "web")),
		makePod("anti", "n2", oltp, withAffinity(anti), label("app", "db")),
		makePod("claim", "n2", olap, volume(claimVolume("data", "data-claim"))),
		makePod("port", "n3", olap, hostPort),
		makePod("plain-3", "n3", olap),
		makePod("done", "n3", olap, func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }),
		makePod("nominated", "", oltp, func(p *v1.Pod) { p.Status.NominatedNodeName = "n3" }),
	}
	return nodes, pods
}

// snapshotSummary is what the scheduler's plugins read of a snapshot, in a comparable form.
type snapshotSummary struct {
	Nodes    map[string]nodeSummary
	Affinity []string
	Anti     []string
	Claims   map[string]bool
}

type nodeSummary struct {
	Pods, WithAffinity, WithAnti []string
	Requested, NonZero, Alloc    framework.Resource
	Ports                        fwk.HostPortInfo
	PVCRefCounts                 map[string]int
	Images                       map[string]fwk.ImageStateSummary
}

func summarizeSnapshot(t *testing.T, snap fwk.SharedLister, claims ...string) snapshotSummary {
	t.Helper()
	names := func(pods []fwk.PodInfo) []string {
		var out []string
		for _, p := range pods {
			out = append(out, fmt.Sprintf("%s@%s deleting=%v", p.GetPod().Name, p.GetPod().Spec.NodeName, p.GetPod().DeletionTimestamp != nil))
		}
		slices.Sort(out)
		return out
	}
	nodeNames := func(list []fwk.NodeInfo, err error) []string {
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, n := range list {
			out = append(out, n.Node().Name)
		}
		slices.Sort(out)
		return out
	}
	s := snapshotSummary{Nodes: map[string]nodeSummary{}, Claims: map[string]bool{}}
	list, err := snap.NodeInfos().List()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range list {
		ni := n.(*framework.NodeInfo)
		images := map[string]fwk.ImageStateSummary{}
		for name, st := range ni.ImageStates {
			images[name] = *st
		}
		s.Nodes[ni.Node().Name] = nodeSummary{Pods: names(ni.Pods), WithAffinity: names(ni.PodsWithAffinity), WithAnti: names(ni.PodsWithRequiredAntiAffinity),
			Requested: *ni.Requested, NonZero: *ni.NonZeroRequested, Alloc: *ni.Allocatable, Ports: ni.UsedPorts,
			PVCRefCounts: ni.PVCRefCounts, Images: images}
	}
	s.Affinity = nodeNames(snap.NodeInfos().HavePodsWithAffinityList())
	s.Anti = nodeNames(snap.NodeInfos().HavePodsWithRequiredAntiAffinityList())
	for _, c := range claims {
		s.Claims[c] = snap.StorageInfos().IsPVCUsedByPods(c)
	}
	return s
}

// TestViewSnapshot: the view's snapshot, built with kept PodInfos or new ones, holds what
// cache.NewSnapshot of the same pods holds, and a pod replaced by a changed object counts as it
// is now.
func TestViewSnapshot(t *testing.T) {
	nodes, pods := snapshotCluster()
	claims := []string{testNamespace + "/data-claim", testNamespace + "/other"}
	infos := newPodInfos()
	for round := range 3 {
		if round == 2 {
			changed := pods[0].DeepCopy()
			changed.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("3")
			pods[0] = changed
		}
		for name, in := range map[string]*podInfos{"kept": infos, "none": nil} {
			v := newView(nodes, pods, in)
			want := summarizeSnapshot(t, cache.NewSnapshot(v.bound, nodes), claims...)
			if diff := cmp.Diff(want, summarizeSnapshot(t, v.Snapshot, claims...)); diff != "" {
				t.Errorf("round %d, PodInfos %s: snapshot (-cache.NewSnapshot,+view):\n%s", round, name, diff)
			}
		}
	}
	if got := infos.byUID[pods[0].UID].info.CalculateResource().Resource.GetMilliCPU(); got != 3000 {
		t.Errorf("the changed pod's kept PodInfo requests %dm CPU, want 3000m", got)
	}
	if _, ok := infos.byUID["uid-done"]; ok {
		t.Error("a finished pod's PodInfo is kept")
	}
}

// TestViewEvicted: a move decided in the cycle changes the view's snapshot as rebuilding it from
// the pods as the scheduler will see them would (the leaving pod still on its node, its
// replacement on the target), whether it is applied in place or not, and the NodeInfos it
// changes get new generations, which is how the plugins' caches learn of a change.
func TestViewEvicted(t *testing.T) {
	claims := []string{testNamespace + "/data-claim"}
	for _, tt := range []struct {
		pod, to string
		inPlace bool
	}{
		{pod: "plain-1", to: "n3", inPlace: true},
		{pod: "olap-1", to: "n3", inPlace: true},
		{pod: "plain-3", to: "", inPlace: true}, // no known target: it only leaves
		{pod: "claim", to: "n1", inPlace: true},
		{pod: "anti", to: "n1", inPlace: false},       // n1 has no pod with affinity yet: the lists change
		{pod: "anti", to: "n-unknown", inPlace: true}, // its replacement has nowhere known to go
		{pod: "port", to: "n1", inPlace: true},
	} {
		t.Run(tt.pod+"-to-"+tt.to, func(t *testing.T) {
			for _, in := range []*podInfos{newPodInfos(), nil} {
				nodes, pods := snapshotCluster()
				v := newView(nodes, pods, in)
				pod := pods[slices.IndexFunc(pods, func(p *v1.Pod) bool { return p.Name == tt.pod })]
				before := v.Snapshot
				gens := map[string]int64{}
				for _, n := range []string{pod.Spec.NodeName, tt.to} {
					if ni := nodeInfo(before, n); ni != nil {
						gens[n] = ni.Generation
					}
				}
				v.evicted(pod, workloadtype.Resident(pod), tt.to)
				want := summarizeSnapshot(t, cache.NewSnapshot(v.bound, nodes), claims...)
				if diff := cmp.Diff(want, summarizeSnapshot(t, v.Snapshot, claims...)); diff != "" {
					t.Errorf("snapshot after the move (-rebuilt,+view):\n%s", diff)
				}
				if got := v.Snapshot == before; got != tt.inPlace {
					t.Errorf("applied in place: %v, want %v", got, tt.inPlace)
				}
				if v.Snapshot != before {
					return
				}
				for n, g := range gens {
					if nodeInfo(v.Snapshot, n).Generation == g {
						t.Errorf("node %s changed in place and kept its generation %d", n, g)
					}
				}
			}
		})
	}
}

// TestViewOrder: the view's pods are in namespace/name order whatever order the informer lists
// them in.
func TestViewOrder(t *testing.T) {
	var pods []*v1.Pod
	for _, ns := range []string{"a", "a-b", "ab", "b"} {
		for i := range 5 {
			pods = append(pods, makePod(fmt.Sprintf("p%d", i), "n1", oltp, inNamespace(ns)))
		}
	}
	want := make([]string, 0, len(pods))
	for _, p := range pods {
		want = append(want, p.Namespace+"/"+p.Name)
	}
	slices.Sort(want)
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(pods), func(i, j int) { pods[i], pods[j] = pods[j], pods[i] })
	var got []string
	for _, p := range NewView([]*v1.Node{makeNode("n1", 8)}, pods).Pods {
		got = append(got, p.Namespace+"/"+p.Name)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want,+got):\n%s", diff)
	}
}
