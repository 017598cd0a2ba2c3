package classifiercontroller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// heldWindows is how many windows voting for the other type a process under a long dwell must
// sit through without relabelling: twice --windows-to-switch, which is what a process without a
// dwell to respect needs (the control below shows it).
const heldWindows = 4

// TestMinDwellSurvivesFailoverAndRestart: the dwell before a label may change is counted from
// when the label's type was adopted, by whichever process adopted it. Two classifier processes
// with leader election (as the shipped ServiceAccount, a Lease of their own) and a long dwell;
// the leader labels an analytic database olap; the load turns transactional and the leader is
// killed (SIGKILL); the other takes over and does not relabel during heldWindows oltp windows.
// It is killed too and a new process, under the same long dwell, does not relabel either (a
// restart). Then a process with a short dwell, whose end has passed since the label's
// classified-at, relabels oltp within heldWindows windows: so that many windows are enough to
// change the label, and the two that did not were held back by the dwell alone.
func TestMinDwellSurvivesFailoverAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "dwell")
	c.grantLease(ctx)
	c.newCASecret(ctx, "dwell-ca")
	selector := map[string]string{"likewise-test": "dwell"}
	pods := c.createPods(ctx, podSpec{name: "dwell-1", selector: selector,
		annotations: map[string]string{apis.AnnotationPostgresCASecret: "dwell-ca"}})
	db := c.startDatabase(ctx, pods["dwell-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLAP, TLSNames: []string{"dwell"}})
	c.giveCA(ctx, "dwell-ca", db)

	// The processes of this test, as started; killed (or stopped) when it ends.
	var names []string
	t.Cleanup(func() {
		for _, n := range names {
			if t.Failed() {
				log, _ := scenario.ComponentLog(cluster, n)
				t.Logf("log of %s (end):\n%s", n, tail(log, 6000))
			}
			_ = cluster.StopComponent(n)
		}
	})
	start := func(name, minDwell string) {
		t.Helper()
		args := []string{
			"--selector=likewise-test=dwell",
			"--namespace=" + c.ns,
			"--interval=1s",
			"--window=4s",
			"--windows-to-switch=2",
			"--min-dwell=" + minDwell,
			"--query-timeout=3s",
			"--max-backoff=4s",
			"--v=4",
			"--leader-elect=true",
			"--leader-elect-resource-namespace=" + c.ns,
			"--leader-elect-lease-duration=6s",
			"--leader-elect-renew-deadline=4s",
			"--leader-elect-retry-period=1s",
		}
		if _, err := scenario.StartClassifierReplica(ctx, cluster, name, args...); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	kill := func(name string) {
		t.Helper()
		if err := cluster.KillComponent(name); err != nil {
			t.Fatal(err)
		}
	}

	const a, b, restarted, short = "dwell-classifier-a", "dwell-classifier-b", "dwell-classifier-c", "dwell-classifier-short"
	start(a, "10m")
	start(b, "10m")
	labelled := c.waitPod(ctx, "dwell-1", labelTimeout, "labelled olap", labelIs(apis.WorkloadOLAP))
	checkClassified(t, labelled, apis.WorkloadOLAP)
	classifiedAt := labelled.Annotations[apis.AnnotationWorkloadClassifiedAt]
	leader, standby := c.leader(ctx, a, b), ""
	if leader == a {
		standby = b
	} else {
		standby = a
	}
	t.Logf("%s labelled dwell-1 olap at %s; %s waits", leader, classifiedAt, standby)

	// The application turns transactional; its classifier leader dies.
	if err := db.Switch(ctx, scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP}); err != nil {
		t.Fatal(err)
	}
	kill(leader)
	if got := c.leader(ctx, standby); got != standby {
		t.Fatalf("leader %s, want %s", got, standby)
	}
	c.checkHeld(ctx, standby, labelled)

	// A restart: no process runs for a while, then a new one starts.
	kill(standby)
	start(restarted, "10m")
	c.leader(ctx, restarted)
	c.checkHeld(ctx, restarted, labelled)

	// The control: without a dwell left to respect, the same windows change the label.
	kill(restarted)
	start(short, "8s")
	relabelled := c.waitPod(ctx, "dwell-1", labelTimeout, "relabelled oltp after the dwell", labelIs(apis.WorkloadOLTP))
	checkClassified(t, relabelled, apis.WorkloadOLTP)
	log, err := scenario.ComponentLog(cluster, short)
	if err != nil {
		t.Fatal(err)
	}
	// The case's processes select dwell-1 alone; without contextual logging, the log lines of
	// the patch and the resumption do not name it.
	before, _, found := strings.Cut(log, `"Updated pod" result="labelled" setLabel="oltp"`)
	if !found {
		t.Fatalf("%s relabelled dwell-1 but logged no update", short)
	}
	if n := c.windows(before, "oltp"); n > heldWindows {
		t.Errorf("%s relabelled after %d oltp windows: more than the %d the held processes sat through, so they prove nothing", short, n, heldWindows)
	} else {
		t.Logf("RESULT %s relabelled dwell-1 oltp after %d oltp windows; the processes under the dwell held olap through %d", short, n, heldWindows)
	}
}

// checkHeld waits until process name has closed heldWindows windows of the pod that voted oltp
// and checks that the pod still shows what was labelled: the label, its measurement and
// classified-at, and no Event of another type; and that name resumed the type from the pod.
func (c *dbCase) checkHeld(ctx context.Context, name string, labelled *corev1.Pod) {
	c.t.Helper()
	var log string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		var err error
		log, err = scenario.ComponentLog(cluster, name)
		return c.windows(log, "oltp") >= heldWindows, err
	})
	if err != nil {
		c.t.Fatalf("%s: %d oltp windows of %s, want %d: %v", name, c.windows(log, "oltp"), labelled.Name, heldWindows, err)
	}
	if !strings.Contains(log, `"Resuming the type the pod's label shows" type="olap" since="`+c.since(labelled)+`"`) {
		c.t.Errorf("%s did not log resuming olap from the pod, adopted at its classified-at", name)
	}
	pod, err := cluster.Client().CoreV1().Pods(c.ns).Get(ctx, labelled.Name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, k := range []string{apis.AnnotationWorkloadMeasured, apis.AnnotationWorkloadClassifiedAt, apis.AnnotationWorkloadTypeSource} {
		if pod.Annotations[k] != labelled.Annotations[k] {
			c.t.Errorf("%s: %s %q, was %q", name, k, pod.Annotations[k], labelled.Annotations[k])
		}
	}
	if got := pod.Labels[apis.LabelWorkloadType]; got != apis.WorkloadOLAP {
		c.t.Fatalf("%s relabelled %s %q within the dwell, after %d oltp windows", name, pod.Name, got, c.windows(log, "oltp"))
	}
	if e := c.events(ctx, pod, "WorkloadTypeChanged"); len(e) != 1 {
		c.t.Errorf("%s: WorkloadTypeChanged Events %v, want only the first labelling", name, e)
	}
	c.t.Logf("%s held %s olap through %d oltp windows", name, pod.Name, c.windows(log, "oltp"))
}

// since is the adoption time of labelled's type as the classifier logs it.
func (c *dbCase) since(labelled *corev1.Pod) string {
	at, err := time.Parse(time.RFC3339, labelled.Annotations[apis.AnnotationWorkloadClassifiedAt])
	if err != nil {
		c.t.Fatalf("%s: classified-at: %v", labelled.Name, err)
	}
	return at.UTC().String()
}

// windows counts the windows of the case's dwell-1 that log says voted verdict.
func (c *dbCase) windows(log, verdict string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"Window closed" pod="`+c.ns+`/dwell-1"`) && strings.Contains(line, ` verdict="`+verdict+`"`) {
			n++
		}
	}
	return n
}

// leader waits until one of the processes named leads the case's Lease and returns its name.
func (c *dbCase) leader(ctx context.Context, names ...string) string {
	c.t.Helper()
	var leader string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		for _, n := range names {
			log, err := scenario.ComponentLog(cluster, n)
			if err != nil {
				return false, err
			}
			if strings.Contains(log, `"Leading" lease="`+c.ns+`/`+scenario.ClassifierName+`"`) {
				leader = n
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		c.t.Fatalf("none of %v leads: %v", names, err)
	}
	return leader
}

// grantLease lets the classifier's ServiceAccount hold a Lease of the shipped name in the case's
// namespace, as the shipped Role does in likewise-system, so that the case's processes elect a
// leader apart from the package's classifier.
func (c *dbCase) grantLease(ctx context.Context) {
	c.t.Helper()
	name := scenario.ClassifierName + "-leader-election"
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create"}},
			{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, ResourceNames: []string{scenario.ClassifierName}, Verbs: []string{"get", "update"}},
		},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: scenario.ClassifierName, Namespace: scenario.ClassifierNamespace}},
	}
	if _, err := cluster.Client().RbacV1().Roles(c.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	if _, err := cluster.Client().RbacV1().RoleBindings(c.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("...%s", s[len(s)-n:])
}
