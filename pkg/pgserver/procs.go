package pgserver

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ServerProcesses returns a postmaster and its living children (the backends and the auxiliary
// processes), from /proc; nil for pid 0. A child that is exiting or has exited (a zombie awaiting
// its postmaster's wait) is left out: from the moment a task is flagged exiting, the kernel
// reports it in the root of every cgroup v1 hierarchy (proc_cgroup_show), before it is a zombie.
func ServerProcesses(postmaster int) []int {
	if postmaster <= 0 {
		return nil
	}
	pids := []int{postmaster}
	for _, pid := range procPIDs() {
		if st, ok := statOf(pid); ok && st.ppid == postmaster && st.alive() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Alive reports whether pid is a process that has not begun to exit: it exists, is neither a
// zombie (Z) nor dead (X), and the kernel has not flagged it as exiting (PF_EXITING). A process
// that is not alive may already have left its cgroups while /proc still lists it.
func Alive(pid int) bool {
	st, ok := statOf(pid)
	return ok && st.alive()
}

// pfExiting is the kernel's PF_EXITING task flag (include/linux/sched.h), set as a task enters
// do_exit; /proc/<pid>/cgroup shows such a task in the root of each v1 hierarchy.
const pfExiting = 0x4

// procStat is what this package reads of /proc/<pid>/stat.
type procStat struct {
	state string // R, S, D, Z, X, ...
	ppid  int
	flags uint64
}

func (s procStat) alive() bool {
	return s.state != "Z" && s.state != "X" && s.flags&pfExiting == 0
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

// statOf reads pid's state, parent and flags from /proc/<pid>/stat ("pid (comm) state ppid pgrp
// session tty_nr tpgid flags ..."; comm may hold spaces and parentheses); false if pid is gone.
func statOf(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	return parseStat(string(b))
}

func parseStat(line string) (procStat, bool) {
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(line[i+1:])
	if len(f) < 7 {
		return procStat{}, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return procStat{}, false
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return procStat{}, false
	}
	return procStat{state: f[0], ppid: ppid, flags: flags}, true
}
