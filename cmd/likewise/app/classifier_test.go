package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
)

// parseClassifierFlags parses args as the classifier command would and validates them.
func parseClassifierFlags(t *testing.T, args ...string) (*classifierOptions, error) {
	t.Helper()
	o := newClassifierOptions()
	cmd := newClassifierCommandFor(o)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	return o, o.validate(cmd)
}

func TestClassifierFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines of the error
	}{
		{"bad preset", []string{"--preset", "stackgres"},
			[]string{`--preset: unknown preset "stackgres": supported values: cnpg, zalando, crunchy`}},
		{"selector and preset", []string{"--preset", "cnpg", "--selector", "app=pg"},
			[]string{"--selector and --preset: give one, not both"}},
		{"unparsable selector", []string{"--selector", "app in (pg"},
			[]string{`--selector "app in (pg": unable to parse requirement: found '', expected: ',' or ')'`}},
		{"empty selector", []string{"--selector", ""},
			[]string{`--selector "": selects every pod; name the database pods`}},
		{"bad numbers", []string{"--default-port", "0", "--workers", "0", "--query-timeout", "0s", "--windows-to-switch", "0"},
			[]string{
				"--default-port 0: must be from 1 to 65535",
				"--windows-to-switch 0: must be from 1 to 100",
				"--workers 0: must be from 1 to 100",
				"--query-timeout 0s: must be positive",
			}},
		{"window shorter than two intervals", []string{"--interval", "10s", "--window", "15s"},
			[]string{"--window 15s: must be from 1s to 1h and at least two --interval (20s)"}},
		{"zero dwell", []string{"--min-dwell", "0s"},
			[]string{"--min-dwell 0s: must be positive and at most 24h"}},
		{"backoff shorter than interval", []string{"--max-backoff", "1s"},
			[]string{"--max-backoff 1s: must be at least --interval (15s)"}},
		{"credentials read again at every sample", []string{"--credentials-refresh", "0s"},
			[]string{"--credentials-refresh 0s: must be from 1s to 1h0m0s"}},
		{"credentials read again once a day", []string{"--credentials-refresh", "24h"},
			[]string{"--credentials-refresh 24h0m0s: must be from 1s to 1h0m0s"}},
		{"bad names", []string{"--default-credentials-secret", "Bad_Name", "--namespace", "Bad_NS"},
			[]string{
				`--namespace "Bad_NS": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
				`--default-credentials-secret "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			}},
		{"leader election timings", []string{"--leader-elect-lease-duration", "5s", "--leader-elect-renew-deadline", "2s"},
			[]string{"--leader-elect-renew-deadline 2s: must be more than 1.2 times --leader-elect-retry-period (2s)"}},
		{"leader election timings ignored without leader election",
			[]string{"--leader-elect=false", "--leader-elect-lease-duration", "1s", "--leader-elect-renew-deadline", "2s"}, nil},
		{"lease shorter than the renew deadline", []string{"--leader-elect-lease-duration", "5s"},
			[]string{"--leader-elect-lease-duration 5s: must be more than --leader-elect-renew-deadline (10s)"}},
		{"removed plaintext metrics address", []string{"--metrics-bind-address", ":8080"},
			[]string{"--metrics-bind-address: removed: /metrics, /healthz, /readyz and /livez are served over HTTPS on --bind-address and --secure-port (default 10261), /metrics to a client allowed to get it (ClusterRole likewise-metrics-reader); there is no plaintext port"}},
		{"secure port off", []string{"--secure-port", "0"},
			[]string{"--secure-port 0: must be from 1 to 65535"}},
		{"certificate without key", []string{"--tls-cert-file", "/nonexistent/tls.crt"},
			[]string{`--tls-cert-file "/nonexistent/tls.crt": needs --tls-private-key-file`}},
		{"key without certificate", []string{"--tls-private-key-file", "/nonexistent/tls.key"},
			[]string{`--tls-private-key-file "/nonexistent/tls.key": needs --tls-cert-file`}},
		{"unreadable certificate", []string{"--tls-cert-file", "/nonexistent/tls.crt", "--tls-private-key-file", "/nonexistent/tls.key"},
			[]string{`--tls-cert-file "/nonexistent/tls.crt" and --tls-private-key-file "/nonexistent/tls.key": open /nonexistent/tls.crt: no such file or directory`}},
		{"bad TLS version and ciphers", []string{"--tls-min-version", "VersionTLS09", "--tls-cipher-suites", "TLS_NULL"},
			[]string{
				`--tls-min-version "VersionTLS09": unknown tls version "VersionTLS09"`,
				`--tls-cipher-suites "TLS_NULL": Cipher suite TLS_NULL not supported or doesn't exist`,
			}},
		{"blank request header", []string{"--requestheader-username-headers", " "},
			[]string{`--requestheader-username-headers: empty value in "requestheader-username-headers"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseClassifierFlags(t, tc.args...)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error lines (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestClassifierConfig(t *testing.T) {
	o, err := parseClassifierFlags(t, "--preset", "crunchy", "--namespace", "db", "--interval", "5s", "--window", "30s",
		"--windows-to-switch", "2", "--min-dwell", "1m", "--workers", "8", "--default-port", "6432", "--credentials-refresh", "30s")
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.config
	if got, want := cfg.Selector.String(), "postgres-operator.crunchydata.com/cluster,postgres-operator.crunchydata.com/data=postgres"; got != want {
		t.Errorf("selector %q, want %q", got, want)
	}
	cfg.Selector, cfg.DefaultServerName = nil, nil
	want := controller.Config{
		Namespace:                "db",
		DefaultCredentialsSecret: controller.DefaultCredentialsSecret,
		DefaultDatabase:          controller.DefaultDatabase,
		DefaultPort:              6432,
		Interval:                 5 * time.Second,
		QueryTimeout:             controller.DefaultQueryTimeout,
		MaxBackoff:               controller.DefaultMaxBackoff,
		Workers:                  8,
		CredentialsRefresh:       30 * time.Second,
		Classifier:               classifier.Config{Window: 30 * time.Second, WindowsToSwitch: 2, MinDwell: time.Minute},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("config (-want,+got):\n%s", diff)
	}

	o, err = parseClassifierFlags(t)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if got := o.config.Selector.String(); got != controller.DefaultSelector {
		t.Errorf("default selector %q, want %q", got, controller.DefaultSelector)
	}
	o, err = parseClassifierFlags(t, "--preset", "cnpg")
	if err != nil {
		t.Fatal(err)
	}
	if o.config.DefaultServerName == nil {
		t.Error("the cnpg preset's server name is not used")
	}
}

// TestClassifierKubeconfigError runs the command with a kubeconfig that does not exist: it fails
// at once, naming the flag, before serving anything.
func TestClassifierKubeconfigError(t *testing.T) {
	_, _, err := execute(context.Background(), "classifier", "--kubeconfig", "/nonexistent/kubeconfig", "--bind-address", "127.0.0.1")
	if err == nil || !strings.HasPrefix(err.Error(), "--kubeconfig: ") {
		t.Errorf("error %v, want one naming --kubeconfig", err)
	}
}
