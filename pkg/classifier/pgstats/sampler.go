package pgstats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/classifier"
)

// SQLSTATEs the sampler handles.
const (
	sqlstateObjectNotInPrerequisiteState = "55000" // pg_stat_statements not in shared_preload_libraries
	sqlstateUndefinedFunction            = "42883" // extension dropped
	sqlstateUndefinedTable               = "42P01"
)

// redetectEvery is how often a sampler without pg_stat_statements looks again whether someone
// installed it.
const redetectEvery = 10 * time.Minute

// Sampler reads snapshots of one database over one connection. It connects on first use and
// again after a connection fails. It never writes, never resets statistics, and reads
// pg_stat_statements without query text. A Sampler is not safe for concurrent use.
type Sampler struct {
	cfg    ConnConfig
	pgx    *pgx.ConnConfig
	clock  clock.Clock
	target string // user@host:port/database, for logs and errors: never the password

	conn       *pgx.Conn
	info       ServerInfo
	sql        string
	detectedAt time.Time
	own        classifier.Own
	ownIDs     map[int64]bool
	lookedUp   bool // PostgreSQL 13: own query IDs looked up by text on this connection
}

// NewSampler checks cfg and returns a Sampler that connects on its first Sample.
func NewSampler(cfg ConnConfig, clk clock.Clock) (*Sampler, error) {
	pc, err := cfg.pgxConfig()
	if err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	target := fmt.Sprintf("%s@%s:%d/%s", pc.User, pc.Host, pc.Port, pc.Database)
	return &Sampler{cfg: cfg, pgx: pc, clock: clk, target: target, ownIDs: map[int64]bool{}}, nil
}

// Info is what the sampler learnt when it last connected.
func (s *Sampler) Info() ServerInfo { return s.info }

// Close closes the connection, if any.
func (s *Sampler) Close(ctx context.Context) error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}

// Sample takes one snapshot. On a connection error it drops the connection and returns the
// error; the next call reconnects. Every error is an *Error, which says its Cause.
func (s *Sampler) Sample(ctx context.Context) (classifier.Snapshot, error) {
	snap, err := s.sampleOnce(ctx)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			err = newError(fmt.Sprintf("sampling %s: %v", s.target, err), err)
		}
		return classifier.Snapshot{}, err
	}
	return snap, nil
}

func (s *Sampler) sampleOnce(ctx context.Context) (classifier.Snapshot, error) {
	logger := klog.FromContext(ctx).WithValues("target", s.target)
	if s.conn == nil || s.conn.IsClosed() {
		if err := s.connect(ctx); err != nil {
			return classifier.Snapshot{}, err
		}
	} else if !s.info.StatStatementsUsable && s.clock.Since(s.detectedAt) >= redetectEvery {
		if err := s.detect(ctx); err != nil {
			s.drop(ctx)
			return classifier.Snapshot{}, err
		}
	}
	snap, err := s.sample(ctx)
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err, &pgErr) && s.info.StatStatementsUsable &&
		slices.Contains([]string{sqlstateObjectNotInPrerequisiteState, sqlstateUndefinedFunction, sqlstateUndefinedTable}, pgErr.Code) {
		// pg_stat_statements went away (dropped, or a restart without the library): carry on
		// without it.
		logger.V(2).Info("pg_stat_statements no longer usable, detecting again", "sqlstate", pgErr.Code)
		if err = s.detect(ctx); err == nil {
			snap, err = s.sample(ctx)
		}
	}
	if err != nil {
		if s.conn != nil && (s.conn.IsClosed() || !isServerError(err)) {
			s.drop(ctx)
		}
		return classifier.Snapshot{}, err
	}
	if !s.lookedUp && s.info.StatStatementsUsable && !featuresOf(s.info).activityQueryID {
		s.lookedUp = true
		if err := s.lookupOwnQueryIDs(ctx); err != nil {
			logger.V(2).Info("could not look up the sampler's own query IDs", "err", err)
		}
		snap.Own.QueryIDs = s.ownQueryIDs()
	}
	return snap, nil
}

func isServerError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr)
}

func (s *Sampler) drop(ctx context.Context) {
	if s.conn != nil {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_ = s.conn.Close(closeCtx)
		cancel()
		s.conn = nil
	}
}

func (s *Sampler) connect(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	conn, err := pgx.ConnectConfig(ctx, s.pgx.Copy())
	if err != nil {
		// pgconn's connect errors name host, user and database, never the password; redact anyway.
		return newError(fmt.Sprintf("connecting to %s: %s", s.target, redact(err.Error(), s.cfg.DSN, s.cfg.Password)), err)
	}
	s.conn = conn
	s.lookedUp = false
	if err := s.detect(ctx); err != nil {
		s.drop(ctx)
		return err
	}
	logger.V(2).Info("connected", "target", s.target, "serverVersionNum", s.info.VersionNum,
		"statStatements", s.info.StatStatements, "statStatementsUsable", s.info.StatStatementsUsable,
		"reason", s.info.StatStatementsReason, "readAllStats", s.info.ReadAllStats)
	return nil
}

// detect reads the server version and whether pg_stat_statements can be read, and chooses the SQL.
func (s *Sampler) detect(ctx context.Context) error {
	var info ServerInfo
	var extVersion, extSchema pgtype.Text
	err := s.query(ctx, func(ctx context.Context) error {
		return s.conn.QueryRow(ctx, detectSQL).Scan(&info.VersionNum, &info.Database, &info.DatabaseOID,
			&info.User, &info.UserOID, &info.ReadAllStats, &extVersion, &extSchema)
	})
	if err != nil {
		return fmt.Errorf("detecting server version: %w", err)
	}
	if info.VersionNum < MinServerVersion {
		return fmt.Errorf("PostgreSQL %d is not supported: the classifier needs 13 or later", info.VersionNum)
	}
	switch {
	case !extVersion.Valid:
		info.StatStatementsReason = "extension pg_stat_statements not installed in database " + info.Database
	default:
		info.StatStatements, info.StatStatementsSchema = extVersion.String, extSchema.String
		err := s.query(ctx, func(ctx context.Context) error {
			_, err := s.conn.Exec(ctx, probeSQL(info.StatStatementsSchema))
			return err
		})
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			info.StatStatementsUsable = true
		case errors.As(err, &pgErr) && pgErr.Code == sqlstateObjectNotInPrerequisiteState:
			info.StatStatementsReason = "pg_stat_statements is not in shared_preload_libraries"
		case errors.As(err, &pgErr):
			info.StatStatementsReason = fmt.Sprintf("pg_stat_statements unreadable: %s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		default:
			return fmt.Errorf("probing pg_stat_statements: %w", err)
		}
	}
	if info.VersionNum >= newestTestedVersionNum {
		klog.FromContext(ctx).V(1).Info("server is newer than the newest tested; using its SQL",
			"serverVersionNum", info.VersionNum, "newestTestedMajor", NewestTestedMajor)
	}
	s.info = info
	s.sql = sampleSQL(featuresOf(info))
	s.detectedAt = s.clock.Now()
	s.own.UserID = info.UserOID
	return nil
}

// query runs fn with the statement timeout as a deadline and counts it as the sampler's own.
func (s *Sampler) query(ctx context.Context, fn func(context.Context) error) error {
	timeout := s.cfg.StatementTimeout
	if timeout == 0 {
		timeout = DefaultStatementTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := s.clock.Now()
	err := fn(ctx)
	s.own.Transactions++
	s.own.ExecTime += float64(s.clock.Since(start).Microseconds()) / 1000
	return err
}

func (s *Sampler) sample(ctx context.Context) (classifier.Snapshot, error) {
	var (
		snap                    classifier.Snapshot
		ownQueryID              pgtype.Int8
		statsReset              pgtype.Timestamptz
		activeTime              pgtype.Float8
		statements, info, activ []byte
	)
	own := s.own // the snapshot counts what happened before this statement
	err := s.query(ctx, func(ctx context.Context) error {
		d := &snap.Database
		return s.conn.QueryRow(ctx, s.sql).Scan(&snap.Time, &snap.PostmasterStart, &ownQueryID,
			&statsReset, &d.XactCommit, &d.XactRollback, &d.TupReturned, &d.TupFetched,
			&d.TupInserted, &d.TupUpdated, &d.TupDeleted, &d.BlksRead, &d.BlksHit, &d.TempBytes,
			&activeTime, &statements, &info, &activ)
	})
	if err != nil {
		return snap, err
	}
	snap.ServerVersionNum = s.info.VersionNum
	if statsReset.Valid {
		snap.Database.StatsReset = statsReset.Time
	}
	if activeTime.Valid {
		v := activeTime.Float64
		snap.Database.ActiveTime = &v
	}
	if statements != nil {
		snap.Statements = &classifier.Statements{Version: s.info.StatStatements}
		entries, err := decodeStatements(statements)
		if err != nil {
			return snap, fmt.Errorf("decoding pg_stat_statements: %w", err)
		}
		snap.Statements.Entries = entries
		if info != nil {
			snap.Statements.Info = &classifier.StatementsInfo{}
			if err := json.Unmarshal(info, snap.Statements.Info); err != nil {
				return snap, fmt.Errorf("decoding pg_stat_statements_info: %w", err)
			}
		}
	}
	if err := json.Unmarshal(activ, &snap.Activity); err != nil {
		return snap, fmt.Errorf("decoding pg_stat_activity: %w", err)
	}
	snap.ActivityVisible = s.info.ReadAllStats
	if ownQueryID.Valid {
		s.ownIDs[ownQueryID.Int64] = true
	}
	snap.Own = own
	snap.Own.QueryIDs = s.ownQueryIDs()
	return snap, nil
}

// statementColumns are the values sampleSQL sends per pg_stat_statements entry, in order.
var statementColumns = []string{"userid", "queryid", "calls", "execTime", "rows", "walBytes"}

// decodeStatements decodes sampleSQL's entries: a JSON array of arrays of statementColumns.
func decodeStatements(data []byte) ([]classifier.Statement, error) {
	var rows [][]json.Number
	if err := json.Unmarshal(data, &rows); err != nil {
		return nil, err
	}
	out := make([]classifier.Statement, len(rows))
	for i, r := range rows {
		if len(r) != len(statementColumns) {
			return nil, fmt.Errorf("entry %d has %d values, want %d (%v)", i, len(r), len(statementColumns), statementColumns)
		}
		for j := range r {
			if r[j] == "" {
				r[j] = "0" // null: pg_stat_statements hides other users' query IDs without pg_read_all_stats
			}
		}
		userID, errUser := strconv.ParseUint(r[0].String(), 10, 32)
		queryID, errQuery := r[1].Int64()
		calls, errCalls := r[2].Int64()
		execTime, errExec := r[3].Float64()
		rowCount, errRows := r[4].Int64()
		walBytes, errWAL := r[5].Float64()
		if err := errors.Join(errUser, errQuery, errCalls, errExec, errRows, errWAL); err != nil {
			return nil, fmt.Errorf("entry %d %v (%v): %w", i, r, statementColumns, err)
		}
		out[i] = classifier.Statement{StatementKey: classifier.StatementKey{UserID: uint32(userID), QueryID: queryID},
			Calls: calls, ExecTime: execTime, Rows: rowCount, WALBytes: walBytes}
	}
	return out, nil
}

func (s *Sampler) ownQueryIDs() []int64 {
	ids := make([]int64, 0, len(s.ownIDs))
	for id := range s.ownIDs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (s *Sampler) lookupOwnQueryIDs(ctx context.Context) error {
	return s.query(ctx, func(ctx context.Context) error {
		rows, err := s.conn.Query(ctx, ownQueryIDsSQL(s.info.StatStatementsSchema), s.info.DatabaseOID, s.info.UserOID)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		for _, id := range ids {
			s.ownIDs[id] = true
		}
		return err
	})
}
