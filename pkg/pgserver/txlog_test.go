package pgserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadTransactionLog(t *testing.T) {
	at := func(sec, us int64) time.Time { return time.Unix(sec, us*1000) }
	for _, tc := range []struct {
		name    string
		files   map[string]string // name under the directory -> contents
		want    []Transaction
		wantErr string // substring; "" means no error
	}{{
		name: "one file, latencies and a failure",
		files: map[string]string{"tx.4242": "0 1 1629 0 1700000000 123456\n" +
			"1 1 failed 3 1700000000 999999\n" +
			"0 2 250 4 1700000001 5\n"},
		want: []Transaction{
			{Script: 0, Latency: 1629 * time.Microsecond, At: at(1700000000, 123456)},
			{Script: 3, Failed: true, At: at(1700000000, 999999)},
			{Script: 4, Latency: 250 * time.Microsecond, At: at(1700000001, 5)},
		},
	}, {
		name: "threads' files, schedule lag and retries, skipped, detailed failures",
		files: map[string]string{
			"tx.7":   "0 1 100 1 1700000000 0 12\n",
			"tx.7.1": "1 1 skipped 0 1700000000 1 30 0\n1 2 deadlock 2 1700000002 0 0 3\n\n",
			"tx.7.2": "2 1 serialization 1 1700000003 0\n",
			// Not pgbench's: ignored.
			"tx.sql": "garbage\n", "tx.7.log": "garbage\n", "tx7": "garbage\n",
		},
		want: []Transaction{
			{Script: 1, Latency: 100 * time.Microsecond, At: at(1700000000, 0)},
			{Script: 0, Skipped: true, At: at(1700000000, 1)},
			{Script: 2, Failed: true, At: at(1700000002, 0)},
			{Script: 1, Failed: true, At: at(1700000003, 0)},
		},
	}, {
		name:  "empty file",
		files: map[string]string{"tx.1": ""},
	}, {
		name:    "no files",
		files:   map[string]string{"other.1": "0 1 100 0 1700000000 0\n"},
		wantErr: "no pgbench log files",
	}, {
		name:    "too few fields",
		files:   map[string]string{"tx.9": "0 1 100 0 1700000000 0\n0 2 100 0\n"},
		wantErr: `tx.9 line 2: 4 fields, want 6 to 8`,
	}, {
		name:    "latency not a number",
		files:   map[string]string{"tx.9": "0 1 fast 0 1700000000 0\n"},
		wantErr: `tx.9 line 1: time "fast" is neither microseconds nor failed/skipped`,
	}, {
		name:    "negative script",
		files:   map[string]string{"tx.9": "0 1 100 -1 1700000000 0\n"},
		wantErr: `tx.9 line 1: script_no "-1"`,
	}, {
		name:    "microseconds beyond a second",
		files:   map[string]string{"tx.9": "0 1 100 0 1700000000 1000000\n"},
		wantErr: `tx.9 line 1: time_us "1000000"`,
	}, {
		name:    "client not a count",
		files:   map[string]string{"tx.9": "x 1 100 0 1700000000 0\n"},
		wantErr: `tx.9 line 1: client_id "x"`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadTransactionLog(filepath.Join(dir, "tx"))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("transactions (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestSummarizeTransactions(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	ms := time.Millisecond
	// 100 new-orders (script 0) of 1..100 ms ending at t0+0.1 s .. t0+10 s, and others.
	var hundred []Transaction
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, Transaction{Script: 0, Latency: time.Duration(i) * ms, At: t0.Add(time.Duration(i) * 100 * ms)})
	}
	for _, tc := range []struct {
		name     string
		txs      []Transaction
		from, to time.Time
		want     OLTPStats
	}{{
		name: "nothing",
		from: t0, to: t0.Add(time.Second),
		want: OLTPStats{},
	}, {
		name: "one transaction is every percentile",
		txs:  []Transaction{{Script: 1, Latency: 7 * ms, At: t0}},
		from: t0, to: t0.Add(2 * time.Second),
		want: OLTPStats{Transactions: 1, TPS: 0.5, P50: 7 * ms, P95: 7 * ms, P99: 7 * ms},
	}, {
		name: "a hundred: nearest rank",
		txs:  hundred,
		from: t0, to: t0.Add(20 * time.Second),
		want: OLTPStats{Transactions: 100, TPS: 5, NewOrderPerMinute: 300, P50: 50 * ms, P95: 95 * ms, P99: 99 * ms},
	}, {
		name: "the window: from included, to excluded, so a warm-up is cut",
		// Ends at 1.0 s .. 5.9 s: the 50 transactions of 10..59 ms.
		txs:  hundred,
		from: t0.Add(time.Second), to: t0.Add(6 * time.Second),
		want: OLTPStats{Transactions: 50, TPS: 10, NewOrderPerMinute: 600, P50: 34 * ms, P95: 57 * ms, P99: 59 * ms},
	}, {
		name: "failed and skipped are counted apart, without latency",
		txs: []Transaction{
			{Script: 0, Latency: 3 * ms, At: t0},
			{Script: 0, Failed: true, At: t0},
			{Script: 1, Failed: true, At: t0},
			{Script: 0, Skipped: true, At: t0},
			{Script: 1, Latency: 1 * ms, At: t0},
			{Script: 1, Latency: 2 * ms, At: t0},
			{Script: 2, Latency: 4 * ms, At: t0},
		},
		from: t0, to: t0.Add(time.Minute),
		// Sorted 1 2 3 4: p50 rank 2, p95 and p99 rank 4.
		want: OLTPStats{Transactions: 4, Failed: 2, Skipped: 1, TPS: 4.0 / 60, NewOrderPerMinute: 1,
			P50: 2 * ms, P95: 4 * ms, P99: 4 * ms},
	}, {
		name: "twenty: p95 is the 19th exactly",
		txs:  hundred[:20],
		from: t0, to: t0.Add(4 * time.Second),
		want: OLTPStats{Transactions: 20, TPS: 5, NewOrderPerMinute: 300, P50: 10 * ms, P95: 19 * ms, P99: 20 * ms},
	}, {
		name: "an empty window has no rates",
		txs:  hundred,
		from: t0.Add(time.Second), to: t0.Add(time.Second),
		want: OLTPStats{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := SummarizeTransactions(tc.txs, tc.from, tc.to, 0)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("SummarizeTransactions (-want,+got):\n%s", diff)
			}
		})
	}
}
