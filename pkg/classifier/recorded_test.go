package classifier

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recordedConfig is the configuration the recordings were classified with live
// (test/integration/classifier: 4 s windows sampled every second).
var recordedConfig = Config{Window: 4 * time.Second, WindowsToSwitch: 3, MinDwell: 8 * time.Second}

// TestRecorded replays snapshot sequences recorded from real PostgreSQL 15 servers under real
// loads (LIKEWISE_RECORD_SNAPSHOTS=dir go test ./test/integration/classifier/) and checks every
// window's verdict: the same as the live run's.
func TestRecorded(t *testing.T) {
	for _, tc := range []struct {
		file     string
		verdicts string
		changes  []string
	}{
		{file: "tpcb-like.jsonl.gz", verdicts: repeat("oltp", 8), changes: []string{"3:oltp"}},
		{file: "select-only.jsonl.gz", verdicts: repeat("oltp", 8), changes: []string{"3:oltp"}},
		{file: "tpch.jsonl.gz", verdicts: repeat("olap", 8), changes: []string{"3:olap"}},
		{file: "mixed.jsonl.gz", verdicts: repeat("mixed", 8), changes: []string{"3:mixed"}},
		{
			// Measured from pg_stat_database and pg_stat_activity alone.
			file:     "mixed-without-pg_stat_statements.jsonl.gz",
			verdicts: repeat("mixed", 8),
			changes:  []string{"3:mixed"},
		},
		{
			// pg_stat_reset() in window 5, pg_stat_statements_reset() in 8, a fast restart in 11
			// and an immediate one in 14.
			file:     "resets-restarts.jsonl.gz",
			verdicts: words(repeat("oltp", 10), "insufficient oltp oltp insufficient", repeat("oltp", 4)),
			changes:  []string{"3:oltp"},
		},
		{
			// OLTP, a bulk load of the analytic tables ending in ANALYZE (one olap vote, then an
			// idle window that ends the streak), then the analytic load from window 10.
			file:     "switch-oltp-bulk-olap.jsonl.gz",
			verdicts: words(repeat("oltp", 6), "bulk olap idle", repeat("olap", 5)),
			changes:  []string{"3:oltp", "12:olap"},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			snaps := readSnapshots(t, filepath.Join("testdata", tc.file))
			got := replay(t, recordedConfig, snaps)
			if diff := cmp.Diff(tc.verdicts, got.verdicts); diff != "" {
				t.Errorf("verdicts (-want,+got):\n%s", diff)
				for _, w := range got.windows {
					t.Logf("window %d %s: %s; %s", w.Seq, w.Verdict, w.Why, w.Features)
				}
			}
			if diff := cmp.Diff(tc.changes, got.changes); diff != "" {
				t.Errorf("changes (-want,+got):\n%s", diff)
			}
		})
	}
}

// readSnapshots reads a gzipped file of one JSON snapshot a line.
func readSnapshots(t testing.TB, path string) []Snapshot {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var snaps []Snapshot
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var s Snapshot
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("%s line %d: %v", path, len(snaps)+1, err)
		}
		snaps = append(snaps, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(snaps) == 0 {
		t.Fatalf("%s: no snapshots", path)
	}
	return snaps
}
