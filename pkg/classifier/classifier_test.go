package classifier

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"
)

// testConfig: 10 s windows of five 2 s intervals, three windows to switch, one minute of dwell.
var testConfig = Config{Window: 10 * time.Second, WindowsToSwitch: 3, MinDwell: time.Minute}

// replayed is what a classifier made of a snapshot sequence.
type replayed struct {
	verdicts string   // one word per closed window
	changes  []string // "window:type" for each change of type
	final    Result
	windows  []*Window
}

// replay feeds snaps to a new classifier whose fake clock follows the snapshots' times.
func replay(t testing.TB, cfg Config, snaps []Snapshot) replayed {
	t.Helper()
	return replayAfter(t, cfg, snaps, nil)
}

// replayAfter is replay with before run on the new classifier first.
func replayAfter(t testing.TB, cfg Config, snaps []Snapshot, before func(*Classifier)) replayed {
	t.Helper()
	clk := clocktesting.NewFakePassiveClock(snaps[0].Time)
	c, err := New(cfg, clk)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if before != nil {
		before(c)
	}
	var out replayed
	var verdicts []string
	for _, s := range snaps {
		if s.Time.After(clk.Now()) {
			clk.SetTime(s.Time)
		}
		r := c.Observe(s)
		if r.Window != nil {
			verdicts = append(verdicts, string(r.Window.Verdict))
			out.windows = append(out.windows, r.Window)
		}
		if r.Changed {
			out.changes = append(out.changes, fmt.Sprintf("%d:%s", r.Window.Seq, r.Type))
		}
		out.final = r
	}
	out.verdicts = strings.Join(verdicts, " ")
	return out
}

func repeat(word string, n int) string {
	return strings.TrimSpace(strings.Repeat(word+" ", n))
}

func words(parts ...string) string { return strings.Join(parts, " ") }

var (
	tpcb       = load{tps: 100, stmtMs: 0.05}
	selectOnly = load{tps: 200, stmtMs: 0.03, selectOnly: true}
	analytics  = load{qps: 0.5, queryMs: 1500}
	mixedLoad  = load{tps: 50, stmtMs: 0.05, qps: 0.5, queryMs: 1500}
	idle       = load{}
	copyLoad   = load{copyPerS: 0.5}
)

func TestClassify(t *testing.T) {
	const step = 2 * time.Second
	for _, tc := range []struct {
		name     string
		cfg      Config
		snaps    []Snapshot
		verdicts string
		changes  []string
		final    Measured
	}{
		{
			name:     "tpcb-like is oltp",
			snaps:    newSeq(step).advance(25, tpcb).snaps,
			verdicts: repeat("oltp", 5),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name:     "read-only oltp writes nothing and is oltp",
			snaps:    newSeq(step).advance(25, selectOnly).snaps,
			verdicts: repeat("oltp", 5),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name:     "analytic queries are olap",
			snaps:    newSeq(step).advance(25, analytics).snaps,
			verdicts: repeat("olap", 5),
			changes:  []string{"3:olap"},
			final:    OLAP,
		},
		{
			name:     "transactions beside analytic queries are mixed",
			snaps:    newSeq(step).advance(25, mixedLoad).snaps,
			verdicts: repeat("mixed", 5),
			changes:  []string{"3:mixed"},
			final:    Mixed,
		},
		{
			name:     "an idle database stays unknown; the sampler's own statements do not count",
			snaps:    newSeq(step).advance(30, idle).snaps,
			verdicts: repeat("idle", 6),
			final:    Unknown,
		},
		{
			name:     "an idle database keeps its previous type",
			snaps:    newSeq(step).advance(15, tpcb).advance(30, idle).snaps,
			verdicts: words(repeat("oltp", 3), repeat("idle", 6)),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name:     "a bulk load is neither type and does not flip one",
			snaps:    newSeq(step).advance(15, tpcb).advance(20, copyLoad).advance(10, tpcb).snaps,
			verdicts: words(repeat("oltp", 3), repeat("bulk", 4), repeat("oltp", 2)),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "pg_stat_reset mid-window discards one interval and changes nothing",
			snaps: newSeq(step).advance(17, tpcb).then(statsReset).advance(1, tpcb).
				advance(12, tpcb).snaps,
			verdicts: repeat("oltp", 6),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "an immediate restart discards one interval and changes nothing",
			snaps: newSeq(step).advance(17, tpcb).then(restart).advance(1, idle).
				advance(12, tpcb).snaps,
			verdicts: repeat("oltp", 6),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "pg_stat_statements reset and eviction fall back to pg_stat_database for an interval",
			snaps: newSeq(step).advance(17, analytics).then(statementsReset).advance(1, analytics).
				advance(4, analytics).then(evict).advance(8, analytics).snaps,
			verdicts: repeat("olap", 6),
			changes:  []string{"3:olap"},
			final:    OLAP,
		},
		{
			name: "pg_stat_statements reset under oltp: the pg_stat_database interval is oltp too",
			snaps: newSeq(step).advance(17, tpcb).then(statementsReset).advance(1, tpcb).
				advance(12, tpcb).snaps,
			verdicts: repeat("oltp", 6),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name:     "without pg_stat_statements: oltp from pg_stat_database",
			snaps:    newSeq(step).then(withoutStatements).advance(25, tpcb).snaps,
			verdicts: repeat("oltp", 5),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "without pg_stat_statements: olap from active time per transaction",
			snaps: newSeq(step).then(withoutStatements).advance(15, load{qps: 1, queryMs: 900}).
				advance(10, load{qps: 0.5, queryMs: 1800}).snaps,
			verdicts: repeat("olap", 5),
			changes:  []string{"3:olap"},
			final:    OLAP,
		},
		{
			name:     "PostgreSQL 13 with pg_stat_statements 1.8: no active_time, no pg_stat_statements_info",
			snaps:    newSeq(step).then(pg13).advance(15, tpcb).advance(20, mixedLoad).snaps,
			cfg:      Config{MinDwell: time.Second},
			verdicts: words(repeat("oltp", 3), repeat("mixed", 4)),
			changes:  []string{"3:oltp", "6:mixed"},
			final:    Mixed,
		},
		{
			name:     "PostgreSQL 13 without pg_stat_statements: transactions alone make oltp",
			snaps:    newSeq(step).then(pg13).then(withoutStatements).advance(25, tpcb).snaps,
			verdicts: repeat("oltp", 5),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "PostgreSQL 13 without pg_stat_statements: analytic queries seen running are olap",
			snaps: newSeq(step).then(pg13).then(withoutStatements).
				advance(25, load{qps: 0.5, queryMs: 1500, caught: time.Second}).snaps,
			verdicts: repeat("olap", 5),
			changes:  []string{"3:olap"},
			final:    OLAP,
		},
		{
			// Queries shorter than longStatement are never seen running; two a second could be
			// transactions or analytics: no vote, no label.
			name:     "PostgreSQL 13 without pg_stat_statements: a few short statements a second are no vote",
			snaps:    newSeq(step).then(pg13).then(withoutStatements).advance(25, load{qps: 2, queryMs: 200}).snaps,
			verdicts: repeat("deadband", 5),
			final:    Unknown,
		},
		{
			name:     "alternating loads never agree three windows in a row: no change",
			snaps:    alternate(newSeq(step).advance(15, tpcb), 10, []load{analytics, tpcb}).snaps,
			verdicts: words(repeat("oltp", 3), "olap oltp olap oltp olap oltp olap oltp olap oltp"),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "long share wandering in the oltp/analytic dead band: no vote, no change",
			snaps: alternate(newSeq(step).advance(15, tpcb), 9, []load{
				{tps: 150, stmtMs: 5, qps: 0.5, queryMs: 1000},
				{tps: 120, stmtMs: 5, qps: 0.5, queryMs: 1000},
				{tps: 180, stmtMs: 5, qps: 0.5, queryMs: 1000},
			}).snaps,
			verdicts: words(repeat("oltp", 3), repeat("deadband", 9)),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "short rate wandering in the olap/mixed dead band: no vote, no change",
			snaps: alternate(newSeq(step).advance(15, analytics), 8, []load{
				{tps: 6, stmtMs: 0.03, selectOnly: true, qps: 0.5, queryMs: 1500},
				{tps: 9, stmtMs: 0.03, selectOnly: true, qps: 0.5, queryMs: 1500},
			}).snaps,
			verdicts: words(repeat("olap", 3), repeat("deadband", 8)),
			changes:  []string{"3:olap"},
			final:    OLAP,
		},
		{
			name:  "a switch waits for the minimum dwell time",
			snaps: newSeq(step).advance(15, tpcb).advance(60, analytics).snaps,
			// oltp adopted at 30 s; olap agrees from window 4 on, but only at 90 s is the dwell over.
			verdicts: words(repeat("oltp", 3), repeat("olap", 12)),
			changes:  []string{"3:oltp", "9:olap"},
			final:    OLAP,
		},
		{
			name:     "a switch after the dwell takes WindowsToSwitch windows",
			cfg:      Config{MinDwell: time.Second},
			snaps:    newSeq(step).advance(15, tpcb).advance(20, analytics).snaps,
			verdicts: words(repeat("oltp", 3), repeat("olap", 4)),
			changes:  []string{"3:oltp", "6:olap"},
			final:    OLAP,
		},
		{
			name: "a gap longer than a window is discarded",
			snaps: newSeq(step).advance(15, tpcb).then(func(s *Snapshot) { s.Time = s.Time.Add(time.Minute) }).
				advance(1, tpcb).advance(10, tpcb).snaps,
			verdicts: words(repeat("oltp", 3), "insufficient", repeat("oltp", 2)),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
		{
			name: "a server clock stepping back starts afresh",
			snaps: newSeq(step).advance(15, tpcb).then(func(s *Snapshot) { s.Time = s.Time.Add(-time.Hour) }).
				advance(1, tpcb).advance(15, analytics).snaps,
			verdicts: words(repeat("oltp", 3), repeat("olap", 3)),
			changes:  []string{"3:oltp"},
			final:    OLTP,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig
			if tc.cfg != (Config{}) {
				cfg = tc.cfg
				cfg.Window, cfg.WindowsToSwitch = testConfig.Window, testConfig.WindowsToSwitch
			}
			got := replay(t, cfg, tc.snaps)
			if diff := cmp.Diff(tc.verdicts, got.verdicts); diff != "" {
				t.Errorf("verdicts (-want,+got):\n%s", diff)
				for _, w := range got.windows {
					t.Logf("window %d %s: %s; %s", w.Seq, w.Verdict, w.Why, w.Features)
				}
			}
			if diff := cmp.Diff(tc.changes, got.changes); diff != "" {
				t.Errorf("changes (-want,+got):\n%s", diff)
			}
			if got.final.Type != tc.final {
				t.Errorf("final type = %s, want %s", got.final.Type, tc.final)
			}
		})
	}
}

// alternate appends n windows of 5 steps each, cycling through loads.
func alternate(q *seq, n int, loads []load) *seq {
	for i := range n {
		q.advance(5, loads[i%len(loads)])
	}
	return q
}

// TestLongStatementWhileRunning: a 20-minute query shows only in pg_stat_activity until it ends;
// its time is counted while it runs, and not again when pg_stat_statements reports it.
func TestLongStatementWhileRunning(t *testing.T) {
	const step = 2 * time.Second
	for _, tc := range []struct {
		name   string
		setup  func(*Snapshot)
		bulk   bool
		writes bool
		want   string
		final  Measured
	}{
		{name: "pg_stat_statements", want: repeat("olap", 13), final: OLAP},
		{name: "pg_stat_database only", setup: withoutStatements, want: repeat("olap", 13), final: OLAP},
		{name: "PostgreSQL 13 without pg_stat_statements", setup: func(s *Snapshot) { pg13(s); withoutStatements(s) },
			want: repeat("olap", 13), final: OLAP},
		{name: "a bulk statement (in a progress view) is no analytic work", bulk: true,
			want: repeat("bulk", 13), final: Unknown},
		{name: "a long statement that writes (INSERT ... SELECT) is no analytic work", writes: true,
			want: repeat("bulk", 13), final: Unknown},
		{name: "a long statement that writes, without pg_stat_statements", writes: true, setup: withoutStatements,
			want: repeat("bulk", 13), final: Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSeq(step)
			if tc.setup != nil {
				q.then(tc.setup)
			}
			start := t0.Add(time.Second)
			if tc.writes {
				q.then(writingStmt(7, start, qAnalytic))
			} else {
				q.then(runningStmt(7, start, qAnalytic, tc.bulk))
			}
			q.advance(60, idle)
			// It ends at 2 min 1 s: pg_stat_statements and active_time get its whole time at once.
			d := 2*time.Minute + 5*time.Second - time.Second
			q.then(func(s *Snapshot) {
				finishedStmt(7, start, d-4*time.Second, qAnalytic)(s)
				if s.Statements != nil {
					wal := 0.0
					if tc.bulk || tc.writes {
						wal = 1e10
					}
					q.run(q.entry(qAnalytic), 1, ms(d-4*time.Second), wal)
				} else if s.Database.ActiveTime != nil {
					*s.Database.ActiveTime += ms(d - 4*time.Second)
				}
				s.Database.XactCommit++
			}).advance(5, idle)
			got := replay(t, testConfig, q.snaps)
			if diff := cmp.Diff(tc.want, got.verdicts); diff != "" {
				t.Errorf("verdicts (-want,+got):\n%s", diff)
			}
			if got.final.Type != tc.final {
				t.Errorf("final type = %s, want %s", got.final.Type, tc.final)
			}
			// Over the whole run no more time is counted than the statement ran, and no window
			// counts more than its length.
			var total float64
			for _, w := range got.windows {
				f := w.Features
				total += f.LongTime + f.BulkTime
				if got := f.LongTime + f.BulkTime; got > ms(testConfig.Window)+1 {
					t.Errorf("window %d counts %.0fms of a %v window: %s", w.Seq, got, testConfig.Window, f)
				}
			}
			if want := ms(d - 4*time.Second); math.Abs(total-want) > 1 {
				t.Errorf("counted %.0fms in all, want the statement's %.0fms", total, want)
			}
		})
	}
}

func TestResult(t *testing.T) {
	snaps := newSeq(2*time.Second).advance(15, tpcb).advance(5, analytics).snaps
	got := replay(t, testConfig, snaps)
	r := got.final
	want := Result{
		Type:           OLTP,
		Confidence:     0.75,
		Since:          t0.Add(30 * time.Second),
		Pending:        OLAP,
		PendingWindows: 1,
	}
	if diff := cmp.Diff(want, r, cmpopts.IgnoreFields(Result{}, "Window", "Last")); diff != "" {
		t.Errorf("Result (-want,+got):\n%s", diff)
	}
	wantReasons := "window 4 olap: analytic work and shortRate 0.0 < mixedMinShortRate/2 5.0; " +
		"longShare=1.000 shortPerS=0.0 tps=0.5 analyticBusy=0.75 stmtPerS=0.5 meanStmtMs=1500.00 " +
		"writeShare=0.00 coverage=1.00 source=pg_stat_statements:5"
	if diff := cmp.Diff(wantReasons, r.Reasons()); diff != "" {
		t.Errorf("Reasons (-want,+got):\n%s", diff)
	}
	if r.Window == nil || r.Last != r.Window || r.Window.Seq != 4 || !r.Window.Start.Equal(t0.Add(30*time.Second)) || !r.Window.End.Equal(t0.Add(40*time.Second)) {
		t.Errorf("Window = %+v, want window 4 from 30s to 40s, also as Last", r.Window)
	}
	if diff := cmp.Diff("no window closed yet", Result{}.Reasons()); diff != "" {
		t.Errorf("Reasons of an empty result (-want,+got):\n%s", diff)
	}
}

// TestOwnStatementsExcluded: the sampler's statements, however slow, are not the database's work.
func TestOwnStatementsExcluded(t *testing.T) {
	q := newSeq(2 * time.Second)
	for range 20 {
		q.then(func(s *Snapshot) {
			own := q.entry(ownQueryID)
			own.ExecTime += 800 // slow sampling queries would look analytic
			*s.Database.ActiveTime += 800
		}).advance(1, idle)
	}
	got := replay(t, testConfig, q.snaps)
	if diff := cmp.Diff(repeat("idle", 4), got.verdicts); diff != "" {
		t.Errorf("verdicts (-want,+got):\n%s", diff)
	}
}

// TestActivityNotVisible: without pg_read_all_stats the sampler sees no statement of others;
// a long statement is then known only when it ends.
func TestActivityNotVisible(t *testing.T) {
	q := newSeq(2 * time.Second).then(func(s *Snapshot) { s.ActivityVisible = false })
	q.then(runningStmt(7, t0, qAnalytic, false)).advance(10, idle)
	got := replay(t, testConfig, q.snaps)
	if diff := cmp.Diff(repeat("idle", 2), got.verdicts); diff != "" {
		t.Errorf("verdicts (-want,+got):\n%s", diff)
	}
}

// TestResume: a type resumed from what a previous process wrote holds for MinDwell (1 min) from
// when it was adopted there, however soon and however clearly this classifier's windows vote
// for another type; a doubtful adoption time counts from now.
func TestResume(t *testing.T) {
	// 14 windows of OLTP: without a type held, oltp is adopted at window 3 (t0+30s).
	snaps := newSeq(2*time.Second).advance(70, tpcb).snaps
	for _, tc := range []struct {
		name      string
		typ       Measured
		since     time.Time
		resumed   bool
		wantSince time.Time // Result.Since before any window
		changes   []string
	}{
		{name: "nothing resumed: oltp at window 3", changes: []string{"3:oltp"}},
		{name: "unknown resumes nothing", typ: Unknown, since: t0.Add(-time.Hour), changes: []string{"3:oltp"}},
		{
			name: "olap adopted 10s before: kept until 50s, 3 windows after the switch could be made",
			typ:  OLAP, since: t0.Add(-10 * time.Second), resumed: true, wantSince: t0.Add(-10 * time.Second),
			changes: []string{"5:oltp"},
		},
		{
			name: "olap adopted long before: the dwell is over, the switch comes as soon as windows agree",
			typ:  OLAP, since: t0.Add(-time.Hour), resumed: true, wantSince: t0.Add(-time.Hour),
			changes: []string{"3:oltp"},
		},
		{
			name: "mixed is a type like the others",
			typ:  Mixed, since: t0.Add(-30 * time.Second), resumed: true, wantSince: t0.Add(-30 * time.Second),
			changes: []string{"3:oltp"},
		},
		{
			name: "an adoption time in the future is doubt: adopted now",
			typ:  OLAP, since: t0.Add(time.Hour), resumed: true, wantSince: t0,
			changes: []string{"6:oltp"},
		},
		{
			name: "no adoption time is doubt: adopted now",
			typ:  OLAP, resumed: true, wantSince: t0,
			changes: []string{"6:oltp"},
		},
		{
			name: "the measured type resumed: kept, no change",
			typ:  OLTP, since: t0.Add(-10 * time.Second), resumed: true, wantSince: t0.Add(-10 * time.Second),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var first Result
			got := replayAfter(t, testConfig, snaps, func(c *Classifier) {
				if resumed := c.Resume(tc.typ, tc.since); resumed != tc.resumed {
					t.Errorf("Resume = %v, want %v", resumed, tc.resumed)
				}
				first = c.Result()
			})
			wantFirst := Result{Type: Unknown}
			if tc.resumed {
				wantFirst = Result{Type: tc.typ, Since: tc.wantSince}
			}
			if diff := cmp.Diff(wantFirst, first); diff != "" {
				t.Errorf("Result after Resume (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(repeat("oltp", 14), got.verdicts); diff != "" {
				t.Errorf("verdicts (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.changes, got.changes); diff != "" {
				t.Errorf("changes (-want,+got):\n%s", diff)
			}
			if got.final.Type != OLTP {
				t.Errorf("final type %s, want oltp", got.final.Type)
			}
		})
	}
	t.Run("a type adopted by its own windows is not replaced", func(t *testing.T) {
		clk := clocktesting.NewFakePassiveClock(t0)
		c, err := New(testConfig, clk)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range newSeq(2*time.Second).advance(20, tpcb).snaps {
			clk.SetTime(s.Time)
			c.Observe(s)
		}
		before := c.Result()
		if before.Type != OLTP {
			t.Fatalf("type %s, want oltp", before.Type)
		}
		if c.Resume(OLAP, t0) {
			t.Error("Resume took olap over the type the classifier adopted")
		}
		if diff := cmp.Diff(before, c.Result()); diff != "" {
			t.Errorf("Resume changed the result (-before,+after):\n%s", diff)
		}
	})
}
