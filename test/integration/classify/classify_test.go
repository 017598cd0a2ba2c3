// Package classify runs the real bin/likewise classify against a real PostgreSQL server
// (pkg/pgserver) under pgbench, idle, and with a wrong password.
package classify

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// output is the part of `likewise classify -o json` the test reads.
type output struct {
	Type       string  `json:"type"`
	Confidence float64 `json:"confidence"`
	Reasons    string  `json:"reasons"`
	Server     struct {
		Database             string `json:"database"`
		StatStatementsUsable bool   `json:"statStatementsUsable"`
	} `json:"server"`
	Windows []json.RawMessage `json:"windows"`
}

// likewise runs bin/likewise with args and returns its stdout and stderr.
func likewise(ctx context.Context, t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin, err := localcluster.Binary("likewise")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

var idleWindows = regexp.MustCompile(`^windows: ([1-9]) \(idle=([1-9])\)$`)

// TestClassifyEndToEnd runs `likewise classify` against a real PostgreSQL server under pgbench
// (JSON output) and idle (text output).
func TestClassifyEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := pgserver.StartT(t)
	if err := s.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := s.PgbenchInit(ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Psql(ctx, "app", "VACUUM ANALYZE"); err != nil {
		t.Fatal(err)
	}

	t.Run("oltp as JSON", func(t *testing.T) {
		load, err := s.StartPgbench(ctx, pgserver.Pgbench{DB: "app", Builtins: []string{pgserver.TPCBLike}, Clients: 2, Rate: 100})
		if err != nil {
			t.Fatal(err)
		}
		defer load.Stop()
		out, stderr, err := likewise(ctx, t, "classify", "--dsn", s.MonitorDSN("app"), "--duration", "15s",
			"--interval", "1s", "--window", "3s", "-o", "json")
		if err != nil {
			t.Fatalf("classify: %v\n%s", err, stderr)
		}
		var got output
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		t.Logf("RESULT %s: %s confidence %.2f over %d windows: %s", t.Name(), got.Type, got.Confidence, len(got.Windows), got.Reasons)
		if got.Type != "oltp" || got.Server.Database != "app" || !got.Server.StatStatementsUsable || len(got.Windows) < 4 {
			t.Errorf("classify printed type %s, database %q, pg_stat_statements usable %v, %d windows: want oltp, app, true, at least 4\n%s",
				got.Type, got.Server.Database, got.Server.StatStatementsUsable, len(got.Windows), out)
		}
		if stderr != "" {
			t.Errorf("JSON output wrote to stderr: %s", stderr)
		}
	})

	t.Run("idle as text", func(t *testing.T) {
		out, stderr, err := likewise(ctx, t, "classify", "--dsn", s.MonitorDSN("app"), "--duration", "6s",
			"--interval", "1s", "--window", "2s")
		if err != nil {
			t.Fatalf("classify: %v\n%s", err, stderr)
		}
		lines := strings.Split(out, "\n")
		if len(lines) < 3 || lines[0] != "type: unknown" || lines[1] != "confidence: 0.00" || !idleWindows.MatchString(lines[2]) {
			t.Errorf("text output:\n%s\nwant type unknown, confidence 0.00, only idle windows", out)
		}
		if !strings.Contains(stderr, "window 1: idle") || strings.Contains(stderr+out, s.MonitorPassword()) {
			t.Errorf("progress on stderr lacks window 1, or shows the password:\n%s", stderr)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		_, stderr, err := likewise(ctx, t, "classify", "--dsn", s.DSN(pgserver.MonitorRole, "wrong-pw-123", "app"),
			"--duration", "6s", "--interval", "1s", "--window", "2s")
		if err == nil || strings.Contains(stderr, "wrong-pw-123") || !strings.Contains(stderr, "password authentication failed") {
			t.Errorf("exit %v, stderr %q: want a failure naming the password failure, without the password", err, stderr)
		}
	})
}
