// Package classifier_test runs the classifier against real PostgreSQL servers under real loads:
// pgbench's built-in scripts for OLTP, TPC-H-style queries over data generated in the database
// for OLAP, both together for mixed. Windows are short (4 s) so that the suite runs in minutes.
package classifier_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

const (
	// window and interval: four samples a window, as a controller would take (60 s / 15 s).
	window   = 4 * time.Second
	interval = time.Second
	// windowsToSwitch and minDwell of the tests; docs/classifier.md derives the detection time
	// of a switch from them.
	windowsToSwitch = 3
	minDwell        = 8 * time.Second

	// EnvRecord names a directory to write every run's snapshots to, as JSON lines, for
	// pkg/classifier's recorded tests.
	EnvRecord = "LIKEWISE_RECORD_SNAPSHOTS"
)

var testConfig = classifier.Config{Window: window, WindowsToSwitch: windowsToSwitch, MinDwell: minDwell}

// analyticScripts are the TPC-H-style queries (pkg/pgserver/tpch), one pgbench script each,
// equally weighted.
func analyticScripts(t testing.TB) []pgserver.Script {
	t.Helper()
	s, err := pgserver.WriteTPCHScripts(t.TempDir(), 0, pgserver.TPCHQueries...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Loads, rate-limited: the machine has two cores shared with builds.
func tpcbLoad(db string) pgserver.Pgbench {
	return pgserver.Pgbench{DB: db, Builtins: []string{pgserver.TPCBLike}, Clients: 2, Rate: 100}
}

func simpleUpdateLoad(db string) pgserver.Pgbench {
	return pgserver.Pgbench{DB: db, Builtins: []string{pgserver.SimpleUpdate}, Clients: 2, Rate: 100}
}

func selectOnlyLoad(db string) pgserver.Pgbench {
	return pgserver.Pgbench{DB: db, Builtins: []string{pgserver.SelectOnly}, Clients: 2, Rate: 200}
}

func analyticLoad(t testing.TB, db string) pgserver.Pgbench {
	return pgserver.Pgbench{DB: db, Scripts: analyticScripts(t), Clients: 1, NoVacuum: true}
}

// prepare creates db with pgbench's tables (scale 2) and, if tpch, the TPC-H-style tables.
func prepare(ctx context.Context, s *pgserver.Server, db string, tpch bool) error {
	if err := s.CreateDatabase(ctx, db); err != nil {
		return err
	}
	if err := s.PgbenchInit(ctx, db, 2); err != nil {
		return err
	}
	if tpch {
		if err := generateTPCH(ctx, s, db); err != nil {
			return err
		}
	}
	// Vacuum now rather than have autovacuum show up as load later.
	_, err := s.Psql(ctx, db, "VACUUM ANALYZE")
	return err
}

// generateTPCH fills db with TPC-H-style data: 300k orders with 4 line items each; generated in
// about 5 s here.
func generateTPCH(ctx context.Context, s *pgserver.Server, db string) error {
	return s.CreateTPCH(ctx, db, pgserver.TPCHClassifierTests)
}

func startLoad(ctx context.Context, t testing.TB, s *pgserver.Server, p pgserver.Pgbench) *pgserver.Load {
	t.Helper()
	l, err := s.StartPgbench(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Stop() })
	return l
}

func stopLoad(t testing.TB, l *pgserver.Load) {
	t.Helper()
	if err := l.Stop(); err != nil {
		t.Errorf("load failed: %v", err)
	}
}

// monitor samples one database every interval and feeds a classifier, as the controller will.
type monitor struct {
	t        testing.TB
	name     string
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	mu         sync.Mutex
	results    []classifier.Result
	windows    []*classifier.Window
	changes    []string // "window:type"
	snaps      []classifier.Snapshot
	sampleErrs []error
	sampler    *pgstats.Sampler
}

func startMonitor(ctx context.Context, t testing.TB, conn pgstats.ConnConfig, cfg classifier.Config) *monitor {
	t.Helper()
	sampler, err := pgstats.NewSampler(conn, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := classifier.New(cfg, clock.RealClock{})
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := ktesting.NewTestContext(t)
	ctx, cancel := context.WithCancel(klog.NewContext(ctx, logger))
	m := &monitor{t: t, name: t.Name(), cancel: cancel, done: make(chan struct{}), sampler: sampler}
	go func() {
		defer close(m.done)
		defer func() { _ = sampler.Close(context.Background()) }()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			snap, err := sampler.Sample(ctx)
			m.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					m.sampleErrs = append(m.sampleErrs, err)
				}
			} else {
				r := c.Observe(snap)
				m.snaps = append(m.snaps, snap)
				m.results = append(m.results, r)
				if r.Window != nil {
					m.windows = append(m.windows, r.Window)
					t.Logf("window %d %-8s type=%-7s %s", r.Window.Seq, r.Window.Verdict, r.Type, r.Window.Features)
				}
				if r.Changed {
					m.changes = append(m.changes, fmt.Sprintf("%d:%s", r.Window.Seq, r.Type))
				}
			}
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(m.stop)
	return m
}

// waitWindows waits until n windows have closed.
func (m *monitor) waitWindows(ctx context.Context, n int) {
	m.t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Duration(n)*window*4+time.Minute, true,
		func(context.Context) (bool, error) { return m.windowCount() >= n, nil })
	if err != nil {
		m.t.Fatalf("waiting for %d windows (have %d, sample errors %v): %v", n, m.windowCount(), m.errors(), err)
	}
}

// waitType waits until the type is want, at most n more windows.
func (m *monitor) waitType(ctx context.Context, want classifier.Measured, n int) {
	m.t.Helper()
	limit := m.windowCount() + n
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Duration(n)*window*4+time.Minute, true,
		func(context.Context) (bool, error) {
			return m.current().Type == want || m.windowCount() >= limit, nil
		})
	if err != nil || m.current().Type != want {
		m.t.Fatalf("type is %s after window %d, want %s (err %v); verdicts %s", m.current().Type, m.windowCount(), want, err, m.verdicts(0))
	}
}

// waitVerdict waits until a window votes want, at most n more windows.
func (m *monitor) waitVerdict(ctx context.Context, want classifier.Verdict, n int) {
	m.t.Helper()
	from := m.windowCount()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Duration(n)*window*4+time.Minute, true,
		func(context.Context) (bool, error) {
			return slices.Contains(m.verdicts(from), want) || m.windowCount() >= from+n, nil
		})
	if err != nil || !slices.Contains(m.verdicts(from), want) {
		m.t.Fatalf("no window voted %s in %d windows (err %v): %v", want, n, err, m.verdicts(from))
	}
}

func (m *monitor) windowCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.windows)
}

func (m *monitor) current() classifier.Result {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.results) == 0 {
		return classifier.Result{Type: classifier.Unknown}
	}
	return m.results[len(m.results)-1]
}

func (m *monitor) errors() []error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.sampleErrs)
}

func (m *monitor) typeChanges() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.changes)
}

// verdicts lists the verdicts of the windows after the first `from`.
func (m *monitor) verdicts(from int) []classifier.Verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v []classifier.Verdict
	for _, w := range m.windows[min(from, len(m.windows)):] {
		v = append(v, w.Verdict)
	}
	return v
}

// snapshots are the snapshots taken so far.
func (m *monitor) snapshots() []classifier.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.snaps)
}

func (m *monitor) windowList() []*classifier.Window {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.windows)
}

// stop ends sampling and records the snapshots if asked to; later calls do nothing.
func (m *monitor) stop() { m.stopOnce.Do(m.stopAndRecord) }

func (m *monitor) stopAndRecord() {
	m.cancel()
	<-m.done
	dir := os.Getenv(EnvRecord)
	if dir == "" {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.snaps) == 0 {
		return
	}
	if err := writeSnapshots(filepath.Join(dir, strings.ReplaceAll(m.name, "/", "_")+".jsonl"), m.snaps); err != nil {
		m.t.Errorf("recording snapshots: %v", err)
	}
}

// runLoads samples appDB on s while loads run for n windows, then stops the loads and the
// sampling. The stopped monitor keeps what it saw.
func runLoads(ctx context.Context, t testing.TB, s *pgserver.Server, n int, loads ...pgserver.Pgbench) *monitor {
	t.Helper()
	m := startMonitor(ctx, t, pgstats.ConnConfig{DSN: s.MonitorDSN(appDB)}, testConfig)
	var running []*pgserver.Load
	for _, p := range loads {
		running = append(running, startLoad(ctx, t, s, p))
	}
	m.waitWindows(ctx, n)
	for _, l := range running {
		stopLoad(t, l)
	}
	m.stop()
	return m
}

// writeSnapshots writes one snapshot a line, leaving out pg_stat_statements entries that were in
// every snapshot with the same counters (setup statements): they cannot affect a delta.
func writeSnapshots(path string, snaps []classifier.Snapshot) error {
	seen := map[classifier.StatementKey]int{}
	first := map[classifier.StatementKey]classifier.Statement{}
	keep := map[classifier.StatementKey]bool{}
	withStatements := 0
	for _, s := range snaps {
		if s.Statements == nil {
			continue
		}
		withStatements++
		for _, e := range s.Statements.Entries {
			seen[e.StatementKey]++
			if f, ok := first[e.StatementKey]; !ok {
				first[e.StatementKey] = e
			} else if f != e {
				keep[e.StatementKey] = true
			}
		}
	}
	for k, n := range seen {
		if n != withStatements {
			keep[k] = true // appeared or disappeared: a reset or an eviction
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var b strings.Builder
	for _, s := range snaps {
		if s.Statements != nil {
			st := *s.Statements
			st.Entries = slices.DeleteFunc(slices.Clone(st.Entries), func(e classifier.Statement) bool { return !keep[e.StatementKey] })
			s.Statements = &st
		}
		line, err := json.Marshal(s)
		if err != nil {
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// tally counts verdicts, for the log and the report.
func tally(v []classifier.Verdict) string {
	n := map[classifier.Verdict]int{}
	for _, x := range v {
		n[x]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n[k]))
	}
	return strings.Join(parts, " ")
}

func count(v []classifier.Verdict, want classifier.Verdict) int {
	n := 0
	for _, x := range v {
		if x == want {
			n++
		}
	}
	return n
}
