package pgserver

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Transaction is one line of pgbench's per-transaction log (Pgbench.LogPrefix).
type Transaction struct {
	Script  int           // pgbench's script_no: the index of the script in the order they were given
	Latency time.Duration // zero when Failed or Skipped
	At      time.Time     // when the transaction ended
	Failed  bool          // a serialization or deadlock failure (pgbench counts it and goes on)
	Skipped bool          // never run: later than --latency-limit allowed
}

// logFileSuffix is what pgbench appends to the prefix: .<pid> or .<pid>.<thread>.
var logFileSuffix = regexp.MustCompile(`^\.[0-9]+(\.[0-9]+)?$`)

// ReadTransactionLog reads every per-transaction log file pgbench wrote with prefix
// (<prefix>.<pid>[.<thread>]), in file name order. Read it after pgbench has exited: a running
// pgbench may have written half a line. pgbench 15's format is
//
//	client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
//
// where time is the latency in microseconds, or "failed" (or, with --failures-detailed,
// "serialization" or "deadlock"), or "skipped"; time_epoch and time_us say when it ended.
func ReadTransactionLog(prefix string) ([]Transaction, error) {
	matches, err := filepath.Glob(globEscape(prefix) + ".*")
	if err != nil {
		return nil, fmt.Errorf("pgbench log prefix %q: %w", prefix, err)
	}
	var files []string
	for _, m := range matches {
		if logFileSuffix.MatchString(strings.TrimPrefix(m, prefix)) {
			files = append(files, m)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no pgbench log files %s.<pid>[.<thread>]", prefix)
	}
	slices.Sort(files)
	var txs []Transaction
	for _, f := range files {
		if txs, err = readTransactionFile(f, txs); err != nil {
			return nil, err
		}
	}
	return txs, nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func readTransactionFile(path string, txs []Transaction) ([]Transaction, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		tx, err := parseTransaction(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w: %q", path, n, err, sc.Text())
		}
		txs = append(txs, tx)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return txs, nil
}

func parseTransaction(line string) (Transaction, error) {
	f := strings.Fields(line)
	if len(f) < 6 || len(f) > 8 {
		return Transaction{}, fmt.Errorf("%d fields, want 6 to 8 (client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries])", len(f))
	}
	var tx Transaction
	for i, name := range []string{"client_id", "transaction_no"} {
		if _, err := strconv.ParseUint(f[i], 10, 64); err != nil {
			return Transaction{}, fmt.Errorf("%s %q is not a count", name, f[i])
		}
	}
	switch f[2] {
	case "failed", "serialization", "deadlock":
		tx.Failed = true
	case "skipped":
		tx.Skipped = true
	default:
		us, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || us < 0 {
			return Transaction{}, fmt.Errorf("time %q is neither microseconds nor failed/skipped", f[2])
		}
		tx.Latency = time.Duration(us) * time.Microsecond
	}
	script, err := strconv.Atoi(f[3])
	if err != nil || script < 0 {
		return Transaction{}, fmt.Errorf("script_no %q is not a script number", f[3])
	}
	tx.Script = script
	sec, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || sec < 0 {
		return Transaction{}, fmt.Errorf("time_epoch %q is not seconds", f[4])
	}
	us, err := strconv.ParseInt(f[5], 10, 64)
	if err != nil || us < 0 || us >= 1e6 {
		return Transaction{}, fmt.Errorf("time_us %q is not microseconds within a second", f[5])
	}
	tx.At = time.Unix(sec, us*1000)
	return tx, nil
}

// OLTPStats summarises the transactions that ended in a window.
type OLTPStats struct {
	Transactions int // succeeded
	Failed       int
	Skipped      int
	// TPS is the succeeded transactions per second of the window.
	TPS float64
	// NewOrderPerMinute is the succeeded new-order transactions per minute of the window: a
	// tpmC-like figure (TPC-C's tpmC is only comparable under its full rules).
	NewOrderPerMinute float64
	// P50, P95, P99 are the succeeded transactions' latency percentiles by nearest rank; zero
	// without transactions.
	P50, P95, P99 time.Duration
}

// SummarizeTransactions summarises the transactions that ended within [from, to), so that a
// warm-up can be left out. newOrderScript is the new-order script's number
// (slices.Index(TPCCTransactions, "new-order") when the scripts are WriteTPCCScripts' in order);
// a negative number counts none.
func SummarizeTransactions(txs []Transaction, from, to time.Time, newOrderScript int) OLTPStats {
	var st OLTPStats
	var latencies []time.Duration
	newOrders := 0
	for _, tx := range txs {
		if tx.At.Before(from) || !tx.At.Before(to) {
			continue
		}
		switch {
		case tx.Failed:
			st.Failed++
		case tx.Skipped:
			st.Skipped++
		default:
			st.Transactions++
			latencies = append(latencies, tx.Latency)
			if tx.Script == newOrderScript {
				newOrders++
			}
		}
	}
	if window := to.Sub(from); window > 0 {
		st.TPS = float64(st.Transactions) / window.Seconds()
		st.NewOrderPerMinute = float64(newOrders) / window.Minutes()
	}
	slices.Sort(latencies)
	st.P50, st.P95, st.P99 = nearestRank(latencies, 50), nearestRank(latencies, 95), nearestRank(latencies, 99)
	return st
}

// nearestRank is the p-th percentile of sorted: the smallest value with at least p % of the
// values at or below it.
func nearestRank(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 * n) in integers: no rounding at the edges
	return sorted[min(max(rank, 1), len(sorted))-1]
}
