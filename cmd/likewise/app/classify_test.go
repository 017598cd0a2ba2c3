package app

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/version"
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
