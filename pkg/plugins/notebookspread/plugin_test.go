package notebookspread

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	st "k8s.io/kubernetes/pkg/scheduler/testing"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil/plugintest"
)

// defaultArgs are the v1 defaults, as the scheduler hands them to New.
func defaultArgs() config.NotebookSpreadArgs {
	return config.NotebookSpreadArgs{
		Mode:           config.ModeSpread,
		PodSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{apis.LabelComponent: apis.ComponentSingleUserServer}},
		UserAnnotation: apis.AnnotationHubUsername,
		UserLabel:      apis.AnnotationHubUsername,
	}
}

func withArgs(mutate func(*config.NotebookSpreadArgs)) config.NotebookSpreadArgs {
	a := defaultArgs()
	mutate(&a)
	return a
}

// escape is KubeSpawner's escaping of a user name for labels and pod names: '-' plus the hex
// code of each character other than lowercase letters and digits.
func escape(user string) string {
	var b strings.Builder
	for _, r := range user {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "-%x", r)
		}
	}
	return b.String()
}

// podBuilder builds pods as KubeSpawner does: jupyter-<user>[--<server>], labelled
// component=singleuser-server, app=jupyterhub, release=<release> and hub.jupyter.org/username
// (escaped), annotated with the unescaped user name.
type podBuilder struct {
	ns, user, server, node, release string
	labelOnly                       bool // only the escaped label, no annotation
	component                       string
}

func (b podBuilder) obj() *v1.Pod {
	name := "jupyter-" + escape(b.user)
	if b.server != "" {
		name += "--" + b.server
	}
	component := b.component
	if component == "" {
		component = apis.ComponentSingleUserServer
	}
	release := b.release
	if release == "" {
		release = "one"
	}
	w := st.MakePod().Namespace(b.ns).Name(name).UID(b.ns+"/"+name).Node(b.node).
		Label(apis.LabelComponent, component).Label("app", "jupyterhub").Label("release", release)
	if b.user != "" {
		w = w.Label(apis.AnnotationHubUsername, escape(b.user))
		if !b.labelOnly {
			w = w.Annotation(apis.AnnotationHubUsername, b.user)
		}
	}
	if b.server != "" {
		w = w.Annotation(apis.AnnotationHubServername, b.server)
	}
	return w.Obj()
}

// server is user's default server in namespace ns on node ("" while pending).
func server(ns, user, node string) *v1.Pod { return podBuilder{ns: ns, user: user, node: node}.obj() }

// named is user's named server.
func named(ns, user, srv, node string) *v1.Pod {
	return podBuilder{ns: ns, user: user, server: srv, node: node}.obj()
}

func terminating(p *v1.Pod) *v1.Pod {
	now := metav1.Now()
	p.DeletionTimestamp = &now
	return p
}

func finished(p *v1.Pod, phase v1.PodPhase) *v1.Pod {
	p.Status.Phase = phase
	return p
}

func node(name string) *v1.Node { return st.MakeNode().Name(name).Obj() }

type fixture struct {
	plugintest.Fixture
	pl *NotebookSpread
}

func newFixture(ctx context.Context, t testing.TB, args config.NotebookSpreadArgs, nodes []*v1.Node, pods []*v1.Pod) fixture {
	t.Helper()
	f := plugintest.New(ctx, t, nodes, pods)
	p, err := New(ctx, &args, f.Handle)
	if err != nil {
		t.Fatalf("creating plugin: %v", err)
	}
	return fixture{Fixture: f, pl: p.(*NotebookSpread)}
}

// score runs PreScore, then Score on every node, and returns the scores by node name.
func (f fixture) score(ctx context.Context, t testing.TB, pod *v1.Pod) (map[string]int64, *fwk.Status) {
	t.Helper()
	return f.Score(ctx, t, f.pl, pod)
}

// cluster is the scene of the score and filter tests: four nodes and two hubs (namespaces
// hub-a and hub-b, both of Helm release "one"). Users of hub-a per node: a 2 (alice with two
// servers counts once), b 1 (what else runs there does not count), c 3, d 0 (its three users
// are hub-b's).
func cluster() ([]*v1.Node, []*v1.Pod) {
	nodes := []*v1.Node{node("a"), node("b"), node("c"), node("d")}
	pods := []*v1.Pod{
		server("hub-a", "alice", "a"), named("hub-a", "alice", "gpu", "a"), server("hub-a", "bob", "a"),

		// carol's pod has only the (escaped) label, the fallback; the rest never counts.
		podBuilder{ns: "hub-a", user: "carol", node: "b", labelOnly: true}.obj(),
		podBuilder{ns: "hub-a", user: "", node: "b", component: apis.ComponentUserPlaceholder}.obj(),
		podBuilder{ns: "hub-a", user: "pat", node: "b", component: apis.ComponentUserPlaceholder}.obj(),
		terminating(server("hub-a", "dave", "b")),
		finished(server("hub-a", "erin", "b"), v1.PodSucceeded),
		finished(named("hub-a", "erin", "old", "b"), v1.PodFailed),
		podBuilder{ns: "hub-a", node: "b"}.obj(), // no user at all
		st.MakePod().Namespace("hub-a").Name("hub").UID("hub").Node("b").Label(apis.LabelComponent, "hub").Label("app", "jupyterhub").Obj(),

		server("hub-a", "frank", "c"), server("hub-a", "grace", "c"), server("hub-a", "heidi@uni.edu", "c"),

		server("hub-b", "ivan", "d"), server("hub-b", "judy", "d"), named("hub-b", "judy", "big", "d"), server("hub-b", "mallory", "d"),
	}
	return nodes, pods
}

func TestScore(t *testing.T) {
	nodes, residents := cluster()
	zoe := server("hub-a", "zoe", "")
	aliceThird := named("hub-a", "alice", "third", "")
	tests := []struct {
		name       string
		args       config.NotebookSpreadArgs
		pod        *v1.Pod
		want       map[string]int64
		wantStatus *fwk.Status
	}{
		{
			// Users 2, 1, 3, 0: 100 * (3 - users) / 3.
			name: "spread: fewest users first",
			args: defaultArgs(),
			pod:  zoe,
			want: map[string]int64{"a": 33, "b": 66, "c": 0, "d": 100},
		},
		{
			name: "pack: most users first",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.Mode = config.ModePack }),
			pod:  zoe,
			want: map[string]int64{"a": 66, "b": 33, "c": 100, "d": 0},
		},
		{
			// alice is left out of the count: users 1, 1, 3, 0.
			name: "a named server: the user's own node counts the others only",
			args: defaultArgs(),
			pod:  aliceThird,
			want: map[string]int64{"a": 66, "b": 66, "c": 0, "d": 100},
		},
		{
			// 66 * 60 / 100 + 40 on the node with alice; the others are scaled to 60 %.
			name: "same-user bonus",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = 40 }),
			pod:  aliceThird,
			want: map[string]int64{"a": 79, "b": 39, "c": 0, "d": 60},
		},
		{
			name: "same-user penalty",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = -40 }),
			pod:  aliceThird,
			want: map[string]int64{"a": 39, "b": 79, "c": 40, "d": 100},
		},
		{
			name: "full penalty: the user's node scores 0",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = -100 }),
			pod:  aliceThird,
			want: map[string]int64{"a": 0, "b": 100, "c": 100, "d": 100},
		},
		{
			name: "the adjustment does not apply to a new user",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = 40 }),
			pod:  zoe,
			want: map[string]int64{"a": 19, "b": 39, "c": 0, "d": 60},
		},
		{
			// The label fallback and the annotation name the same user.
			name: "the user found by label is the user named by annotation",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.SameUserNodeAdjustment = 100 }),
			pod:  named("hub-a", "carol", "second", ""),
			want: map[string]int64{"a": 0, "b": 100, "c": 0, "d": 0},
		},
		{
			// hub-b's users per node: 0, 0, 0, 3 (judy's two servers count once).
			name: "another hub counts only its own users",
			args: defaultArgs(),
			pod:  server("hub-b", "trent", ""),
			want: map[string]int64{"a": 100, "b": 100, "c": 100, "d": 0},
		},
		{
			// Grouped by release, both namespaces are one hub: users 2, 1, 3, 3.
			name: "hub label groups namespaces",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.HubLabel = "release" }),
			pod:  server("hub-b", "trent", ""),
			want: map[string]int64{"a": 50, "b": 100, "c": 0, "d": 0},
		},
		{
			name: "hub label: another release is another hub",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.HubLabel = "release" }),
			pod:  podBuilder{ns: "hub-a", user: "zoe", release: "two"}.obj(),
			want: map[string]int64{"a": 100, "b": 100, "c": 100, "d": 100},
		},
		{
			// The hub pod and the placeholders are selected too; neither counts.
			name: "a wider selector still leaves out placeholders and pods without a user",
			args: withArgs(func(a *config.NotebookSpreadArgs) {
				a.PodSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "jupyterhub"}}
			}),
			pod:  zoe,
			want: map[string]int64{"a": 33, "b": 66, "c": 0, "d": 100},
		},
		{
			name: "all nodes equal",
			args: defaultArgs(),
			pod:  server("hub-c", "zoe", ""),
			want: map[string]int64{"a": 100, "b": 100, "c": 100, "d": 100},
		},
		{
			name:       "not a notebook server",
			args:       defaultArgs(),
			pod:        st.MakePod().Namespace("hub-a").Name("web").UID("web").Obj(),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
		{
			name:       "a placeholder being scheduled",
			args:       withArgs(func(a *config.NotebookSpreadArgs) { a.PodSelector.MatchLabels = map[string]string{"app": "jupyterhub"} }),
			pod:        podBuilder{ns: "hub-a", user: "x", component: apis.ComponentUserPlaceholder}.obj(),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
		{
			name:       "a notebook server without a user",
			args:       defaultArgs(),
			pod:        podBuilder{ns: "hub-a"}.obj(),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
		{
			name:       "a notebook server without the hub label",
			args:       withArgs(func(a *config.NotebookSpreadArgs) { a.HubLabel = "hub" }),
			pod:        zoe,
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

func TestNodeScore(t *testing.T) {
	tests := []struct {
		name          string
		mode          config.NotebookSpreadMode
		adjustment    int32
		users, lo, hi int
		hasUser       bool
		want          int64
	}{
		{name: "spread fewest", mode: config.ModeSpread, users: 4, lo: 4, hi: 7, want: 100},
		{name: "spread most", mode: config.ModeSpread, users: 7, lo: 4, hi: 7, want: 0},
		{name: "spread middle rounds down", mode: config.ModeSpread, users: 5, lo: 4, hi: 7, want: 66},
		{name: "pack middle rounds down", mode: config.ModePack, users: 5, lo: 4, hi: 7, want: 33},
		{name: "spread all equal", mode: config.ModeSpread, users: 3, lo: 3, hi: 3, want: 100},
		{name: "pack all equal", mode: config.ModePack, users: 3, lo: 3, hi: 3, want: 100},
		{name: "bonus on a full-score node stays in range", mode: config.ModeSpread, adjustment: 100, users: 0, lo: 0, hi: 1, hasUser: true, want: 100},
		{name: "bonus acts when all are equal", mode: config.ModeSpread, adjustment: 30, users: 3, lo: 3, hi: 3, hasUser: true, want: 100},
		{name: "all equal, no bonus", mode: config.ModeSpread, adjustment: 30, users: 3, lo: 3, hi: 3, want: 70},
		{name: "penalty on the worst node stays in range", mode: config.ModePack, adjustment: -100, users: 0, lo: 0, hi: 1, hasUser: true, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := &NotebookSpread{mode: tt.mode, adjustment: int64(tt.adjustment)}
			if got := pl.nodeScore(tt.users, tt.lo, tt.hi, tt.hasUser); got != tt.want {
				t.Errorf("nodeScore(%d users, %d-%d, hasUser %v) = %d, want %d", tt.users, tt.lo, tt.hi, tt.hasUser, got, tt.want)
			}
		})
	}
}

func TestUncountablePodIsReported(t *testing.T) {
	tests := []struct {
		name string
		args config.NotebookSpreadArgs
		pod  *v1.Pod
		want string
	}{
		{
			name: "no user",
			args: defaultArgs(),
			pod:  podBuilder{ns: "hub-a"}.obj(),
			want: "Warning NotebookUserUnknown pod matches the notebook podSelector but has no annotation hub.jupyter.org/username or label hub.jupyter.org/username; scheduling it without spreading by users",
		},
		{
			name: "no user label, annotation not read",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.UserAnnotation = ""; a.UserLabel = "user" }),
			pod:  server("hub-a", "zoe", ""),
			want: "Warning NotebookUserUnknown pod matches the notebook podSelector but has no label user; scheduling it without spreading by users",
		},
		{
			name: "no hub",
			args: withArgs(func(a *config.NotebookSpreadArgs) { a.HubLabel = "hub" }),
			pod:  server("hub-a", "zoe", ""),
			want: "Warning NotebookUserUnknown pod matches the notebook podSelector but has no label hub; scheduling it without spreading by users",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixture(ctx, t, tt.args, []*v1.Node{node("n")}, nil)
			if _, status := f.score(ctx, t, tt.pod); status.Code() != fwk.Skip {
				t.Fatalf("PreScore status = %v, want Skip", status)
			}
			select {
			case e := <-f.Recorder.Events:
				if e != tt.want {
					t.Errorf("event = %q, want %q", e, tt.want)
				}
			default:
				t.Error("no event recorded")
			}
		})
	}
}

func TestFilter(t *testing.T) {
	nodes, residents := cluster()
	capped := func(n int32) config.NotebookSpreadArgs {
		return withArgs(func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = n })
	}
	tests := []struct {
		name          string
		args          config.NotebookSpreadArgs
		pod           *v1.Pod
		wantPreFilter *fwk.Status
		want          map[string]*fwk.Status
	}{
		{
			// Users of hub-a: a 2, b 1, c 3, d 0.
			name: "cap 2",
			args: capped(2),
			pod:  server("hub-a", "zoe", ""),
			want: map[string]*fwk.Status{
				"a": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 2 notebook users (maxUsersPerNode is 2)"),
				"c": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 3 notebook users (maxUsersPerNode is 2)"),
			},
		},
		{
			name: "cap 1",
			args: capped(1),
			pod:  server("hub-a", "zoe", ""),
			want: map[string]*fwk.Status{
				"a": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 2 notebook users (maxUsersPerNode is 1)"),
				"b": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 1 notebook users (maxUsersPerNode is 1)"),
				"c": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 3 notebook users (maxUsersPerNode is 1)"),
			},
		},
		{
			// Node a is over the cap, but alice is one of its users already.
			name: "a named server joins its user over the cap",
			args: capped(1),
			pod:  named("hub-a", "alice", "third", ""),
			want: map[string]*fwk.Status{
				"b": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 1 notebook users (maxUsersPerNode is 1)"),
				"c": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 3 notebook users (maxUsersPerNode is 1)"),
			},
		},
		{
			name: "another hub's users do not fill a node",
			args: capped(3),
			pod:  server("hub-a", "zoe", ""),
			want: map[string]*fwk.Status{
				"c": fwk.NewStatus(fwk.Unschedulable, "node(s) already had 3 notebook users (maxUsersPerNode is 3)"),
			},
		},
		{
			name:          "no cap: no Filter",
			args:          defaultArgs(),
			pod:           server("hub-a", "zoe", ""),
			wantPreFilter: fwk.NewStatus(fwk.Skip),
		},
		{
			name:          "not a notebook server",
			args:          capped(1),
			pod:           st.MakePod().Namespace("hub-a").Name("web").UID("web").Obj(),
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

// TestUsersOnManyUsers crosses the stack buffer of usersOn: the count must not change when
// the users spill over to the heap.
func TestUsersOnManyUsers(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	var pods []*v1.Pod
	for i := range maxUsersBuffer + 10 {
		user := fmt.Sprintf("user-%03d", i)
		pods = append(pods, server("hub", user, "n"), named("hub", user, "second", "n"))
	}
	f := newFixture(ctx, t, defaultArgs(), []*v1.Node{node("n")}, pods)
	others, hasUser := f.pl.usersOn(f.NodeInfos[0], owner{hub: "hub", user: "user-005"})
	if others != maxUsersBuffer+9 || !hasUser {
		t.Errorf("usersOn = %d, %v; want %d, true", others, hasUser, maxUsersBuffer+9)
	}
}

func TestNewRejectsBadArgs(t *testing.T) {
	bad := defaultArgs()
	bad.Mode = "Balance"
	bad.SameUserNodeAdjustment = 150
	bad.PodSelector = &metav1.LabelSelector{}
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
		`profiles[].pluginConfig[NotebookSpread].args.mode: Unsupported value: "Balance": supported values: "Spread", "Pack"`,
		`args.podSelector: Invalid value: "{}": must not be empty`,
		`args.sameUserNodeAdjustment: Invalid value: 150: must be between -100 and 100`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := New(ctx, &v1.Pod{}, fh); err == nil || !strings.Contains(err.Error(), "want args of type NotebookSpreadArgs, got *v1.Pod") {
		t.Errorf("New with the wrong args type: err = %v", err)
	}
}

func TestSignPod(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	f := newFixture(ctx, t, defaultArgs(), nil, nil)
	tests := []struct {
		name string
		pod  *v1.Pod
		want *fwk.Status
	}{
		{name: "not a notebook server", pod: st.MakePod().Namespace("db").Name("pg").Obj()},
		{name: "notebook server without a user", pod: podBuilder{ns: "hub-a"}.obj()},
		{name: "placeholder", pod: podBuilder{ns: "hub-a", user: "x", component: apis.ComponentUserPlaceholder}.obj()},
		{name: "notebook server", pod: server("hub-a", "zoe", ""), want: fwk.NewStatus(fwk.Unschedulable, ErrReasonNotSignable)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, s := f.pl.SignPod(ctx, tt.pod)
			if diff := cmp.Diff(tt.want, s); diff != "" {
				t.Errorf("SignPod status (-want,+got):\n%s", diff)
			}
			if got != nil {
				t.Errorf("fragments = %v, want none", got)
			}
		})
	}
}

// TestScoreDoesNotAllocate holds Score to its contract: no allocation per node, on a node the
// cache misses (the first cycle: Score reads the NodeInfo and notes the node) and on one it holds
// (the next cycle's PreScore derived the noted node): O(1) there.
func TestScoreDoesNotAllocate(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes, pods := cluster()
	f := newFixture(ctx, t, defaultArgs(), nodes, pods)
	pod := server("hub-a", "zoe", "")
	f.ScoreDoesNotAllocate(ctx, t, f.pl, pod, func(ni fwk.NodeInfo) bool {
		_, ok := f.pl.nodes.Get(ni)
		return ok
	})
}

// benchCluster makes nodes with podsPerNode pods each. In "one-hub" every pod is a notebook
// server of the hub being scheduled, a tenth of the users with a second named server; in
// "mixed" a third are servers of that hub, a third of another hub and a third other pods.
func benchCluster(nodes, podsPerNode int, scenario string) ([]*v1.Node, []*v1.Pod) {
	var ns []*v1.Node
	var pods []*v1.Pod
	for i := range nodes {
		n := fmt.Sprintf("node-%d", i)
		ns = append(ns, node(n))
		for j := range podsPerNode {
			user := fmt.Sprintf("user-%d-%d", i, j)
			switch {
			case scenario == "one-hub" && j%10 == 9:
				pods = append(pods, named("hub", fmt.Sprintf("user-%d-%d", i, j-1), "second", n))
			case scenario == "one-hub" || j%3 == 0:
				pods = append(pods, server("hub", user, n))
			case j%3 == 1:
				pods = append(pods, server("other-hub", user, n))
			default:
				pods = append(pods, st.MakePod().Namespace("web").Name(user).UID(user).Node(n).Label("app", "web").Obj())
			}
		}
	}
	return ns, pods
}

// benchContext logs at V(2), so that the V(5) lines of every cycle are not part of the timing.
func benchContext(b *testing.B) context.Context {
	return klog.NewContext(context.Background(), ktesting.NewLogger(b, ktesting.NewConfig(ktesting.Verbosity(2))))
}

// BenchmarkScore measures one scheduling cycle's scoring for a notebook pod: PreScore over
// every node, then Score on each.
func BenchmarkScore(b *testing.B) {
	for _, bc := range []struct{ nodes, podsPerNode int }{{100, 30}, {1000, 30}, {5000, 30}} {
		for _, scenario := range []string{"one-hub", "mixed"} {
			b.Run(fmt.Sprintf("%dnodes/%dpods/%s", bc.nodes, bc.nodes*bc.podsPerNode, scenario), func(b *testing.B) {
				ctx := benchContext(b)
				nodes, pods := benchCluster(bc.nodes, bc.podsPerNode, scenario)
				f := newFixture(ctx, b, defaultArgs(), nodes, pods)
				pod := server("hub", "new-user", "")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					state := framework.NewCycleState()
					if s := f.pl.PreScore(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
						b.Fatalf("PreScore: %v", s)
					}
					for _, ni := range f.NodeInfos {
						if _, s := f.pl.Score(ctx, state, pod, ni); !s.IsSuccess() {
							b.Fatalf("Score: %v", s)
						}
					}
				}
			})
		}
	}
}

// BenchmarkFilter measures one cycle's cap check: PreFilter, then Filter on every node. The cap
// is above every node's count, so no node is rejected and every node is counted in full.
func BenchmarkFilter(b *testing.B) {
	for _, bc := range []struct{ nodes, podsPerNode int }{{100, 30}, {1000, 30}, {5000, 30}} {
		for _, scenario := range []string{"one-hub", "mixed"} {
			b.Run(fmt.Sprintf("%dnodes/%dpods/%s", bc.nodes, bc.nodes*bc.podsPerNode, scenario), func(b *testing.B) {
				ctx := benchContext(b)
				nodes, pods := benchCluster(bc.nodes, bc.podsPerNode, scenario)
				f := newFixture(ctx, b, withArgs(func(a *config.NotebookSpreadArgs) { a.MaxUsersPerNode = 100 }), nodes, pods)
				pod := server("hub", "new-user", "")
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					state := framework.NewCycleState()
					if _, s := f.pl.PreFilter(ctx, state, pod, f.NodeInfos); !s.IsSuccess() {
						b.Fatalf("PreFilter: %v", s)
					}
					for _, ni := range f.NodeInfos {
						if s := f.pl.Filter(ctx, state, pod, ni); !s.IsSuccess() {
							b.Fatalf("Filter: %v", s)
						}
					}
				}
			})
		}
	}
}
