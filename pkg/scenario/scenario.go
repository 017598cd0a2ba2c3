// Package scenario builds the workloads that the integration tests and `make demo` run against a
// cluster, waits for them to be placed, and reports where they went. Tests assert on the same
// Placement the demo prints, so the demo shows exactly what the tests prove.
package scenario

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// LabelCase marks the nodes and pods of one scenario run, so that runs sharing a cluster stay
// apart: pods select their run's nodes with it.
const LabelCase = "scenario.likewise.dev/case"

// PodImage is the image of every scenario pod. KWOK never pulls it.
const PodImage = "postgres:15"

// Pod describes one pod to create.
type Pod struct {
	Name string
	// Type is the value of likewise.dev/workload-type, "" for none.
	Type string
	// Labels are added to the pod's labels.
	Labels map[string]string
	// Annotations are set on the pod.
	Annotations map[string]string
	// CPU and Memory are the container's requests; empty means none.
	CPU, Memory string
}

// Build returns the pod object: in namespace ns, scheduled by schedulerName, restricted to the
// nodes of case caseName.
func (p Pod) Build(ns, schedulerName, caseName string) *corev1.Pod {
	lbls := map[string]string{LabelCase: caseName}
	for k, v := range p.Labels {
		lbls[k] = v
	}
	if p.Type != "" {
		lbls[apis.LabelWorkloadType] = p.Type
	}
	requests := corev1.ResourceList{}
	if p.CPU != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(p.CPU)
	}
	if p.Memory != "" {
		requests[corev1.ResourceMemory] = resource.MustParse(p.Memory)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: ns, Labels: lbls, Annotations: p.Annotations},
		Spec: corev1.PodSpec{
			SchedulerName: schedulerName,
			NodeSelector:  map[string]string{LabelCase: caseName},
			Containers: []corev1.Container{{
				Name:      "main",
				Image:     PodImage,
				Resources: corev1.ResourceRequirements{Requests: requests},
			}},
		},
	}
}

// StudyPods are the study's twelve database pods: six OLTP and six OLAP, each requesting one CPU
// and 2Gi, interleaved two by two (oltp-1, oltp-2, olap-1, olap-2, oltp-3, ...).
//
// Why two by two: a resource-balancing scheduler sends two consecutive equal pods to two
// different nodes, so each pair of one type is split across both nodes and the default profile
// deterministically ends with three of each type per node (the study's starting point). Strict
// alternation would leave it to the scheduler's random tie-breaking.
func StudyPods() []Pod {
	var pods []Pod
	for i := 0; i < 6; i += 2 {
		for _, typ := range []string{apis.WorkloadOLTP, apis.WorkloadOLAP} {
			for j := 1; j <= 2; j++ {
				pods = append(pods, Pod{Name: fmt.Sprintf("%s-%d", typ, i+j), Type: typ, CPU: "1", Memory: "2Gi"})
			}
		}
	}
	return pods
}

// Create creates the pods in order and returns their objects as created.
func Create(ctx context.Context, client kubernetes.Interface, ns, schedulerName, caseName string, pods []Pod) ([]*corev1.Pod, error) {
	var created []*corev1.Pod
	for _, p := range pods {
		got, err := client.CoreV1().Pods(ns).Create(ctx, p.Build(ns, schedulerName, caseName), metav1.CreateOptions{})
		if err != nil {
			return created, fmt.Errorf("creating pod %s/%s: %w", ns, p.Name, err)
		}
		created = append(created, got)
	}
	return created, nil
}

// Placement is where each pod of a run went: pod name to node name ("" while pending).
type Placement map[string]string

// WaitPlaced waits until every pod of case caseName in ns is bound to a node and returns the
// placement; on timeout it returns the placement so far and an error naming the pending pods.
func WaitPlaced(ctx context.Context, client kubernetes.Interface, ns, caseName string, want int, timeout time.Duration) (Placement, error) {
	var placement Placement
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		placement, err = Get(ctx, client, ns, caseName)
		if err != nil {
			return false, err
		}
		return len(placement) == want && len(placement.Pending()) == 0, nil
	})
	if err != nil {
		return placement, fmt.Errorf("waiting for %d pods of case %s to be placed (pending: %v): %w", want, caseName, placement.Pending(), err)
	}
	return placement, nil
}

// Get returns the current placement of the pods of case caseName in ns.
func Get(ctx context.Context, client kubernetes.Interface, ns, caseName string) (Placement, error) {
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{LabelCase: caseName}).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("listing pods of case %s: %w", caseName, err)
	}
	placement := Placement{}
	for _, p := range pods.Items {
		placement[p.Name] = p.Spec.NodeName
	}
	return placement, nil
}

// Pending returns the sorted names of the pods not bound to a node.
func (p Placement) Pending() []string {
	var pending []string
	for pod, node := range p {
		if node == "" {
			pending = append(pending, pod)
		}
	}
	slices.Sort(pending)
	return pending
}

// TypeCounts is how many pods of each workload type ("" for untyped) sit on a node.
type TypeCounts map[string]int

// TypesPerNode counts pods per node and type, where types maps pod name to workload type.
// Pending pods are not counted.
func (p Placement) TypesPerNode(types map[string]string) map[string]TypeCounts {
	out := map[string]TypeCounts{}
	for pod, node := range p {
		if node == "" {
			continue
		}
		if out[node] == nil {
			out[node] = TypeCounts{}
		}
		out[node][types[pod]]++
	}
	return out
}

// TypesOf maps each pod's name to its type.
func TypesOf(pods []Pod) map[string]string {
	types := map[string]string{}
	for _, p := range pods {
		types[p.Name] = p.Type
	}
	return types
}

// WriteTable prints, for each run (e.g. the default profile before and likewise after) and each
// node, how many pods of each type it holds and whether it is mixed.
func WriteTable(w io.Writer, runs []Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tNODE\tPODS\tVERDICT")
	for _, r := range runs {
		counts := r.Placement.TypesPerNode(r.Types)
		nodes := make([]string, 0, len(counts))
		for n := range counts {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		for _, n := range nodes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Label, n, describe(counts[n]), verdict(counts[n]))
		}
		if pending := r.Placement.Pending(); len(pending) > 0 {
			fmt.Fprintf(tw, "%s\t(pending)\t%s\t\n", r.Label, strings.Join(pending, ","))
		}
	}
	return tw.Flush()
}

// Run is one labelled placement for WriteTable.
type Run struct {
	Label     string
	Placement Placement
	Types     map[string]string
}

func describe(c TypeCounts) string {
	var parts []string
	for _, t := range []string{apis.WorkloadOLTP, apis.WorkloadOLAP, ""} {
		if c[t] == 0 {
			continue
		}
		name := t
		if name == "" {
			name = "untyped"
		}
		parts = append(parts, fmt.Sprintf("%d %s", c[t], name))
	}
	return strings.Join(parts, ", ")
}

func verdict(c TypeCounts) string {
	switch {
	case c[apis.WorkloadOLTP] > 0 && c[apis.WorkloadOLAP] > 0:
		return "mixed"
	case c[apis.WorkloadOLTP] > 0:
		return "oltp only"
	case c[apis.WorkloadOLAP] > 0:
		return "olap only"
	default:
		return ""
	}
}
