package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/pkg/scheduler/apis/config"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/scheme"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	"github.com/likewise-dev/likewise/pkg/apis"
	// Registers likewise's plugin args with kube-scheduler's scheme, as the benchmark does.
	_ "github.com/likewise-dev/likewise/pkg/plugins"
)

// The generated scheduler configuration decodes strictly and validates as scheduler_perf loads it,
// and its likewise profiles are the shipped ones at the two percentages.
func TestSchedulerConfig(t *testing.T) {
	dir := t.TempDir()
	path, settings, err := writeConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := scheme.Codecs.UniversalDecoder().Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := obj.(*config.KubeSchedulerConfiguration)
	if err := validation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range cfg.Profiles {
		pct := percentageAdaptive
		if p.PercentageOfNodesToScore != nil {
			pct = "100"
			if *p.PercentageOfNodesToScore != 100 {
				pct = "other"
			}
		}
		var ours []string
		for _, pl := range p.Plugins.MultiPoint.Enabled {
			if pl.Name == "WorkloadTypeAffinity" || pl.Name == "NotebookSpread" {
				ours = append(ours, pl.Name)
			}
		}
		got[p.SchedulerName] = pct + " " + strings.Join(ours, ",")
	}
	want := map[string]string{
		"likewise-default-100":       "100 WorkloadTypeAffinity",
		"likewise-default-adaptive":  "adaptive WorkloadTypeAffinity",
		"likewise-notebook-100":      "100 NotebookSpread",
		"likewise-notebook-adaptive": "adaptive NotebookSpread",
		"default-100":                "100 ",
		"default-scheduler":          "adaptive ",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("profiles (-want,+got):\n%s", diff)
	}

	// Every setting's pods opt into profiles that exist, and exactly one likewise setting is
	// the shipped one per workload.
	shipped := map[string]int{}
	for key, s := range settings {
		for _, name := range []string{s.profile, s.notebookProfile} {
			if _, ok := want[name]; !ok {
				t.Errorf("%s: profile %q is not in the configuration", key, name)
			}
		}
		if s.shipped {
			shipped[strings.Split(key, "/")[0]]++
		}
	}
	for _, w := range workloads {
		if shipped[w.name] != 1 {
			t.Errorf("%s: %d shipped settings, want 1", w.name, shipped[w.name])
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Error(err)
	}
	// The per-setting pod templates name their profiles; none keeps a placeholder.
	files, err := filepath.Glob(filepath.Join(dir, "*-*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no pod templates written")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "SCHEDULER_NAME") {
			t.Errorf("%s keeps a SCHEDULER_NAME placeholder", f)
		}
	}
}

// A shipped percentage other than 100 or adaptive, or two different ones, is refused: the
// settings would no longer say what they measure.
func TestSchedulerConfigShipped(t *testing.T) {
	profiles := func(def, nb string) string {
		return "profiles:\n- schedulerName: default-scheduler\n" + def + "- schedulerName: notebook-scheduler\n" + nb
	}
	for _, tc := range []struct {
		name     string
		manifest string
		want     string // shipped percentage; "" for an error
	}{
		{"both 100", profiles("  percentageOfNodesToScore: 100\n", "  percentageOfNodesToScore: 100\n"), "100"},
		{"both adaptive", profiles("", ""), "adaptive"},
		{"global 100", "percentageOfNodesToScore: 100\n" + profiles("", ""), "100"},
		{"zero is adaptive", profiles("  percentageOfNodesToScore: 0\n", ""), "adaptive"},
		{"disagree", profiles("  percentageOfNodesToScore: 100\n", ""), ""},
		{"other", profiles("  percentageOfNodesToScore: 30\n", "  percentageOfNodesToScore: 30\n"), ""},
		{"no notebook profile", "profiles:\n- schedulerName: default-scheduler\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, err := schedulerConfig([]byte(tc.manifest))
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %q, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("shipped percentage %q, want %q", got, tc.want)
			}
		})
	}
}

func node(name, pool string) v1.Node {
	n := v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if pool != "" {
		n.Labels[apis.LabelWorkloadType] = pool
	}
	return n
}

var uid int

func pod(ns, nodeName, typ, user string) *v1.Pod {
	uid++
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p", UID: types.UID(string(rune('a' + uid))), Labels: map[string]string{}},
		Spec:       v1.PodSpec{NodeName: nodeName},
	}
	if typ != "" {
		p.Labels[apis.LabelWorkloadType] = typ
	}
	if user != "" {
		p.Labels[apis.LabelComponent] = apis.ComponentSingleUserServer
		p.Annotations = map[string]string{apis.AnnotationHubUsername: user}
	}
	return p
}

func TestQualities(t *testing.T) {
	o := newObserver([]v1.Node{node("n1", ""), node("n2", "oltp"), node("n3", "")})
	for _, p := range []*v1.Pod{
		// Initial population: n1 is OLTP by its pods, n2 an OLTP pool with one OLAP pod (mixing 1).
		pod("init-db", "n1", "oltp", ""),
		pod("init-db", "n1", "oltp", ""),
		pod("init-db", "n2", "olap", ""),
		pod("init-notebook", "n3", "", "someone"),
		// Setting a: an OLAP pod on n1 (mixing 1 there), an OLTP pod on the pool, one on n3.
		pod("a", "n1", "olap", ""),
		pod("a", "n2", "oltp", ""),
		pod("a", "n3", "oltp", ""),
		// Setting b: notebook servers; u1 twice on n1 counts once; n2 has none. The initial
		// hub's user is another hub's.
		pod("b", "n1", "", "u1"),
		pod("b", "n1", "", "u1"),
		pod("b", "n1", "", "u2"),
		pod("b", "n3", "", "u3"),
		// Pending pods are not placed.
		pod("b", "", "", "u4"),
	} {
		o.observe(p)
	}
	// A pod seen again (an update after its bind: a deletion) keeps its first placement.
	moved := pod("a", "n1", "olap", "")
	o.observe(moved)
	moved.Spec.NodeName = "n3"
	o.observe(moved)

	got := o.qualities()
	want := []quality{
		{namespace: "a", mixing: &mixing{Mixing: 2 + 1 + 0, Initial: 1, TypedPods: 7}},
		{namespace: "b", users: &userSpread{Min: 0, Max: 2, Users: 3, Stddev: 0.816496580927726, Nodes: []int{1, 1, 1}}},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(quality{})); diff != "" {
		t.Errorf("qualities (-want,+got):\n%s", diff)
	}
}

// Rounds repeat the settings with every even round reversed (ABBA), each round's names their own.
func TestInRounds(t *testing.T) {
	s := []setting{{name: "likewise-adaptive"}, {name: "default-adaptive"}}
	var got []string
	for _, x := range inRounds(s, 3) {
		got = append(got, fmt.Sprintf("%s %s %d", x.name, x.base, x.round))
	}
	want := []string{
		"likewise-adaptive likewise-adaptive 1", "default-adaptive default-adaptive 1",
		"default-adaptive-r2 default-adaptive 2", "likewise-adaptive-r2 likewise-adaptive 2",
		"likewise-adaptive-r3 likewise-adaptive 3", "default-adaptive-r3 default-adaptive 3",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("inRounds (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"likewise-adaptive"}, names(inRounds(s[:1], 1))); diff != "" {
		t.Errorf("one round (-want,+got):\n%s", diff)
	}
}

func names(s []setting) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.name)
	}
	return out
}
