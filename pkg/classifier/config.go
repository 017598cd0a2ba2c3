package classifier

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes the classifier. The zero value of a field means "use the default"; Default fills
// them in and Validate checks the result. Times of statements are means per pg_stat_statements
// entry over one interval between snapshots.
type Config struct {
	// Window is how much time one vote covers. Default 60s; 1s to 1h. The controller samples
	// several times per window (pgstats: every Window/6 or so).
	Window time.Duration `json:"window,omitempty"`
	// WindowsToSwitch is how many windows in a row must vote for another type before the type
	// changes. Idle and bulk windows end such a streak; dead-band and insufficient windows
	// neither count nor end it. Default 3; 1 to 100.
	WindowsToSwitch int `json:"windowsToSwitch,omitempty"`
	// MinDwell is the least time a type is kept before it may change again. It does not delay
	// the first classification. Default 10m; 0 to 24h.
	MinDwell time.Duration `json:"minDwell,omitempty"`
	// MinCoverage is the share of a window that usable intervals must cover for it to vote
	// (intervals across a reset or restart are discarded). Default 0.5; (0, 1].
	MinCoverage float64 `json:"minCoverage,omitempty"`

	// ShortStatement and LongStatement bound the ramp that weighs statements as analytic: a
	// statement of mean time at most ShortStatement counts as transactional, one of at least
	// LongStatement as analytic, and in between it is split on a logarithmic scale.
	// Defaults 10ms and 500ms; ShortStatement > 0, LongStatement > ShortStatement, at most 1h.
	// LongStatement is also the age from which a statement still running in pg_stat_activity
	// counts.
	ShortStatement time.Duration `json:"shortStatement,omitempty"`
	LongStatement  time.Duration `json:"longStatement,omitempty"`

	// OLTPMaxLongShare: a window whose share of execution time in analytic statements is at
	// most this votes oltp. Default 0.2; [0, 1).
	OLTPMaxLongShare float64 `json:"oltpMaxLongShare,omitempty"`
	// AnalyticMinLongShare: from this share on, the window has analytic work and votes olap or
	// mixed. Between OLTPMaxLongShare and this is a dead band (no vote). Default 0.3;
	// (OLTPMaxLongShare, 1].
	AnalyticMinLongShare float64 `json:"analyticMinLongShare,omitempty"`
	// MixedMinShortRate: a window with analytic work votes mixed when it also ran at least this
	// many transactional statements per second, olap when it ran fewer than half as many; in
	// between is a dead band. Statements count as transactional by the same weight as their time
	// (pg_stat_statements); without pg_stat_statements each transaction counts as one statement.
	// Default 10 per second; > 0.
	MixedMinShortRate float64 `json:"mixedMinShortRate,omitempty"`

	// MinShortRate and MinAnalyticBusy: a window with fewer transactional statements per second
	// (the sampler's own excluded) and less analytic execution time per second than these is
	// idle: no vote, the type is kept. Defaults 1 per second and 0.05 (5 % of one backend); > 0.
	MinShortRate    float64 `json:"minShortRate,omitempty"`
	MinAnalyticBusy float64 `json:"minAnalyticBusy,omitempty"`
	// BulkWALBytesPerMs: analytic-weighted time of a statement that wrote at least this much WAL
	// per millisecond is a bulk load or rebuild (COPY, INSERT ... SELECT, CREATE INDEX), counted
	// apart; a window whose bulk time is at least its other time does not vote. Default 1024; > 0.
	BulkWALBytesPerMs float64 `json:"bulkWALBytesPerMs,omitempty"`

	// History is how many of the latest voting windows the confidence is computed over.
	// Default 10; at least WindowsToSwitch, at most 1000.
	History int `json:"history,omitempty"`
}

// Default values of Config.
const (
	DefaultWindow               = 60 * time.Second
	DefaultWindowsToSwitch      = 3
	DefaultMinDwell             = 10 * time.Minute
	DefaultMinCoverage          = 0.5
	DefaultShortStatement       = 10 * time.Millisecond
	DefaultLongStatement        = 500 * time.Millisecond
	DefaultOLTPMaxLongShare     = 0.2
	DefaultAnalyticMinLongShare = 0.3
	DefaultMixedMinShortRate    = 10
	DefaultMinShortRate         = 1
	DefaultMinAnalyticBusy      = 0.05
	DefaultBulkWALBytesPerMs    = 1024
	DefaultHistory              = 10
)

// Limits checked by Validate.
const (
	minWindow          = time.Second
	maxWindow          = time.Hour
	maxWindowsToSwitch = 100
	maxMinDwell        = 24 * time.Hour
	maxStatement       = time.Hour
	maxHistory         = 1000
)

// Default returns c with every zero field set to its default.
func (c Config) Default() Config {
	setDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	setF := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	setDur(&c.Window, DefaultWindow)
	if c.WindowsToSwitch == 0 {
		c.WindowsToSwitch = DefaultWindowsToSwitch
	}
	setDur(&c.MinDwell, DefaultMinDwell)
	setF(&c.MinCoverage, DefaultMinCoverage)
	setDur(&c.ShortStatement, DefaultShortStatement)
	setDur(&c.LongStatement, DefaultLongStatement)
	setF(&c.OLTPMaxLongShare, DefaultOLTPMaxLongShare)
	setF(&c.AnalyticMinLongShare, DefaultAnalyticMinLongShare)
	setF(&c.MixedMinShortRate, DefaultMixedMinShortRate)
	setF(&c.MinShortRate, DefaultMinShortRate)
	setF(&c.MinAnalyticBusy, DefaultMinAnalyticBusy)
	setF(&c.BulkWALBytesPerMs, DefaultBulkWALBytesPerMs)
	if c.History == 0 {
		c.History = max(DefaultHistory, c.WindowsToSwitch)
	}
	return c
}

// Validate checks a defaulted Config. Each error names its field.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, want string) {
		errs = append(errs, fmt.Errorf("%s: %v is invalid: %s", field, v, want))
	}
	if c.Window < minWindow || c.Window > maxWindow {
		bad("window", c.Window, fmt.Sprintf("must be from %v to %v", minWindow, maxWindow))
	}
	if c.WindowsToSwitch < 1 || c.WindowsToSwitch > maxWindowsToSwitch {
		bad("windowsToSwitch", c.WindowsToSwitch, fmt.Sprintf("must be from 1 to %d", maxWindowsToSwitch))
	}
	if c.MinDwell < 0 || c.MinDwell > maxMinDwell {
		bad("minDwell", c.MinDwell, fmt.Sprintf("must be from 0 to %v", maxMinDwell))
	}
	if !(c.MinCoverage > 0 && c.MinCoverage <= 1) {
		bad("minCoverage", c.MinCoverage, "must be in (0, 1]")
	}
	if c.ShortStatement <= 0 {
		bad("shortStatement", c.ShortStatement, "must be positive")
	}
	if c.LongStatement <= c.ShortStatement || c.LongStatement > maxStatement {
		bad("longStatement", c.LongStatement, fmt.Sprintf("must be more than shortStatement (%v) and at most %v", c.ShortStatement, maxStatement))
	}
	if !(c.OLTPMaxLongShare >= 0 && c.OLTPMaxLongShare < 1) {
		bad("oltpMaxLongShare", c.OLTPMaxLongShare, "must be in [0, 1)")
	}
	if !(c.AnalyticMinLongShare > c.OLTPMaxLongShare && c.AnalyticMinLongShare <= 1) {
		bad("analyticMinLongShare", c.AnalyticMinLongShare, fmt.Sprintf("must be in (oltpMaxLongShare (%v), 1]", c.OLTPMaxLongShare))
	}
	if !(c.MixedMinShortRate > 0) {
		bad("mixedMinShortRate", c.MixedMinShortRate, "must be positive")
	}
	if !(c.MinShortRate > 0) {
		bad("minShortRate", c.MinShortRate, "must be positive")
	}
	if !(c.MinAnalyticBusy > 0) {
		bad("minAnalyticBusy", c.MinAnalyticBusy, "must be positive")
	}
	if !(c.BulkWALBytesPerMs > 0) {
		bad("bulkWALBytesPerMs", c.BulkWALBytesPerMs, "must be positive")
	}
	if c.History < c.WindowsToSwitch || c.History > maxHistory {
		bad("history", c.History, fmt.Sprintf("must be from windowsToSwitch (%d) to %d", c.WindowsToSwitch, maxHistory))
	}
	return errors.Join(errs...)
}
