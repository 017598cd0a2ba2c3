package classifier

import (
	"math"
	"slices"
	"time"
)

// Where an interval's execution times came from.
const (
	SourceStatements = "pg_stat_statements"
	SourceDatabase   = "pg_stat_database"
	SourceActivity   = "pg_stat_activity"
)

// Reasons an interval is discarded.
const (
	DiscardTimeBackwards   = "time did not advance"
	DiscardGap             = "gap between snapshots longer than a window"
	DiscardRestart         = "server restarted"
	DiscardDatabaseReset   = "pg_stat_database reset"
	DiscardDatabaseCounter = "pg_stat_database counter went down"
)

// Reasons pg_stat_statements is not used for an interval (it falls back to pg_stat_database).
const (
	StatementsReset   = "pg_stat_statements reset"
	StatementsEvicted = "pg_stat_statements evicted entries"
	StatementsVersion = "pg_stat_statements version changed"
)

// sums is what happened in one interval or one window. Times are in milliseconds.
type sums struct {
	covered      float64 // ms of usable intervals
	transactions float64 // other sessions' transactions
	statements   int64   // other sessions' pg_stat_statements calls
	// shortCalls counts transactional statements: pg_stat_statements calls weighted like their
	// time, or transactions where pg_stat_statements was not used.
	shortCalls float64
	// short, long and bulk split execution time into transactional, analytic and bulk-load work.
	short, long, bulk float64
	// statementsTime is execution time measured by pg_stat_statements (for the mean).
	statementsTime float64
	// db* are measured without pg_stat_statements, in intervals that used pg_stat_database:
	// active time not yet split (dbResidual), analytic time of statements seen running long
	// (dbLong, also in long), and transactions. sampled counts the statements the snapshots
	// caught running young, and sampledWeight their analytic weight by age.
	dbResidual, dbLong, dbTransactions float64
	sampled, sampledWeight             float64
	shortUnknown                       bool // an interval had no measure of transactional time
	written, read                      int64
	sources                            map[string]int
	fallbacks                          map[string]int
	discarded                          map[string]int
}

func (s *sums) add(o sums) {
	s.covered += o.covered
	s.transactions += o.transactions
	s.statements += o.statements
	s.shortCalls += o.shortCalls
	s.short += o.short
	s.long += o.long
	s.bulk += o.bulk
	s.statementsTime += o.statementsTime
	s.dbResidual += o.dbResidual
	s.dbLong += o.dbLong
	s.sampled += o.sampled
	s.sampledWeight += o.sampledWeight
	s.dbTransactions += o.dbTransactions
	s.shortUnknown = s.shortUnknown || o.shortUnknown
	s.written += o.written
	s.read += o.read
	s.sources = addCounts(s.sources, o.sources)
	s.fallbacks = addCounts(s.fallbacks, o.fallbacks)
	s.discarded = addCounts(s.discarded, o.discarded)
}

func addCounts(dst, src map[string]int) map[string]int {
	for k, v := range src {
		if dst == nil {
			dst = map[string]int{}
		}
		dst[k] += v
	}
	return dst
}

// running is a statement seen running in pg_stat_activity. Once it is long it is credited
// while it runs; when it ends, its duration tells how much of it was analytic.
type running struct {
	start   time.Time // query_start: identifies the statement together with the pid
	queryID int64
	bulk    bool
	// credited is the time already counted in usable intervals; until is how far it reaches.
	credited float64
	until    time.Time
	seen     time.Time // the last snapshot that saw it running
}

// endedBefore estimates the duration of a statement whose backend started another statement at
// next. It ended between its last sighting and next, and other statements may have run in
// between: assume it went on for half the gap, but for no longer than it had run when last seen,
// so that a statement seen young stays short.
func (r *running) endedBefore(next time.Time) float64 {
	last := maxTime(r.seen, r.start)
	age := ms(last.Sub(r.start))
	gap := max(ms(next.Sub(last)), 0)
	return max(age+min(age, gap/2), r.credited)
}

// ended is a tracked statement that finished within the interval.
type ended struct {
	running
	duration float64 // ms; its full time, as far as pg_stat_activity tells
}

// analyticWeight is the share of a statement's time that counts as analytic, by its mean time:
// 0 up to short, 1 from long, logarithmic in between.
func analyticWeight(mean, short, long float64) float64 {
	switch {
	case mean <= short:
		return 0
	case mean >= long:
		return 1
	}
	return math.Log(mean/short) / math.Log(long/short)
}

// interval accounts for the change from prev to cur. It updates the running statements in
// c.running whether or not the interval is usable; a discarded interval returns its reason.
func (c *Classifier) interval(prev, cur *Snapshot) (sums, string) {
	elapsed := cur.Time.Sub(prev.Time)

	var discard string
	switch {
	case elapsed <= 0:
		discard = DiscardTimeBackwards
	case !cur.PostmasterStart.Equal(prev.PostmasterStart):
		discard = DiscardRestart
	case !cur.Database.StatsReset.Equal(prev.Database.StatsReset):
		discard = DiscardDatabaseReset
	case databaseWentDown(&prev.Database, &cur.Database):
		discard = DiscardDatabaseCounter
	case elapsed > c.cfg.Window:
		discard = DiscardGap
	}
	if discard == DiscardRestart {
		// Every session died with the server.
		clear(c.running)
	}

	// Statements in pg_stat_activity: credit long ones for what ran since the previous
	// snapshot, and find those that ended.
	var creditLong, creditBulk float64
	var sampled, sampledWeight float64
	var done []ended
	if cur.ActivityVisible {
		seen := map[int32]bool{}
		byPID := make(map[int32]*Backend, len(cur.Activity))
		for i := range cur.Activity {
			b := &cur.Activity[i]
			byPID[b.PID] = b
			if b.State != "active" || b.QueryStart.IsZero() {
				continue
			}
			r := c.running[b.PID]
			if r != nil && !r.start.Equal(b.QueryStart) {
				done = append(done, ended{*r, r.endedBefore(b.QueryStart)})
				r = nil
			}
			if r == nil {
				r = &running{start: b.QueryStart, until: maxTime(b.QueryStart, prev.Time)}
				c.running[b.PID] = r
			}
			age := cur.Time.Sub(r.start)
			if age < c.cfg.LongStatement && !b.Bulk {
				// Caught at a random moment of its run, a statement has run about half of it.
				sampled++
				sampledWeight += analyticWeight(2*ms(max(age, 0)), ms(c.cfg.ShortStatement), ms(c.cfg.LongStatement))
			}
			r.bulk = r.bulk || b.Bulk || (b.Writes && age >= c.cfg.LongStatement)
			r.queryID = b.QueryID
			r.seen = cur.Time
			seen[b.PID] = true
			credit := ms(cur.Time.Sub(maxTime(r.until, r.start)))
			r.until = cur.Time
			if discard != "" || credit <= 0 || cur.Time.Sub(r.start) < c.cfg.LongStatement {
				continue
			}
			r.credited += credit
			if r.bulk {
				creditBulk += credit
			} else {
				creditLong += credit
			}
		}
		for pid, r := range c.running {
			if seen[pid] {
				continue
			}
			d := max(ms(r.seen.Sub(r.start)), r.credited) // gone without a trace: it ran at least that long
			if b := byPID[pid]; b != nil {
				switch {
				case b.QueryStart.Equal(r.start) && !b.StateChange.Before(r.start):
					d = max(ms(b.StateChange.Sub(r.start)), r.credited) // went idle when it ended
				case b.QueryStart.After(r.start):
					d = r.endedBefore(b.QueryStart)
				}
			}
			done = append(done, ended{*r, d})
			delete(c.running, pid)
		}
	} else {
		clear(c.running)
	}
	if discard != "" {
		return sums{discarded: map[string]int{discard: 1}}, discard
	}

	s := sums{covered: ms(elapsed), long: creditLong, bulk: creditBulk}
	pd, cd := &prev.Database, &cur.Database
	own := float64(cur.Own.Transactions - prev.Own.Transactions)
	if own < 0 { // a new sampler: its counters started again
		own = float64(cur.Own.Transactions)
	}
	s.transactions = max(float64(cd.XactCommit+cd.XactRollback-pd.XactCommit-pd.XactRollback)-own, 0)
	s.written = (cd.TupInserted - pd.TupInserted) + (cd.TupUpdated - pd.TupUpdated) + (cd.TupDeleted - pd.TupDeleted)
	s.read = (cd.TupReturned - pd.TupReturned) + (cd.TupFetched - pd.TupFetched)

	fallback := ""
	if prev.Statements != nil && cur.Statements != nil {
		fallback = c.statementsProblem(prev.Statements, cur.Statements)
		if fallback == "" {
			c.addStatements(&s, prev, cur, done)
			s.sources = map[string]int{SourceStatements: 1}
			return s, ""
		}
		s.fallbacks = map[string]int{fallback: 1}
	}

	s.shortCalls = s.transactions
	// Without pg_stat_statements. Statements seen running long were counted while they ran;
	// when they end, active_time gets their whole duration, which is taken out of it. What is left
	// of active_time is split at the window's end by what the snapshots caught running (sampling).
	var out float64
	for _, e := range done {
		if e.credited == 0 {
			continue
		}
		out += e.duration
		rest := max(e.duration-e.credited, 0)
		if e.bulk {
			s.bulk += rest
		} else {
			s.long += rest
		}
	}
	if pd.ActiveTime != nil && cd.ActiveTime != nil {
		ownTime := cur.Own.ExecTime - prev.Own.ExecTime
		if ownTime < 0 {
			ownTime = cur.Own.ExecTime
		}
		active := max(*cd.ActiveTime-*pd.ActiveTime-ownTime, 0)
		s.dbResidual = max(active-out, 0)
		s.dbLong = s.long
		s.dbTransactions = s.transactions
		s.sampledWeight, s.sampled = sampledWeight, sampled
		s.sources = map[string]int{SourceDatabase: 1}
		return s, ""
	}
	s.shortUnknown = true
	s.sources = map[string]int{SourceActivity: 1}
	return s, ""
}

// addStatements splits the pg_stat_statements deltas of the interval into short, long and bulk.
// Statements credited while running are in their entry's delta with their whole time: the
// credited part is taken out.
func (c *Classifier) addStatements(s *sums, prev, cur *Snapshot, done []ended) {
	shortMs, longMs := ms(c.cfg.ShortStatement), ms(c.cfg.LongStatement)
	before := c.index(prev.Statements)
	type delta struct {
		calls     int64
		time, wal float64
		credit    float64 // credited time of ended statements, to take out
		own       bool
	}
	entries := cur.Statements.Entries
	deltas := make([]delta, len(entries))
	for i, e := range entries {
		d := &deltas[i]
		if e.UserID == cur.Own.UserID && slices.Contains(cur.Own.QueryIDs, e.QueryID) {
			d.own = true
			continue
		}
		var p Statement // absent before: created within the interval, count from zero
		if j, ok := before[e.StatementKey]; ok {
			p = prev.Statements.Entries[j]
		}
		d.calls, d.time, d.wal = e.Calls-p.Calls, e.ExecTime-p.ExecTime, e.WALBytes-p.WALBytes
	}
	for _, e := range done {
		if e.credited == 0 {
			continue
		}
		// The statement's whole time is in its entry's delta: take out what was counted.
		best := -1
		for i := range entries {
			if e.queryID != 0 && entries[i].QueryID == e.queryID && !deltas[i].own && deltas[i].time > 0 &&
				(best < 0 || deltas[i].time > deltas[best].time) {
				best = i
			}
		}
		if best >= 0 {
			deltas[best].credit += e.credited
			continue
		}
		// The entry is unknown (PostgreSQL 13, or evicted): take it out of what it was
		// credited to.
		if e.bulk {
			s.bulk = max(s.bulk-e.credited, 0)
		} else {
			s.long = max(s.long-e.credited, 0)
		}
	}
	for _, d := range deltas {
		if d.own || d.calls <= 0 || d.time <= 0 {
			continue
		}
		s.statements += d.calls
		s.statementsTime += d.time
		w := analyticWeight(d.time/float64(d.calls), shortMs, longMs)
		s.shortCalls += (1 - w) * float64(d.calls)
		t := max(d.time-d.credit, 0)
		analytic := w * t
		s.short += t - analytic
		if analytic > 0 && d.wal/d.time >= c.cfg.BulkWALBytesPerMs {
			s.bulk += analytic
		} else {
			s.long += analytic
		}
	}
}

// index maps the entries of st to their positions. The last two indexes are kept (each holds
// its snapshot, so its address is not reused), so that each snapshot is indexed once: as the
// current one, then as the previous one.
func (c *Classifier) index(st *Statements) map[StatementKey]int {
	c.indexUse++
	oldest := 0
	for i := range c.indexes {
		x := &c.indexes[i]
		if x.of == st {
			x.used = c.indexUse
			return x.m
		}
		if x.used < c.indexes[oldest].used {
			oldest = i
		}
	}
	x := &c.indexes[oldest]
	if x.m == nil {
		x.m = make(map[StatementKey]int, len(st.Entries))
	}
	clear(x.m)
	for i, e := range st.Entries {
		x.m[e.StatementKey] = i
	}
	x.of, x.used = st, c.indexUse
	return x.m
}

// statementIndex is one snapshot's index of pg_stat_statements entries.
type statementIndex struct {
	of   *Statements
	m    map[StatementKey]int
	used int
}

// statementsProblem says why the pg_stat_statements deltas between two snapshots are not
// usable, or "".
func (c *Classifier) statementsProblem(prev, cur *Statements) string {
	if prev.Version != cur.Version {
		return StatementsVersion
	}
	if prev.Info != nil && cur.Info != nil {
		if !prev.Info.Reset.Equal(cur.Info.Reset) {
			return StatementsReset
		}
		if cur.Info.Dealloc != prev.Info.Dealloc {
			return StatementsEvicted
		}
	}
	now := c.index(cur)
	for _, p := range prev.Entries {
		i, ok := now[p.StatementKey]
		if !ok {
			return StatementsEvicted // gone: evicted, or reset one by one
		}
		if e := &cur.Entries[i]; e.Calls < p.Calls || e.ExecTime < p.ExecTime || e.WALBytes < p.WALBytes {
			return StatementsReset
		}
	}
	return ""
}

func databaseWentDown(p, c *Database) bool {
	if c.XactCommit < p.XactCommit || c.XactRollback < p.XactRollback ||
		c.TupReturned < p.TupReturned || c.TupFetched < p.TupFetched ||
		c.TupInserted < p.TupInserted || c.TupUpdated < p.TupUpdated || c.TupDeleted < p.TupDeleted ||
		c.BlksRead < p.BlksRead || c.BlksHit < p.BlksHit || c.TempBytes < p.TempBytes {
		return true
	}
	return p.ActiveTime != nil && c.ActiveTime != nil && *c.ActiveTime < *p.ActiveTime
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// longRunning counts tracked statements that have run for LongStatement or more at now.
func (c *Classifier) longRunning(now time.Time) int {
	n := 0
	for _, r := range c.running {
		if now.Sub(r.start) >= c.cfg.LongStatement {
			n++
		}
	}
	return n
}
