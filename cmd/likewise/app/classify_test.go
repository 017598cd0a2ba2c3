package app

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/version"
	"github.com/likewise-dev/likewise/test/pgserver"
)

// execute runs the likewise command in-process with args.
func execute(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	cmd := NewCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestVersion(t *testing.T) {
	out, _, err := execute(context.Background(), "version")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(version.String()+"\n", out); diff != "" {
		t.Errorf("version output (-want,+got):\n%s", diff)
	}
}

func TestClassifyFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines of the error
	}{
		{"no dsn", []string{}, []string{"--dsn is required"}},
		{"bad output", []string{"--dsn", "x", "-o", "yaml"}, []string{`--output "yaml": must be text or json`}},
		{"bad interval and duration", []string{"--dsn", "x", "--interval", "0s", "--duration", "-1s", "--window", "1s"},
			[]string{"--duration -1s: must be positive", "--interval 0s: must be positive"}},
		{"window shorter than interval", []string{"--dsn", "x", "--interval", "10s", "--window", "5s"},
			[]string{"--window 5s: must be at least --interval (10s)"}},
		{"too short to classify", []string{"--dsn", "x", "--duration", "10s", "--window", "5s", "--interval", "1s"},
			[]string{"--duration 10s: shorter than --windows-to-switch (3) windows of 5s, so nothing could be classified"}},
		{"server name without CA", []string{"--dsn", "x", "--server-name", "db"}, []string{"--server-name: needs --ca-file"}},
		{"unreadable CA", []string{"--dsn", "postgres://u@127.0.0.1/db", "--ca-file", "/nonexistent/ca.crt"},
			[]string{"--ca-file: open /nonexistent/ca.crt: no such file or directory"}},
		{"unparsable DSN", []string{"--dsn", "postgres://u:pw@127.0.0.1:notaport/db"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := execute(context.Background(), append([]string{"classify"}, tc.args...)...)
			if err == nil {
				t.Fatalf("no error")
			}
			if tc.want == nil {
				if !strings.HasPrefix(err.Error(), "dsn:") || strings.Contains(err.Error(), ":pw@") {
					t.Errorf("error %q: want a dsn error without the password", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error lines (-want,+got):\n%s", diff)
			}
		})
	}
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
		out, stderr, err := execute(ctx, "classify", "--dsn", s.MonitorDSN("app"), "--duration", "15s",
			"--interval", "1s", "--window", "3s", "-o", "json")
		if err != nil {
			t.Fatalf("classify: %v\n%s", err, stderr)
		}
		var got classifyOutput
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		t.Logf("RESULT %s: %s confidence %.2f over %d windows: %s", t.Name(), got.Type, got.Confidence, len(got.Windows), got.Reasons)
		if got.Type != classifier.OLTP || got.Server.Database != "app" || !got.Server.StatStatementsUsable || len(got.Windows) < 4 {
			t.Errorf("classify printed type %s, database %q, pg_stat_statements usable %v, %d windows: want oltp, app, true, at least 4\n%s",
				got.Type, got.Server.Database, got.Server.StatStatementsUsable, len(got.Windows), out)
		}
		if stderr != "" {
			t.Errorf("JSON output wrote to stderr: %s", stderr)
		}
	})

	t.Run("idle as text", func(t *testing.T) {
		out, stderr, err := execute(ctx, "classify", "--dsn", s.MonitorDSN("app"), "--duration", "6s",
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
		_, _, err := execute(ctx, "classify", "--dsn", s.DSN(pgserver.MonitorRole, "wrong-pw-123", "app"), "--duration", "6s", "--interval", "1s", "--window", "2s")
		if err == nil || strings.Contains(err.Error(), "wrong-pw-123") || !strings.Contains(err.Error(), "password authentication failed") {
			t.Errorf("error %v: want a password failure without the password", err)
		}
	})
}
