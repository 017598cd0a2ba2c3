package nodecgroup

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// thisHost is this machine's layout: v1 controllers mounted apart, an empty cgroup2 beside them.
const thisHost = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

// coMounted is the common v1 layout: cpu and cpuacct together.
const coMounted = `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
`

const unified = `35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []mountEntry
	}{
		{
			name: "co-mounted v1 and a cgroup2, tmpfs left out",
			in:   coMounted,
			want: []mountEntry{
				{root: "/", point: "/sys/fs/cgroup/unified", fsType: "cgroup2", options: []string{"rw", "nosuid", "nodev", "noexec", "relatime", "rw", "nsdelegate"}},
				{root: "/", point: "/sys/fs/cgroup/cpu,cpuacct", fsType: "cgroup", options: []string{"rw", "nosuid", "nodev", "noexec", "relatime", "rw", "cpu", "cpuacct"}},
				{root: "/", point: "/sys/fs/cgroup/cpuset", fsType: "cgroup", options: []string{"rw", "nosuid", "nodev", "noexec", "relatime", "rw", "cpuset"}},
			},
		},
		{
			name: "escaped mount point and a subtree root",
			in:   `40 31 0:29 /kubepods /mnt/my\040cgroups ro,relatime - cgroup cgroup rw,cpu` + "\n",
			want: []mountEntry{{root: "/kubepods", point: "/mnt/my cgroups", fsType: "cgroup", options: []string{"ro", "relatime", "rw", "cpu"}}},
		},
		{name: "empty", in: "", want: nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(mountEntry{})); diff != "" {
				t.Errorf("parseMountinfo (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	_, err := parseMountinfo(strings.NewReader("31 23 0:28 / /sys/fs/cgroup\n"))
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("parseMountinfo of a short line: got %v, want an error naming line 1", err)
	}
}

func TestDetect(t *testing.T) {
	ctls := func(m map[string]string) controllersFunc {
		return func(dir string) ([]string, error) {
			v, ok := m[dir]
			if !ok {
				return nil, errors.New("no such file")
			}
			return strings.Fields(v), nil
		}
	}
	tests := []struct {
		name        string
		mountinfo   string
		controllers map[string]string
		want        layout
		wantErr     string
	}{
		{
			name:        "this host: v1 apart, cgroup2 without controllers ignored",
			mountinfo:   thisHost,
			controllers: map[string]string{"/sys/fs/cgroup/unified": ""},
			want: layout{version: 1, hierarchies: []hierarchy{
				{mount: "/sys/fs/cgroup/cpu", root: "/", controllers: []string{"cpu"}},
				{mount: "/sys/fs/cgroup/cpuacct", root: "/", controllers: []string{"cpuacct"}},
				{mount: "/sys/fs/cgroup/cpuset", root: "/", controllers: []string{"cpuset"}},
			}},
		},
		{
			name:      "cpu,cpuacct together: one hierarchy for both",
			mountinfo: coMounted,
			want: layout{version: 1, hierarchies: []hierarchy{
				{mount: "/sys/fs/cgroup/cpu,cpuacct", root: "/", controllers: []string{"cpu", "cpuacct"}},
				{mount: "/sys/fs/cgroup/cpuset", root: "/", controllers: []string{"cpuset"}},
			}},
		},
		{
			name:        "unified",
			mountinfo:   unified,
			controllers: map[string]string{"/sys/fs/cgroup": "cpuset cpu io memory hugetlb pids"},
			want:        layout{version: 2, hierarchies: []hierarchy{{mount: "/sys/fs/cgroup", root: "/"}}},
		},
		{
			name:        "unified without cpuset",
			mountinfo:   unified,
			controllers: map[string]string{"/sys/fs/cgroup": "cpu memory pids"},
			wantErr:     "node cgroups need the cpu and cpuset controllers: no cgroup v1 hierarchy carries cpu, and cgroup2 at /sys/fs/cgroup lacks cpuset in cgroup.controllers",
		},
		{
			name:      "v1 without cpuset",
			mountinfo: "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
			wantErr:   "node cgroups need the cpu, cpuacct and cpuset controllers on cgroup v1: cpuset not mounted",
		},
		{
			name:      "v1 read-only",
			mountinfo: strings.Replace(coMounted, "/sys/fs/cgroup/cpuset rw,", "/sys/fs/cgroup/cpuset ro,", 1),
			wantErr:   "node cgroups need a writable cgroup filesystem: the cpuset hierarchy at /sys/fs/cgroup/cpuset is mounted read-only",
		},
		{
			name:        "unified read-only",
			mountinfo:   strings.Replace(unified, "/sys/fs/cgroup rw,", "/sys/fs/cgroup ro,", 1),
			controllers: map[string]string{"/sys/fs/cgroup": "cpuset cpu"},
			wantErr:     "node cgroups need a writable cgroup filesystem: cgroup2 at /sys/fs/cgroup is mounted read-only",
		},
		{
			name:    "no cgroup at all",
			wantErr: "node cgroups need the cpu controller: it is mounted neither",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mounts, err := parseMountinfo(strings.NewReader(tc.mountinfo))
			if err != nil {
				t.Fatal(err)
			}
			got, err := detect(mounts, ctls(tc.controllers))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("detect: got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(layout{}, hierarchy{})); diff != "" {
				t.Errorf("detect (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestLayoutContains(t *testing.T) {
	v1 := layout{version: 1, hierarchies: []hierarchy{
		{mount: "/sys/fs/cgroup/cpu,cpuacct", root: "/", controllers: []string{"cpu", "cpuacct"}},
		{mount: "/sys/fs/cgroup/cpuset", root: "/", controllers: []string{"cpuset"}},
	}}
	v2 := layout{version: 2, hierarchies: []hierarchy{{mount: "/sys/fs/cgroup", root: "/"}}}
	const rel = "likewise/c/node-1"
	tests := []struct {
		name string
		l    layout
		in   string
		want bool
	}{
		{"v1 in the group", v1, "4:cpu,cpuacct:/likewise/c/node-1\n3:cpuset:/likewise/c/node-1\n0::/\n", true},
		{"v1 in a pod below", v1, "4:cpu,cpuacct:/likewise/c/node-1/pod-a\n3:cpuset:/likewise/c/node-1/pod-a\n", true},
		{"v1 cpuset elsewhere", v1, "4:cpu,cpuacct:/likewise/c/node-1\n3:cpuset:/\n", false},
		{"v1 a sibling with the name as prefix", v1, "4:cpu,cpuacct:/likewise/c/node-10\n3:cpuset:/likewise/c/node-10\n", false},
		{"v1 cpuset line missing", v1, "4:cpu,cpuacct:/likewise/c/node-1\n", false},
		{"v2 in the group", v2, "0::/likewise/c/node-1/pod-a\n", true},
		{"v2 elsewhere", v2, "0::/user.slice\n", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, err := parseProcCgroup(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.l.contains(lines, rel); got != tc.want {
				t.Errorf("contains(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
