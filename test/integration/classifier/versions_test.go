package classifier_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/test/localcluster"
	"github.com/likewise-dev/likewise/test/pgserver"
)

// otherMajors are the PostgreSQL major versions besides the distribution's 15 that the sampler's
// version-specific SQL runs against; `make postgres-versions` fetches them (PG_VERSIONS in the
// Makefile) into <tools dir>/postgresql-<major>.
var otherMajors = []int{13, 14, 16, 17, 18}

// versionWindows is how long each load of TestPostgresVersions runs: a warm-up window,
// windowsToSwitch windows to classify, and two more.
const versionWindows = windowsToSwitch + 3

// TestPostgresVersions runs a transactional and then an analytic load (TPC-H Q1, about 0.2 s, every
// 0.2 s) on PostgreSQL 13, 14, 16, 17 and 18 with pg_stat_statements, each under a new classifier: every window reads both
// pg_stat_database and pg_stat_statements through that version's SQL, and the loads come out
// oltp and olap.
func TestPostgresVersions(t *testing.T) {
	tools, err := localcluster.ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, major := range otherMajors {
		t.Run(fmt.Sprintf("PostgreSQL %d", major), func(t *testing.T) {
			t.Parallel() // two at a time (-parallel defaults to GOMAXPROCS); each load is light
			ctx := context.Background()
			s := pgserver.StartT(t, pgserver.WithServerBinDir(filepath.Join(tools, fmt.Sprintf("postgresql-%d", major), "bin")))
			if got := s.Version / 10000; got != major {
				t.Fatalf("server version %d, want major %d", s.Version, major)
			}
			if err := prepare(ctx, s, appDB, false); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateTPCH(ctx, appDB, pgserver.TPCHSmall); err != nil {
				t.Fatal(err)
			}
			q1, err := pgserver.WriteTPCHScripts(t.TempDir(), 200*time.Millisecond, "q1")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				load pgserver.Pgbench
				want classifier.Type
			}{
				{"pgbench tpcb-like", tpcbLoad(appDB), classifier.OLTP},
				{"TPC-H Q1", pgserver.Pgbench{DB: appDB, Scripts: q1, Clients: 1, NoVacuum: true}, classifier.OLAP},
			} {
				t.Run(tc.name, func(t *testing.T) {
					m := startMonitor(ctx, t, pgstats.ConnConfig{DSN: s.MonitorDSN(appDB)}, testConfig)
					load := startLoad(ctx, t, s, tc.load)
					m.waitWindows(ctx, versionWindows)
					stopLoad(t, load)
					info := m.sampler.Info()
					snaps := m.snapshots()
					m.stop()
					if info.VersionNum/10000 != major || !info.StatStatementsUsable {
						t.Errorf("sampler info %+v: want PostgreSQL %d with pg_stat_statements usable", info, major)
					}
					// Execution times came from pg_stat_statements in every interval, never a fallback.
					for _, w := range m.windowList() {
						if len(w.Features.Sources) != 1 || w.Features.Sources[classifier.SourceStatements] == 0 {
							t.Errorf("window %d sources %v: want pg_stat_statements only", w.Seq, w.Features.Sources)
						}
					}
					// pg_stat_database and pg_stat_activity were read too.
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
