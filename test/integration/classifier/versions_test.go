package classifier_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// versionCases are the PostgreSQL servers besides the distribution's 15 that the sampler's
// version-specific SQL runs against; `make postgres-versions` fetches them (PG_VERSIONS in the
// Makefile) into <tools dir>/postgresql-<major>. PostgreSQL 13 also runs without
// pg_stat_statements: it has no active_time either, the least the classifier works from, and
// sees analytic queries only while they run longer than longStatement (500 ms) and a sampling
// interval (1 s), so its data is twice the classifier tests' size, on which Q1 takes about 3 s
// (0.2 s on the small one).
var versionCases = []struct {
	major      int
	statements bool
	tpch       pgserver.TPCHSize
}{
	{13, false, pgserver.TPCHSize{Suppliers: 2000, Customers: 30000, Parts: 40000, Orders: 600000}},
	{13, true, pgserver.TPCHSmall},
	{14, true, pgserver.TPCHSmall},
	{16, true, pgserver.TPCHSmall},
	{17, true, pgserver.TPCHSmall},
	{18, true, pgserver.TPCHSmall},
}

// versionWindows is how long each load of TestPostgresVersions runs: a warm-up window,
// windowsToSwitch windows to classify, and two more.
const versionWindows = windowsToSwitch + 3

// TestPostgresVersions runs a transactional and then an analytic load (TPC-H Q1, a pause of 0.2 s
// after each) on PostgreSQL 13, 14, 16, 17 and 18, each load under a new classifier: the loads
// come out oltp and olap, every window's execution times come from pg_stat_statements (from
// pg_stat_activity alone on 13 without it), and pg_stat_database and pg_stat_activity are read.
func TestPostgresVersions(t *testing.T) {
	tools, err := localcluster.ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, vc := range versionCases {
		name := fmt.Sprintf("PostgreSQL %d", vc.major)
		wantSource := classifier.SourceStatements
		if !vc.statements {
			name += " without pg_stat_statements"
			wantSource = classifier.SourceActivity
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel() // two at a time (-parallel defaults to GOMAXPROCS); each load is light
			ctx := context.Background()
			s := pgserver.StartT(t, pgserver.WithStatStatements(vc.statements),
				pgserver.WithServerBinDir(filepath.Join(tools, fmt.Sprintf("postgresql-%d", vc.major), "bin")))
			if got := s.Version / 10000; got != vc.major {
				t.Fatalf("server version %d, want major %d", s.Version, vc.major)
			}
			if err := prepare(ctx, s, appDB, false); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTPCH(ctx, appDB, vc.tpch); err != nil {
				t.Fatal(err)
			}
			q1, err := pgserver.WriteTPCHScripts(t.TempDir(), 200*time.Millisecond, "q1")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				load pgserver.Pgbench
				want classifier.Measured
			}{
				{"pgbench tpcb-like", tpcbLoad(appDB), classifier.OLTP},
				{"TPC-H Q1", pgserver.Pgbench{DB: appDB, Scripts: q1, Clients: 1, NoVacuum: true}, classifier.OLAP},
			} {
				t.Run(tc.name, func(t *testing.T) {
					m := runLoads(ctx, t, s, versionWindows, tc.load)
					info := m.sampler.Info()
					snaps := m.snapshots()
					if info.VersionNum/10000 != vc.major || info.StatStatementsUsable != vc.statements {
						t.Errorf("sampler info %+v: want PostgreSQL %d, pg_stat_statements usable %v", info, vc.major, vc.statements)
					}
					for _, w := range m.windowList() {
						if len(w.Features.Sources) != 1 || w.Features.Sources[wantSource] == 0 {
							t.Errorf("window %d sources %v: want %s only", w.Seq, w.Features.Sources, wantSource)
						}
					}
					if len(snaps) < 2 {
						t.Fatalf("%d snapshots, want a window's worth", len(snaps))
					}
					first, last := snaps[0], snaps[len(snaps)-1]
					if last.Database.XactCommit <= first.Database.XactCommit || last.Database.BlksHit <= first.Database.BlksHit {
						t.Errorf("pg_stat_database did not advance: first %+v, last %+v", first.Database, last.Database)
					}
					running := 0
					for _, snap := range snaps {
						if !snap.ActivityVisible {
							t.Fatalf("snapshot at %s: pg_stat_activity not visible to the monitoring role", snap.Time)
						}
						running += len(snap.Activity)
					}
					if running == 0 {
						t.Errorf("pg_stat_activity showed no other backend in %d snapshots under load", len(snaps))
					}
					if errs := m.errors(); len(errs) > 0 {
						t.Errorf("sampling errors: %v", errs)
					}
					checkSteady(t, m, tc.want)
				})
			}
		})
	}
}
