// Package scheduler tests likewise-scheduler end to end against a real control plane: one local
// cluster (etcd, kube-apiserver, kube-controller-manager, KWOK) per test package, and the real
// bin/likewise-scheduler binary running the shipped profile next to kube-scheduler's default
// profile and a Required-mode profile. Each test case makes its own nodes and namespace.
package scheduler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/likewise-dev/likewise/test/localcluster"
)

// Profiles of the scheduler under test.
const (
	// profileLikewise is manifests/scheduler/base/scheduler-config.yaml's profile, as shipped.
	profileLikewise = "likewise-scheduler"
	// profileDefault is kube-scheduler's default profile: no likewise plugin.
	profileDefault = "default-scheduler"
	// profileRequired is the shipped profile with WorkloadTypeAffinity in Required mode.
	profileRequired = "likewise-required"
)

var cluster *localcluster.Cluster

func client() kubernetes.Interface { return cluster.Client() }

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	var err error
	cluster, err = localcluster.Start(ctx, localcluster.Options{})
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting the local cluster: %v\n", err)
		return 1
	}
	defer func() {
		if err := cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the local cluster: %v\n", err)
		}
	}()
	config, err := schedulerConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the scheduler config: %v\n", err)
		return 1
	}
	if err := cluster.StartScheduler(ctx, config); err != nil {
		fmt.Fprintf(os.Stderr, "starting likewise-scheduler: %v\n", err)
		return 1
	}
	return m.Run()
}

// schedulerConfig takes the shipped second-scheduler config, turns leader election off, and
// adds the default and Required profiles.
func schedulerConfig() ([]byte, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(root, "manifests/scheduler/base/scheduler-config.yaml"))
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, err
	}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	profiles, _ := cfg["profiles"].([]any)
	if len(profiles) != 1 {
		return nil, fmt.Errorf("the shipped config has %d profiles, want 1", len(profiles))
	}
	shipped, err := yaml.Marshal(profiles[0])
	if err != nil {
		return nil, err
	}
	var required map[string]any
	if err := yaml.Unmarshal(shipped, &required); err != nil {
		return nil, err
	}
	required["schedulerName"] = profileRequired
	for _, pc := range required["pluginConfig"].([]any) {
		pc := pc.(map[string]any)
		if pc["name"] == "WorkloadTypeAffinity" {
			pc["args"].(map[string]any)["mode"] = "Required"
		}
	}
	cfg["profiles"] = append(profiles, map[string]any{"schedulerName": profileDefault}, required)
	return yaml.Marshal(cfg)
}
