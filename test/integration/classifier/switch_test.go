package classifier_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// TestSwitchOLTPToOLAP: an OLTP database becomes analytical. On the way, the analytic tables are
// bulk-loaded while the classifier watches: a bulk load is neither type, and changes nothing. The switch to olap is
// reported once, within WindowsToSwitch+1 windows of the analytic load's start (the window the
// load starts in, then WindowsToSwitch agreeing ones), as docs/classifier.md states.
func TestSwitchOLTPToOLAP(t *testing.T) {
	ctx := context.Background()
	s := pgserver.StartT(t)
	if err := prepare(ctx, s, appDB, false); err != nil {
		t.Fatal(err)
	}
	m := startMonitor(ctx, t, pgstats.ConnConfig{DSN: s.MonitorDSN(appDB)}, testConfig)
	oltp := startLoad(ctx, t, s, tpcbLoad(appDB))
	m.waitType(ctx, classifier.OLTP, windowsToSwitch+2)
	// Hold the OLTP load past the minimum dwell, so that only the windows bound the switch.
	m.waitWindows(ctx, m.windowCount()+int(minDwell/window)+1)
	stopLoad(t, oltp)

	bulkFrom := m.windowCount()
	if err := generateTPCH(ctx, s, appDB); err != nil {
		t.Fatal(err)
	}
	// The load's ANALYZE may cast an olap vote; an idle window ends that streak, so that the
	// switch is measured from the analytic load alone.
	m.waitVerdict(ctx, classifier.VerdictIdle, 4)
	bulkTo := m.windowCount()

	switchAt := m.windowCount() // the analytic load starts within window switchAt+1
	started := time.Now()
	olap := startLoad(ctx, t, s, analyticLoad(t, appDB))
	m.waitType(ctx, classifier.OLAP, windowsToSwitch+4)
	detected := time.Since(started)
	changedAt := m.windowCount()
	m.waitWindows(ctx, m.windowCount()+2)
	stopLoad(t, olap)
	m.stop()

	changes := m.typeChanges()
	all := m.verdicts(0)
	t.Logf("RESULT %s: changes %v; bulk windows %d-%d: %v; olap detected %d windows after the load started (%.1fs); windows: %s",
		t.Name(), changes, bulkFrom+1, bulkTo, all[bulkFrom:bulkTo], changedAt-switchAt, detected.Seconds(), tally(all))
	if len(changes) != 2 || changes[0][len(changes[0])-4:] != "oltp" || changes[1] != fmt.Sprintf("%d:olap", changedAt) {
		t.Errorf("type changes %v, want oltp then olap at window %d, nothing else", changes, changedAt)
	}
	if changedAt-switchAt > windowsToSwitch+1 {
		t.Errorf("olap reported at window %d, %d windows after the load started in window %d; want at most %d",
			changedAt, changedAt-switchAt, switchAt+1, windowsToSwitch+1)
	}
	if bulk := all[bulkFrom:bulkTo]; count(bulk, classifier.VerdictBulk) == 0 || count(bulk, classifier.VerdictMixed) > 0 {
		t.Errorf("windows of the bulk load voted %v: want bulk, and never mixed", bulk)
	}
}
