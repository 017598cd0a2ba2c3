package localcluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process may take to exit after SIGTERM before it gets SIGKILL.
const stopGrace = 10 * time.Second

// logTailLines is how much of a log an error quotes.
const logTailLines = 25

// process is one program the cluster runs. Every process leads its own process group, so
// stopping it signals the whole group and nothing it started can linger.
type process struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// StartTime is field 22 of /proc/<pid>/stat. A pid alone may have been reused by the time
	// StopDetached reads it from the state file; pid and start time together may not.
	StartTime uint64 `json:"startTime"`
	Log       string `json:"log"`

	// For a process this Go process started: done closes when it has exited and been reaped.
	// Nil for processes of a cluster found through Attach.
	done    chan struct{}
	waitErr error
}

// startProcess runs binary with args, its output appended to logPath. A detached process gets
// its own session and survives the caller; otherwise it is killed when the caller dies
// (Pdeathsig), so an interrupted test run leaves nothing behind. inherit are passed on as file
// descriptors 3, 4, ... (the loopback slot lock).
func startProcess(name, binary string, args, env []string, logPath string, detach bool, inherit ...*os.File) (*process, error) {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own descriptor
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().Format(time.RFC3339), binary, strings.Join(args, " "))

	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = inherit
	if detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{Name: name, PID: cmd.Process.Pid, Log: logPath, done: make(chan struct{})}
	// The start time is fixed at fork, so reading it now is safe even if exec is still going on.
	if st, err := readProcStat(p.PID); err == nil {
		p.StartTime = st.startTime
	}
	// Always reap, detached or not: a detached child of a process that keeps running (a test)
	// would otherwise stay a zombie.
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// spawnRequests are served by one goroutine locked to its OS thread for good. Pdeathsig fires
// when the *thread* that forked the child exits, and the Go runtime does end threads (those of
// goroutines that exit while locked to them); forking only from a thread that never ends makes
// the signal mean "the Go process died".
var (
	spawnOnce     sync.Once
	spawnRequests = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the goroutine and its thread live on
			for req := range spawnRequests {
				req.done <- req.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// exited reports whether a process this Go process started has exited.
func (p *process) exited() bool {
	if p.done == nil {
		return !p.alive()
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitDescription says how a process ended, for error messages.
func (p *process) exitDescription() string {
	if p.done != nil && p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "exited"
}

// alive reports whether the recorded process still runs (a zombie does not).
func (p *process) alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, err := readProcStat(p.PID)
	if err != nil || st.state == 'Z' || st.state == 'X' {
		return false
	}
	return p.StartTime == 0 || st.startTime == p.StartTime
}

// stop sends SIGTERM to the process group, and SIGKILL after grace. It returns once the
// process is gone.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	if err := syscall.Kill(-p.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping %s (pid %d): %w", p.Name, p.PID, err)
	}
	if p.waitGone(grace) {
		return nil
	}
	if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %s (pid %d): %w", p.Name, p.PID, err)
	}
	if !p.waitGone(grace) {
		return fmt.Errorf("%s (pid %d) survived SIGKILL for %v", p.Name, p.PID, grace)
	}
	return nil
}

// waitGone waits up to d for the process to exit.
func (p *process) waitGone(d time.Duration) bool {
	if p.done != nil {
		select {
		case <-p.done:
			return true
		case <-time.After(d):
			return false
		}
	}
	// Not our child: its parent (or init) reaps it; poll /proc.
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if !p.alive() {
			return true
		}
	}
	return !p.alive()
}

// procStat holds the fields of /proc/<pid>/stat that we use.
type procStat struct {
	state     byte
	startTime uint64
}

func readProcStat(pid int) (procStat, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	if len(fields) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields)+2)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat starttime: %w", pid, err)
	}
	return procStat{state: fields[0][0], startTime: start}, nil
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 right now. Another program may take
// one before our process binds it; launch retries with new ports when that happens.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(bindAddress, "0"))
		if err != nil {
			return nil, fmt.Errorf("finding a free port on %s: %w", bindAddress, err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// logSize is the current size of a log, so later reads can look at what came after.
func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// readLogFrom returns what path holds from offset on, at most the last 64 KiB of it.
func readLogFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxRead = 64 << 10
	if size := logSize(path); size-offset > maxRead {
		offset = size - maxRead
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// tail returns the last n lines of s, indented for quoting in an error.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
