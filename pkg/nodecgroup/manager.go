package nodecgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// topDir is the directory under each hierarchy's root that holds every manager's groups.
const topDir = "likewise"

// maxNameLen keeps a name one directory entry (NAME_MAX is 255) and a DNS-1123 subdomain.
const maxNameLen = 253

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// validateName accepts DNS-1123 subdomain-like names, which are also safe directory names: no
// "/", no "..", nothing a shell would interpret.
func validateName(kind, s string) error {
	if len(s) == 0 || len(s) > maxNameLen || !nameRE.MatchString(s) || strings.Contains(s, "..") {
		return fmt.Errorf("%s %q is not a valid name: want at most %d lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, without \"..\"", kind, s, maxNameLen)
	}
	return nil
}

// Manager owns the cgroups of one local cluster's nodes: <hierarchy>/likewise/<name>/<node>/<pod>
// in each controller. Its state is the cgroup filesystem, so two Managers of one name (a restarted
// runtime) see the same groups. It is safe for concurrent use.
type Manager struct {
	name string
	l    layout
	// mu serialises the changes of cpusets and quotas: a node's cpuset is chosen against the
	// others', and a pod's quota against its node's.
	mu sync.Mutex
}

// New detects the host's cgroup layout and creates (or adopts) the manager's directory
// likewise/<name> in every hierarchy. It fails, naming what is missing, where node cgroups
// cannot be created: there is no manager without them.
func New(name string) (*Manager, error) {
	if err := validateName("node cgroup manager name", name); err != nil {
		return nil, err
	}
	l, err := detectHost()
	if err != nil {
		return nil, err
	}
	m := &Manager{name: name, l: l}
	if err := m.ensure(m.rel()); err != nil {
		return nil, fmt.Errorf("node cgroup manager %q: %w", name, err)
	}
	return m, nil
}

// Version is the cgroup version of the hierarchies the groups live in: 1 or 2.
func (m *Manager) Version() int { return m.l.version }

// Name is the manager's name, the directory under likewise/ that holds its nodes.
func (m *Manager) Name() string { return m.name }

// rel is a group's path inside each hierarchy: likewise/<name>[/<elem>...].
func (m *Manager) rel(elem ...string) string {
	return path.Join(append([]string{topDir, m.name}, elem...)...)
}

// Node creates node's group, or updates it when it exists: its CFS quota is cpuMilli/1000 CPUs
// per 100ms period and its cpuset ceil(cpuMilli/1000) host CPUs, distinct from the manager's
// other nodes' while the host has CPUs left and shared round-robin after that. An existing
// group keeps the CPUs it has (as many as still fit). A quota lowered below a pod's lowers the
// pod's to the node's.
func (m *Manager) Node(node string, cpuMilli int64) (*Group, error) {
	if err := validateName("node name", node); err != nil {
		return nil, err
	}
	if cpuMilli <= 0 {
		return nil, fmt.Errorf("node %q: allocatable CPU %dm must be positive", node, cpuMilli)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := &Group{m: m, rel: m.rel(node), node: node}
	_, statErr := os.Stat(filepath.Join(m.hier(ctlCPUSet).mount, g.rel))
	existed := statErr == nil
	if err := m.ensure(g.rel); err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	host, err := m.hostCPUs()
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	var others [][]int
	siblings, err := m.childDirs(m.rel())
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	for _, s := range siblings {
		if s == node {
			continue
		}
		cpus, err := m.readCPUs(m.rel(s))
		if err != nil {
			return nil, fmt.Errorf("node %q: the cpuset of node %q: %w", node, s, err)
		}
		others = append(others, cpus)
	}
	old, err := m.readCPUs(g.rel)
	if err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	// A new v1 group starts with its parent's CPUs, which are no choice of ours to keep.
	var keep []int
	if existed {
		keep = old
	}
	cpus := assignCPUs(host, others, keep, cpusFor(cpuMilli, len(host)))
	if err := m.setNodeCPUs(g.rel, old, cpus); err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	if err := m.setNodeQuota(g.rel, cpuMilli); err != nil {
		return nil, fmt.Errorf("node %q: %w", node, err)
	}
	g.quotaMilli, g.cpus = effectiveMilli(cpuMilli), formatCPUList(cpus)
	return g, nil
}

// Nodes returns the groups of the nodes that exist, as read back from the cgroup filesystem (a
// restarted runtime's view of what an earlier one created), sorted by node name.
func (m *Manager) Nodes() ([]*Group, error) {
	names, err := m.childDirs(m.rel())
	if err != nil {
		return nil, err
	}
	var out []*Group
	for _, n := range names {
		g, err := m.readGroup(m.rel(n), n, "")
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

// Remove removes every group of the manager as Group.Remove does, then the manager's own
// directory, and likewise/ when no other manager uses it. It kills nothing.
func (m *Manager) Remove(ctx context.Context, timeout time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.removeTree(ctx, m.rel(), time.Now().Add(timeout), timeout); err != nil {
		return fmt.Errorf("remove node cgroup manager %q: %w", m.name, err)
	}
	for _, h := range m.l.hierarchies {
		// Another manager may still have groups there (EBUSY on v1, ENOTEMPTY elsewhere).
		if err := syscall.Rmdir(filepath.Join(h.mount, topDir)); err != nil &&
			!errors.Is(err, syscall.EBUSY) && !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("remove node cgroup manager %q: rmdir %s: %w", m.name, filepath.Join(h.mount, topDir), err)
		}
	}
	return nil
}

// hier is the hierarchy carrying ctl.
func (m *Manager) hier(ctl string) hierarchy {
	for _, h := range m.l.hierarchies {
		if h.has(ctl) {
			return h
		}
	}
	// detect guarantees every controller a hierarchy; this is unreachable.
	return m.l.hierarchies[0]
}

func (m *Manager) file(ctl, rel, name string) string {
	return filepath.Join(m.hier(ctl).mount, rel, name)
}

// ensure creates rel and its missing ancestors below the hierarchy roots in every hierarchy. A
// v1 cpuset group gets its parent's cpus and mems (no process could join it empty); a v2 parent
// gets cpu and cpuset enabled for its children.
func (m *Manager) ensure(rel string) error {
	var chain []string
	for r := rel; r != "." && r != "/"; r = path.Dir(r) {
		chain = append(chain, r)
	}
	slices.Reverse(chain)
	// A concurrent Manager.Remove of another manager may remove likewise/ between our mkdirs.
	var err error
	for range 3 {
		if err = m.ensureChain(chain); !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return err
}

func (m *Manager) ensureChain(chain []string) error {
	for _, r := range chain {
		if m.l.version == 2 {
			if err := m.enableSubtree(path.Dir(r)); err != nil {
				return err
			}
		}
		for _, h := range m.l.hierarchies {
			dir := filepath.Join(h.mount, r)
			if err := os.Mkdir(dir, 0o755); err != nil {
				if !errors.Is(err, fs.ErrExist) {
					return fsErr("create cgroup", dir, err)
				}
				if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
					return fmt.Errorf("cannot create cgroup %s: a cgroup file of that name exists (choose another name)", dir)
				}
			}
			if m.l.version == 1 && h.has(ctlCPUSet) {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					if err := inheritIfEmpty(dir, f); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// inheritIfEmpty copies a v1 cpuset file from the parent group when the group's is empty.
func inheritIfEmpty(dir, name string) error {
	v, err := readFile(filepath.Join(dir, name))
	if err != nil || v != "" {
		return err
	}
	pv, err := readFile(filepath.Join(filepath.Dir(dir), name))
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name), pv)
}

// enableSubtree enables the cpu and cpuset controllers for rel's children on cgroup v2.
func (m *Manager) enableSubtree(rel string) error {
	f := filepath.Join(m.l.hierarchies[0].mount, rel, "cgroup.subtree_control")
	have, err := readFile(f)
	if err != nil {
		return err
	}
	for _, ctl := range v2Controllers {
		if slices.Contains(strings.Fields(have), ctl) {
			continue
		}
		if err := writeFile(f, "+"+ctl); err != nil {
			if errors.Is(err, syscall.EBUSY) {
				return fmt.Errorf("%w (cgroup v2 lets a group with processes of its own have no child groups with controllers: run processes in pod groups, not in node groups)", err)
			}
			return err
		}
	}
	return nil
}

// hostCPUs are the CPUs the manager's groups may use.
func (m *Manager) hostCPUs() ([]int, error) {
	name := "cpuset.cpus"
	if m.l.version == 2 {
		name = "cpuset.cpus.effective"
	}
	s, err := readFile(m.file(ctlCPUSet, m.rel(), name))
	if err != nil {
		return nil, err
	}
	cpus, err := parseCPUList(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.file(ctlCPUSet, m.rel(), name), err)
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("%s lists no CPU", m.file(ctlCPUSet, m.rel(), name))
	}
	return cpus, nil
}

func (m *Manager) readCPUs(rel string) ([]int, error) {
	f := m.file(ctlCPUSet, rel, "cpuset.cpus")
	s, err := readFile(f)
	if err != nil {
		return nil, err
	}
	cpus, err := parseCPUList(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return cpus, nil
}

// setNodeCPUs moves a node and its pods from old to cpus. On v1 a child's cpuset must stay inside
// its parent's, so the node first widens to both, the pods move, and the node narrows.
func (m *Manager) setNodeCPUs(rel string, old, cpus []int) error {
	if slices.Equal(old, cpus) {
		return nil
	}
	f := m.file(ctlCPUSet, rel, "cpuset.cpus")
	if err := writeFile(f, formatCPUList(append(slices.Clone(old), cpus...))); err != nil {
		return err
	}
	pods, err := m.childDirs(rel)
	if err != nil {
		return err
	}
	for _, p := range pods {
		if err := writeFile(m.file(ctlCPUSet, path.Join(rel, p), "cpuset.cpus"), formatCPUList(cpus)); err != nil {
			return err
		}
	}
	return writeFile(f, formatCPUList(cpus))
}

// setNodeQuota sets a node's quota, first lowering any pod's above it: v1 refuses a parent's quota
// below a child's.
func (m *Manager) setNodeQuota(rel string, milli int64) error {
	pods, err := m.childDirs(rel)
	if err != nil {
		return err
	}
	for _, p := range pods {
		cur, err := m.readQuota(path.Join(rel, p))
		if err != nil {
			return err
		}
		if cur > milli {
			if err := m.writeQuota(path.Join(rel, p), milli); err != nil {
				return err
			}
		}
	}
	return m.writeQuota(rel, milli)
}

// writeQuota sets a group's CFS quota to milli-CPUs per 100ms period; 0 is no quota.
func (m *Manager) writeQuota(rel string, milli int64) error {
	if m.l.version == 2 {
		return writeFile(m.file(ctlCPU, rel, "cpu.max"), cpuMax(milli))
	}
	if err := writeFile(m.file(ctlCPU, rel, "cpu.cfs_period_us"), strconv.Itoa(periodMicros)); err != nil {
		return err
	}
	return writeFile(m.file(ctlCPU, rel, "cpu.cfs_quota_us"), strconv.FormatInt(quotaMicros(milli), 10))
}

// readQuota reads a group's quota back in milli-CPUs; 0 is no quota.
func (m *Manager) readQuota(rel string) (int64, error) {
	if m.l.version == 2 {
		f := m.file(ctlCPU, rel, "cpu.max")
		s, err := readFile(f)
		if err != nil {
			return 0, err
		}
		q, err := parseCPUMax(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		return q, nil
	}
	var v [2]int64
	for i, name := range []string{"cpu.cfs_quota_us", "cpu.cfs_period_us"} {
		f := m.file(ctlCPU, rel, name)
		s, err := readFile(f)
		if err != nil {
			return 0, err
		}
		if v[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
	}
	return quotaMilli(v[0], v[1]), nil
}

// readGroup reads an existing group's quota and cpuset back.
func (m *Manager) readGroup(rel, node, pod string) (*Group, error) {
	q, err := m.readQuota(rel)
	if err != nil {
		return nil, err
	}
	cpus, err := m.readCPUs(rel)
	if err != nil {
		return nil, err
	}
	return &Group{m: m, rel: rel, node: node, pod: pod, quotaMilli: q, cpus: formatCPUList(cpus)}, nil
}

// childDirs lists the child groups of rel in any hierarchy (a half-created group may be in one
// only), sorted.
func (m *Manager) childDirs(rel string) ([]string, error) {
	var names []string
	for _, h := range m.l.hierarchies {
		dir := filepath.Join(h.mount, rel)
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fsErr("read cgroup", dir, err)
		}
		for _, e := range entries {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// treeDirs lists rel and every group below it, deepest first.
func (m *Manager) treeDirs(rel string) ([]string, error) {
	out := []string{rel}
	for i := 0; i < len(out); i++ {
		kids, err := m.childDirs(out[i])
		if err != nil {
			return nil, err
		}
		for _, k := range kids {
			out = append(out, path.Join(out[i], k))
		}
	}
	slices.Reverse(out)
	return out, nil
}

// pidsIn lists the processes in rel and below, in any hierarchy, sorted.
func (m *Manager) pidsIn(rel string) ([]int, error) {
	dirs, err := m.treeDirs(rel)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, d := range dirs {
		for _, h := range m.l.hierarchies {
			f := filepath.Join(h.mount, d, "cgroup.procs")
			s, err := readFile(f)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			for _, field := range strings.Fields(s) {
				pid, err := strconv.Atoi(field)
				if err != nil {
					return nil, fmt.Errorf("%s: %q is not a PID", f, field)
				}
				pids = append(pids, pid)
			}
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids), nil
}

// removeTree waits until no process is in rel or below, then removes the groups deepest first.
func (m *Manager) removeTree(ctx context.Context, rel string, deadline time.Time, timeout time.Duration) error {
	const poll = 50 * time.Millisecond
	for {
		pids, err := m.pidsIn(rel)
		if err != nil {
			return err
		}
		var busy error
		if len(pids) == 0 {
			busy = m.rmdirTree(rel)
			if busy == nil || !errors.Is(busy, syscall.EBUSY) {
				return busy
			}
		}
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			why := "after " + timeout.String()
			if ctx.Err() != nil {
				why = ctx.Err().Error()
			}
			if len(pids) > 0 {
				return fmt.Errorf("cgroup %s still holds processes %s (%s); Remove kills nothing: stop them first",
					rel, joinInts(pids), why)
			}
			return fmt.Errorf("cgroup %s: %w (%s)", rel, busy, why)
		}
		select {
		case <-ctx.Done():
		case <-time.After(poll):
		}
	}
}

func (m *Manager) rmdirTree(rel string) error {
	dirs, err := m.treeDirs(rel)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		for _, h := range m.l.hierarchies {
			dir := filepath.Join(h.mount, d)
			if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
				return fsErr("remove cgroup", dir, err)
			}
		}
	}
	return nil
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

func readFile(f string) (string, error) {
	b, err := os.ReadFile(f)
	if err != nil {
		return "", fsErr("read", f, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// writeFile writes one value to a cgroup file; the kernel's refusal comes back from the write.
func writeFile(f, v string) error {
	fh, err := os.OpenFile(f, os.O_WRONLY, 0)
	if err != nil {
		return fsErr("open", f, err)
	}
	_, werr := fh.WriteString(v)
	cerr := fh.Close()
	if werr != nil {
		return fsErr(fmt.Sprintf("write %q to", v), f, werr)
	}
	if cerr != nil {
		return fsErr(fmt.Sprintf("write %q to", v), f, cerr)
	}
	return nil
}

// fsErr names the operation and file and, for the failures a user can fix, how.
func fsErr(op, f string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is in the message already
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("node cgroups need root: %s %s: %w (run as root, or give this user write access to the cgroup hierarchy)", op, f, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("node cgroups need a writable cgroup filesystem: %s %s: %w (in a container, run it privileged or with a writable /sys/fs/cgroup)", op, f, err)
	default:
		return fmt.Errorf("%s %s: %w", op, f, err)
	}
}
