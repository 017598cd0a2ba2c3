package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// dirPrefix starts the name of every server's directory, followed by the PID of the process that
// owns the server: pg_ctl daemonizes the server, so a test process killed before its cleanups run
// (a go test timeout, a ^C during `make demo`) leaves it running. The next Start in any process
// stops such orphans and removes their directories.
const dirPrefix = "likewise-pgserver-"

var reapOnce sync.Once

// newServerDir creates the server's directory, named after this process.
func newServerDir() (string, error) {
	return os.MkdirTemp("", dirPrefix+strconv.Itoa(os.Getpid())+"-")
}

// reapOrphans stops, at once, every server under the temporary directory whose owning process is
// gone, and removes its directory. It reports each one on standard error.
func reapOrphans(ctx context.Context) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		pid, ok := ownerPID(filepath.Base(dir))
		if !ok || processAlive(pid) {
			continue
		}
		if pm := postmasterPID(filepath.Join(dir, "data")); pm > 0 {
			if err := stopImmediately(ctx, pm); err != nil {
				fmt.Fprintf(os.Stderr, "pgserver: could not stop the orphaned server in %s (process %d is gone): %v\n", dir, pid, err)
				continue
			}
			fmt.Fprintf(os.Stderr, "pgserver: stopped the orphaned server in %s (process %d is gone)\n", dir, pid)
		}
		_ = os.RemoveAll(dir)
	}
}

// ownerPID parses the PID out of a directory name made by newServerDir.
func ownerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, dirPrefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// processAlive reports whether a process with pid exists. A PID reused by an unrelated process
// reads as alive: its orphan stays until a later run, which loses nothing.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// postmasterPID returns the PID of the running postmaster named in dataDir's postmaster.pid, or 0.
// The process must be a server of dataDir (pg_ctl starts it with -D dataDir): a stale file whose
// PID now belongs to another process names nothing.
func postmasterPID(dataDir string) int {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !slices.Contains(strings.Split(string(cmdline), "\x00"), dataDir) {
		return 0
	}
	return pid
}

// stopImmediately sends the postmaster SIGQUIT, PostgreSQL's immediate shutdown (what pg_ctl
// stop -m immediate does, for any version), and waits for it to exit. As root it can signal a
// server running as the postgres account.
func stopImmediately(ctx context.Context, pid int) error {
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("signalling postmaster %d: %w", pid, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("postmaster %d still runs 30 s after SIGQUIT", pid)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// ErrNotRunning says that no server runs in a directory given to Adopt.
var ErrNotRunning = errors.New("no server runs there")

// Adopt returns the server that runs in dir, a directory of an earlier Start WithDir, perhaps of
// another process: its postmaster.pid names a live postmaster of dir/data. Host, Port and the
// passwords are the running server's; opts may set the server binaries (WithServerBinDir), the
// command prefix a later StartAgain uses (WithCommandPrefix) and whether pg_stat_statements is
// loaded (WithStatStatements). It returns an error wrapping ErrNotRunning when no server runs.
func Adopt(ctx context.Context, dir string, opts ...Option) (*Server, error) {
	o := options{statStatements: true}
	for _, f := range opts {
		f(&o)
	}
	o.dir = dir
	s, err := newServer(o)
	if err != nil {
		return nil, err
	}
	pid := s.PID()
	if pid == 0 {
		return nil, fmt.Errorf("adopting the server in %s: %w", s.Dir, ErrNotRunning)
	}
	host, port, err := listenAddressOf(s.dataDir())
	if err != nil {
		return nil, fmt.Errorf("adopting postmaster %d in %s: %w", pid, s.Dir, err)
	}
	creds, err := loadCredentials(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("adopting postmaster %d in %s: %w", pid, s.Dir, err)
	}
	s.Host, s.Port = host, port
	s.superPassword, s.monitorPassword = creds.Superuser, creds.Monitor
	if s.Version, err = serverVersion(ctx, s.BinDir); err != nil {
		return nil, err
	}
	return s, nil
}

// listenAddressOf reads the port (line 4) and first listen address (line 6) of a running
// server's postmaster.pid.
func listenAddressOf(dataDir string) (string, int, error) {
	path := filepath.Join(dataDir, "postmaster.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 6 {
		return "", 0, fmt.Errorf("%s: %d lines, want at least 6 (is the server still starting?)", path, len(lines))
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return "", 0, fmt.Errorf("%s: port %q: %w", path, lines[3], err)
	}
	host, _, _ := strings.Cut(strings.TrimSpace(lines[5]), ",")
	if host == "" || host == "*" {
		return "", 0, fmt.Errorf("%s: listen address %q is not one address", path, lines[5])
	}
	return host, port, nil
}
