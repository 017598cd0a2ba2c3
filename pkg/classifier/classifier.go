// Package classifier decides whether a PostgreSQL database runs a transactional (OLTP),
// analytical (OLAP) or mixed workload from successive snapshots of its statistics. It is pure
// logic: snapshots in, Result out; pgstats takes the snapshots.
//
// Every feature is a difference between snapshots, summed over a window. A window votes by the
// share of execution time spent in analytic (long) statements and by the transaction rate; the
// type changes only after WindowsToSwitch windows in a row voted for the same other type and the
// current type was held for MinDwell. See docs/classifier.md.
package classifier

import (
	"fmt"
	"time"

	"k8s.io/utils/clock"
)

// Result is the classifier's state after a snapshot.
type Result struct {
	// Type is the debounced type: Unknown until enough windows agreed.
	Type Measured `json:"type"`
	// Confidence is the share of the latest voting windows (up to Config.History) that voted for
	// Type; 0 while Unknown.
	Confidence float64 `json:"confidence"`
	// Since is when Type was adopted (the classifier's clock); zero while Unknown.
	Since time.Time `json:"since,omitzero"`
	// Changed is true when this snapshot changed Type.
	Changed bool `json:"changed"`
	// Window is the window this snapshot closed, nil when it closed none.
	Window *Window `json:"window,omitempty"`
	// Last is the latest closed window: its features are the reasons behind Type.
	Last *Window `json:"last,omitempty"`
	// Pending is the other type that recent windows voted for, and PendingWindows how many in a
	// row; Unknown and 0 when none.
	Pending        Measured `json:"pending,omitzero"`
	PendingWindows int      `json:"pendingWindows,omitempty"`
}

// Reasons renders the features behind the result for an annotation or a log line.
func (r Result) Reasons() string {
	if r.Last == nil {
		return "no window closed yet"
	}
	return fmt.Sprintf("window %d %s: %s; %s", r.Last.Seq, r.Last.Verdict, r.Last.Why, r.Last.Features)
}

// Classifier is the state machine of one database. Feed it every snapshot in order with Observe.
// It is not safe for concurrent use.
type Classifier struct {
	cfg   Config
	clock clock.PassiveClock

	prev    *Snapshot
	running map[int32]*running
	// indexes of the latest pg_stat_statements entries; see index.
	indexes  [2]statementIndex
	indexUse int

	// The open window.
	windowStart time.Time
	window      sums

	seq     int
	last    *Window
	typ     Measured
	since   time.Time
	pending Measured
	streak  int
	votes   []Measured // latest voting windows, oldest first
}

// New returns a Classifier for cfg (defaulted, then validated).
func New(cfg Config, clk clock.PassiveClock) (*Classifier, error) {
	cfg = cfg.Default()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &Classifier{cfg: cfg, clock: clk, typ: Unknown, running: map[int32]*running{}}, nil
}

// Resume makes a classifier that holds no type yet hold t, adopted at since: the type a
// previous process (before a restart, or the leader before a failover) adopted and wrote on the
// pod, so that MinDwell counts from that adoption and not from this classifier's start. A zero
// since (unreadable or never written), or one after the clock's now, is doubt: t is held as if
// adopted now, which keeps it at least MinDwell from now. Windows already voted are kept.
// It reports whether it took t: not when t is Unknown or the classifier's own windows adopted a
// type already.
func (c *Classifier) Resume(t Measured, since time.Time) bool {
	if t == Unknown || c.typ != Unknown {
		return false
	}
	if now := c.clock.Now(); since.IsZero() || since.After(now) {
		since = now
	}
	c.typ, c.since = t, since
	if c.pending == t {
		c.pending, c.streak = Unknown, 0
	}
	return true
}

// Config is the classifier's defaulted configuration.
func (c *Classifier) Config() Config { return c.cfg }

// Result is the current result without feeding a snapshot.
func (c *Classifier) Result() Result {
	r := Result{Type: c.typ, Since: c.since, Last: c.last, Confidence: c.confidence()}
	if c.pending != Unknown {
		r.Pending, r.PendingWindows = c.pending, c.streak
	}
	return r
}

// Observe feeds the next snapshot. The classifier keeps it until the next one: do not modify it.
// A snapshot that is not newer than the previous one (a server clock stepped back) starts
// afresh from it.
func (c *Classifier) Observe(s Snapshot) Result {
	snap := s
	if c.prev == nil {
		c.prev = &snap
		c.windowStart = snap.Time
		return c.Result()
	}
	iv, _ := c.interval(c.prev, &snap)
	if snap.Time.Before(c.windowStart) {
		c.windowStart = snap.Time
	}
	c.prev = &snap
	c.window.add(iv)

	span := snap.Time.Sub(c.windowStart)
	// Sampling jitter must not push a window to the next sample: close within 5 % of its length.
	if span < c.cfg.Window-c.cfg.Window/20 {
		return c.Result()
	}
	c.seq++
	w := &Window{Seq: c.seq, Start: c.windowStart, End: snap.Time}
	w.Features = c.features(c.window, span, c.longRunning(snap.Time))
	w.Verdict, w.Why = c.verdict(w.Features)
	c.window = sums{}
	c.windowStart = snap.Time
	c.last = w

	changed := c.vote(w.Verdict)
	r := c.Result()
	r.Window = w
	r.Changed = changed
	return r
}

// vote applies one window's verdict and reports whether the type changed.
func (c *Classifier) vote(v Verdict) bool {
	t := v.Type()
	if t == Unknown {
		// No vote: the type stays. An idle or bulk window ends a streak towards another type (the
		// windows of a streak are consecutive busy ones); a dead band or too little data does not.
		if v == VerdictIdle || v == VerdictBulk {
			c.pending, c.streak = Unknown, 0
		}
		return false
	}
	c.votes = append(c.votes, t)
	if len(c.votes) > c.cfg.History {
		c.votes = c.votes[len(c.votes)-c.cfg.History:]
	}
	if t == c.typ {
		c.pending, c.streak = Unknown, 0
		return false
	}
	if t == c.pending {
		c.streak++
	} else {
		c.pending, c.streak = t, 1
	}
	now := c.clock.Now()
	if c.streak < c.cfg.WindowsToSwitch || (c.typ != Unknown && now.Sub(c.since) < c.cfg.MinDwell) {
		return false
	}
	c.typ, c.since = t, now
	c.pending, c.streak = Unknown, 0
	return true
}

func (c *Classifier) confidence() float64 {
	if c.typ == Unknown || len(c.votes) == 0 {
		return 0
	}
	n := 0
	for _, v := range c.votes {
		if v == c.typ {
			n++
		}
	}
	return float64(n) / float64(len(c.votes))
}
