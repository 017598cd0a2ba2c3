package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/klog/v2/ktesting"
)

const shippedSchedulerConfig = "../../../manifests/scheduler/base/scheduler-config.yaml"

// parseRebalancerFlags parses args as the rebalancer command would and validates them.
func parseRebalancerFlags(t *testing.T, args ...string) (*rebalancerOptions, error) {
	t.Helper()
	o := newRebalancerOptions()
	cmd := newRebalancerCommandFor(o)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("parsing %v: %v", args, err)
	}
	logger, _ := ktesting.NewTestContext(t)
	return o, o.validate(logger, cmd)
}

func TestRebalancerFlags(t *testing.T) {
	dir := t.TempDir()
	noLeader := filepath.Join(dir, "no-leader.yaml")
	data, err := os.ReadFile(shippedSchedulerConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(noLeader, []byte(strings.Replace(string(data), "leaderElect: true", "leaderElect: false", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte(strings.Replace(string(data), "majorityPercent: 51", "majorityPrecent: 51", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "--scheduler-config=" + shippedSchedulerConfig
	for _, tc := range []struct {
		name string
		args []string
		want []string // lines of the error
	}{
		{"no scheduler config", nil,
			[]string{"--scheduler-config: required: the KubeSchedulerConfiguration likewise-scheduler runs with"}},
		{"unknown profile", []string{cfg, "--profile=db"},
			[]string{`--scheduler-config: scheduler config ` + shippedSchedulerConfig + `: no profile "db" (profiles: ["likewise-scheduler" "notebook-scheduler"])`}},
		{"profile without WorkloadTypeAffinity", []string{cfg, "--profile=notebook-scheduler"},
			[]string{`--scheduler-config: scheduler config ` + shippedSchedulerConfig + `: profile "notebook-scheduler" does not enable WorkloadTypeAffinity: the rebalancer moves pods only where that plugin would place them`}},
		{"misspelt field in the scheduler config", []string{"--scheduler-config=" + typo},
			[]string{`--scheduler-config: scheduler config ` + typo + `: strict decoding error: decoding .profiles[0].pluginConfig[0]: strict decoding error: decoding args for plugin WorkloadTypeAffinity: strict decoding error: unknown field "majorityPrecent"`}},
		{"no lease to watch", []string{"--scheduler-config=" + noLeader},
			[]string{"--scheduler-lease: required, since --scheduler-config " + noLeader + " turns leader election off: without a lease the rebalancer cannot tell that the scheduler runs"}},
		{"bad lease", []string{cfg, "--scheduler-lease=kube-system"},
			[]string{`--scheduler-lease "kube-system": must be NAMESPACE/NAME of a Lease`}},
		{"bad limits", []string{cfg, "--interval=0s", "--max-evictions-per-cycle=0", "--max-evictions-per-node=-1", "--min-pod-age=-1s"},
			[]string{
				"--interval: must be positive, got 0s",
				"--min-pod-age: must not be negative, got -1s",
				"--max-evictions-per-cycle: must be at least 1, got 0",
				"--max-evictions-per-node: must be at least 1, got -1",
			}},
		{"backoff below cooldown", []string{cfg, "--workload-cooldown=1h", "--max-backoff=1m"},
			[]string{"--max-backoff: must be at least --workload-cooldown (1h0m0s), got 1m0s"}},
		{"bad namespace", []string{cfg, "--excluded-namespaces=kube-system,Bad_NS"},
			[]string{`--excluded-namespaces: "Bad_NS" is not a namespace name`}},
		{"removed plaintext metrics address", []string{cfg, "--metrics-bind-address=:8080"},
			[]string{"--metrics-bind-address: removed: /metrics, /healthz, /readyz and /livez are served over HTTPS on --bind-address and --secure-port (default 10262), /metrics to a client allowed to get it (ClusterRole likewise-metrics-reader); there is no plaintext port"}},
		{"bad serving", []string{cfg, "--secure-port=65536", "--tls-private-key-file=/nonexistent/tls.key"},
			[]string{
				"--secure-port 65536: must be from 1 to 65535",
				`--tls-private-key-file "/nonexistent/tls.key": needs --tls-cert-file`,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseRebalancerFlags(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("error (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestRebalancerDefaults(t *testing.T) {
	o, err := parseRebalancerFlags(t, "--scheduler-config="+shippedSchedulerConfig)
	if err != nil {
		t.Fatal(err)
	}
	got := o.cfg
	if got.Profile != "likewise-scheduler" || got.Interval != time.Minute || got.MinPodAge != 10*time.Minute || got.DryRun ||
		got.SchedulerLeaseNamespace != "likewise-system" || got.SchedulerLeaseName != "likewise-scheduler" {
		t.Errorf("defaults: %+v", got)
	}
	if !o.leader.leaderElect || o.leader.leaseName != "likewise-rebalancer" {
		t.Errorf("leader election: %+v", o.leader)
	}
	if o.sched.MajorityPercent != 51 {
		t.Errorf("majorityPercent from the profile = %d, want 51", o.sched.MajorityPercent)
	}
}
