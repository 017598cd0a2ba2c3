package pgserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Built-in pgbench scripts.
const (
	TPCBLike     = "tpcb-like"
	SimpleUpdate = "simple-update"
	SelectOnly   = "select-only"
)

// Script is a custom pgbench script file with its weight (pgbench -f path@weight).
type Script struct {
	Name   string // for reports; pgbench does not use it
	Path   string
	Weight int // 0 means 1
}

// Pgbench describes one pgbench run.
type Pgbench struct {
	DB string
	// Builtins are built-in scripts as name or name@weight (TPCBLike, SimpleUpdate, SelectOnly).
	Builtins []string
	Scripts  []Script
	Clients  int           // -c, default 1
	Jobs     int           // -j, default 1
	Rate     float64       // -R transactions per second over all clients; 0 means as fast as possible
	Duration time.Duration // -T; 0 runs until the context is cancelled or Stop is called
	// NoVacuum skips pgbench's vacuum of its own tables (-n); needed when they do not exist.
	NoVacuum bool
	// Vars are variables the scripts read (-D name=value), e.g. TPCCSize.Vars.
	Vars map[string]string
	// LogPrefix logs every transaction (-l --log-prefix): pgbench writes <LogPrefix>.<pid> for its
	// first thread and <LogPrefix>.<pid>.<thread> for the others; ReadTransactionLog reads them.
	LogPrefix string
	Extra     []string
}

// PgbenchInit creates pgbench's tables in db at scale (-i -s). It runs as the superuser.
func (s *Server) PgbenchInit(ctx context.Context, db string, scale int, extra ...string) error {
	if scale < 1 {
		return fmt.Errorf("pgbench scale %d: must be at least 1", scale)
	}
	args := append([]string{"-i", "-q", "-s", strconv.Itoa(scale)}, extra...)
	out, err := s.pgbench(ctx, db, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgbench -i -s %d on %s: %w\n%s", scale, db, err, out)
	}
	return nil
}

func (s *Server) pgbench(ctx context.Context, db string, args ...string) *exec.Cmd {
	args = append([]string{"-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", Superuser}, args...)
	args = append(args, db)
	cmd := exec.CommandContext(ctx, filepath.Join(s.ClientBinDir, "pgbench"), args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.superPassword, "PGCONNECT_TIMEOUT=10")
	return cmd
}

// Load is a pgbench run in the background.
type Load struct {
	cancel context.CancelFunc
	done   chan struct{}
	out    *syncBuffer
	err    error // set before done is closed
}

// StartPgbench starts pgbench in the background. It stops when p.Duration ends, when ctx is
// cancelled, or on Stop.
func (s *Server) StartPgbench(ctx context.Context, p Pgbench) (*Load, error) {
	if p.DB == "" {
		return nil, errors.New("pgbench: DB is empty")
	}
	if len(p.Builtins) == 0 && len(p.Scripts) == 0 {
		return nil, errors.New("pgbench: no Builtins and no Scripts")
	}
	clients, jobs := max(p.Clients, 1), max(p.Jobs, 1)
	// -T is required to run for a time; "until stopped" is a day.
	duration := p.Duration
	if duration <= 0 {
		duration = 24 * time.Hour
	}
	args := []string{"-c", strconv.Itoa(clients), "-j", strconv.Itoa(jobs),
		"-T", strconv.Itoa(max(int(duration/time.Second), 1))}
	if p.Rate > 0 {
		args = append(args, "-R", strconv.FormatFloat(p.Rate, 'f', -1, 64))
	}
	if p.NoVacuum {
		args = append(args, "-n")
	}
	for _, b := range p.Builtins {
		args = append(args, "-b", b)
	}
	for _, sc := range p.Scripts {
		if _, err := os.Stat(sc.Path); err != nil {
			return nil, fmt.Errorf("pgbench script: %w", err)
		}
		args = append(args, "-f", sc.Path+"@"+strconv.Itoa(max(sc.Weight, 1)))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Vars)) {
		args = append(args, "-D", k+"="+p.Vars[k])
	}
	if p.LogPrefix != "" {
		args = append(args, "-l", "--log-prefix="+p.LogPrefix)
	}
	args = append(args, p.Extra...)

	ctx, cancel := context.WithCancel(ctx)
	cmd := s.pgbench(ctx, p.DB, args...)
	// SIGINT lets pgbench close its connections; WaitDelay bounds a pgbench that ignores it.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 10 * time.Second
	l := &Load{cancel: cancel, done: make(chan struct{}), out: &syncBuffer{}}
	cmd.Stdout, cmd.Stderr = l.out, l.out
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("starting pgbench: %w", err)
	}
	go func() {
		err := cmd.Wait()
		if ctx.Err() != nil {
			err = nil // stopped on purpose
		} else if err != nil {
			err = fmt.Errorf("pgbench %v: %w\n%s", args, err, l.out.String())
		}
		l.err = err
		close(l.done)
	}()
	return l, nil
}

// Stop ends the run and waits for pgbench to exit. It returns pgbench's error if it had failed
// before Stop.
func (l *Load) Stop() error {
	select {
	case <-l.done:
		return l.err
	default:
	}
	l.cancel()
	<-l.done
	return l.err
}

// Wait waits for the run to end by itself (its Duration) and returns its error.
func (l *Load) Wait() error {
	<-l.done
	l.cancel()
	return l.err
}

// Done is closed when pgbench has exited.
func (l *Load) Done() <-chan struct{} { return l.done }

// Err is pgbench's error once Done is closed (nil if it was stopped on purpose or succeeded).
func (l *Load) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Output is what pgbench printed so far.
func (l *Load) Output() string { return l.out.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
