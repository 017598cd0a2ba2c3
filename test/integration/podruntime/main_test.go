// Package podruntime tests the local cluster's pod runtime against a real control plane (one
// local cluster per package: etcd, kube-apiserver, kube-controller-manager, KWOK), real node and
// pod cgroups and real PostgreSQL servers. Pods are bound with spec.nodeName: no scheduler runs.
// Each test makes its own nodes, namespace, cgroup manager and state directory.
package podruntime

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/podruntime"
)

// timeout bounds every wait: generous, the machine's two cores are shared.
const timeout = 3 * time.Minute

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		return nil
	})
}

// rig is one test's namespace, two 1-CPU nodes, cgroup manager, state directory and runtime.
type rig struct {
	t        *testing.T
	ctx      context.Context
	ns       string
	nodes    []*corev1.Node
	cgroups  *nodecgroup.Manager
	stateDir string
	opts     podruntime.Options
	rt       *podruntime.Runtime
	stopRun  func()

	mu     sync.Mutex
	setups map[string]int // Setup calls per data directory
}

var rigs int

// newRig makes a test's world and starts a runtime on it. The runtime's servers are all stopped
// and its groups removed when the test ends.
func newRig(t *testing.T) *rig {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	rigs++
	prefix := fmt.Sprintf("prt%d-%d", os.Getpid()%10000, rigs)
	g := &rig{t: t, ctx: ctx, setups: map[string]int{}}
	ns, err := cluster.CreateNamespace(ctx, prefix+"-")
	if err != nil {
		t.Fatal(err)
	}
	g.ns = ns.Name
	cpu := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	g.nodes, err = cluster.AddNodes(ctx, []localcluster.NodeSpec{{Name: prefix + "-a", Capacity: cpu}, {Name: prefix + "-b", Capacity: cpu}})
	if err != nil {
		t.Fatal(err)
	}
	if g.cgroups, err = nodecgroup.New(prefix); err != nil {
		t.Fatalf("node cgroups are needed for this test: %v", err)
	}
	// Not t.TempDir: the servers run as postgres, which cannot reach a private parent.
	if g.stateDir, err = os.MkdirTemp("", "likewise-podruntime-it-"); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(g.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	g.opts = podruntime.Options{
		Client: cluster.Client(), StateDir: g.stateDir, Cgroups: g.cgroups, Namespace: g.ns,
		SuperuserPassword: "it-super-" + prefix, MonitorPassword: "it-monitor-" + prefix,
		ServerOptions: []pgserver.Option{pgserver.WithStatStatements(false)},
		StopTimeout:   5 * time.Second, MaxBackoff: 5 * time.Second,
		Setup: func(ctx context.Context, pod *corev1.Pod, s *pgserver.Server) error {
			g.mu.Lock()
			g.setups[s.Dir]++
			g.mu.Unlock()
			return s.CreateDatabase(ctx, "app")
		},
	}
	t.Cleanup(g.cleanup)
	g.startRuntime()
	return g
}

// startRuntime makes a new Runtime on the rig's options and runs it until stopRuntime.
func (g *rig) startRuntime() {
	g.t.Helper()
	rt, err := podruntime.New(g.opts)
	if err != nil {
		g.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(g.ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	g.rt = rt
	g.stopRun = func() {
		cancel()
		if err := <-done; err != nil {
			g.t.Errorf("Run: %v", err)
		}
	}
}

// stopRuntime ends Run; the servers keep running.
func (g *rig) stopRuntime() {
	if g.stopRun != nil {
		g.stopRun()
		g.stopRun = nil
	}
}

func (g *rig) cleanup() {
	ctx := context.Background()
	g.stopRuntime()
	if err := g.rt.StopAll(ctx); err != nil {
		g.t.Errorf("StopAll: %v", err)
	}
	if left := pgserver.PostmastersUnder(g.stateDir); len(left) > 0 {
		g.t.Errorf("StopAll left postmasters running: %v", left)
	}
	if groups, err := g.cgroups.Nodes(); err != nil || len(groups) > 0 {
		g.t.Errorf("StopAll left node groups %v (err %v)", groups, err)
	}
	if !g.t.Failed() {
		_ = os.RemoveAll(g.stateDir)
	} else {
		g.t.Logf("state directory kept: %s", g.stateDir)
	}
	_ = cluster.Client().CoreV1().Namespaces().Delete(ctx, g.ns, metav1.DeleteOptions{})
	var names []string
	for _, n := range g.nodes {
		names = append(names, n.Name)
	}
	if err := cluster.DeleteNodes(ctx, names...); err != nil {
		g.t.Logf("deleting nodes: %v", err)
	}
}

// podSpec is a postgres container on node with a CPU limit ("" for none).
func podSpec(node, limit string) corev1.PodSpec {
	ctr := corev1.Container{Name: "postgres", Image: "postgres:15"}
	if limit != "" {
		q := resource.MustParse(limit)
		ctr.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q}, Limits: corev1.ResourceList{corev1.ResourceCPU: q}}
	}
	return corev1.PodSpec{NodeName: node, Containers: []corev1.Container{ctr}, TerminationGracePeriodSeconds: ptr.To[int64](0)}
}

func (g *rig) createStatefulSet(name, node, limit string) {
	g.t.Helper()
	labels := map[string]string{"app": name}
	_, err := cluster.Client().AppsV1().StatefulSets(g.ns).Create(g.ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(node, limit)},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		g.t.Fatal(err)
	}
}

// waitPod waits until pod name runs with an IP and is not the pod with UID not.
func (g *rig) waitPod(name string, not types.UID) *corev1.Pod {
	g.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(g.ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := cluster.Client().CoreV1().Pods(g.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil || p.UID == not || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			return false, nil
		}
		pod = p
		return true, nil
	})
	if err != nil {
		g.t.Fatalf("pod %s/%s did not run with an IP (other than UID %q's): %v", g.ns, name, not, err)
	}
	return pod
}

func (g *rig) waitServing(name string) *pgserver.Server {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(g.ctx, timeout)
	defer cancel()
	s, err := g.rt.WaitServing(ctx, g.ns, name)
	if err != nil {
		g.t.Fatalf("%v\nevents:\n%s", err, g.events(name))
	}
	return s
}

// waitNoServer waits until the runtime has no server for pod name.
func (g *rig) waitNoServer(name string) {
	g.t.Helper()
	err := wait.PollUntilContextTimeout(g.ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, ok := g.rt.Server(g.ns, name)
		return !ok, nil
	})
	if err != nil {
		g.t.Fatalf("pod %s/%s still has a server: %v", g.ns, name, err)
	}
}

func (g *rig) deletePod(name string) {
	g.t.Helper()
	if err := cluster.Client().CoreV1().Pods(g.ns).Delete(g.ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil {
		g.t.Fatal(err)
	}
}

// events lists the runtime's events about pod name as "reason: note" lines.
func (g *rig) events(name string) string {
	list, err := cluster.Client().EventsV1().Events(g.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.ReportingController == podruntime.ReportingController {
			lines = append(lines, e.Reason+" ("+string(e.Regarding.UID)+"): "+e.Note)
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// waitEvent waits for an event of the runtime with reason about pod name (and uid, if set).
func (g *rig) waitEvent(name string, uid types.UID, reason string) {
	g.t.Helper()
	err := wait.PollUntilContextTimeout(g.ctx, 300*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := cluster.Client().EventsV1().Events(g.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, e := range list.Items {
			if e.Regarding.Name == name && (uid == "" || e.Regarding.UID == uid) && e.Reason == reason &&
				e.ReportingController == podruntime.ReportingController {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		g.t.Errorf("no %s event for pod %s (UID %q); the runtime's events:\n%s", reason, name, uid, g.events(name))
	}
}

// group returns the manager's group of node, or of pod uid on it when uid is set; nil if none.
func (g *rig) group(node string, uid types.UID) *nodecgroup.Group {
	g.t.Helper()
	nodes, err := g.cgroups.Nodes()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, n := range nodes {
		if n.Node() != node {
			continue
		}
		if uid == "" {
			return n
		}
		pods, err := n.Pods()
		if err != nil {
			g.t.Fatal(err)
		}
		for _, p := range pods {
			if p.PodUID() == string(uid) {
				return p
			}
		}
	}
	return nil
}

// serverProcesses are a postmaster and its children (the backends and auxiliary processes).
func serverProcesses(t *testing.T, postmaster int) []int {
	t.Helper()
	if postmaster == 0 {
		t.Fatal("no postmaster")
	}
	return pgserver.ServerProcesses(postmaster)
}

// waitUnderLoad waits until postmaster serves at least two sessions of database app beside its
// checkpointer, and returns its processes then.
func waitUnderLoad(ctx context.Context, t *testing.T, postmaster int) []int {
	t.Helper()
	var procs []int
	var titles []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		procs, titles = serverProcesses(t, postmaster), nil
		sessions, checkpointer := 0, false
		for _, pid := range procs[1:] {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			title := strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " ")
			titles = append(titles, title)
			// Backends retitle themselves "postgres: <user> <database> <client> <state>".
			if strings.HasPrefix(title, "postgres: postgres app ") {
				sessions++
			}
			checkpointer = checkpointer || strings.Contains(title, "checkpointer")
		}
		return sessions >= 2 && checkpointer, nil
	})
	if err != nil {
		t.Fatalf("postmaster %d: no checkpointer and two sessions of app among its children %q: %v", postmaster, titles, err)
	}
	return procs
}

// alive lists those of pids that still run postgres: not a zombie (dead, its parent has yet to
// reap it) nor a reused PID running something else.
func alive(pids []int) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		stat := string(b)
		open, end := strings.IndexByte(stat, '('), strings.LastIndexByte(stat, ')')
		if open < 0 || end < open {
			continue
		}
		comm, rest := stat[open+1:end], strings.Fields(stat[end+1:])
		if strings.HasPrefix(comm, "postgres") && len(rest) > 0 && rest[0] != "Z" && rest[0] != "X" {
			out = append(out, pid)
		}
	}
	return out
}

// waitGone waits until none of pids runs postgres any more (a process may take a moment to
// exit after its postmaster.pid is gone) and returns those that still do.
func waitGone(ctx context.Context, pids []int) []int {
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return len(alive(pids)) == 0, nil
	})
	return alive(pids)
}

// processesMentioning lists the processes whose command line contains s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, s) {
			out = append(out, e.Name()+": "+cmd)
		}
	}
	return out
}

func accepts(host string, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
