package classifier

import (
	"fmt"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// BenchmarkObserve feeds a long sequence of snapshots (a mixed load, one snapshot per 15 s, 60 s
// windows) and reports the cost of one Observe. entries is the number of pg_stat_statements
// entries of the database in each snapshot; backends the number of sessions in pg_stat_activity.
func BenchmarkObserve(b *testing.B) {
	for _, size := range []struct{ entries, backends int }{{20, 5}, {500, 50}, {5000, 100}} {
		b.Run(fmt.Sprintf("entries=%d/backends=%d/mixed", size.entries, size.backends), func(b *testing.B) {
			const n = 1000
			snaps := benchSnapshots(n, size.entries, size.backends)
			clk := clocktesting.NewFakePassiveClock(t0)
			c, err := New(Config{}, clk)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// The sequence repeats with its times shifted, so that time only goes forward.
				s := snaps[i%n]
				shift := time.Duration(i/n) * time.Duration(n) * 15 * time.Second
				s.Time = s.Time.Add(shift)
				clk.SetTime(s.Time)
				r := c.Observe(s)
				if r.Window != nil && r.Window.Verdict != VerdictMixed && r.Window.Seq > 1 && i%n != 0 && i%n > 4 {
					b.Fatalf("window %d voted %s: %s", r.Window.Seq, r.Window.Verdict, r.Window.Features)
				}
			}
		})
	}
}

// benchSnapshots builds n snapshots 15 s apart of a database with entries statements (most
// transactional, one analytic) and backends sessions, one of them in a long analytic query.
func benchSnapshots(n, entries, backends int) []Snapshot {
	const step = 15 * time.Second
	out := make([]Snapshot, n)
	stmts := make([]Statement, entries)
	for i := range stmts {
		stmts[i].StatementKey = StatementKey{UserID: appUser, QueryID: int64(1000 + i)}
	}
	active := 0.0
	var xacts int64
	for k := range n {
		now := t0.Add(time.Duration(k) * step)
		for i := range stmts {
			if i == 0 {
				stmts[i].Calls += 10 // analytic: 10 queries of 1.2 s every 15 s
				stmts[i].ExecTime += 12000
			} else {
				// Transactional: 2000 calls of 0.1 ms each every 15 s, spread over the entries.
				calls := max(1, 2000/(entries-1))
				stmts[i].Calls += int64(calls)
				stmts[i].ExecTime += 0.1 * float64(calls)
			}
			stmts[i].WALBytes += 100
		}
		xacts += 2000
		active += 12000 + 200
		a := active
		acts := make([]Backend, backends)
		for j := range acts {
			start := now.Add(-time.Millisecond)
			if j == 0 {
				start = now.Add(-800 * time.Millisecond)
			}
			acts[j] = Backend{PID: int32(100 + j), State: "active", QueryStart: start, StateChange: start}
		}
		out[k] = Snapshot{
			Time:            now,
			PostmasterStart: t0.Add(-time.Hour),
			Database:        Database{XactCommit: xacts, ActiveTime: &a},
			Statements: &Statements{Version: "1.10", Info: &StatementsInfo{Reset: t0.Add(-time.Hour)},
				Entries: append([]Statement(nil), stmts...)},
			Activity:        acts,
			ActivityVisible: true,
			Own:             Own{UserID: ownUser, QueryIDs: []int64{ownQueryID}, Transactions: int64(k)},
		}
	}
	return out
}
