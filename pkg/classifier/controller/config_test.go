package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/likewise-dev/likewise/pkg/classifier"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   []string
	}{
		{"defaults", func(*Config) {}, nil},
		{"no selector", func(c *Config) { c.Selector = nil },
			[]string{"selector: must select some pods (an empty selector would sample every pod)"}},
		{"empty selector", func(c *Config) { c.Selector = labels.Everything() },
			[]string{"selector: must select some pods (an empty selector would sample every pod)"}},
		{"bad numbers", func(c *Config) {
			c.DefaultPort, c.Interval, c.QueryTimeout, c.Workers = 0, -time.Second, 0, 101
		}, []string{
			"defaultPort: 0 must be from 1 to 65535",
			"interval: -1s must be positive",
			"queryTimeout: 0s must be positive",
			"workers: 101 must be from 1 to 100",
		}},
		{"credentials read again too often", func(c *Config) { c.CredentialsRefresh = 500 * time.Millisecond },
			[]string{"credentialsRefresh: 500ms must be from 1s to 1h0m0s"}},
		{"credentials read again too rarely", func(c *Config) { c.CredentialsRefresh = 2 * time.Hour },
			[]string{"credentialsRefresh: 2h0m0s must be from 1s to 1h0m0s"}},
		{"empty names", func(c *Config) { c.DefaultCredentialsSecret, c.DefaultDatabase = "", "" },
			[]string{"defaultCredentialsSecret: must not be empty", "defaultDatabase: must not be empty"}},
		{"backoff shorter than the interval", func(c *Config) { c.MaxBackoff = time.Second },
			[]string{"maxBackoff: 1s must be at least interval (15s)"}},
		{"window shorter than two intervals", func(c *Config) { c.Classifier.Window = 20 * time.Second },
			[]string{"classifier: window 20s must be at least 2 intervals (30s)"}},
		{"invalid classifier config", func(c *Config) { c.Classifier.WindowsToSwitch = 101 },
			[]string{"classifier: windowsToSwitch: 101 is invalid: must be from 1 to 100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.change(&cfg)
			err := cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want,+got):\n%s", diff)
			}
		})
	}
	// The defaulted classifier config is what Validate checks.
	cfg := testConfig()
	cfg.Classifier = classifier.Config{}
	if err := cfg.Validate(); err != nil {
		t.Errorf("zero classifier config (defaults): %v", err)
	}
}

// TestPresets checks each preset's selector against the labels the operators put on their pods
// (from their documentation and source): instance pods, primary or replica, are selected; their
// poolers, jobs and backup pods are not.
func TestPresets(t *testing.T) {
	for _, tc := range []struct {
		preset    string
		selected  []labels.Set
		left      []labels.Set
		serverFor labels.Set
		server    string
	}{
		{
			preset: "cnpg",
			selected: []labels.Set{
				{"cnpg.io/cluster": "app", "cnpg.io/podRole": "instance", "cnpg.io/instanceRole": "primary", "role": "primary", "cnpg.io/instanceName": "app-1"},
				{"cnpg.io/cluster": "app", "cnpg.io/podRole": "instance", "cnpg.io/instanceRole": "replica", "role": "replica"},
			},
			left: []labels.Set{
				{"cnpg.io/cluster": "app", "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": "app-pooler-rw"},
				{"cnpg.io/cluster": "app", "cnpg.io/jobRole": "initdb"},
				{"app": "postgres"},
			},
			serverFor: labels.Set{"cnpg.io/cluster": "app"},
			server:    "app-rw",
		},
		{
			preset: "zalando",
			selected: []labels.Set{
				{"application": "spilo", "cluster-name": "acid-minimal-cluster", "spilo-role": "master"},
				{"application": "spilo", "cluster-name": "acid-minimal-cluster", "spilo-role": "replica"},
			},
			left: []labels.Set{
				{"application": "db-connection-pooler", "cluster-name": "acid-minimal-cluster"},
				{"application": "postgres-operator"},
			},
		},
		{
			preset: "crunchy",
			selected: []labels.Set{
				{"postgres-operator.crunchydata.com/cluster": "hippo", "postgres-operator.crunchydata.com/data": "postgres",
					"postgres-operator.crunchydata.com/instance-set": "instance1", "postgres-operator.crunchydata.com/role": "master"},
				{"postgres-operator.crunchydata.com/cluster": "hippo", "postgres-operator.crunchydata.com/data": "postgres",
					"postgres-operator.crunchydata.com/role": "replica"},
			},
			left: []labels.Set{
				{"postgres-operator.crunchydata.com/cluster": "hippo", "postgres-operator.crunchydata.com/data": "pgbackrest"},
				{"postgres-operator.crunchydata.com/cluster": "hippo", "postgres-operator.crunchydata.com/role": "pgbouncer"},
			},
		},
	} {
		t.Run(tc.preset, func(t *testing.T) {
			p, err := LookupPreset(tc.preset)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := labels.Parse(p.Selector)
			if err != nil {
				t.Fatalf("selector %q: %v", p.Selector, err)
			}
			for _, l := range tc.selected {
				if !sel.Matches(l) {
					t.Errorf("%s does not select %v", p.Selector, l)
				}
			}
			for _, l := range tc.left {
				if sel.Matches(l) {
					t.Errorf("%s selects %v", p.Selector, l)
				}
			}
			var server string
			if p.ServerName != nil {
				server = p.ServerName(newPod("x").pod)
				if server != "" {
					t.Errorf("server name of a pod without the cluster label: %q, want none", server)
				}
				pod := newPod("x").pod
				pod.Labels = tc.serverFor
				server = p.ServerName(pod)
			}
			if server != tc.server {
				t.Errorf("server name %q, want %q", server, tc.server)
			}
		})
	}
	if _, err := LookupPreset("stackgres"); err == nil || err.Error() != `unknown preset "stackgres": supported values: cnpg, zalando, crunchy` {
		t.Errorf("LookupPreset(stackgres): %v", err)
	}
	if _, err := labels.Parse(DefaultSelector); err != nil {
		t.Errorf("DefaultSelector %q: %v", DefaultSelector, err)
	}
}
