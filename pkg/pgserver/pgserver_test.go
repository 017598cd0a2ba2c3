package pgserver

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n", 150018},
		{"postgres (PostgreSQL) 17.2\n", 170002},
		{"postgres (PostgreSQL) 13.0", 130000},
		{"postgres (PostgreSQL) 16beta1", 160000},
		{"garbage", 0},
	} {
		t.Run(tc.in, func(t *testing.T) {
			if got := parseVersion(tc.in); got != tc.want {
				t.Errorf("parseVersion(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestStartListenAddressMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"10.0.0.1", "0.0.0.0", "localhost", "::1"} {
		t.Run(addr, func(t *testing.T) {
			_, err := Start(context.Background(), WithListenAddress(addr))
			if err == nil || !strings.Contains(err.Error(), "loopback") {
				t.Fatalf("Start(%s) error = %v, want a loopback error", addr, err)
			}
		})
	}
}

// TestServer starts a server on a non-default loopback address, as the controller tests do on
// KWOK pod IPs, and exercises roles, restarts and pgbench.
func TestServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := StartT(t, WithListenAddress("127.45.1.7"))

	got, err := s.Psql(ctx, DefaultDB, "SELECT inet_server_addr()::text || ' ' || current_setting('shared_preload_libraries')")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("127.45.1.7/32 pg_stat_statements", got); diff != "" {
		t.Errorf("server address and libraries (-want,+got):\n%s", diff)
	}

	// The monitoring role logs in with its password, reads all statistics and cannot write.
	monitor := func(sql string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(s.ClientBinDir, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, s.MonitorDSN(DefaultDB))
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	got, err = monitor("SELECT pg_has_role('pg_read_all_stats', 'USAGE')::text || ' ' || current_setting('default_transaction_read_only') || ' ' || current_setting('statement_timeout')")
	if err != nil {
		t.Fatalf("monitor role: %v: %s", err, got)
	}
	if diff := cmp.Diff("true on 5s", got); diff != "" {
		t.Errorf("monitor role settings (-want,+got):\n%s", diff)
	}
	if out, err := monitor("CREATE TABLE t (i int)"); err == nil || !strings.Contains(out, "read-only") {
		t.Errorf("monitor role created a table: err=%v out=%s", err, out)
	}

	if err := s.CreateDatabase(ctx, "bench"); err != nil {
		t.Fatal(err)
	}
	if err := s.PgbenchInit(ctx, "bench", 1); err != nil {
		t.Fatal(err)
	}
	load, err := s.StartPgbench(ctx, Pgbench{DB: "bench", Builtins: []string{SelectOnly}, Clients: 1, Rate: 50, Duration: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(load.Output(), "number of transactions actually processed") {
		t.Errorf("pgbench output lacks its summary:\n%s", load.Output())
	}

	for _, mode := range []ShutdownMode{Fast, Immediate} {
		before, err := s.Psql(ctx, DefaultDB, "SELECT pg_postmaster_start_time()")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Restart(ctx, mode); err != nil {
			t.Fatalf("restart %s: %v", mode, err)
		}
		after, err := s.Psql(ctx, DefaultDB, "SELECT pg_postmaster_start_time()")
		if err != nil {
			t.Fatalf("after restart %s: %v", mode, err)
		}
		if before == after {
			t.Errorf("restart %s: postmaster start time unchanged (%s)", mode, after)
		}
	}

	// A load stopped early is not an error.
	load, err = s.StartPgbench(ctx, Pgbench{DB: "bench", Builtins: []string{TPCBLike}, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Stop(); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if err := s.Stop(ctx, Fast); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Psql(ctx, DefaultDB, "SELECT 1"); err == nil {
		t.Errorf("psql succeeded on a stopped server on port %s", strconv.Itoa(s.Port))
	}
}
