package pgstats

import (
	"fmt"
	"strconv"
	"strings"
)

// Marker starts every statement the sampler sends, so a person reading pg_stat_statements or
// pg_stat_activity sees whose it is. The classifier excludes the sampler's statements by query ID.
const Marker = "/* likewise-sampler */"

// Supported server versions (server_version_num).
const (
	MinServerVersion       = 130000
	NewestTestedMajor      = 18
	newestTestedVersionNum = (NewestTestedMajor + 1) * 10000
)

// ServerInfo is what the sampler learnt about the server and database when it connected.
type ServerInfo struct {
	VersionNum  int    `json:"serverVersionNum"`
	Database    string `json:"database"`
	DatabaseOID uint32 `json:"databaseOid"`
	User        string `json:"user"`
	UserOID     uint32 `json:"userOid"`
	// ReadAllStats is true when the role may see other users' activity (pg_read_all_stats or
	// superuser).
	ReadAllStats bool `json:"readAllStats"`
	// StatStatements is the installed pg_stat_statements extension's version; "" when absent.
	StatStatements       string `json:"statStatements,omitempty"`
	StatStatementsSchema string `json:"statStatementsSchema,omitempty"`
	// StatStatementsUsable is false when the extension is missing or not in
	// shared_preload_libraries; StatStatementsReason says which.
	StatStatementsUsable bool   `json:"statStatementsUsable"`
	StatStatementsReason string `json:"statStatementsReason,omitempty"`
}

// features are the version-dependent parts of the sampling SQL.
type features struct {
	activeTime      bool // pg_stat_database.active_time: PostgreSQL 14
	activityQueryID bool // pg_stat_activity.query_id: PostgreSQL 14
	progressCopy    bool // pg_stat_progress_copy: PostgreSQL 14

	statements       bool
	statementsSchema string
	topLevel         bool   // toplevel column: extension 1.9
	statementsInfo   bool   // pg_stat_statements_info: extension 1.9
	execTimeColumn   string // total_exec_time since 1.8, total_time before
	walBytes         bool   // wal_bytes: extension 1.8
}

func featuresOf(info ServerInfo) features {
	f := features{
		activeTime:      info.VersionNum >= 140000,
		activityQueryID: info.VersionNum >= 140000,
		progressCopy:    info.VersionNum >= 140000,
	}
	if info.StatStatementsUsable {
		major, minor := parseExtVersion(info.StatStatements)
		atLeast := func(ma, mi int) bool { return major > ma || (major == ma && minor >= mi) }
		f.statements = true
		f.statementsSchema = info.StatStatementsSchema
		f.topLevel = atLeast(1, 9)
		f.statementsInfo = atLeast(1, 9)
		f.walBytes = atLeast(1, 8)
		f.execTimeColumn = "total_time"
		if atLeast(1, 8) {
			f.execTimeColumn = "total_exec_time"
		}
	}
	return f
}

// parseExtVersion turns "1.10" into (1, 10); unparsable parts are 0.
func parseExtVersion(v string) (int, int) {
	major, rest, _ := strings.Cut(v, ".")
	ma, _ := strconv.Atoi(major)
	mi, _ := strconv.Atoi(rest)
	return ma, mi
}

// quoteIdent quotes a schema name for SQL.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

const detectSQL = Marker + ` SELECT current_setting('server_version_num')::int, current_database(), d.oid,
 current_user, r.oid, r.rolsuper OR pg_has_role(r.oid, 'pg_read_all_stats', 'USAGE'),
 e.extversion, n.nspname
FROM pg_database d
JOIN pg_roles r ON r.rolname = current_user
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE d.datname = current_database()`

// probeSQL fails with SQLSTATE 55000 when the library is not in shared_preload_libraries.
func probeSQL(schema string) string {
	return Marker + " SELECT count(*) FROM " + quoteIdent(schema) + ".pg_stat_statements(false)"
}

// ownQueryIDsSQL finds the sampler's own statements by their text, for PostgreSQL 13 whose
// pg_stat_activity has no query_id. It reads query texts, so it runs once per connection.
func ownQueryIDsSQL(schema string) string {
	return Marker + " SELECT queryid FROM " + quoteIdent(schema) + ".pg_stat_statements(true)" +
		" WHERE dbid = $1 AND userid = $2 AND query LIKE '" + Marker + "%'"
}

// sampleSQL is one statement, hence one transaction and one consistent statistics snapshot
// (stats_fetch_consistency), that reads everything a Snapshot holds. Lists come back as JSON whose
// keys are the classifier types' JSON names.
func sampleSQL(f features) string {
	var b strings.Builder
	b.WriteString(Marker + " SELECT now(), pg_postmaster_start_time(),\n")
	if f.activityQueryID {
		b.WriteString(" (SELECT a.query_id FROM pg_stat_activity a WHERE a.pid = pg_backend_pid()),\n")
	} else {
		b.WriteString(" NULL::bigint,\n")
	}
	b.WriteString(" d.stats_reset, d.xact_commit, d.xact_rollback, d.tup_returned, d.tup_fetched,\n" +
		" d.tup_inserted, d.tup_updated, d.tup_deleted, d.blks_read, d.blks_hit, d.temp_bytes,\n")
	if f.activeTime {
		b.WriteString(" d.active_time,\n")
	} else {
		b.WriteString(" NULL::float8,\n")
	}
	if f.statements {
		schema := quoteIdent(f.statementsSchema)
		wal := "0"
		if f.walBytes {
			wal = "s.wal_bytes"
		}
		// One array per entry, in statementColumns' order: keys would be two thirds of the bytes,
		// and a database may hold thousands of entries (docs/benchmarks.md).
		b.WriteString(" (SELECT coalesce(json_agg(json_build_array(s.userid::int8, s.queryid,\n" +
			"   s.calls, s." + f.execTimeColumn + ", s.rows, " + wal + ")), '[]')\n" +
			"  FROM " + schema + ".pg_stat_statements(false) s WHERE s.dbid = d.datid")
		if f.topLevel {
			b.WriteString(" AND s.toplevel")
		}
		b.WriteString("),\n")
		if f.statementsInfo {
			b.WriteString(" (SELECT json_build_object('dealloc', i.dealloc, 'reset', i.stats_reset) FROM " + schema + ".pg_stat_statements_info i),\n")
		} else {
			b.WriteString(" NULL::json,\n")
		}
	} else {
		b.WriteString(" NULL::json, NULL::json,\n")
	}
	progress := []string{"pg_stat_progress_create_index", "pg_stat_progress_vacuum", "pg_stat_progress_cluster", "pg_stat_progress_analyze"}
	if f.progressCopy {
		progress = append(progress, "pg_stat_progress_copy")
	}
	var bulk []string
	for _, v := range progress {
		bulk = append(bulk, "SELECT pid FROM "+v)
	}
	queryID := "NULL::bigint"
	if f.activityQueryID {
		queryID = "a.query_id"
	}
	fmt.Fprintf(&b, " (SELECT coalesce(json_agg(json_build_object('pid', a.pid, 'state', a.state,\n"+
		"   'queryStart', a.query_start, 'stateChange', a.state_change, 'queryId', %s,\n"+
		"   'bulk', a.pid IN (%s), 'writes', a.backend_xid IS NOT NULL)), '[]')\n"+
		"  FROM pg_stat_activity a WHERE a.datid = d.datid AND a.pid <> pg_backend_pid()\n"+
		"   AND a.backend_type = 'client backend')\n", queryID, strings.Join(bulk, " UNION ALL "))
	b.WriteString("FROM pg_stat_database d WHERE d.datname = current_database()")
	return b.String()
}
