package classifiercontroller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// testFailuresLeaveLabelsAlone: a database that cannot be reached, a Secret with the wrong
// password, a Secret the classifier may not read, and a role without pg_read_all_stats each
// leave the pod's labels exactly as they were, with one Warning Event (not one per retry) and the
// failure counted in likewise_classifier_samples_total; a healthy database beside them is
// labelled all the same.
func testFailuresLeaveLabelsAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "failures")
	// A Secret of another name, granted but with the wrong password; and one not granted.
	c.createSecret(ctx, scenario.MonitorSecret(c.ns, "wrong-password", "not-the-password"))
	c.grantSecret(ctx, "wrong-password")
	c.createSecret(ctx, scenario.MonitorSecret(c.ns, "not-granted", monitorPassword))

	// Each failing pod carries a label the classifier wrote earlier (so it would be free to
	// change it): olap, while the databases that run at all run OLTP or nothing.
	owned := map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}
	ownedAnnotations := func(extra map[string]string) map[string]string {
		// The servers run without TLS: the pods opt into plaintext.
		return plaintext(map[string]string{
			apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier,
			apis.AnnotationWorkloadMeasured:   apis.WorkloadOLAP,
		}, extra)
	}
	pods := c.createPods(ctx,
		podSpec{name: "unreachable-1", labels: owned, annotations: ownedAnnotations(nil)},
		podSpec{name: "wrongpw-1", labels: owned, annotations: ownedAnnotations(map[string]string{apis.AnnotationPostgresCredentials: "wrong-password"})},
		podSpec{name: "notgranted-1", labels: owned, annotations: ownedAnnotations(map[string]string{apis.AnnotationPostgresCredentials: "not-granted"})},
		podSpec{name: "noprivs-1", labels: owned, annotations: ownedAnnotations(nil)},
		podSpec{name: "healthy-1", annotations: plaintext()},
	)
	before := map[string]*corev1.Pod{}
	for name, p := range pods {
		before[name] = p
	}
	// unreachable-1 and notgranted-1 run nothing: nothing listens on their IPs.
	c.startDatabase(ctx, pods["wrongpw-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})
	noprivs := c.startDatabase(ctx, pods["noprivs-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})
	if _, err := noprivs.Server.Psql(ctx, pgserver.DefaultDB, "REVOKE pg_read_all_stats FROM "+pgserver.MonitorRole); err != nil {
		t.Fatal(err)
	}
	c.startDatabase(ctx, pods["healthy-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})

	failures := []struct {
		pod, reason, result, note string
	}{
		{"unreachable-1", "DatabaseUnreachable", "unreachable", "connect: connection refused"},
		{"wrongpw-1", "CredentialsInvalid", "credentials_invalid", "password authentication failed"},
		{"notgranted-1", "CredentialsUnavailable", "credentials_unavailable", `secrets "not-granted" is forbidden`},
		{"noprivs-1", "InsufficientPrivilege", "insufficient_privilege", "lacks pg_read_all_stats"},
	}
	for _, f := range failures {
		e := c.waitEvent(ctx, pods[f.pod], f.reason, time.Minute)
		if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, f.note) || !strings.Contains(e.Note, "labels unchanged") {
			t.Errorf("%s: Event %+v, want a Warning saying %q", f.pod, e, f.note)
		}
		if strings.Contains(e.Note, monitorPassword) || strings.Contains(e.Note, "not-the-password") {
			t.Errorf("%s: Event shows a password: %s", f.pod, e.Note)
		}
	}

	// The healthy database is labelled while the others fail.
	c.waitPod(ctx, "healthy-1", labelTimeout, "labelled oltp", labelIs(apis.WorkloadOLTP))

	// Every failure is retried (counted more than once), yet recorded as one Event per pod.
	var counts map[string]float64
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		counts = sampleCounts(ctx, t)
		for _, f := range failures {
			if counts[f.result] < 2 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("failures not retried: samples by result %v", counts)
	}
	t.Logf("RESULT samples by result: %v", counts)
	for _, f := range failures {
		if n := len(c.events(ctx, pods[f.pod], f.reason)); n != 1 {
			t.Errorf("%s: %d %s Events, want 1 for a failure that did not change", f.pod, n, f.reason)
		}
		pod, err := cluster.Client().CoreV1().Pods(c.ns).Get(ctx, f.pod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(before[f.pod].Labels, pod.Labels); diff != "" {
			t.Errorf("%s: labels changed (-before,+after):\n%s", f.pod, diff)
		}
		if diff := cmp.Diff(before[f.pod].Annotations, pod.Annotations); diff != "" {
			t.Errorf("%s: annotations changed (-before,+after):\n%s", f.pod, diff)
		}
	}

	// Granting the role its privilege ends the failure: the database is classified (its OLTP
	// load relabels the classifier's olap label) and an Event says sampling works again.
	if _, err := noprivs.Server.Psql(ctx, pgserver.DefaultDB, "GRANT pg_read_all_stats TO "+pgserver.MonitorRole); err != nil {
		t.Fatal(err)
	}
	c.waitEvent(ctx, pods["noprivs-1"], "SamplingResumed", time.Minute)
	c.waitPod(ctx, "noprivs-1", labelTimeout, "relabelled oltp", labelIs(apis.WorkloadOLTP))
}
