package classifier_test

import (
	"context"
	"testing"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// TestWithoutStatStatements: with pg_stat_statements installed in the database but not in
// shared_preload_libraries (reading it fails with SQLSTATE 55000), the classifier works from
// pg_stat_database's active time and pg_stat_activity.
func TestWithoutStatStatements(t *testing.T) {
	ctx := context.Background()
	s := pgserver.StartT(t, pgserver.WithStatStatements(false))
	if err := prepare(ctx, s, appDB, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Psql(ctx, appDB, "CREATE EXTENSION pg_stat_statements"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		loads func(t *testing.T) []pgserver.Pgbench
		want  classifier.Measured
	}{
		{"pgbench tpcb-like", func(*testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{tpcbLoad(appDB)} }, classifier.OLTP},
		{"pgbench select-only", func(*testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{selectOnlyLoad(appDB)} }, classifier.OLTP},
		{"TPC-H-style queries", func(t *testing.T) []pgserver.Pgbench { return []pgserver.Pgbench{analyticLoad(t, appDB)} }, classifier.OLAP},
		{"tpcb-like and TPC-H-style clients together", func(t *testing.T) []pgserver.Pgbench {
			oltp := tpcbLoad(appDB)
			oltp.Rate = 50
			return []pgserver.Pgbench{oltp, analyticLoad(t, appDB)}
		}, classifier.Mixed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := runLoads(ctx, t, s, steadyWindows, tc.loads(t)...)
			info := m.sampler.Info()
			if info.StatStatementsUsable || info.StatStatementsReason != "pg_stat_statements is not in shared_preload_libraries" {
				t.Errorf("sampler info %+v: want pg_stat_statements unusable as not preloaded", info)
			}
			for _, w := range m.windowList() {
				if w.Features.Sources[classifier.SourceDatabase] == 0 || w.Features.Sources[classifier.SourceStatements] != 0 {
					t.Errorf("window %d sources %v: want pg_stat_database only", w.Seq, w.Features.Sources)
				}
			}
			checkSteady(t, m, tc.want)
		})
	}
}
