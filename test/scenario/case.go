package scenario

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/likewise-dev/likewise/test/localcluster"
)

// Profiles of the scheduler that SchedulerConfig describes.
const (
	// ProfileLikewise is manifests/scheduler/base/scheduler-config.yaml's profile, as shipped.
	ProfileLikewise = "likewise-scheduler"
	// ProfileDefault is kube-scheduler's default profile: no likewise plugin.
	ProfileDefault = "default-scheduler"
	// ProfileRequired is the shipped profile with WorkloadTypeAffinity in Required mode.
	ProfileRequired = "likewise-required"
)

// SchedulerConfig returns the shipped second-scheduler config with leader election off (one
// scheduler runs) and two more profiles: kube-scheduler's default, to compare with, and the
// shipped profile in Required mode.
func SchedulerConfig() ([]byte, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, "manifests/scheduler/base/scheduler-config.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg["leaderElection"] = map[string]any{"leaderElect": false}
	profiles, _ := cfg["profiles"].([]any)
	if len(profiles) != 1 {
		return nil, fmt.Errorf("%s has %d profiles, want 1", path, len(profiles))
	}
	// A deep copy of the shipped profile, through YAML.
	shipped, err := yaml.Marshal(profiles[0])
	if err != nil {
		return nil, err
	}
	var required map[string]any
	if err := yaml.Unmarshal(shipped, &required); err != nil {
		return nil, err
	}
	required["schedulerName"] = ProfileRequired
	found := false
	pluginConfig, _ := required["pluginConfig"].([]any)
	for _, pc := range pluginConfig {
		pc, _ := pc.(map[string]any)
		if args, ok := pc["args"].(map[string]any); ok && pc["name"] == "WorkloadTypeAffinity" {
			args["mode"] = "Required"
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: no args for WorkloadTypeAffinity in profile %v", path, required["schedulerName"])
	}
	cfg["profiles"] = append(profiles, map[string]any{"schedulerName": ProfileDefault}, required)
	return yaml.Marshal(cfg)
}

// Case is one run of a scenario: its own namespace and nodes, so runs sharing a cluster stay
// apart. Its name is the namespace's and labels its nodes and pods (LabelCase).
type Case struct {
	Name      string
	Namespace string
	// Nodes are the case's node names, in the order of the specs given to NewCase.
	Nodes []string
}

// NewCase creates a namespace named prefix-<random> and one node per spec, each labelled with
// the case and given capacity (unless the spec sets its own).
func NewCase(ctx context.Context, c *localcluster.Cluster, prefix string, specs []localcluster.NodeSpec, capacity corev1.ResourceList) (*Case, error) {
	ns, err := c.CreateNamespace(ctx, prefix+"-")
	if err != nil {
		return nil, err
	}
	k := &Case{Name: ns.Name, Namespace: ns.Name}
	specs = append([]localcluster.NodeSpec(nil), specs...)
	for i := range specs {
		lbls := map[string]string{LabelCase: k.Name}
		for key, v := range specs[i].Labels {
			lbls[key] = v
		}
		specs[i].Labels = lbls
		if specs[i].Capacity == nil {
			specs[i].Capacity = capacity
		}
	}
	nodes, err := c.AddNodes(ctx, specs)
	if err != nil {
		return k, err
	}
	for _, n := range nodes {
		k.Nodes = append(k.Nodes, n.Name)
	}
	return k, nil
}

// Create creates the case's pods, in order, scheduled by profile.
func (k *Case) Create(ctx context.Context, c *localcluster.Cluster, profile string, pods []Pod) ([]*corev1.Pod, error) {
	return Create(ctx, c.Client(), k.Namespace, profile, k.Name, pods)
}

// WaitPlaced waits until the case's want pods are all bound (see WaitPlaced).
func (k *Case) WaitPlaced(ctx context.Context, c *localcluster.Cluster, want int, timeout time.Duration) (Placement, error) {
	return WaitPlaced(ctx, c.Client(), k.Namespace, k.Name, want, timeout)
}

// Delete removes the case's namespace and nodes.
func (k *Case) Delete(ctx context.Context, c *localcluster.Cluster) error {
	err := c.Client().CoreV1().Namespaces().Delete(ctx, k.Namespace, metav1.DeleteOptions{})
	return errors.Join(err, c.DeleteNodes(ctx, k.Nodes...))
}
