package classifier

import (
	"encoding/json"
	"slices"
	"time"
)

// Builders of snapshot sequences for the tests: a fake database whose counters the phases move
// the way the real workloads measured in docs/classifier.md do.

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	ownUser    = 16384
	appUser    = 10
	ownQueryID = 999
)

// Query IDs of the fake database's statements.
const (
	qBegin int64 = iota + 1
	qUpdate
	qSelect
	qCommit
	qAnalytic
	qCopy
)

type seq struct {
	step  time.Duration // between snapshots
	snap  Snapshot      // current cumulative state
	snaps []Snapshot
}

func newSeq(step time.Duration) *seq {
	active := 0.0
	q := &seq{step: step, snap: Snapshot{
		Time:             t0,
		PostmasterStart:  t0.Add(-time.Hour),
		ServerVersionNum: 150010,
		Database:         Database{StatsReset: t0.Add(-time.Hour), ActiveTime: &active},
		Statements: &Statements{
			Version: "1.10",
			Info:    &StatementsInfo{Reset: t0.Add(-time.Hour)},
			Entries: []Statement{{StatementKey: StatementKey{UserID: ownUser, QueryID: ownQueryID}}},
		},
		ActivityVisible: true,
		Own:             Own{UserID: ownUser, QueryIDs: []int64{ownQueryID}},
	}}
	q.emit()
	return q
}

// emit appends a deep copy of the current state.
func (q *seq) emit() {
	b, err := json.Marshal(q.snap)
	if err != nil {
		panic(err)
	}
	var c Snapshot
	if err := json.Unmarshal(b, &c); err != nil {
		panic(err)
	}
	q.snaps = append(q.snaps, c)
}

// entry returns the pg_stat_statements entry of id, creating it.
func (q *seq) entry(id int64) *Statement {
	s := q.snap.Statements
	for i := range s.Entries {
		if s.Entries[i].QueryID == id {
			return &s.Entries[i]
		}
	}
	s.Entries = append(s.Entries, Statement{StatementKey: StatementKey{UserID: appUser, QueryID: id}})
	return &s.Entries[len(s.Entries)-1]
}

func (q *seq) run(e *Statement, calls int64, meanMs, walPerCall float64) {
	e.Calls += calls
	e.ExecTime += float64(calls) * meanMs
	e.WALBytes += float64(calls) * walPerCall
	if a := q.snap.Database.ActiveTime; a != nil {
		*a += float64(calls) * meanMs
	}
}

// load describes what the database does per second.
type load struct {
	tps        float64 // pgbench-like transactions: BEGIN, UPDATE, SELECT, COMMIT
	stmtMs     float64 // their statements' mean time
	selectOnly bool
	qps        float64 // analytic queries per second
	queryMs    float64
	copyPerS   float64 // bulk COPY statements per second
	// caught is the age at which each snapshot finds an analytic query running (0: none found).
	caught time.Duration
}

// advance moves n steps under l, the sampler running one statement per step.
func (q *seq) advance(n int, l load) *seq {
	for range n {
		sec := q.step.Seconds()
		q.snap.Time = q.snap.Time.Add(q.step)
		d := &q.snap.Database
		xacts := int64(l.tps*sec) + int64(l.qps*sec) + int64(l.copyPerS*sec)
		d.XactCommit += xacts + 1 // +1: the sampler's own
		if s := q.snap.Statements; s != nil {
			if l.tps > 0 {
				calls := int64(l.tps * sec)
				if l.selectOnly {
					q.run(q.entry(qSelect), calls, l.stmtMs, 0)
				} else {
					q.run(q.entry(qBegin), calls, 0.005, 0)
					q.run(q.entry(qUpdate), calls, l.stmtMs, 200)
					q.run(q.entry(qSelect), calls, l.stmtMs, 0)
					q.run(q.entry(qCommit), calls, 0.01, 50)
				}
			}
			if l.qps > 0 {
				q.run(q.entry(qAnalytic), int64(l.qps*sec), l.queryMs, 0)
			}
			if l.copyPerS > 0 {
				q.run(q.entry(qCopy), int64(l.copyPerS*sec), 3000, 50e6)
			}
			q.entry(ownQueryID).Calls++
		} else if a := d.ActiveTime; a != nil {
			*a += l.tps*sec*2*l.stmtMs + l.qps*sec*l.queryMs + l.copyPerS*sec*3000
		}
		// pgbench's clients: each sample finds them in a statement that began a moment ago.
		q.snap.Activity = slices.DeleteFunc(q.snap.Activity, func(b Backend) bool { return b.PID >= 100 })
		if l.caught > 0 {
			start := q.snap.Time.Add(-l.caught)
			q.snap.Activity = append(q.snap.Activity, Backend{PID: 200, State: "active", QueryStart: start, StateChange: start, QueryID: qAnalytic})
		}
		if l.tps > 0 {
			for pid := int32(100); pid < 102; pid++ {
				start := q.snap.Time.Add(-time.Millisecond)
				q.snap.Activity = append(q.snap.Activity, Backend{PID: pid, State: "active", QueryStart: start, StateChange: start, QueryID: qUpdate})
			}
		}
		d.TupFetched += int64(l.tps * sec * 2)
		d.TupUpdated += int64(l.tps * sec)
		d.TupReturned += int64(l.qps * sec * 1e6)
		q.snap.Own.Transactions++
		q.snap.Own.ExecTime += 2
		q.emit()
	}
	return q
}

// then applies f to the state (without a snapshot).
func (q *seq) then(f func(*Snapshot)) *seq {
	f(&q.snap)
	return q
}

func withoutStatements(s *Snapshot) { s.Statements = nil }

// pg13 is PostgreSQL 13: no active_time, no pg_stat_statements_info, no query IDs in activity.
func pg13(s *Snapshot) {
	s.ServerVersionNum = 130015
	s.Database.ActiveTime = nil
	if s.Statements != nil {
		s.Statements.Version = "1.8"
		s.Statements.Info = nil
	}
}

func statsReset(s *Snapshot) {
	s.Database = Database{StatsReset: s.Time, ActiveTime: zeroIfSet(s.Database.ActiveTime)}
}

func zeroIfSet(p *float64) *float64 {
	if p == nil {
		return nil
	}
	z := 0.0
	return &z
}

// restart is an immediate restart: pg_stat_database and pg_stat_statements start from zero.
func restart(s *Snapshot) {
	s.PostmasterStart = s.Time
	s.Database = Database{ActiveTime: zeroIfSet(s.Database.ActiveTime)}
	if s.Statements != nil {
		s.Statements.Entries = []Statement{{StatementKey: StatementKey{UserID: ownUser, QueryID: ownQueryID}}}
		if s.Statements.Info != nil {
			s.Statements.Info.Reset = s.Time
		}
	}
	s.Activity = nil
}

func statementsReset(s *Snapshot) {
	s.Statements.Entries = nil
	s.Statements.Info.Reset = s.Time
}

// evict is pg_stat_statements dropping least-used entries past pg_stat_statements.max.
func evict(s *Snapshot) {
	s.Statements.Info.Dealloc++
	s.Statements.Entries = s.Statements.Entries[:len(s.Statements.Entries)-1]
}

// runningStmt puts a statement that started at start on backend pid (nil start: idle since end).
func runningStmt(pid int32, start time.Time, queryID int64, bulk bool) func(*Snapshot) {
	return func(s *Snapshot) {
		s.Activity = []Backend{{PID: pid, State: "active", QueryStart: start, StateChange: start, QueryID: queryID, Bulk: bulk}}
	}
}

// finishedStmt makes backend pid idle: its statement started at start ran for d.
func finishedStmt(pid int32, start time.Time, d time.Duration, queryID int64) func(*Snapshot) {
	return func(s *Snapshot) {
		s.Activity = []Backend{{PID: pid, State: "idle", QueryStart: start, StateChange: start.Add(d), QueryID: queryID}}
	}
}

// writingStmt is runningStmt for a statement whose transaction has written (INSERT ... SELECT).
func writingStmt(pid int32, start time.Time, queryID int64) func(*Snapshot) {
	return func(s *Snapshot) {
		runningStmt(pid, start, queryID, false)(s)
		s.Activity[0].Writes = true
	}
}
