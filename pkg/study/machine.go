package study

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// describeMachine says what the study ran on: the numbers mean nothing without it.
func describeMachine(cg *nodecgroup.Manager) (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU(), Cgroups: fmt.Sprintf("v%d", cg.Version())}
	m.Hostname, _ = os.Hostname()
	var u syscall.Utsname
	if err := syscall.Uname(&u); err == nil {
		m.Kernel = utsString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPUModel = field(b, "model name")
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		kb, _ := strconv.ParseInt(strings.TrimSuffix(field(b, "MemTotal"), " kB"), 10, 64)
		m.MemoryBytes = kb * 1024
	}
	dir, err := pgserver.FindBinDir()
	if err != nil {
		return m, err
	}
	out, err := exec.Command(filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return m, fmt.Errorf("postgres --version: %w", err)
	}
	m.PostgreSQL = strings.TrimSpace(string(out))
	return m, nil
}

// field returns the value of the first "name : value" line of a /proc file.
func field(b []byte, name string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}
