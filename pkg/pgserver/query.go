package pgserver

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// QueryTime runs the TPC-H-style query named query (one of TPCHQueries) in db runs times, as
// the superuser over TCP on one connection, and returns each run's wall time: from sending the
// query to having received every row. The script's random inputs (\set name random(a, b)) take
// the middle of their range, (a+b)/2, so that every run and every server does the same work.
func (s *Server) QueryTime(ctx context.Context, db, query string, runs int) ([]time.Duration, error) {
	if runs < 1 {
		return nil, fmt.Errorf("query %s: runs %d: must be at least 1", query, runs)
	}
	sql, err := TPCHQuerySQL(query)
	if err != nil {
		return nil, err
	}
	conn, err := pgx.Connect(ctx, s.SuperuserDSN(db))
	if err != nil {
		return nil, fmt.Errorf("query %s: connecting to %s: %w", query, db, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	times := make([]time.Duration, 0, runs)
	for i := range runs {
		start := time.Now()
		// Exec without arguments uses the simple protocol and reads every row before it returns.
		if _, err := conn.Exec(ctx, sql); err != nil {
			return times, fmt.Errorf("query %s on %s, run %d: %w", query, db, i+1, err)
		}
		times = append(times, time.Since(start))
	}
	return times, nil
}

var (
	setRandom   = regexp.MustCompile(`^\\set\s+([A-Za-z_][A-Za-z0-9_]*)\s+random\(\s*(-?[0-9]+)\s*,\s*(-?[0-9]+)\s*\)\s*$`)
	variableRef = regexp.MustCompile(`(^|[^:]):([A-Za-z_][A-Za-z0-9_]*)`)
)

// TPCHQuerySQL is the SQL of the TPC-H-style query named query with its script's random inputs
// fixed at the middle of their ranges, as QueryTime runs it.
func TPCHQuerySQL(query string) (string, error) {
	if !slices.Contains(TPCHQueries, query) {
		return "", fmt.Errorf("no TPC-H query %q (have %v)", query, TPCHQueries)
	}
	data, err := tpchFiles.ReadFile("tpch/" + query + ".sql")
	if err != nil {
		return "", fmt.Errorf("TPC-H query %q: %w", query, err)
	}
	return fixScriptInputs(query, string(data))
}

// fixScriptInputs replaces a pgbench script's \set name random(a, b) lines by substituting
// (a+b)/2 for :name; any other meta-command is an error.
func fixScriptInputs(name, script string) (string, error) {
	vars := map[string]string{}
	var sql []string
	for n, line := range strings.Split(script, "\n") {
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, `\`) {
			sql = append(sql, line)
			continue
		}
		m := setRandom.FindStringSubmatch(trimmed)
		if m == nil {
			return "", fmt.Errorf("script %s line %d: %q: only \\set name random(a, b) can be given a fixed value", name, n+1, trimmed)
		}
		a, errA := strconv.ParseInt(m[2], 10, 64)
		b, errB := strconv.ParseInt(m[3], 10, 64)
		if errA != nil || errB != nil || a > b {
			return "", fmt.Errorf("script %s line %d: %q: random's bounds must be integers a <= b", name, n+1, trimmed)
		}
		vars[m[1]] = strconv.FormatInt((a+b)/2, 10)
	}
	var missing []string
	out := variableRef.ReplaceAllStringFunc(strings.Join(sql, "\n"), func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		v, ok := vars[m[2]]
		if !ok {
			missing = append(missing, m[2])
			return ref
		}
		return m[1] + v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("script %s uses variables no \\set defines: %v", name, missing)
	}
	return out, nil
}
