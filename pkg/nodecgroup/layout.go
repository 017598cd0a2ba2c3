package nodecgroup

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The v1 controllers a node group lives in: cpu holds the quota, cpuacct the usage, cpuset the CPUs.
const (
	ctlCPU     = "cpu"
	ctlCPUAcct = "cpuacct"
	ctlCPUSet  = "cpuset"
)

var v1Controllers = []string{ctlCPU, ctlCPUAcct, ctlCPUSet}

// v2Controllers must be in the cgroup2 root's cgroup.controllers (cpu.stat's usage is always there).
var v2Controllers = []string{ctlCPU, ctlCPUSet}

// mountEntry is the part of a /proc/self/mountinfo line that says where a cgroup hierarchy is.
type mountEntry struct {
	// root is the hierarchy's directory mounted here: the prefix of paths in /proc/<pid>/cgroup.
	root   string
	point  string
	fsType string
	// options are the mount's per-mount and per-superblock options together ("ro", "cpu", ...).
	options []string
}

func (e mountEntry) hasOption(o string) bool { return slices.Contains(e.options, o) }

func (e mountEntry) readOnly() bool { return e.hasOption("ro") }

// parseMountinfo reads the cgroup and cgroup2 mounts of a mountinfo file (proc(5)):
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
func parseMountinfo(r io.Reader) ([]mountEntry, error) {
	var mounts []mountEntry
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+3 {
			return nil, fmt.Errorf("mountinfo line %d: want \"id parent dev root point options ... - type source options\", got %q", line, sc.Text())
		}
		fsType := fields[sep+1]
		if fsType != "cgroup" && fsType != "cgroup2" {
			continue
		}
		opts := strings.Split(fields[5], ",")
		opts = append(opts, strings.Split(fields[sep+3], ",")...)
		mounts = append(mounts, mountEntry{
			root:    unescapeMountinfo(fields[3]),
			point:   unescapeMountinfo(fields[4]),
			fsType:  fsType,
			options: opts,
		})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space, \134 for a backslash).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// hierarchy is one mounted cgroup hierarchy the groups are created in.
type hierarchy struct {
	// mount is where the hierarchy is mounted; groups are directories under it.
	mount string
	// root is the mounted directory inside the hierarchy (usually "/"), which /proc/<pid>/cgroup
	// paths start with.
	root string
	// controllers are the v1 controllers of ours this hierarchy carries ("cpu", "cpuacct"...);
	// nil on v2, where the one hierarchy carries them all.
	controllers []string
}

func (h hierarchy) has(ctl string) bool {
	return h.controllers == nil || slices.Contains(h.controllers, ctl)
}

// layout is which cgroup version the host uses for the CPU controllers and where they are.
type layout struct {
	version int
	// hierarchies are the distinct hierarchies carrying cpu, cpuacct and cpuset (v1: one to
	// three, as the host mounts them together or apart; v2: one).
	hierarchies []hierarchy
}

// controllersFunc reads a cgroup2 directory's cgroup.controllers.
type controllersFunc func(dir string) ([]string, error)

// detect decides the layout from the cgroup mounts: v1 when the cpu controller is mounted as a v1
// hierarchy, else v2 when a cgroup2 hierarchy offers cpu and cpuset. The error says what is
// missing; there is no layout without the controllers.
func detect(mounts []mountEntry, controllers controllersFunc) (layout, error) {
	found := map[string]mountEntry{}
	for _, e := range mounts {
		if e.fsType != "cgroup" {
			continue
		}
		for _, ctl := range v1Controllers {
			if _, ok := found[ctl]; !ok && e.hasOption(ctl) {
				found[ctl] = e
			}
		}
	}
	if _, ok := found[ctlCPU]; ok {
		return detectV1(found)
	}
	var tried []string
	for _, e := range preferSysFS(mounts) {
		if e.fsType != "cgroup2" {
			continue
		}
		have, err := controllers(e.point)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", e.point, err))
			continue
		}
		var missing []string
		for _, ctl := range v2Controllers {
			if !slices.Contains(have, ctl) {
				missing = append(missing, ctl)
			}
		}
		if len(missing) > 0 {
			tried = append(tried, fmt.Sprintf("cgroup2 at %s lacks %s in cgroup.controllers (it has %q; the controllers may be bound to v1 hierarchies or not delegated to this container)",
				e.point, strings.Join(missing, ", "), strings.Join(have, " ")))
			continue
		}
		if e.readOnly() {
			return layout{}, fmt.Errorf("node cgroups need a writable cgroup filesystem: cgroup2 at %s is mounted read-only (in a container, run it privileged or with a writable /sys/fs/cgroup)", e.point)
		}
		return layout{version: 2, hierarchies: []hierarchy{{mount: e.point, root: e.root}}}, nil
	}
	if len(tried) == 0 {
		return layout{}, fmt.Errorf("node cgroups need the cpu controller: it is mounted neither as a cgroup v1 hierarchy nor in a cgroup2 hierarchy (no cgroup mount in /proc/self/mountinfo; mount cgroup2 on /sys/fs/cgroup)")
	}
	return layout{}, fmt.Errorf("node cgroups need the cpu and cpuset controllers: no cgroup v1 hierarchy carries cpu, and %s", strings.Join(tried, "; "))
}

func detectV1(found map[string]mountEntry) (layout, error) {
	var missing []string
	for _, ctl := range v1Controllers {
		if _, ok := found[ctl]; !ok {
			missing = append(missing, ctl)
		}
	}
	if len(missing) > 0 {
		return layout{}, fmt.Errorf("node cgroups need the cpu, cpuacct and cpuset controllers on cgroup v1: %s not mounted (mount them, e.g. mount -t cgroup -o %s cgroup /sys/fs/cgroup/%s)",
			strings.Join(missing, ", "), missing[0], missing[0])
	}
	l := layout{version: 1}
	for _, ctl := range v1Controllers {
		e := found[ctl]
		if e.readOnly() {
			return layout{}, fmt.Errorf("node cgroups need a writable cgroup filesystem: the %s hierarchy at %s is mounted read-only (in a container, run it privileged or with a writable /sys/fs/cgroup)", ctl, e.point)
		}
		i := slices.IndexFunc(l.hierarchies, func(h hierarchy) bool { return h.mount == e.point })
		if i < 0 {
			l.hierarchies = append(l.hierarchies, hierarchy{mount: e.point, root: e.root})
			i = len(l.hierarchies) - 1
		}
		l.hierarchies[i].controllers = append(l.hierarchies[i].controllers, ctl)
	}
	return l, nil
}

// preferSysFS puts /sys/fs/cgroup first: a host may mount cgroup2 elsewhere too.
func preferSysFS(mounts []mountEntry) []mountEntry {
	out := slices.Clone(mounts)
	slices.SortStableFunc(out, func(a, b mountEntry) int {
		ra, rb := a.point != "/sys/fs/cgroup", b.point != "/sys/fs/cgroup"
		switch {
		case ra == rb:
			return 0
		case !ra:
			return -1
		default:
			return 1
		}
	})
	return out
}

// readControllers reads a cgroup2 directory's cgroup.controllers.
func readControllers(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// detectHost reads this host's layout from /proc/self/mountinfo.
func detectHost() (layout, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return layout{}, fmt.Errorf("node cgroups: cannot read the cgroup mounts: %w", err)
	}
	defer f.Close()
	mounts, err := parseMountinfo(f)
	if err != nil {
		return layout{}, fmt.Errorf("node cgroups: /proc/self/mountinfo: %w", err)
	}
	return detect(mounts, readControllers)
}
