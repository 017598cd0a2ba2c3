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

	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// Profiles of the scheduler that SchedulerConfig describes.
const (
	// ProfileLikewise is manifests/scheduler/base/scheduler-config.yaml's database profile, as
	// shipped.
	ProfileLikewise = "likewise-scheduler"
	// ProfileNotebook is the same file's notebook profile, as shipped.
	ProfileNotebook = "notebook-scheduler"
	// ProfileDefault is kube-scheduler's default profile: no likewise plugin.
	ProfileDefault = "default-scheduler"
	// ProfileRequired is the shipped database profile with WorkloadTypeAffinity in Required mode.
	ProfileRequired = "likewise-required"
	// ProfileNotebookCap is the shipped notebook profile with maxUsersPerNode set to NotebookCap.
	ProfileNotebookCap = "notebook-cap"
)

// NotebookCap is maxUsersPerNode in ProfileNotebookCap.
const NotebookCap = 3

// SchedulerConfig returns the shipped second-scheduler config, its profiles as shipped, and three
// more: kube-scheduler's default, to compare with, the database profile in Required mode, and the
// notebook profile with a cap. With leaderElect false, leader election is off (one scheduler
// runs, as system:kube-scheduler may); with true it is as shipped (the lease
// likewise-system/likewise-scheduler, which the rebalancer watches: run it as its ServiceAccount).
func SchedulerConfig(leaderElect bool) ([]byte, error) {
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
	if !leaderElect {
		cfg["leaderElection"] = map[string]any{"leaderElect": false}
	}
	profiles, _ := cfg["profiles"].([]any)
	required, err := deriveProfile(profiles, ProfileLikewise, ProfileRequired, "WorkloadTypeAffinity", "mode", "Required")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	capped, err := deriveProfile(profiles, ProfileNotebook, ProfileNotebookCap, "NotebookSpread", "maxUsersPerNode", NotebookCap)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg["profiles"] = append(profiles, map[string]any{"schedulerName": ProfileDefault}, required, capped)
	return yaml.Marshal(cfg)
}

// deriveProfile returns a copy of profile from, named to, with one arg of plugin's pluginConfig
// set to value.
func deriveProfile(profiles []any, from, to, plugin, arg string, value any) (map[string]any, error) {
	var shipped any
	for _, p := range profiles {
		if p, ok := p.(map[string]any); ok && p["schedulerName"] == from {
			shipped = p
		}
	}
	if shipped == nil {
		return nil, fmt.Errorf("no profile %s", from)
	}
	// A deep copy, through YAML.
	data, err := yaml.Marshal(shipped)
	if err != nil {
		return nil, err
	}
	var derived map[string]any
	if err := yaml.Unmarshal(data, &derived); err != nil {
		return nil, err
	}
	derived["schedulerName"] = to
	pluginConfig, _ := derived["pluginConfig"].([]any)
	for _, pc := range pluginConfig {
		pc, _ := pc.(map[string]any)
		if args, ok := pc["args"].(map[string]any); ok && pc["name"] == plugin {
			args[arg] = value
			return derived, nil
		}
	}
	return nil, fmt.Errorf("no args for %s in profile %s", plugin, from)
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
