package pgstats

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// BenchmarkSample times one Sample of a database whose pg_stat_statements holds n distinct
// top-level statements, on a real PostgreSQL, over a connection opened before the timer starts.
// Besides the client's time it reports:
//   - server-ms/op: the sampling statement's planning and execution time on the server, from
//     pg_stat_statements' own row for it (pg_stat_statements.track_planning on): the server's
//     own account of the statement, without the network and the client's decoding, which ns/op
//     has;
//   - B/op-read: the bytes the server sent on the connection per snapshot, counted by a net.Conn
//     wrapper given to pgx as its DialFunc;
//   - statements: the rows of pg_stat_statements the snapshot read (n, plus the few statements of
//     the benchmark's own and the sampler's).
func BenchmarkSample(b *testing.B) {
	const maxStatements = 5000
	ctx := context.Background()
	srv := pgserver.StartT(b, pgserver.WithSetting("pg_stat_statements.max", "10000"),
		pgserver.WithSetting("pg_stat_statements.track_planning", "on"))
	const db = "bench"
	if err := srv.CreateDatabase(ctx, db); err != nil {
		b.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, srv.SuperuserDSN(db))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	// One table per statement: "SELECT a FROM t_<i>" differ by the table, so each is a query ID
	// of its own. A thousand tables per transaction keeps within the lock table.
	for from := 0; from < maxStatements; from += 1000 {
		if _, err := admin.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
  FOR i IN %d..%d LOOP EXECUTE format('CREATE TABLE t_%%s (a int)', i); END LOOP;
END $$`, from, from+999)); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range []int{500, 1000, 2000, 5000} {
		b.Run(fmt.Sprintf("%dstatements", n), func(b *testing.B) {
			if _, err := admin.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
				b.Fatal(err)
			}
			batch := &pgx.Batch{}
			for i := range n {
				batch.Queue(fmt.Sprintf("SELECT a FROM t_%d", i))
			}
			if err := admin.SendBatch(ctx, batch).Close(); err != nil {
				b.Fatal(err)
			}
			s, err := NewSampler(ConnConfig{DSN: srv.MonitorDSN(db)}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(ctx)
			var read atomic.Int64
			dial := s.pgx.DialFunc
			s.pgx.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &countingConn{Conn: c, read: &read}, nil
			}
			snap, err := s.Sample(ctx) // connects and detects: not timed
			if err != nil {
				b.Fatal(err)
			}
			if snap.Statements == nil {
				b.Fatalf("the snapshot read no pg_stat_statements: %s", s.Info().StatStatementsReason)
			}
			if len(snap.Statements.Entries) < n {
				b.Fatalf("the snapshot read %d statements, want at least %d", len(snap.Statements.Entries), n)
			}
			calls0, ms0 := samplerStats(b, admin)
			read.Store(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if snap, err = s.Sample(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			calls, ms := samplerStats(b, admin)
			if calls-calls0 != int64(b.N) {
				b.Fatalf("pg_stat_statements counted %d samples, the benchmark took %d", calls-calls0, b.N)
			}
			b.ReportMetric((ms-ms0)/float64(b.N), "server-ms/op")
			b.ReportMetric(float64(read.Load())/float64(b.N), "B/op-read")
			b.ReportMetric(float64(len(snap.Statements.Entries)), "statements")
		})
	}
}

// samplerStats reads the sampling statement's calls and its planning plus execution time (ms)
// from pg_stat_statements.
func samplerStats(b *testing.B, admin *pgx.Conn) (int64, float64) {
	var calls int64
	var ms float64
	err := admin.QueryRow(context.Background(), `SELECT coalesce(sum(calls), 0)::int8, coalesce(sum(total_plan_time + total_exec_time), 0)
FROM pg_stat_statements WHERE query LIKE $1 AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
		Marker+" SELECT now(), pg_postmaster_start_time()%").Scan(&calls, &ms)
	if err != nil {
		b.Fatal(err)
	}
	return calls, ms
}

// countingConn counts the bytes read from the server.
type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}
