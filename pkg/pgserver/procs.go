package pgserver

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ServerProcesses returns a postmaster and its living children (the backends and the auxiliary
// processes), from /proc; nil for pid 0. A child that has exited and awaits its postmaster's
// wait (a zombie) is left out: the kernel has moved it out of its cgroups already.
func ServerProcesses(postmaster int) []int {
	if postmaster <= 0 {
		return nil
	}
	pids := []int{postmaster}
	for _, pid := range procPIDs() {
		if ppid, state := statOf(pid); ppid == postmaster && Running(state) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Running reports whether a /proc state letter is a process that has not exited: not a zombie
// (Z) nor dead (X).
func Running(state string) bool { return state != "" && state != "Z" && state != "X" }

// ProcessState is pid's state letter from /proc (R, S, D, Z, ...), "" if it is gone.
func ProcessState(pid int) string {
	_, state := statOf(pid)
	return state
}

// PostmastersUnder returns the running postmasters whose data directory (-D) is under dir.
func PostmastersUnder(dir string) []int {
	prefix := filepath.Clean(dir) + string(filepath.Separator)
	var out []int
	for _, pid := range procPIDs() {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i, a := range args {
			if a == "-D" && i+1 < len(args) && strings.HasPrefix(args[i+1], prefix) {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// procPIDs lists the processes in /proc.
func procPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// statOf is pid's parent and state, from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm
// may hold spaces and parentheses), or 0 and "".
func statOf(pid int) (int, string) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, ""
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, ""
	}
	p, _ := strconv.Atoi(f[1])
	return p, f[0]
}
