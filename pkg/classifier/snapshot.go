package classifier

import "time"

// Snapshot is one reading of one database's statistics, taken in one transaction. The cumulative
// counters mean nothing alone: the classifier works on the differences between snapshots.
// pgstats.Sampler produces them; tests record them as JSON.
type Snapshot struct {
	// Time is the server's clock when the snapshot was taken (now() of the sampling transaction).
	// Intervals are measured on it, and statement start times in Activity are on the same clock.
	Time time.Time `json:"time"`
	// PostmasterStart is pg_postmaster_start_time(); a change means the server restarted.
	PostmasterStart time.Time `json:"postmasterStart"`
	// ServerVersionNum is server_version_num, e.g. 150018.
	ServerVersionNum int `json:"serverVersionNum"`

	Database Database `json:"database"`
	// Statements is nil when pg_stat_statements is not loaded or not installed in the database.
	Statements *Statements `json:"statements,omitempty"`
	// Activity lists the other client backends connected to the database.
	Activity []Backend `json:"activity,omitempty"`
	// ActivityVisible is false when the sampler may not see other users' statements (it lacks
	// pg_read_all_stats): then Activity says nothing about running statements.
	ActivityVisible bool `json:"activityVisible"`

	// Own is what the sampler itself did, so that it can be subtracted.
	Own Own `json:"own"`
}

// Database is the database's row of pg_stat_database.
type Database struct {
	// StatsReset is stats_reset; zero when NULL.
	StatsReset   time.Time `json:"statsReset,omitzero"`
	XactCommit   int64     `json:"xactCommit"`
	XactRollback int64     `json:"xactRollback"`
	TupReturned  int64     `json:"tupReturned"`
	TupFetched   int64     `json:"tupFetched"`
	TupInserted  int64     `json:"tupInserted"`
	TupUpdated   int64     `json:"tupUpdated"`
	TupDeleted   int64     `json:"tupDeleted"`
	BlksRead     int64     `json:"blksRead"`
	BlksHit      int64     `json:"blksHit"`
	TempBytes    int64     `json:"tempBytes"`
	// ActiveTime is active_time in milliseconds: time spent executing statements (PostgreSQL 14
	// and later; nil before).
	ActiveTime *float64 `json:"activeTime,omitempty"`
}

// Statements is the database's share of pg_stat_statements, read without query text.
type Statements struct {
	// Version is the installed extension's version, e.g. "1.10".
	Version string `json:"version"`
	// Info is pg_stat_statements_info (extension 1.9 and later); nil before.
	Info *StatementsInfo `json:"info,omitempty"`
	// Entries are the top-level entries of this database (all entries before extension 1.9,
	// which has no toplevel column).
	Entries []Statement `json:"entries"`
}

// StatementsInfo is pg_stat_statements_info.
type StatementsInfo struct {
	// Dealloc counts evictions of least-used entries past pg_stat_statements.max.
	Dealloc int64 `json:"dealloc"`
	// Reset is the last pg_stat_statements_reset() of all entries.
	Reset time.Time `json:"reset"`
}

// StatementKey identifies a pg_stat_statements entry within one database.
type StatementKey struct {
	UserID  uint32 `json:"userid"`
	QueryID int64  `json:"queryid"`
}

// Statement is one pg_stat_statements entry.
type Statement struct {
	StatementKey
	Calls int64 `json:"calls"`
	// ExecTime is total_exec_time in milliseconds.
	ExecTime float64 `json:"execTime"`
	Rows     int64   `json:"rows"`
	// WALBytes is wal_bytes: bulk writes (COPY, INSERT ... SELECT, CREATE INDEX) write a lot.
	WALBytes float64 `json:"walBytes"`
}

// Backend is one other client backend in pg_stat_activity.
type Backend struct {
	PID int32 `json:"pid"`
	// State is pg_stat_activity.state: "active", "idle", "idle in transaction", ...
	State string `json:"state"`
	// QueryStart is when the current (or, when not active, the last) statement started.
	QueryStart time.Time `json:"queryStart,omitzero"`
	// StateChange is when State last changed: for a backend that went idle, when its statement
	// ended.
	StateChange time.Time `json:"stateChange,omitzero"`
	// QueryID is the statement's pg_stat_statements query ID (PostgreSQL 14 and later; 0 unknown).
	QueryID int64 `json:"queryId,omitempty"`
	// Bulk is true when the backend shows in a progress view: COPY, CREATE INDEX, VACUUM, CLUSTER
	// or ANALYZE.
	Bulk bool `json:"bulk,omitempty"`
	// Writes is true when the backend's transaction holds a transaction ID (backend_xid): it has
	// written. A long statement that writes (INSERT ... SELECT, a large UPDATE) is bulk work, not
	// analytics, which only reads.
	Writes bool `json:"writes,omitempty"`
}

// Own counts the sampler's own work, cumulatively over the sampler's life.
type Own struct {
	// UserID is the role the sampler connects as.
	UserID uint32 `json:"userid"`
	// QueryIDs are the query IDs of the sampler's own statements, excluded from Statements.
	QueryIDs []int64 `json:"queryIds,omitempty"`
	// Transactions counts the transactions the sampler ran in the database.
	Transactions int64 `json:"transactions"`
	// ExecTime is the time in milliseconds the sampler's statements took, measured by the client
	// (an upper bound of the server's active time for them).
	ExecTime float64 `json:"execTime"`
}
