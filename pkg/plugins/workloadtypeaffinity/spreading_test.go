package workloadtypeaffinity

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

func TestSpreadScore(t *testing.T) {
	tests := []struct {
		name                       string
		typeScore, siblings, least int64
		want                       int64
	}{
		{name: "fewest siblings: the type score in full", typeScore: 100, siblings: 0, least: 0, want: 100},
		{name: "fewest siblings, free node", typeScore: 50, siblings: 2, least: 2, want: 50},
		{name: "more siblings than the fewest: nothing", typeScore: 100, siblings: 1, least: 0, want: 0},
		{name: "more siblings, other type", typeScore: 0, siblings: 3, least: 1, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := spreadScore(tt.typeScore, tt.siblings, tt.least); got != tt.want {
				t.Errorf("spreadScore(%d, %d, %d) = %d, want %d", tt.typeScore, tt.siblings, tt.least, got, tt.want)
			}
		})
	}
	for r := range workloadtype.NumRelations {
		for _, sib := range []int64{0, 1, 5, 1000} {
			if gotR, gotSib := unpackScore(packScore(r, sib)); gotR != r || gotSib != sib {
				t.Errorf("unpackScore(packScore(%v, %d)) = %v, %d", r, sib, gotR, gotSib)
			}
		}
	}
}

// TestNormalizeScore is the rule over a set of nodes, given each node's relation to the pod and
// its siblings, as Score packs them; default scores (100, 50, 20, 0).
func TestNormalizeScore(t *testing.T) {
	type in struct {
		r        workloadtype.Relation
		siblings int64
	}
	same, free, mixed, other := workloadtype.SameType, workloadtype.Free, workloadtype.Mixed, workloadtype.OtherType
	tests := []struct {
		name  string
		nodes []in
		want  []int64
	}{
		{name: "no siblings: type scores", nodes: []in{{same, 0}, {free, 0}, {mixed, 0}, {other, 0}}, want: []int64{100, 50, 20, 0}},
		{name: "a replica on the same-type node: the free node leads", nodes: []in{{same, 1}, {free, 0}, {other, 0}}, want: []int64{0, 50, 0}},
		{name: "equal siblings on suitable nodes: type decides", nodes: []in{{same, 1}, {free, 1}, {other, 0}}, want: []int64{100, 50, 0}},
		{name: "two same-type nodes: the one with fewer", nodes: []in{{same, 2}, {same, 1}, {free, 1}}, want: []int64{0, 100, 50}},
		{name: "only mixed and other-type nodes have fewer: the type keeps the replica", nodes: []in{{same, 1}, {mixed, 0}, {other, 0}}, want: []int64{100, 20, 0}},
		{name: "a mixed node with more siblings than the least gets 0", nodes: []in{{free, 0}, {mixed, 2}}, want: []int64{50, 0}},
		{name: "no suitable node: type scores whatever the siblings", nodes: []in{{mixed, 3}, {other, 0}}, want: []int64{20, 0}},
		{name: "no nodes", nodes: nil, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, defaultArgs(), nil, nil)
			var list fwk.NodeScoreList
			for i, n := range tt.nodes {
				list = append(list, fwk.NodeScore{Name: fmt.Sprintf("n%d", i), Score: packScore(n.r, n.siblings)})
			}
			if s := f.pl.NormalizeScore(ctx, framework.NewCycleState(), dbPod("p", "oltp", ""), list); !s.IsSuccess() {
				t.Fatalf("NormalizeScore: %v", s)
			}
			var got []int64
			for _, ns := range list {
				got = append(got, ns.Score)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
		})
	}
}

// owned makes p controlled by the StatefulSet name.
func owned(p *v1.Pod, name string) *v1.Pod {
	p.OwnerReferences = []metav1.OwnerReference{controlledBy("apps/v1", "StatefulSet", name)}
	return p
}

func withLabels(p *v1.Pod, kv ...string) *v1.Pod {
	for i := 0; i+1 < len(kv); i += 2 {
		p.Labels[kv[i]] = kv[i+1]
	}
	return p
}

func antiAffinity(p *v1.Pod, required bool, term v1.PodAffinityTerm) *v1.Pod {
	a := &v1.PodAntiAffinity{}
	if required {
		a.RequiredDuringSchedulingIgnoredDuringExecution = []v1.PodAffinityTerm{term}
	} else {
		a.PreferredDuringSchedulingIgnoredDuringExecution = []v1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}}
	}
	p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: a}
	return p
}

func clusterTerm(cluster string) v1.PodAffinityTerm {
	return v1.PodAffinityTerm{
		TopologyKey:   v1.LabelHostname,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{apis.LabelCNPGCluster: cluster}},
	}
}

// TestScoreSpreading: a workload's own spreading wins among the nodes that fit; type decides
// between equals. PreScore -> Score -> NormalizeScore over four nodes of an OLTP pod: two oltp
// nodes, a free and an olap one, holding the pod's siblings as each case says.
func TestScoreSpreading(t *testing.T) {
	nodes := []*v1.Node{node("oltp-a", ""), node("oltp-b", "oltp"), node("free", ""), node("olap", "")}
	// The nodes' types, whatever else a case adds.
	base := []*v1.Pod{dbPod("t1", "oltp", "oltp-a"), dbPod("a1", "olap", "olap")}
	sts := func(name, node string) *v1.Pod { return owned(dbPod(name, "oltp", node), "db") }
	cnpg := func(name, cluster, node string) *v1.Pod {
		return withLabels(dbPod(name, "oltp", node), apis.LabelCNPGCluster, cluster)
	}
	other := func(p *v1.Pod, ns string) *v1.Pod { p.Namespace = ns; return p }
	byType := map[string]int64{"oltp-a": 100, "oltp-b": 100, "free": 50, "olap": 0}

	tests := []struct {
		name      string
		pod       *v1.Pod
		residents []*v1.Pod
		want      map[string]int64
		wantError string
	}{
		{
			name: "no sibling anywhere: by type",
			pod:  sts("db-0", ""),
			want: byType,
		},
		{
			name:      "a StatefulSet's replica on one oltp node: the other takes the next",
			pod:       sts("db-1", ""),
			residents: []*v1.Pod{sts("db-0", "oltp-a")},
			want:      map[string]int64{"oltp-a": 0, "oltp-b": 100, "free": 50, "olap": 0},
		},
		{
			name:      "replicas on both oltp nodes: the free node, never the olap one",
			pod:       sts("db-2", ""),
			residents: []*v1.Pod{sts("db-0", "oltp-a"), sts("db-1", "oltp-b")},
			want:      map[string]int64{"oltp-a": 0, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name:      "a replica on every node: by type again",
			pod:       sts("db-4", ""),
			residents: []*v1.Pod{sts("db-0", "oltp-a"), sts("db-1", "oltp-b"), sts("db-2", "free"), sts("db-3", "olap")},
			// The replicas typed the free node oltp, and the olap node mixed.
			want: map[string]int64{"oltp-a": 100, "oltp-b": 100, "free": 100, "olap": 20},
		},
		{
			name:      "a replica on every suitable node: the type keeps the next off the olap node",
			pod:       sts("db-3", ""),
			residents: []*v1.Pod{sts("db-0", "oltp-a"), sts("db-1", "oltp-b"), sts("db-2", "free")},
			// db-2 typed the free node oltp.
			want: map[string]int64{"oltp-a": 100, "oltp-b": 100, "free": 100, "olap": 0},
		},
		{
			name:      "another StatefulSet's pods are no siblings",
			pod:       sts("db-1", ""),
			residents: []*v1.Pod{owned(dbPod("other-0", "oltp", "oltp-b"), "other"), owned(dbPod("other-1", "oltp", "free"), "other")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 100, "free": 100, "olap": 0},
		},
		{
			name:      "a terminating replica is leaving: not counted",
			pod:       sts("db-1", ""),
			residents: []*v1.Pod{func() *v1.Pod { p := sts("db-0", "oltp-b"); now := metav1.Now(); p.DeletionTimestamp = &now; return p }()},
			want:      byType,
		},
		{
			name:      "preferred anti-affinity (CloudNativePG): pods of its cluster, whoever owns them",
			pod:       antiAffinity(cnpg("pg-3", "pg", ""), false, clusterTerm("pg")),
			residents: []*v1.Pod{cnpg("pg-1", "pg", "oltp-b"), cnpg("pg-2", "pg", "free"), cnpg("other-1", "other", "oltp-a")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 0, "olap": 0},
		},
		{
			name:      "declared terms replace the controller: its replicas the term does not select are no siblings",
			pod:       owned(antiAffinity(cnpg("db-1", "pg", ""), false, clusterTerm("pg")), "db"),
			residents: []*v1.Pod{sts("db-0", "oltp-a"), cnpg("pg-1", "pg", "oltp-b")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name: "required anti-affinity counts too",
			pod:  antiAffinity(cnpg("pg-2", "pg", ""), true, clusterTerm("pg")),
			// Filter (InterPodAffinity) would have removed oltp-b; scored anyway, it loses.
			residents: []*v1.Pod{cnpg("pg-1", "pg", "oltp-b")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name:      "an anti-affinity term selects in its own namespace by default",
			pod:       antiAffinity(cnpg("pg-2", "pg", ""), false, clusterTerm("pg")),
			residents: []*v1.Pod{other(cnpg("pg-1", "pg", "oltp-b"), "elsewhere")},
			want:      byType,
		},
		{
			name: "an empty namespaceSelector selects every namespace",
			pod: func() *v1.Pod {
				term := clusterTerm("pg")
				term.NamespaceSelector = &metav1.LabelSelector{}
				return antiAffinity(cnpg("pg-2", "pg", ""), false, term)
			}(),
			residents: []*v1.Pod{other(cnpg("pg-1", "pg", "oltp-b"), "elsewhere")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name: "named namespaces",
			pod: func() *v1.Pod {
				term := clusterTerm("pg")
				term.Namespaces = []string{"elsewhere"}
				return antiAffinity(cnpg("pg-2", "pg", ""), false, term)
			}(),
			residents: []*v1.Pod{other(cnpg("pg-1", "pg", "oltp-b"), "elsewhere"), cnpg("pg-0", "pg", "oltp-a")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name: "topology spread constraint with matchLabelKeys: this revision's pods only",
			pod: func() *v1.Pod {
				p := withLabels(sts("db-1", ""), "app", "db", "rev", "2")
				p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
					MaxSkew: 1, TopologyKey: v1.LabelHostname, WhenUnsatisfiable: v1.DoNotSchedule,
					LabelSelector:  &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
					MatchLabelKeys: []string{"rev"},
				}}
				return p
			}(),
			residents: []*v1.Pod{withLabels(sts("db-0", "oltp-b"), "app", "db", "rev", "2"), withLabels(sts("old-0", "oltp-a"), "app", "db", "rev", "1")},
			want:      map[string]int64{"oltp-a": 100, "oltp-b": 0, "free": 50, "olap": 0},
		},
		{
			name: "a zone constraint counts per node too",
			pod: func() *v1.Pod {
				p := withLabels(dbPod("db-1", "oltp", ""), "app", "db")
				p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{
					MaxSkew: 1, TopologyKey: v1.LabelTopologyZone, WhenUnsatisfiable: v1.ScheduleAnyway,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
				}}
				return p
			}(),
			residents: []*v1.Pod{withLabels(dbPod("db-0", "oltp", "oltp-a"), "app", "db")},
			want:      map[string]int64{"oltp-a": 0, "oltp-b": 100, "free": 50, "olap": 0},
		},
		{
			name: "an invalid selector is an error naming the term",
			pod: func() *v1.Pod {
				term := clusterTerm("pg")
				term.LabelSelector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Near"}}
				return antiAffinity(cnpg("pg-2", "pg", ""), false, term)
			}(),
			wantError: `reading the spreading of pod db/pg-2: spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm: labelSelector: "Near" is not a valid label selector operator`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, defaultArgs(), nodes, append(append([]*v1.Pod(nil), base...), tt.residents...))
			got, status := f.score(ctx, t, tt.pod)
			gotError := ""
			if !status.IsSuccess() {
				gotError = status.AsError().Error()
			}
			if gotError != tt.wantError {
				t.Errorf("PreScore error = %q, want %q", gotError, tt.wantError)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestNormalizeScoreRejectsForeignScores: a score Score cannot return is an error, not a panic
// or a score out of range.
func TestNormalizeScoreRejectsForeignScores(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), nil, nil)
	scores := fwk.NodeScoreList{{Name: "a", Score: 100}, {Name: "b", Score: -3}}
	s := f.pl.NormalizeScore(ctx, framework.NewCycleState(), dbPod("p", "oltp", ""), scores)
	if want := `node "b": score -3 is not one Score returned`; s.IsSuccess() || s.AsError().Error() != want {
		t.Errorf("NormalizeScore = %v, want the error %q", s, want)
	}
}

// TestSpreadingDoesNotAllocate holds Score and NormalizeScore to their contract for pods with
// siblings: no allocation per node or per call.
func TestSpreadingDoesNotAllocate(t *testing.T) {
	pods := map[string]*v1.Pod{
		"controller":    owned(dbPod("db-9", "oltp", ""), "db"),
		"anti-affinity": antiAffinity(withLabels(dbPod("pg-9", "oltp", ""), apis.LabelCNPGCluster, "pg"), false, clusterTerm("pg")),
	}
	for name, pod := range pods {
		t.Run(name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			residents := []*v1.Pod{
				owned(dbPod("db-0", "oltp", "a"), "db"),
				withLabels(dbPod("pg-0", "oltp", "a"), apis.LabelCNPGCluster, "pg"),
				st.MakePod().Namespace("db").Name("web").UID("web").Node("a").Label("app", "web").Obj(),
			}
			f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("a", ""), node("b", "")}, residents)
			state := framework.NewCycleState()
			if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
				t.Fatalf("PreScore: %v", s)
			}
			// The snapshot lists nodes in no fixed order: take node a by name.
			i := slices.IndexFunc(f.NodeInfos, func(ni fwk.NodeInfo) bool { return ni.Node().Name == "a" })
			ni := f.NodeInfos[i]
			if got, _ := f.pl.Score(ctx, state, pod, ni); got != packScore(workloadtype.SameType, 1) {
				t.Fatalf("Score = %d, want %d (same type, one sibling)", got, packScore(workloadtype.SameType, 1))
			}
			allocs := testing.AllocsPerRun(100, func() {
				if _, s := f.pl.Score(ctx, state, pod, ni); !s.IsSuccess() {
					t.Fatalf("Score: %v", s)
				}
			})
			if allocs != 0 {
				t.Errorf("Score allocates %v times per call, want 0", allocs)
			}
			list := make(fwk.NodeScoreList, 2)
			allocs = testing.AllocsPerRun(100, func() {
				list[0] = fwk.NodeScore{Name: "a", Score: packScore(workloadtype.SameType, 1)}
				list[1] = fwk.NodeScore{Name: "b", Score: packScore(workloadtype.Free, 0)}
				if s := f.pl.NormalizeScore(ctx, state, pod, list); !s.IsSuccess() {
					t.Fatalf("NormalizeScore: %v", s)
				}
			})
			if allocs != 0 {
				t.Errorf("NormalizeScore allocates %v times per call, want 0", allocs)
			}
			if diff := cmp.Diff(fwk.NodeScoreList{{Name: "a", Score: 0}, {Name: "b", Score: 50}}, list); diff != "" {
				t.Errorf("normalized (-want,+got):\n%s", diff)
			}
		})
	}
}
