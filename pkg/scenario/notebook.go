package scenario

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// NotebookServer is one JupyterHub notebook server pod, as KubeSpawner makes it.
type NotebookServer struct {
	// User is the unescaped user name.
	User string
	// Server is the name of a named server, "" for the user's default server.
	Server string
	// CPU and Memory are the requests.
	CPU, Memory string
}

// Pod returns the server's pod: named jupyter-<user>[--<server>], labelled
// component=singleuser-server and hub.jupyter.org/username (escaped), annotated with the
// unescaped user name and, for a named server, its name.
func (s NotebookServer) Pod() Pod {
	escaped := EscapeUser(s.User)
	name := "jupyter-" + escaped
	annotations := map[string]string{apis.AnnotationHubUsername: s.User}
	if s.Server != "" {
		name += "--" + s.Server
		annotations[apis.AnnotationHubServername] = s.Server
	}
	return Pod{
		Name: name,
		Labels: map[string]string{
			apis.LabelComponent:        apis.ComponentSingleUserServer,
			apis.AnnotationHubUsername: escaped,
		},
		Annotations: annotations,
		CPU:         s.CPU,
		Memory:      s.Memory,
	}
}

// EscapeUser escapes a user name the way KubeSpawner does for labels and pod names: every
// character other than a lowercase letter or digit becomes '-' and its hex code.
func EscapeUser(user string) string {
	var b strings.Builder
	for _, r := range user {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "-%x", r)
		}
	}
	return b.String()
}

// NotebookLogins returns the notebook servers of users who log in at about the same time, in the
// order they are started: small, unequal requests (10m-50m CPU, 64Mi-320Mi), as notebook servers
// have, and every third user with a second, named server, started either right after the first
// or once everyone is in. One user has an e-mail address as name, so only the annotation holds
// it unescaped.
func NotebookLogins(users int) []NotebookServer {
	cpu := []string{"10m", "25m", "50m", "15m", "40m"}
	memory := []string{"128Mi", "256Mi", "192Mi", "320Mi", "64Mi"}
	var first, later []NotebookServer
	for i := range users {
		user := fmt.Sprintf("user-%02d", i+1)
		if i == 6 {
			user = "ada@uni.example"
		}
		first = append(first, NotebookServer{User: user, CPU: cpu[i%len(cpu)], Memory: memory[i%len(memory)]})
		if i%3 != 2 {
			continue
		}
		named := NotebookServer{User: user, Server: "analysis", CPU: cpu[(i+2)%len(cpu)], Memory: memory[(i+1)%len(memory)]}
		if i%2 == 0 {
			first = append(first, named)
		} else {
			later = append(later, named)
		}
	}
	return append(first, later...)
}

// NotebookPods returns the servers' pods, in order.
func NotebookPods(servers []NotebookServer) []Pod {
	pods := make([]Pod, len(servers))
	for i, s := range servers {
		pods[i] = s.Pod()
	}
	return pods
}

// UsersOf maps each server's pod name to its user.
func UsersOf(servers []NotebookServer) map[string]string {
	users := map[string]string{}
	for _, s := range servers {
		users[s.Pod().Name] = s.User
	}
	return users
}

// NotebookScene is where the notebook scenario runs: three equal nodes whose free room differs
// because other workloads already run there. Notebook servers request so little that
// resource-based scoring sends every one of them to the emptiest node.
type NotebookScene struct {
	// Capacity is each node's.
	Capacity corev1.ResourceList
	// Others are the pods already running on each node, by node index; a zero Pod for none.
	Others []Pod
}

// DefaultNotebookScene: 8 CPU and 32Gi per node; the first node is three-quarters full, the
// second half full, the third empty. The other workloads request CPU and memory in the nodes'
// own ratio, so each node's resources stay balanced and only free room tells them apart. Forty
// notebook servers (about 1.1 CPU, 7.5Gi) leave the third node the emptiest by far.
func DefaultNotebookScene() NotebookScene {
	return NotebookScene{
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("8"),
			corev1.ResourceMemory: resource.MustParse("32Gi"),
		},
		Others: []Pod{
			{Name: "batch-0", Labels: map[string]string{"app": "batch"}, CPU: "6", Memory: "24Gi"},
			{Name: "batch-1", Labels: map[string]string{"app": "batch"}, CPU: "4", Memory: "16Gi"},
			{},
		},
	}
}

// OtherPods is how many other pods the scene runs.
func (s NotebookScene) OtherPods() int {
	n := 0
	for _, p := range s.Others {
		if p.Name != "" {
			n++
		}
	}
	return n
}

// DescribeOthers says what else runs on each of nodes (the scene's nodes, in order), for
// UsersRun.Others.
func (s NotebookScene) DescribeOthers(nodes []string) map[string]string {
	out := map[string]string{}
	for i, p := range s.Others {
		if i < len(nodes) && p.Name != "" {
			out[nodes[i]] = fmt.Sprintf("%s CPU, %s (%s)", p.CPU, p.Memory, p.Name)
		}
	}
	return out
}

// NewNotebookCase creates the scene's nodes and their other workloads, bound directly.
func NewNotebookCase(ctx context.Context, c *localcluster.Cluster, prefix string, scene NotebookScene) (*Case, error) {
	k, err := NewCase(ctx, c, prefix, make([]localcluster.NodeSpec, len(scene.Others)), scene.Capacity)
	if err != nil {
		return k, err
	}
	for i, p := range scene.Others {
		if p.Name == "" {
			continue
		}
		if _, err := k.Prebind(ctx, c, k.Nodes[i], p); err != nil {
			return k, err
		}
	}
	return k, nil
}

// Prebind creates a pod of the case bound to node directly, with no scheduler, like a pod
// that was running before the scenario.
func (k *Case) Prebind(ctx context.Context, c *localcluster.Cluster, node string, p Pod) (*corev1.Pod, error) {
	pod := p.Build(k.Namespace, "", k.Name)
	pod.Spec.NodeName = node
	got, err := c.Client().CoreV1().Pods(k.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating pod %s/%s on %s: %w", k.Namespace, p.Name, node, err)
	}
	return got, nil
}

// UsersPerNode counts the distinct users with a server on each of nodes (0 for none), where
// users maps pod name to user; pods not in users are not servers. A user with two servers on
// a node counts once there; pending servers count nowhere.
func (p Placement) UsersPerNode(nodes []string, users map[string]string) map[string]int {
	seen := map[string]map[string]bool{}
	for pod, node := range p {
		user, ok := users[pod]
		if !ok || node == "" {
			continue
		}
		if seen[node] == nil {
			seen[node] = map[string]bool{}
		}
		seen[node][user] = true
	}
	out := map[string]int{}
	for _, n := range nodes {
		out[n] = len(seen[n])
	}
	return out
}

// ServersPerNode counts the servers (pods in users) on each of nodes.
func (p Placement) ServersPerNode(nodes []string, users map[string]string) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		out[n] = 0
	}
	for pod, node := range p {
		if _, ok := users[pod]; ok && node != "" {
			out[node]++
		}
	}
	return out
}

// Spread is the largest minus the smallest count.
func Spread(perNode map[string]int) int {
	if len(perNode) == 0 {
		return 0
	}
	var counts []int
	for _, c := range perNode {
		counts = append(counts, c)
	}
	return slices.Max(counts) - slices.Min(counts)
}

// UsersRun is one labelled placement of notebook servers for WriteUsersTable.
type UsersRun struct {
	Label     string
	Nodes     []string
	Placement Placement
	// Users maps each server's pod name to its user.
	Users map[string]string
	// Others describes what else runs on each node, e.g. "6 CPU, 24Gi batch".
	Others map[string]string
}

// WriteUsersTable prints, for each run (e.g. the default profile before and NotebookSpread
// after) and each node, its notebook users and servers, and the spread of users per node.
func WriteUsersTable(w io.Writer, runs []UsersRun) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tNODE\tOTHER WORKLOADS\tUSERS\tSERVERS")
	for _, r := range runs {
		users := r.Placement.UsersPerNode(r.Nodes, r.Users)
		servers := r.Placement.ServersPerNode(r.Nodes, r.Users)
		for _, n := range r.Nodes {
			others := r.Others[n]
			if others == "" {
				others = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", r.Label, n, others, users[n], servers[n])
		}
		fmt.Fprintf(tw, "%s\t(max - min users)\t\t%d\t\n", r.Label, Spread(users))
		var pending []string
		for _, pod := range r.Placement.Pending() {
			if _, ok := r.Users[pod]; ok {
				pending = append(pending, pod)
			}
		}
		if len(pending) > 0 {
			fmt.Fprintf(tw, "%s\t(pending)\t\t%s\t\n", r.Label, strings.Join(pending, ","))
		}
	}
	return tw.Flush()
}
