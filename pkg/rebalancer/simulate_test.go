package rebalancer

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2/ktesting"

	"github.com/likewise-dev/likewise/pkg/plugins/workloadtypeaffinity"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

const (
	oltp = workloadtype.OLTP
	olap = workloadtype.OLAP
	none = workloadtype.None
)

func TestLoadSchedulerConfig(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	got, err := LoadSchedulerConfig(logger, shippedConfig, profileName)
	if err != nil {
		t.Fatalf("LoadSchedulerConfig(%s): %v", shippedConfig, err)
	}
	if got.Profile.SchedulerName != profileName {
		t.Errorf("profile %q, want %q", got.Profile.SchedulerName, profileName)
	}
	if diff := cmp.Diff([]string{"likewise-system", "likewise-scheduler", "51"},
		[]string{got.LeaseNamespace, got.LeaseName, strconv.Itoa(int(got.MajorityPercent))}); diff != "" {
		t.Errorf("lease and majority (-want,+got):\n%s", diff)
	}
	if !enabled(got.Profile.Plugins, workloadtypeaffinity.Name) {
		t.Errorf("the loaded profile does not enable %s", workloadtypeaffinity.Name)
	}
}

func TestLoadSchedulerConfigOwnFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(t *testing.T, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const header = "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nleaderElection:\n  leaderElect: false\n"
	tests := []struct {
		name         string
		file         string
		profile      string
		wantMajority int32
		wantLease    string
		wantErr      string // the whole message, or its prefix when it ends in "..."
	}{
		{
			name: "majority and no leader election",
			file: header + `profiles:
- schedulerName: db
  plugins:
    multiPoint:
      enabled:
      - name: WorkloadTypeAffinity
  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      majorityPercent: 60
`,
			profile:      "db",
			wantMajority: 60,
			wantLease:    "/",
		},
		{
			name: "its score disabled",
			file: header + `profiles:
- schedulerName: db
  plugins:
    multiPoint:
      enabled:
      - name: WorkloadTypeAffinity
    score:
      disabled:
      - name: WorkloadTypeAffinity
`,
			profile: "db",
			wantErr: `scheduler config ` + path + `: profile "db" does not enable WorkloadTypeAffinity: the rebalancer moves pods only where that plugin would place them`,
		},
		{
			// kube-scheduler's validation does not know our args; the plugin refuses them only
			// once the rebalancer leads and builds its simulator.
			name: "bad args",
			file: header + `profiles:
- schedulerName: db
  plugins:
    multiPoint:
      enabled:
      - name: WorkloadTypeAffinity
  pluginConfig:
  - name: WorkloadTypeAffinity
    args:
      majorityPercent: 40
`,
			profile: "db",
			wantErr: `scheduler config ` + path + `: profiles[db].pluginConfig[WorkloadTypeAffinity].args.majorityPercent: Invalid value: 40: must be between 51 and 100: a node needs a strict majority of one type to have that type`,
		},
		{
			name:    "unknown field",
			file:    header + "profiles:\n- schedulerName: db\n  percentageOfNodesToScor: 100\n",
			profile: "db",
			wantErr: "scheduler config " + path + ": ...",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			write(t, tt.file)
			got, err := LoadSchedulerConfig(logger, path, tt.profile)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if got.MajorityPercent != tt.wantMajority {
				t.Errorf("MajorityPercent = %d, want %d", got.MajorityPercent, tt.wantMajority)
			}
			if l := got.LeaseNamespace + "/" + got.LeaseName; l != tt.wantLease {
				t.Errorf("lease %q, want %q", l, tt.wantLease)
			}
		})
	}
}

func TestLoadSchedulerConfigErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	tests := []struct {
		name    string
		path    string
		profile string
		wantErr string
	}{
		{
			name:    "unknown profile",
			path:    shippedConfig,
			profile: "default-scheduler",
			wantErr: `scheduler config ` + shippedConfig + `: no profile "default-scheduler" (profiles: ["likewise-scheduler" "notebook-scheduler"])`,
		},
		{
			name:    "profile without WorkloadTypeAffinity",
			path:    shippedConfig,
			profile: "notebook-scheduler",
			wantErr: `scheduler config ` + shippedConfig + `: profile "notebook-scheduler" does not enable WorkloadTypeAffinity: the rebalancer moves pods only where that plugin would place them`,
		},
		{
			name:    "missing file",
			path:    missing,
			profile: profileName,
			wantErr: "scheduler config " + missing + ": ...",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, _ := ktesting.NewTestContext(t)
			got, err := LoadSchedulerConfig(logger, tt.path, tt.profile)
			if got != nil {
				t.Errorf("got a config for profile %q", got.Profile.SchedulerName)
			}
			checkErr(t, err, tt.wantErr)
		})
	}
}

// checkErr compares err with want: "" for none, a whole message, or a prefix ending in "...".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	got := ""
	if err != nil {
		got = err.Error()
	}
	if prefix, ok := strings.CutSuffix(want, "..."); ok && want != "" {
		if !strings.HasPrefix(got, prefix) || len(got) == len(prefix) {
			t.Errorf("error %q, want %q followed by a cause", got, prefix)
		}
		return
	}
	if got != want {
		t.Errorf("error (-want,+got):\n%s", cmp.Diff(want, got))
	}
}

func TestPlace(t *testing.T) {
	// Nodes of every relation to an OLAP pod, each with room, plus a full one.
	nodes := []*v1.Node{
		makeNode("same", 8), makeNode("free", 8), makeNode("mixed", 8), makeNode("other", 8), makeNode("full", 2),
		makeNode("pool-olap", 8, pool(olap)), makeNode("pool-oltp", 8, pool(oltp)),
	}
	base := []*v1.Pod{
		makePod("same-1", "same", olap), makePod("same-2", "same", olap),
		makePod("mixed-1", "mixed", oltp), makePod("mixed-2", "mixed", olap),
		makePod("other-1", "other", oltp), makePod("other-2", "other", oltp),
		makePod("full-1", "full", olap, cpu("2")),
	}
	tests := []struct {
		name  string
		nodes []*v1.Node
		pods  []*v1.Pod
		pod   *v1.Pod
		want  Placement
		// wantOrder: the feasible nodes' total scores strictly fall in this order.
		wantOrder []string
	}{
		{
			name:  "new olap pod: same type first, then free, mixed, other; the full node is infeasible",
			nodes: nodes[:5],
			pods:  base,
			pod:   makePod("new", "", olap),
			want: Placement{
				Feasible: []string{"free", "mixed", "other", "same"},
				Best:     []string{"same"},
			},
			wantOrder: []string{"same", "free", "mixed", "other"},
		},
		{
			name:  "new oltp pod prefers the oltp node",
			nodes: nodes[:5],
			pods:  base,
			pod:   makePod("new", "", oltp),
			want: Placement{
				Feasible: []string{"free", "mixed", "other", "same"},
				Best:     []string{"other"},
			},
			wantOrder: []string{"other", "free", "mixed", "same"},
		},
		{
			name:  "a pool label wins over the pods on the node",
			nodes: []*v1.Node{nodes[1], nodes[5], nodes[6]},
			pods:  []*v1.Pod{makePod("p1", "pool-olap", oltp), makePod("p2", "pool-olap", oltp), makePod("p3", "pool-oltp", olap)},
			pod:   makePod("new", "", olap),
			want: Placement{
				Feasible: []string{"free", "pool-olap", "pool-oltp"},
				Best:     []string{"pool-olap"},
			},
			wantOrder: []string{"pool-olap", "free", "pool-oltp"},
		},
		{
			// With the pod, "own" would be a tie (mixed) just like "mixed"; without it, it is an
			// OLTP node, the worst for an OLAP pod.
			name:  "its own node is seen without the pod",
			nodes: []*v1.Node{makeNode("own", 8), nodes[2]},
			pods:  []*v1.Pod{makePod("p", "own", olap), makePod("q", "own", oltp), base[2], base[3]},
			pod:   makePod("p", "own", olap),
			want: Placement{
				Feasible: []string{"mixed", "own"},
				Best:     []string{"mixed"},
			},
			wantOrder: []string{"mixed", "own"},
		},
		{
			name:  "its own node has room for it once it left",
			nodes: []*v1.Node{makeNode("tight", 1)},
			pods:  []*v1.Pod{makePod("p", "tight", olap)},
			pod:   makePod("p", "tight", olap),
			want:  Placement{Feasible: []string{"tight"}, Best: []string{"tight"}},
		},
		{
			name:  "a full node is infeasible, with the reason",
			nodes: []*v1.Node{nodes[4]},
			pods:  base[6:],
			pod:   makePod("new", "", olap),
			want:  Placement{Unschedulable: "0/1 nodes are available: 1 Insufficient cpu"},
		},
		{
			name:  "reasons are counted over the nodes",
			nodes: nodes[:5],
			pods:  base,
			pod:   makePod("new", "", olap, cpu("9")),
			want:  Placement{Unschedulable: "0/5 nodes are available: 5 Insufficient cpu"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			sim := sharedSimulator(t)
			view := NewView(tt.nodes, tt.pods)
			got, err := sim.Place(ctx, view.Snapshot, tt.pod)
			if err != nil {
				t.Fatalf("Place: %v", err)
			}
			scores := got.Scores
			got.Scores = nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Place (-want,+got):\n%s", diff)
			}
			if len(got.Feasible) > 1 && len(scores) != len(got.Feasible) {
				t.Errorf("scores for %d nodes, want one per feasible node (%v): %v", len(scores), got.Feasible, scores)
			}
			for i := 1; i < len(tt.wantOrder); i++ {
				a, b := tt.wantOrder[i-1], tt.wantOrder[i]
				if scores[a] <= scores[b] {
					t.Errorf("score of %s (%d) is not above %s's (%d); scores %v", a, scores[a], b, scores[b], scores)
				}
			}
			// Place must leave the snapshot as it was: the pod is still on its node.
			if tt.pod.Spec.NodeName != "" {
				info, err := view.Snapshot.Get(tt.pod.Spec.NodeName)
				if err != nil {
					t.Fatal(err)
				}
				found := false
				for _, p := range info.GetPods() {
					found = found || p.GetPod().UID == tt.pod.UID
				}
				if !found {
					t.Errorf("Place removed %s from the caller's snapshot", tt.pod.Name)
				}
			}
		})
	}
}
