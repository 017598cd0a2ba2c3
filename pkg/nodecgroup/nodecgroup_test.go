package nodecgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/util/wait"
)

// These tests create real cgroups under likewise/t-<pid>-<n> and remove them in t.Cleanup.

const removeTimeout = 10 * time.Second

var managers atomic.Int64

// newManager returns a manager of a name no other test uses; cleanup removes all its groups and
// checks that none is left.
func newManager(t *testing.T) *Manager {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("node cgroups need root: these tests create real cgroups under /sys/fs/cgroup; run them as root (euid is %d)", os.Geteuid())
	}
	name := fmt.Sprintf("t-%d-%d", os.Getpid(), managers.Add(1))
	m, err := New(name)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	t.Cleanup(func() { removeAll(t, m) })
	return m
}

func removeAll(t *testing.T, m *Manager) {
	t.Helper()
	if err := m.Remove(context.Background(), removeTimeout); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for _, h := range m.l.hierarchies {
		if _, err := os.Stat(filepath.Join(h.mount, m.rel())); !os.IsNotExist(err) {
			t.Errorf("cleanup left %s behind (stat: %v)", filepath.Join(h.mount, m.rel()), err)
		}
	}
}

// start runs argv inside g and, in cleanup, kills it; it returns once the process is in g.
func start(t *testing.T, g *Group, argv ...string) *exec.Cmd {
	t.Helper()
	prefix := g.Prefix()
	cmd := exec.Command(prefix[0], append(prefix[1:], argv...)...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", argv, g.Path(), err)
	}
	t.Cleanup(func() {
		stop(cmd)
		killGroup(t, g)
	})
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) { return g.Contains(cmd.Process.Pid) })
	if err != nil {
		t.Fatalf("process %d (%v) never joined %s: %v", cmd.Process.Pid, argv, g.Path(), err)
	}
	return cmd
}

func stop(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// killGroup kills what cmd left in g (runuser's child outlives runuser) and waits until g is empty.
func killGroup(t *testing.T, g *Group) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, removeTimeout, true,
		func(context.Context) (bool, error) {
			pids, err := g.PIDs()
			for _, p := range pids {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			return len(pids) == 0, err
		})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("cleanup: kill the processes of %s: %v", g.Path(), err)
	}
}

// ctlFile reads one of a group's control files.
func ctlFile(t *testing.T, m *Manager, ctl string, g *Group, name string) string {
	t.Helper()
	s, err := readFile(m.file(ctl, g.Path(), name))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// wantQuota checks a group's quota files hold milli-CPUs per 100ms (0: none).
func wantQuota(t *testing.T, m *Manager, g *Group, milli int64) {
	t.Helper()
	if m.Version() == 2 {
		if got, want := ctlFile(t, m, ctlCPU, g, "cpu.max"), cpuMax(milli); got != want {
			t.Errorf("%s cpu.max = %q, want %q", g.Path(), got, want)
		}
		return
	}
	got := [2]string{ctlFile(t, m, ctlCPU, g, "cpu.cfs_quota_us"), ctlFile(t, m, ctlCPU, g, "cpu.cfs_period_us")}
	want := [2]string{strconv.FormatInt(quotaMicros(milli), 10), "100000"}
	if got != want {
		t.Errorf("%s cpu.cfs_quota_us, cpu.cfs_period_us = %q, want %q", g.Path(), got, want)
	}
}

func TestNodeAndPodGroups(t *testing.T) {
	m := newManager(t)
	if v := m.Version(); v != 1 && v != 2 {
		t.Fatalf("Version() = %d, want 1 or 2", v)
	}
	node, err := m.Node("node-1", 500)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := node.Pod("pod-a", 250)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := node.Path(), "likewise/"+m.Name()+"/node-1"; got != want {
		t.Errorf("node Path() = %q, want %q", got, want)
	}
	if got, want := pod.Path(), "likewise/"+m.Name()+"/node-1/pod-a"; got != want {
		t.Errorf("pod Path() = %q, want %q", got, want)
	}
	if got := [2]int64{node.QuotaMilli(), pod.QuotaMilli()}; got != [2]int64{500, 250} {
		t.Errorf("QuotaMilli() of node, pod = %v, want [500 250]", got)
	}
	wantQuota(t, m, node, 500)
	wantQuota(t, m, pod, 250)
	cpus, err := parseCPUList(node.CPUs())
	if err != nil || len(cpus) != 1 {
		t.Errorf("node CPUs() = %q (%v), want one CPU for 500m", node.CPUs(), err)
	}
	for _, g := range []*Group{node, pod} {
		if got := ctlFile(t, m, ctlCPUSet, g, "cpuset.cpus"); got != node.CPUs() || g.CPUs() != node.CPUs() {
			t.Errorf("%s cpuset.cpus = %q, CPUs() = %q, want the node's %q", g.Path(), got, g.CPUs(), node.CPUs())
		}
		if m.Version() == 1 && ctlFile(t, m, ctlCPUSet, g, "cpuset.mems") == "" {
			t.Errorf("%s cpuset.mems is empty: no process could join", g.Path())
		}
	}

	sleep := start(t, pod, "sleep", "1000")
	pid := sleep.Process.Pid
	for _, g := range []*Group{pod, node} {
		if in, err := g.Contains(pid); err != nil || !in {
			t.Errorf("%s Contains(%d) = %v, %v, want true", g.Path(), pid, in, err)
		}
		pids, err := g.PIDs()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int{pid}, pids); diff != "" {
			t.Errorf("%s PIDs() (-want,+got):\n%s", g.Path(), diff)
		}
	}
	if in, err := node.Contains(os.Getpid()); err != nil || in {
		t.Errorf("node Contains(the test's own PID %d) = %v, %v, want false", os.Getpid(), in, err)
	}

	err = node.Remove(context.Background(), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "processes "+strconv.Itoa(pid)) || !strings.Contains(err.Error(), node.Path()) {
		t.Fatalf("Remove with process %d inside: got %v, want an error naming %s and the PID", pid, err, node.Path())
	}
	if in, err := pod.Contains(pid); err != nil || !in {
		t.Fatalf("after a failed Remove, pod Contains(%d) = %v, %v, want true (Remove kills nothing)", pid, in, err)
	}
	stop(sleep)
	if err := node.Remove(context.Background(), removeTimeout); err != nil {
		t.Fatalf("Remove once the process is gone: %v", err)
	}
	for _, h := range m.l.hierarchies {
		if _, err := os.Stat(filepath.Join(h.mount, node.Path())); !os.IsNotExist(err) {
			t.Errorf("after Remove, %s still exists (stat: %v)", filepath.Join(h.mount, node.Path()), err)
		}
	}
	nodes, err := m.Nodes()
	if err != nil || len(nodes) != 0 {
		t.Errorf("Nodes() after Remove = %v, %v, want none", nodes, err)
	}
}

// The runtime starts servers as runuser -u postgres: the PAM session must not move them out.
func TestPrefixWithRunuser(t *testing.T) {
	if _, err := user.Lookup("postgres"); err != nil {
		t.Fatalf("the pod runtime runs servers as the postgres user, which is missing (%v): run `make postgres`", err)
	}
	m := newManager(t)
	node, err := m.Node("node-1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := node.Pod("pod-a", 0)
	if err != nil {
		t.Fatal(err)
	}
	cmd := start(t, pod, "runuser", "-u", "postgres", "--", "sh", "-c", "sleep 1000")
	// runuser forks the command: wait for the child too, then check every process of the group.
	err = wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 30*time.Second, true,
		func(context.Context) (bool, error) {
			pids, err := pod.PIDs()
			return len(pids) >= 2, err
		})
	if err != nil {
		t.Fatalf("runuser's child never appeared in %s: %v", pod.Path(), err)
	}
	pids, err := pod.PIDs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, cmd.Process.Pid) {
		t.Errorf("PIDs() = %v, want runuser's %d among them", pids, cmd.Process.Pid)
	}
	for _, p := range pids {
		if in, err := pod.Contains(p); err != nil || !in {
			t.Errorf("Contains(%d) = %v, %v, want true", p, in, err)
		}
	}
	stop(cmd)
}

func TestCPUUsageRises(t *testing.T) {
	m := newManager(t)
	node, err := m.Node("node-1", 500)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := node.Pod("pod-a", 250)
	if err != nil {
		t.Fatal(err)
	}
	before, err := pod.CPUUsage()
	if err != nil {
		t.Fatal(err)
	}
	busy := start(t, pod, "sh", "-c", "while :; do :; done")
	var podUsage time.Duration
	err = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 60*time.Second, true,
		func(context.Context) (bool, error) {
			podUsage, err = pod.CPUUsage()
			return podUsage > before, err
		})
	if err != nil {
		t.Fatalf("CPU usage of %s stayed %v under a busy loop: %v", pod.Path(), before, err)
	}
	nodeUsage, err := node.CPUUsage()
	if err != nil {
		t.Fatal(err)
	}
	if nodeUsage < podUsage {
		t.Errorf("node usage %v < its pod's %v read before it: the node's must include its pods'", nodeUsage, podUsage)
	}
	stop(busy)
}

func TestBadNames(t *testing.T) {
	if _, err := New("../etc"); err == nil || !strings.Contains(err.Error(), `"../etc"`) {
		t.Errorf(`New("../etc"): got %v, want an error naming the value`, err)
	}
	m := newManager(t)
	for _, bad := range []string{"../x", "a/b", "..", "Node-1", ""} {
		if _, err := m.Node(bad, 500); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("Node(%q): got %v, want an error naming the value", bad, err)
		}
	}
	// A name that is a control file's must not be taken for an existing group.
	if _, err := m.Node("tasks", 500); m.Version() == 1 && (err == nil || !strings.Contains(err.Error(), "tasks")) {
		t.Errorf(`Node("tasks") on v1: got %v, want an error naming the file`, err)
	}
	if _, err := m.Node("node-1", 0); err == nil || !strings.Contains(err.Error(), `node "node-1"`) {
		t.Errorf("Node with 0m: got %v, want an error naming the node", err)
	}
	node, err := m.Node("node-1", 500)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Pod("x/../../y", 100); err == nil || !strings.Contains(err.Error(), `"x/../../y"`) {
		t.Errorf("Pod with a path for a UID: got %v, want an error naming the value", err)
	}
	if _, err := node.Pod("pod-a", -1); err == nil || !strings.Contains(err.Error(), `pod "pod-a"`) {
		t.Errorf("Pod with -1m: got %v, want an error naming the pod", err)
	}
}

func TestPodQuotas(t *testing.T) {
	m := newManager(t)
	node, err := m.Node("node-1", 500)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		uid   string
		limit int64
		want  int64
	}{
		{"no-limit", 0, 0},
		{"above-node", 2000, 500},
		{"tiny", 5, 10}, // the kernel's minimum: 1ms per 100ms
	}
	for _, tc := range tests {
		t.Run(tc.uid, func(t *testing.T) {
			pod, err := node.Pod(tc.uid, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if pod.QuotaMilli() != tc.want {
				t.Errorf("Pod(%q, %dm).QuotaMilli() = %d, want %d", tc.uid, tc.limit, pod.QuotaMilli(), tc.want)
			}
			wantQuota(t, m, pod, tc.want)
		})
	}
}

func TestAdoptionBySecondManager(t *testing.T) {
	m1 := newManager(t)
	node, err := m1.Node("node-1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := node.Pod("pod-a", 250)
	if err != nil {
		t.Fatal(err)
	}
	sleep := start(t, pod, "sleep", "1000")

	m2, err := New(m1.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeAll(t, m2) })
	nodes, err := m2.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Node, Pod, Path, CPUs string
		Quota                 int64
	}
	see := func(gs ...*Group) []view {
		var out []view
		for _, g := range gs {
			out = append(out, view{g.Node(), g.PodUID(), g.Path(), g.CPUs(), g.QuotaMilli()})
		}
		return out
	}
	if diff := cmp.Diff(see(node), see(nodes...)); diff != "" {
		t.Fatalf("second manager's Nodes() (-want,+got):\n%s", diff)
	}
	pods, err := nodes[0].Pods()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(see(pod), see(pods...)); diff != "" {
		t.Errorf("adopted node's Pods() (-want,+got):\n%s", diff)
	}
	if in, err := pods[0].Contains(sleep.Process.Pid); err != nil || !in {
		t.Errorf("adopted pod Contains(%d) = %v, %v, want true", sleep.Process.Pid, in, err)
	}

	// Node on an existing group updates its quota and keeps its CPUs, even when lowered below a pod's.
	again, err := m2.Node("node-1", 200)
	if err != nil {
		t.Fatal(err)
	}
	if again.CPUs() != node.CPUs() {
		t.Errorf("node-1 moved from CPUs %q to %q on a second manager's Node", node.CPUs(), again.CPUs())
	}
	wantQuota(t, m2, again, 200)
	wantQuota(t, m2, pod, 200)
	other, err := m2.Node("node-2", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if other.CPUs() == node.CPUs() {
		t.Errorf("node-2 got node-1's CPUs %q on a host with CPUs left", other.CPUs())
	}
	if in, err := pod.Contains(sleep.Process.Pid); err != nil || !in {
		t.Errorf("after the updates, pod Contains(%d) = %v, %v, want true", sleep.Process.Pid, in, err)
	}
	stop(sleep)
}

func TestDistinctCPUsPerNode(t *testing.T) {
	m := newManager(t)
	host, err := m.hostCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(host) < 2 {
		t.Fatalf("this test needs a host with at least 2 CPUs for its cgroups; %s lists %v", m.file(ctlCPUSet, m.rel(), "cpuset.cpus"), host)
	}
	a, err := m.Node("node-a", 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Node("node-b", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if a.CPUs() == b.CPUs() {
		t.Errorf("two 1-CPU nodes share CPUs %q on a host with %d", a.CPUs(), len(host))
	}
	if got := []string{ctlFile(t, m, ctlCPUSet, a, "cpuset.cpus"), ctlFile(t, m, ctlCPUSet, b, "cpuset.cpus")}; !slices.Equal(got, []string{a.CPUs(), b.CPUs()}) {
		t.Errorf("cpuset.cpus of node-a, node-b = %q, want %q", got, []string{a.CPUs(), b.CPUs()})
	}
	// Every node takes the whole host when it asks for more than the host has.
	big, err := m.Node("node-big", int64(len(host)+1)*1000)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := big.CPUs(), formatCPUList(host); got != want {
		t.Errorf("node of %d CPUs got CPUs %q, want the host's %q", len(host)+1, got, want)
	}
}

func TestConcurrentNodesAndPods(t *testing.T) {
	m := newManager(t)
	const nodes = 4
	errs := make(chan error, nodes)
	for i := range nodes {
		go func() {
			node, err := m.Node(fmt.Sprintf("node-%d", i), 1000)
			if err == nil {
				_, err = node.Pod("pod-a", 500)
			}
			errs <- err
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	got, err := m.Nodes()
	if err != nil {
		t.Fatal(err)
	}
	host, err := m.hostCPUs()
	if err != nil {
		t.Fatal(err)
	}
	// Four 1-CPU nodes share the host's CPUs evenly, whatever order they came in.
	uses := map[string]int{}
	for _, g := range got {
		uses[g.CPUs()]++
	}
	want := map[string]int{}
	for i := range nodes {
		want[strconv.Itoa(host[i%len(host)])]++
	}
	if diff := cmp.Diff(want, uses); diff != "" {
		t.Errorf("nodes per cpuset (-want,+got):\n%s", diff)
	}
}

func TestPrefixIntoRemovedGroup(t *testing.T) {
	m := newManager(t)
	node, err := m.Node("node-1", 500)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Remove(context.Background(), removeTimeout); err != nil {
		t.Fatal(err)
	}
	prefix := node.Prefix()
	out, err := exec.Command(prefix[0], append(prefix[1:], "echo", "ran")...).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 126 || !strings.Contains(string(out), "likewise: cannot join cgroup") || strings.Contains(string(out), "ran") {
		t.Errorf("Prefix of a removed group: got %v, output %q; want exit 126 saying it cannot join, and nothing run", err, out)
	}
}

func TestFSErr(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&fs.PathError{Op: "mkdir", Path: "/x", Err: syscall.EACCES}, "node cgroups need root: create cgroup /x: permission denied (run as root"},
		{syscall.EPERM, "node cgroups need root: create cgroup /x: operation not permitted"},
		{syscall.EROFS, "node cgroups need a writable cgroup filesystem: create cgroup /x: read-only file system"},
		{syscall.EINVAL, "create cgroup /x: invalid argument"},
	}
	for _, tc := range tests {
		got := fsErr("create cgroup", "/x", tc.err)
		if !strings.HasPrefix(got.Error(), tc.want) {
			t.Errorf("fsErr(%v) = %q, want it to start with %q", tc.err, got, tc.want)
		}
		if !errors.Is(got, tc.err) && !errors.Is(got, syscall.EACCES) {
			t.Errorf("fsErr(%v) = %q does not wrap the cause", tc.err, got)
		}
	}
}
