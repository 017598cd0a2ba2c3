package pgserver

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestSilentServer: a client's connection to SilentAtAccept never completes, and one to
// SilentAfterStartup completes (TLS included) but its first query never returns; each ends
// only by the client's own deadline.
func TestSilentServer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		silence Silence
		sslmode string
	}{
		{"at accept", SilentAtAccept, "disable"},
		{"after startup, TLS", SilentAfterStartup, "require"},
		{"after startup, plaintext", SilentAfterStartup, "disable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := StartSilentT(t, "127.0.0.1:0", tc.silence)
			host, port, _ := net.SplitHostPort(s.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			conn, err := pgx.Connect(ctx, "postgres://u@"+net.JoinHostPort(host, port)+"/db?sslmode="+tc.sslmode)
			if tc.silence == SilentAtAccept {
				if err == nil || !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("connect: %v, want the client's deadline", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer conn.Close(context.Background())
			var v int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&v); err == nil {
				t.Fatalf("a query was answered")
			}
			if ctx.Err() == nil {
				t.Errorf("the query failed before the client's deadline")
			}
			if accepted, started := s.Counts(); accepted != 1 || started != 1 {
				t.Errorf("accepted %d, started %d; want 1, 1", accepted, started)
			}
		})
	}
}
