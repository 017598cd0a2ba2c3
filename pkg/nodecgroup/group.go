package nodecgroup

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Group is one node's cgroup, or one pod's inside its node's. Its quota and cpuset are as they
// were set (or read back) when the Group was returned; the processes and usage are read live.
type Group struct {
	m          *Manager
	rel        string
	node, pod  string
	quotaMilli int64
	cpus       string
}

// Pod creates a child of a node's group for one pod, or updates it when it exists. limitMilli is
// the pod's CPU limit, 0 for none (the pod is bounded by its node alone); a limit above the node's
// quota is the node's (cgroup v1 refuses more, and it could not be used anyway). The pod's cpuset
// is its node's. On cgroup v2 a node group with pods can hold no process of its own.
func (g *Group) Pod(podUID string, limitMilli int64) (*Group, error) {
	if g.pod != "" {
		return nil, fmt.Errorf("pod %q: groups nest one pod deep, and %s is pod %q's group", podUID, g.rel, g.pod)
	}
	if err := validateName("pod UID", podUID); err != nil {
		return nil, fmt.Errorf("node %q: %w", g.node, err)
	}
	if limitMilli < 0 {
		return nil, fmt.Errorf("pod %q on node %q: CPU limit %dm must not be negative", podUID, g.node, limitMilli)
	}
	m := g.m
	m.mu.Lock()
	defer m.mu.Unlock()
	p := &Group{m: m, rel: path.Join(g.rel, podUID), node: g.node, pod: podUID}
	fail := func(err error) (*Group, error) {
		return nil, fmt.Errorf("pod %q on node %q: %w", podUID, g.node, err)
	}
	if _, err := os.Stat(filepath.Join(m.hier(ctlCPU).mount, g.rel)); err != nil {
		return fail(fmt.Errorf("node group %s: %w (create it with Manager.Node first)", g.rel, err))
	}
	nodeQuota, err := m.readQuota(g.rel)
	if err != nil {
		return fail(err)
	}
	cpus, err := m.readCPUs(g.rel)
	if err != nil {
		return fail(err)
	}
	if err := m.ensure(p.rel); err != nil {
		return fail(err)
	}
	if err := writeFile(m.file(ctlCPUSet, p.rel, "cpuset.cpus"), formatCPUList(cpus)); err != nil {
		return fail(err)
	}
	quota := limitMilli
	if nodeQuota > 0 && quota > nodeQuota {
		quota = nodeQuota
	}
	if err := m.writeQuota(p.rel, quota); err != nil {
		return fail(err)
	}
	p.quotaMilli, p.cpus = effectiveMilli(quota), formatCPUList(cpus)
	return p, nil
}

// Pods returns the pod groups of a node group that exist, read back from the cgroup filesystem.
func (g *Group) Pods() ([]*Group, error) {
	if g.pod != "" {
		return nil, nil
	}
	names, err := g.m.childDirs(g.rel)
	if err != nil {
		return nil, err
	}
	var out []*Group
	for _, n := range names {
		p, err := g.m.readGroup(path.Join(g.rel, n), g.node, n)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Node is the name of the group's node.
func (g *Group) Node() string { return g.node }

// PodUID is the UID of the group's pod, "" for a node's group.
func (g *Group) PodUID() string { return g.pod }

// Prefix returns an argv prefix that runs a command inside the group: a /bin/sh that writes its
// own PID into the group's cgroup.procs in every hierarchy and then execs the rest of argv, so the
// command and all its descendants start, and stay, in the group:
//
//	exec.Command(prefix[0], append(prefix[1:], "runuser", "-u", "postgres", "--", ...)...)
//
// When the shell cannot join, it exits 126 before running anything and says which file refused.
func (g *Group) Prefix() []string {
	var files []string
	for _, h := range g.m.l.hierarchies {
		files = append(files, shellQuote(filepath.Join(h.mount, g.rel, "cgroup.procs")))
	}
	script := `for f in ` + strings.Join(files, " ") + `; do ` +
		`echo $$ > "$f" || { echo "likewise: cannot join cgroup $f" >&2; exit 126; }; done; exec "$@"`
	return []string{"/bin/sh", "-c", script, "likewise-cgroup"}
}

// shellQuote quotes s for sh: names are validated, but a mount point could hold anything.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Contains reports whether pid runs in the group or one of its children in every hierarchy the
// group uses, as /proc/<pid>/cgroup says.
func (g *Group) Contains(pid int) (bool, error) {
	f := "/proc/" + strconv.Itoa(pid) + "/cgroup"
	b, err := os.ReadFile(f)
	if err != nil {
		return false, fmt.Errorf("cgroup %s: process %d: %w", g.rel, pid, err)
	}
	lines, err := parseProcCgroup(string(b))
	if err != nil {
		return false, fmt.Errorf("cgroup %s: %s: %w", g.rel, f, err)
	}
	return g.m.l.contains(lines, g.rel), nil
}

// PIDs lists the processes in the group and its children, sorted.
func (g *Group) PIDs() ([]int, error) {
	pids, err := g.m.pidsIn(g.rel)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.rel, err)
	}
	return pids, nil
}

// CPUUsage is the cumulative CPU time of the group and its children: cpuacct.usage on v1,
// cpu.stat's usage_usec on v2.
func (g *Group) CPUUsage() (time.Duration, error) {
	if g.m.l.version == 2 {
		f := g.m.file(ctlCPU, g.rel, "cpu.stat")
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %w", g.rel, fsErr("read", f, err))
		}
		us, err := parseCPUStatUsage(string(b))
		if err != nil {
			return 0, fmt.Errorf("cgroup %s: %s: %w", g.rel, f, err)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	f := g.m.file(ctlCPUAcct, g.rel, "cpuacct.usage")
	s, err := readFile(f)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", g.rel, err)
	}
	ns, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %s: %w", g.rel, f, err)
	}
	return time.Duration(ns), nil
}

// QuotaMilli is the group's CFS quota in milli-CPUs per 100ms period, as the kernel has it (at
// least 10m, the kernel's 1ms minimum); 0 is none of its own.
func (g *Group) QuotaMilli() int64 { return g.quotaMilli }

// CPUs is the group's cpuset in the kernel's list format, e.g. "0" or "0-1".
func (g *Group) CPUs() string { return g.cpus }

// Path is the group's path inside each hierarchy, for messages: "likewise/<name>/<node>[/<pod>]".
func (g *Group) Path() string { return g.rel }

// Remove removes the group, its children first, once no process is in it: it waits up to timeout
// (or until ctx ends) for the processes to leave and then returns an error listing the PIDs still
// there. It kills nothing.
func (g *Group) Remove(ctx context.Context, timeout time.Duration) error {
	g.m.mu.Lock()
	defer g.m.mu.Unlock()
	if err := g.m.removeTree(ctx, g.rel, time.Now().Add(timeout), timeout); err != nil {
		return fmt.Errorf("remove %w", err)
	}
	return nil
}

// procCgroup is one line of /proc/<pid>/cgroup: "hierarchy-ID:controller-list:path".
type procCgroup struct {
	id          string
	controllers []string
	path        string
}

func parseProcCgroup(s string) ([]procCgroup, error) {
	var out []procCgroup
	for line := range strings.Lines(s) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("line %q: want \"hierarchy-ID:controller-list:path\"", line)
		}
		var ctls []string
		if parts[1] != "" {
			ctls = strings.Split(parts[1], ",")
		}
		out = append(out, procCgroup{id: parts[0], controllers: ctls, path: parts[2]})
	}
	return out, nil
}

// contains reports whether a process whose /proc/<pid>/cgroup is lines is in rel or below in
// every controller of the layout.
func (l layout) contains(lines []procCgroup, rel string) bool {
	under := func(p string, h hierarchy) bool {
		want := path.Join(h.root, rel)
		return p == want || strings.HasPrefix(p, want+"/")
	}
	for _, h := range l.hierarchies {
		if l.version == 2 {
			ok := false
			for _, pc := range lines {
				if pc.id == "0" && len(pc.controllers) == 0 {
					ok = under(pc.path, h)
				}
			}
			if !ok {
				return false
			}
			continue
		}
		for _, ctl := range h.controllers {
			ok := false
			for _, pc := range lines {
				if pc.id != "0" && slices.Contains(pc.controllers, ctl) {
					ok = under(pc.path, h)
				}
			}
			if !ok {
				return false
			}
		}
	}
	return true
}
