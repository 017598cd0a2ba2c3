package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
func reapOrphans(ctx context.Context, asPostgres bool) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		pid, ok := ownerPID(filepath.Base(dir))
		if !ok || processAlive(pid) {
			continue
		}
		s := &Server{Dir: dir, asPostgres: asPostgres}
		if _, err := os.Stat(filepath.Join(s.dataDir(), "postmaster.pid")); err == nil {
			binDir, err := FindBinDir()
			if err != nil {
				// Without pg_ctl the server cannot be stopped cleanly; leave it and its files be.
				continue
			}
			s.BinDir = binDir
			stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
			err = s.pgCtl(stopCtx, "stop", "-w", "-t", "50", "-m", string(Immediate))
			cancel()
			if err != nil && serverRunning(s.dataDir()) {
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

// serverRunning reports whether the postmaster named in dataDir's postmaster.pid still runs.
func serverRunning(dataDir string) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	return err == nil && pid > 0 && processAlive(pid)
}
