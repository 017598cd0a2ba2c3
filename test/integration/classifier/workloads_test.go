package classifier_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// shared is one server with pg_stat_statements and a database "app" holding pgbench's and the
// TPC-H-style tables, used by the tests that neither restart nor reset it.
var shared struct {
	once sync.Once
	s    *pgserver.Server
	err  error
}

const appDB = "app"

func sharedServer(t *testing.T) *pgserver.Server {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.s, shared.err = pgserver.Start(ctx)
		if shared.err == nil {
			shared.err = prepare(ctx, shared.s, appDB, true)
		}
	})
	if shared.err != nil {
		t.Fatalf("shared PostgreSQL server: %v", shared.err)
	}
	return shared.s
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.s != nil {
		shared.s.Close()
	}
	os.Exit(code)
}

// steadyWindows is how long each steady workload runs: a warm-up window (the load starts within
// it), WindowsToSwitch windows to classify, and more to see that it stays.
const steadyWindows = 8

// TestWorkloads runs each workload alone and checks that it is classified once, as expected, and
// that at least all but one of the windows after the first voted for it.
func TestWorkloads(t *testing.T) {
	s := sharedServer(t)
	for _, tc := range []struct {
		name  string
		loads func(t *testing.T) []pgserver.Pgbench
		want  classifier.Measured
	}{
		{"pgbench tpcb-like", func(*testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{tpcbLoad(appDB)} }, classifier.OLTP},
		{"pgbench simple-update", func(*testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{simpleUpdateLoad(appDB)} }, classifier.OLTP},
		{"pgbench select-only", func(*testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{selectOnlyLoad(appDB)} }, classifier.OLTP},
		{"TPC-H-style queries", func(t *testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{analyticLoad(t, appDB)} }, classifier.OLAP},
		{"tpcb-like and TPC-H-style clients together", func(t *testing.T) []pgserver.Pgbench {
			oltp := tpcbLoad(appDB)
			oltp.Rate = 50
			return []pgserver.Pgbench{oltp, analyticLoad(t, appDB)}
		}, classifier.Mixed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := runLoads(context.Background(), t, s, steadyWindows, tc.loads(t)...)
			checkSteady(t, m, tc.want)
		})
	}
}

func checkSteady(t *testing.T, m *monitor, want classifier.Measured) {
	t.Helper()
	verdicts := m.verdicts(1)
	t.Logf("RESULT %s: type %s, windows after the first: %s", t.Name(), m.current().Type, tally(verdicts))
	changes := m.typeChanges()
	if len(changes) != 1 || !strings.HasSuffix(changes[0], ":"+want.String()) {
		t.Errorf("type changes %v, want exactly one, to %s", changes, want)
	}
	if got := count(verdicts, classifier.Verdict(want.String())); got < len(verdicts)-1 {
		t.Errorf("%d of %d windows voted %s, want all but one at most: %v", got, len(verdicts), want, verdicts)
	}
}

// TestIdleStaysUnknown: a database nobody uses is never classified, whatever the sampler does in it.
func TestIdleStaysUnknown(t *testing.T) {
	s := sharedServer(t)
	ctx := context.Background()
	if err := s.CreateDatabase(ctx, "quiet"); err != nil {
		t.Fatal(err)
	}
	m := startMonitor(ctx, t, pgstats.ConnConfig{DSN: s.MonitorDSN("quiet")}, testConfig)
	m.waitWindows(ctx, 6)
	m.stop()
	verdicts := m.verdicts(0)
	t.Logf("RESULT %s: type %s, windows: %s", t.Name(), m.current().Type, tally(verdicts))
	if diff := cmp.Diff([]string(nil), m.typeChanges()); diff != "" {
		t.Errorf("type changes (-want,+got):\n%s", diff)
	}
	if got := m.current().Type; got != classifier.Unknown {
		t.Errorf("type = %s, want unknown", got)
	}
	if got := count(verdicts, classifier.VerdictIdle); got != len(verdicts) {
		t.Errorf("%d of %d windows idle: %v", got, len(verdicts), verdicts)
	}
}
