// Package rebalancer tests `likewise rebalancer` end to end on a local cluster (etcd,
// kube-apiserver, kube-controller-manager with its StatefulSet, Deployment and ReplicaSet
// controllers, KWOK): the real bin/likewise-scheduler with the shipped second-scheduler config
// (leader election on) and the real bin/likewise rebalancer and classifier, each running as the
// ServiceAccount of its manifests, with exactly the rights those grant.
//
// Database workloads are typed by the classifier's record on their owners (never by the pod
// template); the classifier labels their pods from the record, so recreated pods are typed
// without help. Tests run one after the other: the rebalancer acts cluster-wide, and each test
// starts its own with the flags it needs.
package rebalancer

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
	"github.com/likewise-dev/likewise/pkg/workloadtype/record"
)

var (
	cluster *localcluster.Cluster
	// classifierProc is the classifier every test shares.
	classifierProc *scenario.Classifier
)

// Flags of every rebalancer under test: fast cycles, no minimum age, short cooldowns.
var rebalancerArgs = []string{
	"--leader-elect=false",
	"--interval=1s",
	"--min-pod-age=0s",
	"--workload-cooldown=1s",
	"--max-backoff=5s",
	"--move-timeout=2m",
	"--max-evictions-per-minute=60",
	"--v=4",
}

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, base := range []string{scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase} {
			if err := scenario.InstallBase(ctx, c, base); err != nil {
				return err
			}
		}
		if err := scenario.StartSchedulerAsServiceAccount(ctx, c, nil); err != nil {
			return err
		}
		// The classifier labels database pods from their workload's record as soon as they
		// appear; it cannot sample them (no PostgreSQL runs on these pods), which changes no label.
		var err error
		classifierProc, err = scenario.StartClassifier(ctx, c, "--interval=1s", "--window=4s", "--max-backoff=4s", "--v=2")
		return err
	})
}

// dbCase is one test's namespace and nodes.
type dbCase struct {
	t *testing.T
	*scenario.Case
}

// newCase makes a namespace and one node per capacity (CPU), 64Gi each.
func newCase(ctx context.Context, t *testing.T, prefix string, cpus ...string) *dbCase {
	t.Helper()
	specs := make([]localcluster.NodeSpec, len(cpus))
	for i, cpu := range cpus {
		specs[i].Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Gi"),
			corev1.ResourcePods: resource.MustParse("110")}
	}
	k, err := scenario.NewCase(ctx, cluster, prefix, specs, nil)
	if k != nil {
		t.Cleanup(func() {
			if err := k.Delete(context.Background(), cluster); err != nil {
				t.Logf("cleaning up case %s: %v", k.Name, err)
			}
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return &dbCase{t: t, Case: k}
}

// addNode adds one more node of cpu to the case.
func (c *dbCase) addNode(ctx context.Context, cpu string) string {
	c.t.Helper()
	nodes, err := cluster.AddNodes(ctx, []localcluster.NodeSpec{{
		Labels:   map[string]string{scenario.LabelCase: c.Name},
		Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")},
	}})
	if err != nil {
		c.t.Fatal(err)
	}
	c.Nodes = append(c.Nodes, nodes[0].Name)
	c.t.Cleanup(func() { _ = cluster.DeleteNodes(context.Background(), nodes[0].Name) })
	return nodes[0].Name
}

// workload creates w (scheduled by likewise-scheduler, watched by the classifier) and waits until
// its pods run.
func (c *dbCase) workload(ctx context.Context, w scenario.DatabaseWorkload) {
	c.t.Helper()
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[apis.LabelClassify] = apis.ClassifyEnabled
	if err := c.CreateWorkload(ctx, cluster, scenario.ProfileLikewise, w); err != nil {
		c.t.Fatal(err)
	}
	c.waitPods(ctx, time.Minute, fmt.Sprintf("%s %s running", w.Kind, w.Name), func(pods []*corev1.Pod) bool {
		n := 0
		for _, p := range pods {
			if p.Labels["app"] == w.Name && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				n++
			}
		}
		return n == int(w.Replicas)
	})
}

// typeWorkload records t on the owners of the pods of app, as the classifier does once it has
// classified them, and waits until the classifier has labelled every pod from the record.
func (c *dbCase) typeWorkload(ctx context.Context, app string, t workloadtype.Type) {
	c.t.Helper()
	for _, p := range c.pods(ctx) {
		if p.Labels["app"] != app {
			continue
		}
		if _, err := record.Record(ctx, cluster.Client(), p, t, apis.WorkloadTypeSourceClassifier); err != nil {
			c.t.Fatalf("recording %s on the owner of %s: %v", t, p.Name, err)
		}
	}
	c.waitPods(ctx, time.Minute, fmt.Sprintf("pods of %s labelled %s by the classifier", app, t), func(pods []*corev1.Pod) bool {
		for _, p := range pods {
			if p.Labels["app"] == app && p.Labels[apis.LabelWorkloadType] != t.String() {
				return false
			}
		}
		return true
	})
}

// pods lists the case's pods, sorted by name.
func (c *dbCase) pods(ctx context.Context) []*corev1.Pod {
	c.t.Helper()
	pods, err := c.listPods(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	return pods
}

func (c *dbCase) listPods(ctx context.Context) ([]*corev1.Pod, error) {
	list, err := cluster.Client().CoreV1().Pods(c.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{scenario.LabelCase: c.Name}).String(),
	})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	slices.SortFunc(out, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// waitPods polls the case's pods until cond holds, failing with what they look like.
func (c *dbCase) waitPods(ctx context.Context, timeout time.Duration, what string, cond func([]*corev1.Pod) bool) []*corev1.Pod {
	c.t.Helper()
	var pods []*corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := c.listPods(ctx)
		if err != nil {
			return false, nil // the API server may be restarting; the timeout bounds it
		}
		pods = got
		return cond(pods), nil
	})
	if err != nil {
		c.t.Fatalf("waiting for %s: %v\n%s", what, err, describe(pods))
	}
	return pods
}

// state is the case's placement as the rebalancer measures it: per node, its typed pods; and the
// mixing (rebalancer.View's, the one definition).
type state struct {
	perNode map[string]workloadtype.Counts
	mixing  int
}

func (c *dbCase) state(ctx context.Context) state {
	c.t.Helper()
	mixing, counts, err := c.Mixing(ctx, cluster)
	if err != nil {
		c.t.Fatal(err)
	}
	return state{perNode: counts, mixing: mixing}
}

// startRebalancer runs the rebalancer with rebalancerArgs and extra, and stops it when the test
// ends. Its log is one file across a package's rebalancers: logSince reads this one's part.
func startRebalancer(ctx context.Context, t *testing.T, extra ...string) *scenario.Rebalancer {
	t.Helper()
	offset := len(rebalancerLog(t))
	r, err := scenario.StartRebalancer(ctx, cluster, append(slices.Clone(rebalancerArgs), extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	logOffsets[r] = offset
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rebalancer log (last 6000 bytes):\n%s", tailString(logSince(t, r), 6000))
		}
		_ = cluster.StopComponent(scenario.RebalancerName)
	})
	return r
}

// logOffsets is where each rebalancer's part of the log file starts.
var logOffsets = map[*scenario.Rebalancer]int{}

func rebalancerLog(t *testing.T) string {
	t.Helper()
	log, err := scenario.RebalancerLog(cluster)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return log
}

// logSince returns what rebalancer r has logged.
func logSince(t *testing.T, r *scenario.Rebalancer) string {
	t.Helper()
	log := rebalancerLog(t)
	if off := logOffsets[r]; off <= len(log) {
		return log[off:]
	}
	return log
}

// events returns the rebalancer's Events on pod, by reason.
func rebalancerEvents(ctx context.Context, t *testing.T, pod *corev1.Pod) map[string][]string {
	t.Helper()
	all, err := scenario.PodEvents(ctx, cluster, pod)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range all {
		if e.Controller == rebalancer.Name {
			out[e.Reason] = append(out[e.Reason], e.Note)
		}
	}
	return out
}

// waitEvent waits for an Event of reason from the rebalancer on the case's pod name.
func (c *dbCase) waitEvent(ctx context.Context, name, reason string, timeout time.Duration) string {
	c.t.Helper()
	var got map[string][]string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pod, err := cluster.Client().CoreV1().Pods(c.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = rebalancerEvents(ctx, c.t, pod)
		return len(got[reason]) > 0, nil
	})
	if err != nil {
		c.t.Fatalf("pod %s/%s: no %s Event from the rebalancer: %v; its Events: %v", c.Namespace, name, reason, err, got)
	}
	return got[reason][0]
}

func uids(pods []*corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, p := range pods {
		out[p.Name] = string(p.UID)
	}
	return out
}

func describe(pods []*corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "  %s node=%s type=%q phase=%s uid=%s deleting=%v\n", p.Name, p.Spec.NodeName,
			p.Labels[apis.LabelWorkloadType], p.Status.Phase, p.UID, p.DeletionTimestamp != nil)
	}
	return b.String()
}

func countsString(perNode map[string]workloadtype.Counts) string {
	var parts []string
	for _, n := range slices.Sorted(maps.Keys(perNode)) {
		parts = append(parts, fmt.Sprintf("%s: %d oltp %d olap", n, perNode[n].OLTP, perNode[n].OLAP))
	}
	return strings.Join(parts, "; ")
}

func tailString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func (c *dbCase) statefulSets(ctx context.Context) []appsv1.StatefulSet {
	c.t.Helper()
	list, err := cluster.Client().AppsV1().StatefulSets(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return list.Items
}
