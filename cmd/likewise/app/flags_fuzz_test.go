package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
)

// fuzzFlag is a flag the fuzz targets set, with a value to seed it.
type fuzzFlag struct{ name, seed string }

// rebalancerFuzzFlags are the rebalancer's flags with values: its durations, limits, lists and
// the lease.
var rebalancerFuzzFlags = []fuzzFlag{
	{"profile", "likewise-scheduler"},
	{"scheduler-lease", "kube-system/kube-scheduler"},
	{"interval", "1m"},
	{"min-pod-age", "10m"},
	{"max-evictions-per-cycle", "5"},
	{"max-evictions-per-node", "1"},
	{"max-evictions-per-namespace", "2"},
	{"max-evictions-per-minute", "10"},
	{"workload-cooldown", "10m"},
	{"max-moves-per-workload", "3"},
	{"move-window", "1h"},
	{"move-timeout", "10m"},
	{"max-backoff", "6h"},
	{"excluded-namespaces", "kube-system,Bad_NS"},
	{"movable-emptydir-volumes", "scratch,"},
	{"leader-elect-resource-name", "likewise-rebalancer"},
	{"leader-elect-resource-namespace", "likewise-system"},
	{"leader-elect-lease-duration", "15s"},
	{"leader-elect-renew-deadline", "10s"},
	{"leader-elect-retry-period", "2s"},
	{"metrics-bind-address", ":8080"},
	{"secure-port", "10262"},
	{"bind-address", "0.0.0.0"},
	{"tls-cert-file", "/nonexistent/tls.crt"},
	{"tls-min-version", "VersionTLS12"},
	{"authorization-always-allow-paths", "/healthz,/readyz,/livez"},
	{"dry-run", "true"},
	{"leader-elect", "false"},
}

// classifierFuzzFlags are the classifier's.
var classifierFuzzFlags = []fuzzFlag{
	{"namespace", "db"},
	{"selector", "app in (pg"},
	{"preset", "cnpg"},
	{"default-credentials-secret", "likewise-monitor"},
	{"default-database", "postgres"},
	{"default-port", "5432"},
	{"interval", "15s"},
	{"window", "5m"},
	{"windows-to-switch", "3"},
	{"min-dwell", "30m"},
	{"workers", "4"},
	{"query-timeout", "5s"},
	{"max-backoff", "5m"},
	{"credentials-refresh", "1m"},
	{"leader-elect-resource-name", "likewise-classifier"},
	{"leader-elect-resource-namespace", "likewise-system"},
	{"leader-elect-lease-duration", "15s"},
	{"leader-elect-renew-deadline", "10s"},
	{"leader-elect-retry-period", "2s"},
	{"metrics-bind-address", "localhost:8080"},
	{"secure-port", "10261"},
	{"bind-address", "127.0.0.1"},
	{"tls-cert-file", "/nonexistent/tls.crt"},
	{"tls-private-key-file", "/nonexistent/tls.key"},
	{"tls-cipher-suites", "TLS_AES_128_GCM_SHA256"},
	{"requestheader-username-headers", "X-Remote-User"},
	{"leader-elect", "false"},
}

// fuzzArgs turns up to three (flag index, value) pairs into arguments; a flag's index wraps.
func fuzzArgs(flags []fuzzFlag, pairs ...any) []string {
	var args []string
	for i := 0; i+1 < len(pairs); i += 2 {
		f := flags[int(pairs[i].(uint8))%len(flags)]
		args = append(args, "--"+f.name+"="+pairs[i+1].(string))
	}
	return args
}

// seedFlags adds every flag with its seed value, then each pair of the cases given.
func seedFlags(f *testing.F, flags []fuzzFlag, extra ...[]any) {
	index := func(name string) uint8 {
		for i, fl := range flags {
			if fl.name == name {
				return uint8(i)
			}
		}
		f.Fatalf("no fuzz flag %q", name)
		return 0
	}
	for i, fl := range flags {
		f.Add(false, uint8(i), fl.seed, uint8(i), fl.seed, uint8(i), fl.seed)
	}
	for _, e := range extra {
		f.Add(e[0].(bool), index(e[1].(string)), e[2].(string), index(e[3].(string)), e[4].(string), index(e[5].(string)), e[6].(string))
	}
}

// checkFlagErrors fails unless every line of a validate error starts with one of cmd's flags,
// as "--name:" or "--name " (then its value and why).
func checkFlagErrors(t *testing.T, cmd *cobra.Command, args []string, err error) {
	t.Helper()
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	for _, line := range strings.Split(err.Error(), "\n") {
		named := false
		for _, n := range names {
			if rest, ok := strings.CutPrefix(line, "--"+n); ok && (strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, " ")) {
				named = true
				break
			}
		}
		if !named {
			t.Errorf("flags %q: error line %q does not start with a flag", args, line)
		}
	}
}

// checkParseError fails unless a parse error names the flag given.
func checkParseError(t *testing.T, args []string, err error) {
	t.Helper()
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if strings.Contains(err.Error(), `"`+name+`"`) || strings.Contains(err.Error(), name+" ") || strings.Contains(err.Error(), name+":") {
			return
		}
	}
	t.Errorf("flags %q: parse error %q names none of them", args, err)
}

// FuzzRebalancerFlags sets up to three of the rebalancer's flags to arbitrary values, with the
// shipped scheduler config (or the same with leader election off): parsing and validate never
// panic, and every error line starts with the flag at fault.
func FuzzRebalancerFlags(f *testing.F) {
	noLeader := filepath.Join(f.TempDir(), "no-leader.yaml")
	data, err := os.ReadFile(shippedSchedulerConfig)
	if err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(noLeader, []byte(strings.Replace(string(data), "leaderElect: true", "leaderElect: false", 1)), 0o600); err != nil {
		f.Fatal(err)
	}
	seedFlags(f, rebalancerFuzzFlags,
		[]any{true, "scheduler-lease", "", "profile", "likewise-scheduler", "interval", "1m"},
		[]any{false, "scheduler-lease", "kube-system", "profile", "db", "interval", "0s"},
		[]any{false, "workload-cooldown", "1h", "max-backoff", "1m", "min-pod-age", "-1s"},
		[]any{false, "max-evictions-per-cycle", "0", "max-evictions-per-node", "-1", "interval", "x"},
		[]any{false, "leader-elect-lease-duration", "5s", "leader-elect-renew-deadline", "2s", "leader-elect-retry-period", "-1s"},
		[]any{false, "profile", "notebook-scheduler", "excluded-namespaces", `"a,b`, "metrics-bind-address", "localhost"},
		[]any{false, "profile", "", "scheduler-lease", "/", "movable-emptydir-volumes", ""},
		[]any{false, "secure-port", "-1", "tls-min-version", "VersionTLS09", "authorization-always-allow-paths", "*x"},
	)
	logger := klog.Background().V(10)
	f.Fuzz(func(t *testing.T, withoutLeader bool, f1 uint8, v1 string, f2 uint8, v2 string, f3 uint8, v3 string) {
		args := fuzzArgs(rebalancerFuzzFlags, f1, v1, f2, v2, f3, v3)
		config := shippedSchedulerConfig
		if withoutLeader {
			config = noLeader
		}
		o := newRebalancerOptions()
		cmd := newRebalancerCommandFor(o)
		if err := cmd.ParseFlags(append([]string{"--scheduler-config=" + config}, args...)); err != nil {
			checkParseError(t, args, err)
			return
		}
		if err := o.validate(logger, cmd); err != nil {
			checkFlagErrors(t, cmd, args, err)
		}
	})
}

// FuzzClassifierFlags does the same for the classifier's flags.
func FuzzClassifierFlags(f *testing.F) {
	seedFlags(f, classifierFuzzFlags,
		[]any{false, "preset", "stackgres", "selector", "app=pg", "interval", "15s"},
		[]any{false, "selector", "", "default-port", "0", "workers", "0"},
		[]any{false, "interval", "10s", "window", "15s", "min-dwell", "0s"},
		[]any{false, "max-backoff", "1s", "query-timeout", "0s", "windows-to-switch", "0"},
		[]any{false, "credentials-refresh", "0s", "credentials-refresh", "1h1s", "credentials-refresh", "-1m"},
		[]any{false, "default-credentials-secret", "Bad_Name", "namespace", "Bad_NS", "default-database", " "},
		[]any{false, "selector", "a,!b,c notin (x),d>1", "preset", "", "default-port", "65536"},
		[]any{false, "leader-elect-lease-duration", "5s", "leader-elect-renew-deadline", "2s", "metrics-bind-address", "[::1]:99999"},
		[]any{false, "secure-port", "0", "tls-private-key-file", "/nonexistent/tls.key", "requestheader-username-headers", " "},
		[]any{false, "bind-address", "localhost", "tls-cert-file", "", "tls-cipher-suites", "TLS_NULL"},
	)
	f.Fuzz(func(t *testing.T, _ bool, f1 uint8, v1 string, f2 uint8, v2 string, f3 uint8, v3 string) {
		args := fuzzArgs(classifierFuzzFlags, f1, v1, f2, v2, f3, v3)
		o := newClassifierOptions()
		cmd := newClassifierCommandFor(o)
		if err := cmd.ParseFlags(args); err != nil {
			checkParseError(t, args, err)
			return
		}
		if err := o.validate(cmd); err != nil {
			checkFlagErrors(t, cmd, args, err)
		}
	})
}
