package classifier

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Verdict is what one window says. Only VerdictOLTP, VerdictOLAP and VerdictMixed are votes.
type Verdict string

const (
	VerdictOLTP  Verdict = "oltp"
	VerdictOLAP  Verdict = "olap"
	VerdictMixed Verdict = "mixed"
	// VerdictIdle: too little work to tell.
	VerdictIdle Verdict = "idle"
	// VerdictBulk: mostly bulk loads or rebuilds, which are neither type.
	VerdictBulk Verdict = "bulk"
	// VerdictDeadBand: a feature fell between two types' thresholds.
	VerdictDeadBand Verdict = "deadband"
	// VerdictInsufficient: too little of the window was usable (resets, restarts, gaps).
	VerdictInsufficient Verdict = "insufficient"
)

// Type returns what the verdict votes for, or Unknown when it is no vote.
func (v Verdict) Type() Measured {
	switch v {
	case VerdictOLTP:
		return OLTP
	case VerdictOLAP:
		return OLAP
	case VerdictMixed:
		return Mixed
	}
	return Unknown
}

// Features are one window's measurements: the reasons behind its verdict.
type Features struct {
	// Coverage is the share of the window covered by usable intervals.
	Coverage float64 `json:"coverage"`
	// Sources counts the usable intervals by where their execution times came from.
	Sources map[string]int `json:"sources,omitempty"`
	// Fallbacks counts intervals that could not use pg_stat_statements, by reason.
	Fallbacks map[string]int `json:"fallbacks,omitempty"`
	// Discarded counts intervals thrown away, by reason.
	Discarded map[string]int `json:"discarded,omitempty"`

	// TransactionRate is other sessions' transactions per second.
	TransactionRate float64 `json:"transactionRate"`
	// StatementRate is other sessions' statements per second (pg_stat_statements; 0 without).
	StatementRate float64 `json:"statementRate"`
	// ShortRate is transactional statements per second: statements weighted like their time
	// (pg_stat_statements), or transactions where pg_stat_statements was not used.
	ShortRate float64 `json:"shortRate"`
	// MeanStatementTime is the mean execution time of a statement in ms (pg_stat_statements).
	MeanStatementTime float64 `json:"meanStatementTime"`
	// ActiveTimePerTransaction is active time per transaction in ms, where measured without
	// pg_stat_statements.
	ActiveTimePerTransaction float64 `json:"activeTimePerTransaction,omitempty"`

	// ShortTime, LongTime and BulkTime split execution time (ms) into transactional, analytic
	// and bulk-load work. ShortTimeKnown is false when nothing measured transactional time
	// (PostgreSQL 13 without pg_stat_statements).
	ShortTime      float64 `json:"shortTime"`
	LongTime       float64 `json:"longTime"`
	BulkTime       float64 `json:"bulkTime"`
	ShortTimeKnown bool    `json:"shortTimeKnown"`
	// LongShare is LongTime / (ShortTime + LongTime): the share of analytic work.
	LongShare float64 `json:"longShare"`
	// AnalyticBusy is analytic time per second: how many backends were busy with it on average.
	AnalyticBusy float64 `json:"analyticBusy"`
	// WriteShare is the share of rows written among rows read and written (for people; the
	// classifier does not use it: read-only OLTP writes nothing).
	WriteShare float64 `json:"writeShare"`
	// LongRunning counts long statements still running at the end of the window.
	LongRunning int `json:"longRunning"`
}

// String renders the features compactly, for an annotation or a log line.
func (f Features) String() string {
	var b strings.Builder
	num := func(k string, v float64, prec int) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k + "=" + strconv.FormatFloat(v, 'f', prec, 64))
	}
	if f.ShortTimeKnown {
		num("longShare", f.LongShare, 3)
	}
	num("shortPerS", f.ShortRate, 1)
	num("tps", f.TransactionRate, 1)
	num("analyticBusy", f.AnalyticBusy, 2)
	if f.StatementRate > 0 {
		num("stmtPerS", f.StatementRate, 1)
		num("meanStmtMs", f.MeanStatementTime, 2)
	}
	if f.ActiveTimePerTransaction > 0 {
		num("activeMsPerXact", f.ActiveTimePerTransaction, 2)
	}
	if f.BulkTime > 0 {
		num("bulkMs", f.BulkTime, 0)
	}
	num("writeShare", f.WriteShare, 2)
	if f.LongRunning > 0 {
		num("longRunning", float64(f.LongRunning), 0)
	}
	num("coverage", f.Coverage, 2)
	b.WriteString(" source=" + joinKeys(f.Sources))
	if len(f.Fallbacks) > 0 {
		b.WriteString(" fallback=" + joinKeys(f.Fallbacks))
	}
	if len(f.Discarded) > 0 {
		b.WriteString(" discarded=" + joinKeys(f.Discarded))
	}
	return b.String()
}

func joinKeys(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	for i, k := range keys {
		keys[i] = strings.ReplaceAll(k, " ", "_") + ":" + strconv.Itoa(m[k])
	}
	return strings.Join(keys, ",")
}

// Window is one closed window with its verdict.
type Window struct {
	// Seq numbers windows from 1 in the classifier's life.
	Seq int `json:"seq"`
	// Start and End are server times of the snapshots that open and close it.
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Verdict  Verdict   `json:"verdict"`
	Why      string    `json:"why"`
	Features Features  `json:"features"`
}

// features turns a window's sums into Features.
func (c *Classifier) features(s sums, span time.Duration, longRunning int) Features {
	f := Features{
		Sources:        s.sources,
		Fallbacks:      s.fallbacks,
		Discarded:      s.discarded,
		ShortTimeKnown: !s.shortUnknown,
		LongRunning:    longRunning,
	}
	if span > 0 {
		f.Coverage = min(s.covered/ms(span), 1)
	}
	short, long := s.short, s.long
	// Without pg_stat_statements, statements shorter than a sampling interval are never seen
	// running; a high active time per transaction still shows them as analytic.
	shortCalls := s.shortCalls
	// Without pg_stat_statements, active time not taken by statements seen running long is
	// split by the analytic weight of the statements the snapshots caught running.
	if s.dbResidual > 0 {
		share := 0.0
		if s.sampled > 0 {
			share = s.sampledWeight / s.sampled
		}
		long += share * s.dbResidual
		short += (1 - share) * s.dbResidual
	}
	if s.dbTransactions > 0 {
		dbActive := s.dbResidual + s.dbLong
		dbLong := s.dbLong + (long - s.long)
		f.ActiveTimePerTransaction = dbActive / s.dbTransactions
		w := analyticWeight(f.ActiveTimePerTransaction, ms(c.cfg.ShortStatement), ms(c.cfg.LongStatement))
		if extra := w*dbActive - dbLong; extra > 0 {
			extra = min(extra, short)
			long += extra
			short -= extra
		}
		// Transactions count as transactional statements by the same weight, as
		// pg_stat_statements' calls do.
		shortCalls -= w * s.dbTransactions
	}
	f.ShortTime, f.LongTime, f.BulkTime = short, long, s.bulk
	if short+long > 0 {
		f.LongShare = long / (short + long)
	}
	if s.covered > 0 {
		sec := s.covered / 1000
		f.TransactionRate = s.transactions / sec
		f.StatementRate = float64(s.statements) / sec
		f.ShortRate = shortCalls / sec
		f.AnalyticBusy = long / s.covered
	}
	if s.statements > 0 {
		f.MeanStatementTime = s.statementsTime / float64(s.statements)
	}
	if s.written+s.read > 0 {
		f.WriteShare = float64(s.written) / float64(s.written+s.read)
	}
	return f
}

// verdict decides what a window votes for, and why.
func (c *Classifier) verdict(f Features) (Verdict, string) {
	cfg := &c.cfg
	if f.Coverage < cfg.MinCoverage {
		return VerdictInsufficient, fmt.Sprintf("coverage %.2f < minCoverage %.2f", f.Coverage, cfg.MinCoverage)
	}
	if f.BulkTime > 0 && f.BulkTime >= f.ShortTime+f.LongTime {
		return VerdictBulk, fmt.Sprintf("bulk time %.0fms >= other execution time %.0fms", f.BulkTime, f.ShortTime+f.LongTime)
	}
	if f.ShortRate < cfg.MinShortRate && f.AnalyticBusy < cfg.MinAnalyticBusy {
		return VerdictIdle, fmt.Sprintf("shortRate %.2f < minShortRate %.2f and analyticBusy %.3f < minAnalyticBusy %.3f",
			f.ShortRate, cfg.MinShortRate, f.AnalyticBusy, cfg.MinAnalyticBusy)
	}
	if f.ShortTimeKnown {
		switch {
		case f.LongShare <= cfg.OLTPMaxLongShare:
			return VerdictOLTP, fmt.Sprintf("longShare %.3f <= oltpMaxLongShare %.2f", f.LongShare, cfg.OLTPMaxLongShare)
		case f.LongShare < cfg.AnalyticMinLongShare:
			return VerdictDeadBand, fmt.Sprintf("longShare %.3f between oltpMaxLongShare %.2f and analyticMinLongShare %.2f",
				f.LongShare, cfg.OLTPMaxLongShare, cfg.AnalyticMinLongShare)
		}
	} else if f.AnalyticBusy < cfg.MinAnalyticBusy {
		// No measure of execution time (PostgreSQL 13 without pg_stat_statements): analytic
		// statements shorter than longStatement are never seen, so a few transactions a second
		// may be short analytic queries. Only a transaction rate no such load reaches is oltp.
		if f.ShortRate < cfg.MixedMinShortRate {
			return VerdictDeadBand, fmt.Sprintf("analyticBusy %.3f < minAnalyticBusy %.3f but shortRate %.1f < mixedMinShortRate %.1f "+
				"(no measure of transactional time: too few transactions to tell from short analytic queries)",
				f.AnalyticBusy, cfg.MinAnalyticBusy, f.ShortRate, cfg.MixedMinShortRate)
		}
		return VerdictOLTP, fmt.Sprintf("analyticBusy %.3f < minAnalyticBusy %.3f and shortRate %.1f >= mixedMinShortRate %.1f (no measure of transactional time)",
			f.AnalyticBusy, cfg.MinAnalyticBusy, f.ShortRate, cfg.MixedMinShortRate)
	}
	// Analytic work is there: is transactional work there too?
	switch {
	case f.ShortRate >= cfg.MixedMinShortRate:
		return VerdictMixed, fmt.Sprintf("analytic work and shortRate %.1f >= mixedMinShortRate %.1f", f.ShortRate, cfg.MixedMinShortRate)
	case f.ShortRate < cfg.MixedMinShortRate/2:
		return VerdictOLAP, fmt.Sprintf("analytic work and shortRate %.1f < mixedMinShortRate/2 %.1f", f.ShortRate, cfg.MixedMinShortRate/2)
	}
	return VerdictDeadBand, fmt.Sprintf("analytic work and shortRate %.1f between mixedMinShortRate/2 %.1f and mixedMinShortRate %.1f",
		f.ShortRate, cfg.MixedMinShortRate/2, cfg.MixedMinShortRate)
}
