// Package explain runs the real bin/likewise explain against a local cluster (etcd,
// kube-apiserver, kube-controller-manager, KWOK) where the real bin/likewise-scheduler, with the
// shipped second-scheduler config, placed the pods and holds its lease. explain reads that
// config from the ConfigMap manifests/scheduler/base generates, as it does in a cluster.
package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/explain"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
	"github.com/likewise-dev/likewise/pkg/workloadtype/record"
)

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := scenario.InstallBase(ctx, c, scenario.SchedulerBase); err != nil {
			return err
		}
		return scenario.StartSchedulerAsServiceAccount(ctx, c, nil)
	})
}

// likewise runs bin/likewise explain with args as the cluster's admin and returns its stdout
// and stderr.
func likewise(ctx context.Context, t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin, err := localcluster.Binary("likewise")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"explain"}, append(args, "--kubeconfig", cluster.KubeconfigPath(), "--min-pod-age=0s")...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

func explainJSON[T any](ctx context.Context, t *testing.T, args ...string) T {
	t.Helper()
	out, stderr, err := likewise(ctx, t, append(args, "-o", "json")...)
	if err != nil {
		t.Fatalf("explain %v: %v\n%s", args, err, stderr)
	}
	var got T
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("explain %v -o json: %v\n%s", args, err, out)
	}
	return got
}

func explainText(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := likewise(ctx, t, args...)
	if err != nil {
		t.Fatalf("explain %v: %v\n%s", args, err, stderr)
	}
	t.Logf("likewise explain %s:\n%s", strings.Join(args, " "), out)
	return out
}

// TestExplain: node A holds four OLTP pods and four OLAP ones placed there while it was the
// case's only node: olap-move (free to move), olap-pdb (a PodDisruptionBudget allows no
// disruption), olap-optout (opted out), and rec, unlabelled and typed olap by the record on its
// StatefulSet (it does not count). Then node B joins, empty. explain must say: olap-move moves to
// B; olap-pdb would, and the budget refuses it; olap-optout is kept by OptedOut; rec is typed by
// its StatefulSet's record; node A is oltp (4 oltp, 3 olap counted) with those three misplaced.
// Nothing is evicted or changed by explain.
func TestExplain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client := cluster.Client()
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
		corev1.ResourcePods: resource.MustParse("110")}
	k, err := scenario.NewCase(ctx, cluster, "explain", []localcluster.NodeSpec{{Capacity: capacity}}, nil)
	if k != nil {
		t.Cleanup(func() { _ = k.Delete(context.Background(), cluster) })
	}
	if err != nil {
		t.Fatal(err)
	}
	nodeA := k.Nodes[0]
	ns := k.Namespace
	workloads := []scenario.DatabaseWorkload{
		{Name: "oltp", Replicas: 4, Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLTP}},
		{Name: "olap-move", Replicas: 1, Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}},
		{Name: "olap-pdb", Replicas: 1, Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}},
		{Name: "olap-optout", Replicas: 1, Labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP},
			Annotations: map[string]string{apis.AnnotationRebalance: apis.RebalanceDisabled}},
		{Name: "rec", Replicas: 1},
	}
	var names []string
	for _, w := range workloads {
		w.Kind, w.CPU, w.Memory = "StatefulSet", "500m", "1Gi"
		if err := k.CreateWorkload(ctx, cluster, scenario.ProfileLikewise, w); err != nil {
			t.Fatal(err)
		}
		for i := range w.Replicas {
			names = append(names, fmt.Sprintf("%s-%d", w.Name, i))
		}
	}
	minAvailable := intstr.FromInt32(1)
	if _, err := client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "olap-pdb"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "olap-pdb"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods, err := scenario.WaitRunning(ctx, client, ns, names, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if p.Spec.NodeName != nodeA {
			t.Fatalf("pod %s on %q, want %s (the only node)", p.Name, p.Spec.NodeName, nodeA)
		}
	}
	if _, err := record.Record(ctx, client, pods["rec-0"], workloadtype.OLAP, apis.WorkloadTypeSourceClassifier); err != nil {
		t.Fatal(err)
	}
	// The budget is processed: the disruption controller says how many disruptions it allows.
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pdb, err := client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "olap-pdb", metav1.GetOptions{})
		return err == nil && pdb.Status.ObservedGeneration >= pdb.Generation && pdb.Status.CurrentHealthy == 1, nil
	}); err != nil {
		t.Fatalf("the disruption controller did not process budget olap-pdb: %v", err)
	}
	added, err := cluster.AddNodes(ctx, []localcluster.NodeSpec{{Labels: map[string]string{scenario.LabelCase: k.Name}, Capacity: capacity}})
	if err != nil {
		t.Fatal(err)
	}
	nodeB := added[0].Name
	k.Nodes = append(k.Nodes, nodeB)
	before := versions(ctx, t, ns)

	t.Run("a misplaced pod that would move", func(t *testing.T) {
		got := explainJSON[explain.PodReport](ctx, t, "pod", ns+"/olap-move-0")
		rb := got.Rebalancer
		if !got.Misplaced || rb.Action != string(rebalancer.Evict) || rb.Reason != rebalancer.ReasonEvicting ||
			strings.Join(rb.Targets, ",") != nodeB || rb.EvictionBlocked || rb.Workload != "StatefulSet/"+ns+"/olap-move" {
			t.Errorf("got misplaced %v, %+v; want misplaced, Evict Evicting to %s, workload StatefulSet/%s/olap-move", got.Misplaced, rb, nodeB, ns)
		}
		wantNode := explain.NodeSummary{Name: nodeA, Type: "oltp", OLTP: 4, OLAP: 3, Mixing: 3, MajorityPercent: 51}
		if got.Node == nil || *got.Node != wantNode || got.Type.Type != "olap" || got.Type.Source != "label" || !got.Type.Counted {
			t.Errorf("got node %+v, type %+v; want %+v, olap from its label, counted", got.Node, got.Type, wantNode)
		}
		text := explainText(ctx, t, "pod", ns+"/olap-move-0")
		wantFirst := fmt.Sprintf("%s/olap-move-0: moves: the rebalancer would evict it and the scheduler would place its replacement on %s (Evicting)", ns, nodeB)
		if first := firstLine(text); first != wantFirst {
			t.Errorf("first line %q, want %q", first, wantFirst)
		}
		for _, want := range []string{
			fmt.Sprintf("node:        %s oltp (4 oltp, 3 olap; no pool label, typed by its residents; mixing 3; majority 51%%)", nodeA),
			fmt.Sprintf("misplaced:   yes: it adds to node %s's mixing", nodeA),
			"targets:     " + nodeB,
			"cannot know: the running rebalancer's memory",
		} {
			if !strings.Contains(squash(text), squash(want)) {
				t.Errorf("text lacks %q", want)
			}
		}
	})

	t.Run("a PodDisruptionBudget refuses the eviction", func(t *testing.T) {
		got := explainJSON[explain.PodReport](ctx, t, "pod", ns+"/olap-pdb-0")
		rb := got.Rebalancer
		want := []explain.DisruptionReport{{Name: "olap-pdb", DisruptionsAllowed: 0, Blocks: true}}
		if rb.Action != string(rebalancer.Evict) || !rb.EvictionBlocked || fmt.Sprint(rb.Disruptions) != fmt.Sprint(want) {
			t.Errorf("got %+v; want Evict, evictionBlocked by %+v", rb, want)
		}
		text := explainText(ctx, t, "pod", ns+"/olap-pdb-0")
		wantFirst := fmt.Sprintf("%s/olap-pdb-0: stays: it would be evicted to %s, but PodDisruptionBudget olap-pdb allows no disruption now (EvictionBlocked)", ns, nodeB)
		if first := firstLine(text); first != wantFirst {
			t.Errorf("first line %q, want %q", first, wantFirst)
		}
		if want := "disruption budget: olap-pdb: 0 disruption(s) allowed, blocks an eviction now"; !strings.Contains(squash(text), want) {
			t.Errorf("text lacks %q", want)
		}
	})

	t.Run("an opted-out pod", func(t *testing.T) {
		got := explainJSON[explain.PodReport](ctx, t, "pod", ns+"/olap-optout-0")
		if rb := got.Rebalancer; rb.Action != string(rebalancer.Keep) || rb.Reason != rebalancer.ReasonOptedOut ||
			rb.Message != "annotation likewise.dev/rebalance=false" || len(rb.Targets) != 0 {
			t.Errorf("got %+v; want Keep OptedOut, annotation likewise.dev/rebalance=false, no target", rb)
		}
		text := explainText(ctx, t, "pod", ns+"/olap-optout-0")
		wantFirst := ns + "/olap-optout-0: stays: misplaced, and never moved as it is (OptedOut: annotation likewise.dev/rebalance=false)"
		if first := firstLine(text); first != wantFirst {
			t.Errorf("first line %q, want %q", first, wantFirst)
		}
	})

	t.Run("a pod typed by its workload's record", func(t *testing.T) {
		got := explainJSON[explain.PodReport](ctx, t, "pod", ns+"/rec-0")
		from := "StatefulSet " + ns + "/rec"
		wantRec := explain.RecordReport{Type: "olap", From: from, RecordedBy: "classifier"}
		if ty := got.Type; ty.Type != "olap" || ty.Source != "workload" || ty.From != from || ty.SetBy != "classifier" ||
			ty.Counted || ty.Record == nil || *ty.Record != wantRec || got.Misplaced || got.Rebalancer.Considered {
			t.Errorf("got type %+v (record %+v), misplaced %v, considered %v; want olap from workload %s set by classifier, not counted, not misplaced, not considered",
				ty, ty.Record, got.Misplaced, got.Rebalancer.Considered, from)
		}
		text := explainText(ctx, t, "pod", ns+"/rec-0")
		for _, want := range []string{
			"type:        olap from workload " + from + " (set by classifier)",
			"record:      olap on " + from + " (set by classifier)",
			"counted:     no: only a resident pod's label counts for its node",
			"rebalancer:  not considered: not a resident typed pod",
		} {
			if !strings.Contains(squash(text), squash(want)) {
				t.Errorf("text lacks %q", want)
			}
		}
	})

	t.Run("a node", func(t *testing.T) {
		got := explainJSON[explain.NodeReport](ctx, t, "node", nodeA)
		var lines []string
		for _, p := range got.Misplaced {
			lines = append(lines, fmt.Sprintf("%s %s %s %s %v", p.Name, p.Type, p.Action, p.Reason, p.EvictionBlocked))
		}
		want := "olap-move-0 olap Evict Evicting false; olap-optout-0 olap Keep OptedOut false; olap-pdb-0 olap Evict Evicting true"
		if strings.Join(lines, "; ") != want || got.Node.Type != "oltp" || got.Node.OLTP != 4 || got.Node.OLAP != 3 || got.Untyped != 1 {
			t.Errorf("got %+v, misplaced %q; want oltp 4/3, one untyped, misplaced %q", got.Node, strings.Join(lines, "; "), want)
		}
		text := explainText(ctx, t, "node", nodeA)
		wantFirst := fmt.Sprintf("node %s: oltp node, mixing 3: 3 misplaced pod(s), 1 would move, 2 stay or wait", nodeA)
		if first := firstLine(text); first != wantFirst {
			t.Errorf("first line %q, want %q", first, wantFirst)
		}
		for _, want := range []string{
			fmt.Sprintf("%s/olap-move-0    olap  Evict            Evicting         %s", ns, nodeB),
			fmt.Sprintf("%s/olap-optout-0  olap  Keep             OptedOut", ns),
			fmt.Sprintf("%s/olap-pdb-0     olap  Evict (refused)  EvictionBlocked  %s", ns, nodeB),
		} {
			if !strings.Contains(squash(text), squash(want)) {
				t.Errorf("text lacks %q", want)
			}
		}
		free := explainJSON[explain.NodeReport](ctx, t, "node", nodeB)
		if free.Node.Type != "free" || len(free.Misplaced) != 0 || free.Verdict != "free node, mixing 0: no misplaced pod" {
			t.Errorf("node %s: %+v, want free with no misplaced pod", nodeB, free)
		}
	})

	t.Run("bad input names the argument", func(t *testing.T) {
		for args, want := range map[string]string{
			"pod olap-move-0":        `pod "olap-move-0": must be NAMESPACE/NAME`,
			"pod " + ns + "/nope":    "pod " + ns + "/nope: not found",
			"node no-such-node":      "node no-such-node: not found",
			"pod a/b -o yaml":        `--output "yaml": must be text or json`,
			"pod a/b --profile nope": `no profile "nope"`,
		} {
			_, stderr, err := likewise(ctx, t, strings.Fields(args)...)
			// klog quotes the error: its quotes are escaped.
			if err == nil || !strings.Contains(stderr, strings.ReplaceAll(want, `"`, `\"`)) {
				t.Errorf("explain %s: err %v, stderr %q; want a failure saying %q", args, err, stderr, want)
			}
		}
	})

	// explain read and wrote nothing: every pod is the one it was, unchanged.
	if after := versions(ctx, t, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("pods changed while explaining:\nbefore %v\nafter  %v", before, after)
	}
}

// squash turns every run of spaces into one: the text's columns are aligned to their widest.
func squash(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// versions maps each pod of ns to its UID and resourceVersion.
func versions(ctx context.Context, t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := cluster.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = string(p.UID) + "@" + p.ResourceVersion
	}
	return out
}
