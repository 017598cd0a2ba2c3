package rebalancer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
	"github.com/likewise-dev/likewise/pkg/workloadtype/record"
)

// Faults, each with the scheduler, the classifier and a rebalancer running. In
// each: no label changes on doubt, no pod is evicted on doubt, and every component recovers on
// its own (none is restarted by the test, except the one the fault kills). TestRestarts is the
// fourth: kube-apiserver restarted in the middle of the study's moves.

// TestDatabaseKilledMidSample: a database the classifier labelled oltp crashes while one of the
// classifier's samples waits on it. The pod keeps its label, its classifier's annotations and its
// UID while the database is down; when the database is back, sampling resumes on its own.
func TestDatabaseKilledMidSample(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "dbkill", "8", "8")
	startRebalancer(ctx, t)
	if err := scenario.GrantClassifierCredentials(ctx, cluster, c.Namespace); err != nil {
		t.Fatal(err)
	}
	c.workload(ctx, scenario.DatabaseWorkload{Name: "oltp", Kind: "StatefulSet", Replicas: 1, CPU: "1", Memory: "2Gi"})
	pod := c.podOf(ctx, "oltp")
	db, err := scenario.StartDatabase(ctx, pod, scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP, TLSNames: []string{pod.Name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	secret := db.MonitorSecret(controller.DefaultCredentialsSecret)
	secret.StringData[controller.SecretKeyCA] = string(db.Server.CAPEM())
	if _, err := cluster.Client().CoreV1().Secrets(c.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labelled := c.waitPods(ctx, 2*time.Minute, "the database labelled oltp by the classifier", func(pods []*corev1.Pod) bool {
		return len(pods) == 1 && pods[0].Labels[apis.LabelWorkloadType] == apis.WorkloadOLTP &&
			pods[0].Annotations[apis.AnnotationWorkloadTypeSource] == apis.WorkloadTypeSourceClassifier
	})[0]
	before := classification(labelled)

	// Hold a lock on the view the sample reads (pg_stat_database), wait in the same session until
	// a sample of the classifier waits on it (pg_locks and pg_stat_get_activity read no locked
	// catalog), say so in a file, and crash the server under the waiting sample.
	marker := filepath.Join(db.Server.Dir, "sample-waits")
	lockErr := make(chan error, 1)
	go func() {
		_, err := db.Server.Psql(ctx, scenario.DatabaseName, fmt.Sprintf(`BEGIN;
LOCK TABLE pg_catalog.pg_stat_database IN ACCESS EXCLUSIVE MODE;
DO $$ BEGIN
  FOR i IN 1..1200 LOOP
    IF EXISTS (SELECT 1 FROM pg_locks l, pg_stat_get_activity(l.pid) a
               WHERE NOT l.granted AND l.relation = 'pg_catalog.pg_stat_database'::regclass
                 AND a.application_name = '%s') THEN
      RETURN;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RAISE EXCEPTION 'no sample of the classifier waited on the lock within a minute';
END $$;
COPY (SELECT 'waiting') TO '%s';
SELECT pg_sleep(120);
COMMIT;`, pgstats.DefaultApplicationName, marker))
		lockErr <- err
	}()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		select {
		case err := <-lockErr:
			return false, fmt.Errorf("holding the lock: %w", err)
		default:
		}
		_, err := os.Stat(marker)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no sample of the classifier waited on the lock: %v", err)
	}
	if err := db.Server.Stop(ctx, pgserver.Immediate); err != nil {
		t.Fatal(err)
	}
	t.Log("database crashed during a sample")
	c.waitClassifierEvent(ctx, pod, controller.FailureDatabaseUnreachable.Reason)
	// Several failed attempts later, nothing has changed.
	waitClassifierSamples(ctx, t, controller.FailureDatabaseUnreachable.Result, 3)
	now := c.podOf(ctx, "oltp")
	if diff := cmp.Diff(before, classification(now)); diff != "" {
		t.Errorf("the pod changed while its database was down (-before,+now):\n%s", diff)
	}

	if err := db.Server.StartAgain(ctx); err != nil {
		t.Fatal(err)
	}
	c.waitClassifierEvent(ctx, pod, controller.ReasonSamplingResumed)
	if diff := cmp.Diff(before, classification(c.podOf(ctx, "oltp"))); diff != "" {
		t.Errorf("the pod changed across the crash (-before,+now):\n%s", diff)
	}
	if n := rebalancerEvents(ctx, t, c.podOf(ctx, "oltp"))[rebalancer.ReasonEvicting]; len(n) > 0 {
		t.Errorf("the rebalancer evicted the database's pod: %v", n)
	}
}

// TestClassifierPrivilegeRevoked: the classifier's ClusterRoleBinding is deleted while a
// workload's record asks it to label a new pod. It cannot, and it changes nothing else; once the
// binding is back, the same process labels the pod, without a restart.
func TestClassifierPrivilegeRevoked(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "revoked", "8", "8")
	startRebalancer(ctx, t)
	c.workload(ctx, scenario.DatabaseWorkload{Name: "typed", Kind: "StatefulSet", Replicas: 1, CPU: "1", Memory: "2Gi"})
	c.typeWorkload(ctx, "typed", workloadtype.OLTP)
	c.workload(ctx, scenario.DatabaseWorkload{Name: "later", Kind: "StatefulSet", Replicas: 1, CPU: "1", Memory: "2Gi"})
	typedBefore := classification(c.podOf(ctx, "typed"))

	binding, err := cluster.Client().RbacV1().ClusterRoleBindings().Get(ctx, scenario.ClassifierName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Client().RbacV1().ClusterRoleBindings().Delete(ctx, binding.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The other tests need the classifier's rights, whatever happened here.
		if err := scenario.InstallBase(context.Background(), cluster, scenario.ClassifierBase); err != nil {
			t.Errorf("restoring the classifier's RBAC: %v", err)
		}
	})
	errorsBefore := classifierMetric(ctx, t, `likewise_classifier_pod_updates_total{result="`+controller.UpdateError+`"}`)
	later := c.podOf(ctx, "later")
	if _, err := record.Record(ctx, cluster.Client(), later, workloadtype.OLTP, apis.WorkloadTypeSourceClassifier); err != nil {
		t.Fatal(err)
	}
	// The classifier tries, is refused, and tries again with back-off.
	waitClassifierMetric(ctx, t, `likewise_classifier_pod_updates_total{result="`+controller.UpdateError+`"}`, max(errorsBefore, 0)+2)
	if got := c.podOf(ctx, "later").Labels[apis.LabelWorkloadType]; got != "" {
		t.Fatalf("pod labelled %q without the right to patch pods", got)
	}
	if diff := cmp.Diff(typedBefore, classification(c.podOf(ctx, "typed"))); diff != "" {
		t.Errorf("a labelled pod changed while the classifier had no rights (-before,+now):\n%s", diff)
	}

	binding.ResourceVersion, binding.UID = "", ""
	if _, err := cluster.Client().RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Log("classifier's ClusterRoleBinding restored")
	c.waitPods(ctx, time.Minute, "the new pod labelled oltp from its record", func(pods []*corev1.Pod) bool {
		i := slices.IndexFunc(pods, func(p *corev1.Pod) bool { return p.Labels["app"] == "later" })
		return i >= 0 && pods[i].UID == later.UID && pods[i].Labels[apis.LabelWorkloadType] == apis.WorkloadOLTP
	})
	c.waitClassifierEvent(ctx, later, controller.ReasonWorkloadTypeFromRecord)
	for _, p := range c.pods(ctx) {
		if n := rebalancerEvents(ctx, t, p)[rebalancer.ReasonEvicting]; len(n) > 0 {
			t.Errorf("%s: evicted: %v", p.Name, n)
		}
	}
}

// TestSchedulerLeaseExpires: with the study's misplaced pods and room to move them, the scheduler
// is killed and its lease expires: the rebalancer evicts nothing (SchedulerUnavailable). A new
// scheduler takes the lease and the moves begin; the scheduler is killed again in the middle of
// the moves: once its lease has expired, nothing more is evicted. A new scheduler places what is
// Pending, and the run completes, no pod evicted twice.
func TestSchedulerLeaseExpires(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	c := newCase(ctx, t, "lease", "8", "8")
	c.setUpStudy(ctx)

	running := true
	t.Cleanup(func() {
		if !running { // the other tests need a scheduler
			if err := scenario.StartSchedulerAsServiceAccount(context.Background(), cluster, nil); err != nil {
				t.Errorf("starting the scheduler again: %v", err)
			}
		}
	})
	killScheduler := func() {
		t.Helper()
		if err := cluster.KillComponent(localcluster.SchedulerName); err != nil {
			t.Fatal(err)
		}
		running = false
		t.Log("scheduler killed")
	}
	startScheduler := func() {
		t.Helper()
		if err := scenario.StartSchedulerAsServiceAccount(ctx, cluster, nil); err != nil {
			t.Fatal(err)
		}
		running = true
		t.Log("scheduler started again")
	}

	killScheduler()
	waitLeaseExpired(ctx, t, scenario.ClassifierNamespace, localcluster.SchedulerName)
	before := uids(c.pods(ctx))
	r := startRebalancer(ctx, t)
	for _, p := range c.pods(ctx) {
		note := c.waitEvent(ctx, p.Name, rebalancer.ReasonSchedulerUnavailable, time.Minute)
		if !strings.Contains(note, localcluster.SchedulerName) {
			t.Errorf("%s: SchedulerUnavailable note %q does not name the lease", p.Name, note)
		}
	}
	c.noEvictionsFor(ctx, r, 5, before)

	startScheduler()
	waitEvictions(ctx, t, r, 1)
	killScheduler()
	// Until the lease expires the rebalancer cannot tell, and may evict once more; from then on,
	// nothing: a replacement without a scheduler stays Pending, its move in flight, and no move
	// starts without a fresh lease.
	waitLeaseExpired(ctx, t, scenario.ClassifierNamespace, localcluster.SchedulerName)
	c.noEvictionsFor(ctx, r, 5, nil)

	startScheduler()
	c.waitStudyDone(ctx, 4*time.Minute)
}

// noEvictionsFor waits for cycles more of r's cycles and checks that r evicted nothing meanwhile
// and, when before is given, that the case's pods are still those.
func (c *dbCase) noEvictionsFor(ctx context.Context, r *scenario.Rebalancer, cycles float64, before map[string]string) {
	c.t.Helper()
	text, err := r.Metrics(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	evicted := metricValue(text, `likewise_rebalancer_evictions_total{result="evicted"}`)
	waitMetric(ctx, c.t, r, "likewise_rebalancer_cycle_duration_seconds_count",
		metricValue(text, "likewise_rebalancer_cycle_duration_seconds_count")+cycles)
	if text, err = r.Metrics(ctx); err != nil {
		c.t.Fatal(err)
	}
	if now := metricValue(text, `likewise_rebalancer_evictions_total{result="evicted"}`); now != evicted {
		c.t.Errorf("evictions went from %v to %v without a scheduler", evicted, now)
	}
	if before != nil {
		if diff := cmp.Diff(before, uids(c.pods(ctx))); diff != "" {
			c.t.Errorf("pods were replaced without a scheduler (-before,+now):\n%s", diff)
		}
	}
}

// waitStudyDone waits until the study's twelve pods run, none mixed, each typed by the
// classifier, and checks that no pod was evicted twice over the test.
func (c *dbCase) waitStudyDone(ctx context.Context, timeout time.Duration) {
	c.t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := c.listPods(ctx)
		if err != nil {
			return false, nil
		}
		labelled := 0
		for _, p := range pods {
			if p.Labels[apis.LabelWorkloadType] != "" && p.Status.Phase == corev1.PodRunning {
				labelled++
			}
		}
		s := c.state(ctx)
		total := 0
		for _, n := range s.perNode {
			total += n.OLTP + n.OLAP
		}
		return s.mixing == 0 && total == 12 && len(pods) == 12 && labelled == 12, nil
	})
	if err != nil {
		c.t.Fatalf("the run did not complete: %v\n%s", err, describe(c.pods(ctx)))
	}
	// Every pod evicted was evicted once: at most one Evicting Event per pod UID, over every
	// rebalancer's life (Events name the pod's UID).
	list, err := cluster.Client().EventsV1().Events(c.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	evicted := map[string]int{}
	for _, e := range list.Items {
		if e.ReportingController == rebalancer.Name && e.Reason == rebalancer.ReasonEvicting {
			evicted[string(e.Regarding.UID)]++
			if e.Series != nil {
				evicted[string(e.Regarding.UID)] += int(e.Series.Count) - 1
			}
		}
	}
	for uid, n := range evicted {
		if n > 1 {
			c.t.Errorf("pod UID %s: %d Evicting Events, want at most 1", uid, n)
		}
	}
	if len(evicted) < 6 {
		c.t.Errorf("%d pods evicted, want at least 6", len(evicted))
	}
}

// podOf returns the one running pod of app.
func (c *dbCase) podOf(ctx context.Context, app string) *corev1.Pod {
	c.t.Helper()
	var names []string
	for _, p := range c.pods(ctx) {
		if p.Labels["app"] == app && p.DeletionTimestamp == nil {
			return p
		}
		names = append(names, p.Name)
	}
	c.t.Fatalf("no pod of %s among %v", app, names)
	return nil
}

// classification is what the classifier wrote on pod: its label and the annotations that carry
// the type, its owner and when it was adopted, with the pod's UID.
func classification(pod *corev1.Pod) map[string]string {
	return map[string]string{
		"uid":   string(pod.UID),
		"label": pod.Labels[apis.LabelWorkloadType],
		"owner": pod.Annotations[apis.AnnotationWorkloadTypeSource],
		"since": pod.Annotations[apis.AnnotationWorkloadClassifiedAt],
	}
}

// waitClassifierEvent waits for an Event of reason from the classifier on pod (by UID).
func (c *dbCase) waitClassifierEvent(ctx context.Context, pod *corev1.Pod, reason string) {
	c.t.Helper()
	var got []string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		events, err := scenario.PodEvents(ctx, cluster, pod)
		if err != nil {
			return false, nil
		}
		got = nil
		for _, e := range events {
			if e.Controller == controller.Name {
				got = append(got, e.Reason+": "+e.Note)
				if e.Reason == reason {
					return true, nil
				}
			}
		}
		return false, nil
	})
	if err != nil {
		c.t.Fatalf("pod %s: no %s Event from the classifier: %v; its Events:\n  %s", pod.Name, reason, err, strings.Join(got, "\n  "))
	}
}

func waitLeaseExpired(ctx context.Context, t *testing.T, namespace, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := cluster.Client().CoordinationV1().Leases(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			return false, nil
		}
		return time.Since(l.Spec.RenewTime.Time) > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second, nil
	})
	if err != nil {
		t.Fatalf("lease %s/%s did not expire: %v", namespace, name, err)
	}
}

func waitMetric(ctx context.Context, t *testing.T, r *scenario.Running, series string, n float64) {
	t.Helper()
	var got float64
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		text, err := r.Metrics(ctx)
		got = metricValue(text, series)
		return err == nil && got >= n, nil
	})
	if err != nil {
		t.Fatalf("%s = %v, want at least %v: %v", series, got, n, err)
	}
}

func classifierMetric(ctx context.Context, t *testing.T, series string) float64 {
	t.Helper()
	text, err := classifierProc.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return metricValue(text, series)
}

func waitClassifierMetric(ctx context.Context, t *testing.T, series string, n float64) {
	t.Helper()
	waitMetric(ctx, t, classifierProc, series, n)
}

func waitClassifierSamples(ctx context.Context, t *testing.T, result string, more float64) {
	t.Helper()
	series := `likewise_classifier_samples_total{result="` + result + `"}`
	waitClassifierMetric(ctx, t, series, max(classifierMetric(ctx, t, series), 0)+more)
}
