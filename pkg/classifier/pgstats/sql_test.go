package pgstats

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/classifier"
)

func TestParseExtVersion(t *testing.T) {
	for in, want := range map[string][2]int{"1.10": {1, 10}, "1.8": {1, 8}, "1.11": {1, 11}, "2": {2, 0}, "": {0, 0}, "x.y": {0, 0}} {
		ma, mi := parseExtVersion(in)
		if [2]int{ma, mi} != want {
			t.Errorf("parseExtVersion(%q) = %d.%d, want %v", in, ma, mi, want)
		}
	}
}

// TestSampleSQL checks the version-specific parts of the sampling statement.
func TestSampleSQL(t *testing.T) {
	with := func(v int, ext string) ServerInfo {
		return ServerInfo{VersionNum: v, StatStatements: ext, StatStatementsSchema: "public", StatStatementsUsable: ext != ""}
	}
	for _, tc := range []struct {
		name        string
		info        ServerInfo
		has, hasNot []string
	}{
		{
			name: "PostgreSQL 13 with extension 1.8",
			info: with(130015, "1.8"),
			has:  []string{"s.total_exec_time", "s.wal_bytes", "NULL::float8", `"public".pg_stat_statements(false)`, "NULL::bigint"},
			hasNot: []string{"d.active_time", "toplevel", "pg_stat_statements_info", "a.query_id", "pg_stat_progress_copy",
				"pg_stat_statements(true)"},
		},
		{
			name:   "PostgreSQL 13 with extension 1.7 (not updated after pg_upgrade)",
			info:   with(130015, "1.7"),
			has:    []string{"s.total_time", "s.rows, 0)"},
			hasNot: []string{"total_exec_time", "s.wal_bytes"},
		},
		{
			name: "PostgreSQL 14 with extension 1.9",
			info: with(140012, "1.9"),
			has: []string{"d.active_time", "AND s.toplevel", `"public".pg_stat_statements_info`, "a.query_id",
				"pg_stat_progress_copy", "s.total_exec_time"},
		},
		{
			name: "PostgreSQL 15 with extension 1.10",
			info: with(150010, "1.10"),
			has:  []string{"d.active_time", "AND s.toplevel", "pg_stat_statements_info", "a.query_id"},
		},
		{
			name: "PostgreSQL 17 with extension 1.11",
			info: with(170002, "1.11"),
			has:  []string{"d.active_time", "AND s.toplevel", "pg_stat_statements_info", "a.query_id", "s.total_exec_time"},
		},
		{
			name:   "PostgreSQL 16 without pg_stat_statements",
			info:   ServerInfo{VersionNum: 160004, StatStatementsReason: "not in shared_preload_libraries"},
			has:    []string{"d.active_time", "NULL::json, NULL::json", "pg_stat_activity"},
			hasNot: []string{"pg_stat_statements"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sql := sampleSQL(featuresOf(tc.info))
			if !strings.HasPrefix(sql, Marker+" ") {
				t.Errorf("statement does not start with the marker: %.60s", sql)
			}
			for _, s := range tc.has {
				if !strings.Contains(sql, s) {
					t.Errorf("statement lacks %q:\n%s", s, sql)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(sql, s) {
					t.Errorf("statement has %q:\n%s", s, sql)
				}
			}
			for _, reset := range []string{"reset(", "_reset "} {
				if strings.Contains(strings.ToLower(sql), "pg_stat_"+reset) || strings.Contains(sql, "statements_reset") {
					t.Errorf("statement calls a reset function:\n%s", sql)
				}
			}
		})
	}
}

func TestQuoteIdent(t *testing.T) {
	if diff := cmp.Diff(`"we""ird"`, quoteIdent(`we"ird`)); diff != "" {
		t.Errorf("quoteIdent (-want,+got):\n%s", diff)
	}
}

// TestDecodeStatements decodes the entries as sampleSQL sends them: an array of values per entry,
// in statementColumns' order, numbers as PostgreSQL prints them.
func TestDecodeStatements(t *testing.T) {
	// A null is what a role without pg_read_all_stats reads for other users' query IDs.
	got, err := decodeStatements([]byte(`[[10, -8633377134385767883, 3, 0.000891, 7, 1024], [16384, 42, 1, 1.5e-05, 0, 0], [10, null, 2, 1.5, 1, 0]]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []classifier.Statement{
		{StatementKey: classifier.StatementKey{UserID: 10, QueryID: -8633377134385767883}, Calls: 3, ExecTime: 0.000891, Rows: 7, WALBytes: 1024},
		{StatementKey: classifier.StatementKey{UserID: 16384, QueryID: 42}, Calls: 1, ExecTime: 1.5e-05},
		{StatementKey: classifier.StatementKey{UserID: 10}, Calls: 2, ExecTime: 1.5, Rows: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want,+got):\n%s", diff)
	}
	if got, err := decodeStatements([]byte(`[]`)); err != nil || got == nil || len(got) != 0 {
		t.Errorf("decodeStatements([]) = %#v, %v; want an empty, non-nil list", got, err)
	}
	for _, bad := range []string{`[[10, 1, 3, 0.5, 7]]`, `[[10, 1, 3.5, 0.5, 7, 0]]`, `[[-1, 1, 3, 0.5, 7, 0]]`, `[[10, 1, "x", 0.5, 7, 0]]`, `{}`} {
		if _, err := decodeStatements([]byte(bad)); err == nil {
			t.Errorf("decodeStatements(%s): no error", bad)
		}
	}
}
