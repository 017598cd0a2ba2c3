package study

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// phase waits until every database of env serves, then measures: the measured OLTP database
// under the TPC-C-like mix at full speed, each TPC-H query of the measured OLAP database in
// turn, the others under their background load, and each node's CPU use.
func (s *study) phase(ctx context.Context, env *Env, name string) (Phase, error) {
	p := Phase{Name: name}
	servers, err := s.serving(ctx, env)
	if err != nil {
		return p, err
	}
	placement, err := scenario.Get(ctx, s.cluster.Client(), env.Case.Namespace, env.Case.Name)
	if err != nil {
		return p, err
	}
	p.Placement = map[string]string(placement)
	if hook := s.o.Hooks.Serving; hook != nil {
		if err := hook(ctx, env, name); err != nil {
			return p, fmt.Errorf("Serving hook: %w", err)
		}
	}
	loads, err := s.startLoadsOn(ctx, env, servers, name, true)
	if err != nil {
		return p, err
	}
	defer loads.stop()
	s.logf("  %s: measuring for %v after %v of warm-up", name, s.o.Phase, s.o.Warmup)

	select {
	case <-ctx.Done():
		return p, ctx.Err()
	case <-time.After(s.o.Warmup):
	}
	from := time.Now()
	before, err := s.nodeCPU(env)
	if err != nil {
		return p, err
	}
	podsBefore, err := s.podCPU(env)
	if err != nil {
		return p, err
	}
	queries, qerr := s.runQueries(ctx, servers[podOf(MeasuredOLAP)], from.Add(s.o.Phase))
	to := time.Now()
	after, err := s.nodeCPU(env)
	if err != nil {
		return p, err
	}
	podsAfter, err := s.podCPU(env)
	if err != nil {
		return p, err
	}
	if qerr != nil {
		return p, fmt.Errorf("queries of %s: %w", podOf(MeasuredOLAP), qerr)
	}
	// The OLTP run lasts warm-up plus phase; wait for it to end on its own.
	if err := loads.measured.Wait(); err != nil {
		return p, fmt.Errorf("TPC-C-like load of %s: %w\n%s", podOf(MeasuredOLTP), err, trimLog(loads.measured.Output(), 2000))
	}
	if err := loads.err(); err != nil {
		return p, err
	}
	txs, err := pgserver.ReadTransactionLog(loads.logPrefix)
	if err != nil {
		return p, err
	}
	st := pgserver.SummarizeTransactions(txs, from, from.Add(s.o.Phase), 0)
	p.OLTP = OLTPResult{Pod: podOf(MeasuredOLTP), Node: placement[podOf(MeasuredOLTP)], Transactions: st.Transactions, Failed: st.Failed,
		TPS: st.TPS, NewOrderPerMinute: st.NewOrderPerMinute, P50: st.P50, P95: st.P95, P99: st.P99}
	for _, q := range pgserver.TPCHQueries {
		runs := queries[q]
		p.OLAP = append(p.OLAP, QueryResult{Pod: podOf(MeasuredOLAP), Node: placement[podOf(MeasuredOLAP)], Query: q, Runs: runs, Median: Median(runs)})
	}
	wall := to.Sub(from).Seconds()
	for _, n := range env.Case.Nodes {
		use := NodeUse{Node: n, QuotaMilli: env.Setting.NodeCPUMilli, Used: (after[n] - before[n]).Seconds() / wall}
		for pod, node := range placement {
			if node != n {
				continue
			}
			if kindOf(pod) == "olap" {
				use.OLAP++
			} else {
				use.OLTP++
			}
		}
		p.Nodes = append(p.Nodes, use)
	}
	for _, db := range env.Databases {
		req := env.Setting.OLTPRequestMilli
		if kindOf(db) == "olap" {
			req = env.Setting.OLAPRequestMilli
		}
		p.Pods = append(p.Pods, PodUse{Pod: podOf(db), Kind: kindOf(db), Measured: db == MeasuredOLTP || db == MeasuredOLAP,
			RequestMilli: req, Used: (podsAfter[podOf(db)] - podsBefore[podOf(db)]).Seconds() / wall})
	}
	s.logf("  %s: OLTP %.1f tx/s (p95 %v) on %s; OLAP %s on %s", name, p.OLTP.TPS, p.OLTP.P95.Round(time.Millisecond), p.OLTP.Node,
		describeQueries(p.OLAP), placement[podOf(MeasuredOLAP)])
	return p, nil
}

// serving waits until every database of env serves on its pod's current IP with its data
// loaded (the runtime serves a pod once its setup succeeded), and returns the servers by pod.
func (s *study) serving(ctx context.Context, env *Env) (map[string]*pgserver.Server, error) {
	ctx, cancel := context.WithTimeout(ctx, serveTimeout)
	defer cancel()
	servers := map[string]*pgserver.Server{}
	for _, db := range env.Databases {
		srv, err := s.rt.WaitServing(ctx, env.Case.Namespace, podOf(db))
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", env.Case.Namespace, podOf(db), err)
		}
		servers[podOf(db)] = srv
	}
	return servers, nil
}

// loadSet is a phase's pgbench runs.
type loadSet struct {
	measured  *pgserver.Load // the measured OLTP database's run, or nil
	logPrefix string
	others    []*pgserver.Load
}

func (l *loadSet) all() []*pgserver.Load {
	out := slices.Clone(l.others)
	if l.measured != nil {
		out = append(out, l.measured)
	}
	return out
}

// err is the first failure of a background load (they run until stopped).
func (l *loadSet) err() error {
	var errs []error
	for _, ld := range l.others {
		select {
		case <-ld.Done():
			errs = append(errs, fmt.Errorf("background load ended: %v\n%s", ld.Err(), trimLog(ld.Output(), 1000)))
		default:
		}
	}
	return errors.Join(errs...)
}

func (l *loadSet) stop() {
	for _, ld := range l.all() {
		_ = ld.Stop()
	}
}

// startLoads starts the loads of env's databases once they serve (see startLoadsOn).
func (s *study) startLoads(ctx context.Context, env *Env, name string, measure bool) (*loadSet, error) {
	servers, err := s.serving(ctx, env)
	if err != nil {
		return nil, err
	}
	return s.startLoadsOn(ctx, env, servers, name, measure)
}

// startLoadsOn starts the background load on every database, except, with measure, the
// measured OLTP database's full-speed TPC-C-like run (warm-up plus phase, logged per
// transaction) in place of its background load; the measured OLAP database's queries are
// runQueries', not a load.
func (s *study) startLoadsOn(ctx context.Context, env *Env, servers map[string]*pgserver.Server, name string, measure bool) (*loadSet, error) {
	dir := filepath.Join(s.scripts, env.Case.Namespace, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	tpcc, err := pgserver.WriteTPCCScripts(dir)
	if err != nil {
		return nil, err
	}
	olap, err := pgserver.WriteTPCHScripts(dir, s.o.BackgroundOLAPPause, "q1")
	if err != nil {
		return nil, err
	}
	ls := &loadSet{logPrefix: filepath.Join(dir, "oltp")}
	bg := context.WithoutCancel(ctx)
	for _, db := range env.Databases {
		srv := servers[podOf(db)]
		var p pgserver.Pgbench
		switch {
		case measure && db == MeasuredOLTP:
			p = pgserver.Pgbench{DB: scenario.DatabaseName, Scripts: tpcc, Clients: s.o.OLTPClients, Jobs: 1,
				Duration: s.o.Warmup + s.o.Phase, LogPrefix: ls.logPrefix, NoVacuum: true, Vars: s.o.TPCC.Vars()}
		case measure && db == MeasuredOLAP:
			continue
		case kindOf(db) == "oltp":
			p = pgserver.Pgbench{DB: scenario.DatabaseName, Scripts: tpcc, Clients: 1, Rate: s.o.BackgroundOLTPRate, NoVacuum: true,
				Vars: s.o.TPCC.Vars()}
		default:
			p = pgserver.Pgbench{DB: scenario.DatabaseName, Scripts: olap, Clients: 1, NoVacuum: true}
		}
		l, err := srv.StartPgbench(bg, p)
		if err != nil {
			ls.stop()
			return nil, fmt.Errorf("load of %s: %w", podOf(db), err)
		}
		if p.LogPrefix != "" {
			ls.measured = l
		} else {
			ls.others = append(ls.others, l)
		}
	}
	return ls, nil
}

// runQueries runs each TPC-H query in turn against srv until until has passed and each has run
// QueryRuns times, and returns every run's time by query.
func (s *study) runQueries(ctx context.Context, srv *pgserver.Server, until time.Time) (map[string][]time.Duration, error) {
	out := map[string][]time.Duration{}
	for {
		done := time.Now().After(until)
		for _, q := range pgserver.TPCHQueries {
			done = done && len(out[q]) >= s.o.QueryRuns
		}
		if done {
			return out, nil
		}
		for _, q := range pgserver.TPCHQueries {
			d, err := srv.QueryTime(ctx, scenario.DatabaseName, q, 1)
			if err != nil {
				return out, err
			}
			out[q] = append(out[q], d...)
		}
	}
}

// nodeCPU reads the CPU time each of env's nodes' cgroups has used so far.
func (s *study) nodeCPU(env *Env) (map[string]time.Duration, error) {
	// The runtime made the groups; reading them changes none (Node would write the quota again).
	groups, err := s.cg.Nodes()
	if err != nil {
		return nil, err
	}
	out := map[string]time.Duration{}
	for _, g := range groups {
		if slices.Contains(env.Case.Nodes, g.Node()) {
			if out[g.Node()], err = g.CPUUsage(); err != nil {
				return nil, fmt.Errorf("node %s: %w", g.Node(), err)
			}
		}
	}
	for _, n := range env.Case.Nodes {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("node %s has no cgroup: the runtime runs no server there", n)
		}
	}
	return out, nil
}

// podCPU reads the CPU time each of env's databases' pod groups has used so far.
func (s *study) podCPU(env *Env) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for _, db := range env.Databases {
		g, ok := s.rt.PodGroup(env.Case.Namespace, podOf(db))
		if !ok {
			return nil, fmt.Errorf("%s/%s: no pod group: its server does not run", env.Case.Namespace, podOf(db))
		}
		var err error
		if out[podOf(db)], err = g.CPUUsage(); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", env.Case.Namespace, podOf(db), err)
		}
	}
	return out, nil
}

func describeQueries(qs []QueryResult) string {
	var parts []string
	for _, q := range qs {
		parts = append(parts, fmt.Sprintf("%s %v", q.Query, q.Median.Round(time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}
