package classifier_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// TestResetsAndRestartsChangeNothing: under a steady OLTP load, pg_stat_reset(),
// pg_stat_statements_reset(), a fast restart and an immediate (crash-like) restart are seen,
// their intervals discarded or measured without pg_stat_statements, and the type never changes.
func TestResetsAndRestartsChangeNothing(t *testing.T) {
	ctx := context.Background()
	s := pgserver.StartT(t)
	if err := prepare(ctx, s, appDB, false); err != nil {
		t.Fatal(err)
	}
	m := startMonitor(ctx, t, pgstats.ConnConfig{DSN: s.MonitorDSN(appDB)}, testConfig)
	load := startLoad(ctx, t, s, tpcbLoad(appDB))
	m.waitType(ctx, classifier.OLTP, windowsToSwitch+2)
	m.waitWindows(ctx, m.windowCount()+1)

	step := func(name string, f func() error) {
		t.Helper()
		t.Logf("--- %s at window %d", name, m.windowCount())
		if err := f(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		m.waitWindows(ctx, m.windowCount()+3)
	}
	step("pg_stat_reset()", func() error { _, err := s.Psql(ctx, appDB, "SELECT pg_stat_reset()"); return err })
	step("pg_stat_statements_reset()", func() error {
		_, err := s.Psql(ctx, appDB, "SELECT pg_stat_statements_reset()")
		return err
	})
	for _, mode := range []pgserver.ShutdownMode{pgserver.Fast, pgserver.Immediate} {
		step("restart "+string(mode), func() error {
			if err := s.Restart(ctx, mode); err != nil {
				return err
			}
			// pgbench lost its connections with the server: start it again, as an application
			// would reconnect.
			<-load.Done()
			load = startLoad(ctx, t, s, tpcbLoad(appDB))
			return nil
		})
	}
	m.waitWindows(ctx, m.windowCount()+2)
	stopLoad(t, load)
	m.stop()

	changes := m.typeChanges()
	t.Logf("RESULT %s: changes %v, windows: %s, sample errors during restarts: %d", t.Name(), changes, tally(m.verdicts(0)), len(m.errors()))
	if len(changes) != 1 || changes[0][len(changes[0])-4:] != "oltp" {
		t.Errorf("type changes %v, want only the first classification as oltp", changes)
	}
	// Every reset was noticed.
	seen := map[string]bool{}
	for _, w := range m.windowList() {
		for reason := range w.Features.Discarded {
			seen[reason] = true
		}
		for reason := range w.Features.Fallbacks {
			seen[reason] = true
		}
	}
	var got []string
	for _, reason := range []string{classifier.DiscardDatabaseReset, classifier.StatementsReset, classifier.DiscardRestart} {
		if seen[reason] {
			got = append(got, reason)
		}
	}
	want := []string{classifier.DiscardDatabaseReset, classifier.StatementsReset, classifier.DiscardRestart}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reasons noticed (-want,+got):\n%s\nall: %v", diff, slices.Sorted(mapsKeys(seen)))
	}
	// Windows with load voted oltp; none voted anything else.
	for _, v := range m.verdicts(1) {
		if v != classifier.VerdictOLTP && v.Type() != classifier.Unknown {
			t.Errorf("a window voted %s: %v", v, m.verdicts(0))
			break
		}
	}
}

func mapsKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
