package classifiercontroller

import (
	"context"
	"strconv"
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

// labelTimeout bounds how long a busy database may take to be labelled: two agreeing 4 s windows
// after the first sample, with room for a loaded machine.
const labelTimeout = 90 * time.Second

// testLabelsDatabasePods: database pods whose PostgreSQL really runs on their pod IPs get
// labelled by what runs there; a type a person declared is kept; TLS with verify-full against
// the server's CA works with the preset's server name; the classifier keeps one connection per
// database and closes it when the pod goes.
func testLabelsDatabasePods(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "classify")
	c.newCASecret(ctx, "tls-1-ca") // filled in below, once the server has made its CA
	pods := c.createPods(ctx,
		// Their servers run without TLS: the pods opt into plaintext.
		podSpec{name: "oltp-1", annotations: plaintext()},
		podSpec{name: "olap-1", annotations: plaintext()},
		// A person declared olap; the database runs OLTP.
		podSpec{name: "declared-1", labels: map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}, annotations: plaintext()},
		// TLS: the server's certificate names app-rw (CloudNativePG's -rw service), not the pod IP.
		podSpec{name: "tls-1", annotations: map[string]string{apis.AnnotationPostgresCASecret: "tls-1-ca"}},
	)
	start := time.Now()
	loaded := map[string]time.Time{} // when each database's load started
	oltp := c.startDatabase(ctx, pods["oltp-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})
	loaded["oltp-1"] = time.Now()
	c.startDatabase(ctx, pods["olap-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLAP})
	loaded["olap-1"] = time.Now()
	c.startDatabase(ctx, pods["declared-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})
	tls := c.startDatabase(ctx, pods["tls-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP, TLSNames: []string{"app-rw"}})
	c.giveCA(ctx, "tls-1-ca", tls)
	loaded["tls-1"] = time.Now() // and its CA given
	t.Logf("servers up and loaded after %v", time.Since(start).Round(time.Second))

	for _, tc := range []struct{ pod, want string }{
		{"oltp-1", apis.WorkloadOLTP},
		{"olap-1", apis.WorkloadOLAP},
		{"tls-1", apis.WorkloadOLTP},
	} {
		pod := c.waitPod(ctx, tc.pod, labelTimeout, "labelled "+tc.want, labelIs(tc.want))
		adopted, _ := time.Parse(time.RFC3339, pod.Annotations[apis.AnnotationWorkloadClassifiedAt])
		t.Logf("RESULT %s classified %s %v after its load started (classified-at, to the second): confidence %s, %s", tc.pod, tc.want,
			adopted.Sub(loaded[tc.pod].Truncate(time.Second)), pod.Annotations[apis.AnnotationWorkloadConfidence], pod.Annotations[apis.AnnotationWorkloadReasons])
		checkClassified(t, pod, tc.want)
		e := c.waitEvent(ctx, pod, "WorkloadTypeChanged", 30*time.Second)
		if !strings.HasPrefix(e.Note, "workload type none -> "+tc.want+" (confidence ") || e.Type != corev1.EventTypeNormal {
			t.Errorf("%s: Event %+v, want a Normal one saying none -> %s", tc.pod, e, tc.want)
		}
	}

	// The declared type stays; what was measured is recorded beside it, with one Event.
	declared := c.waitPod(ctx, "declared-1", labelTimeout, "measured oltp", func(p *corev1.Pod) bool {
		return p.Annotations[apis.AnnotationWorkloadMeasured] == apis.WorkloadOLTP
	})
	if got := declared.Labels[apis.LabelWorkloadType]; got != apis.WorkloadOLAP {
		t.Errorf("declared-1: label %q, want the person's olap", got)
	}
	if _, ok := declared.Annotations[apis.AnnotationWorkloadTypeSource]; ok {
		t.Errorf("declared-1: the classifier marked a person's label as its own: %v", declared.Annotations)
	}
	e := c.waitEvent(ctx, declared, "WorkloadTypeDeclared", 30*time.Second)
	if !strings.HasPrefix(e.Note, "label likewise.dev/workload-type=olap was not set by the classifier: kept; measured oltp") {
		t.Errorf("declared-1: Event note %q", e.Note)
	}

	// A person relabels a pod the classifier labelled: theirs from now on.
	pod, err := cluster.Client().CoreV1().Pods(c.ns).Get(ctx, "oltp-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Labels[apis.LabelWorkloadType] = apis.WorkloadOLAP
	if _, err := cluster.Client().CoreV1().Pods(c.ns).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Several samples and a window later, nothing changed it back.
	before := sampleCounts(ctx, t)[resultOK]
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return sampleCounts(ctx, t)[resultOK] >= before+4*10, nil // 4 busy databases, 10 s
	}); err != nil {
		t.Fatalf("the classifier stopped sampling: %v", err)
	}
	pod, err = cluster.Client().CoreV1().Pods(c.ns).Get(ctx, "oltp-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := pod.Labels[apis.LabelWorkloadType]; got != apis.WorkloadOLAP {
		t.Errorf("oltp-1: the classifier overwrote a person's relabelling: label %q", got)
	}

	// One connection per database, closed when the pod goes.
	connections := func() int {
		out, err := oltp.Server.Psql(ctx, pgserver.DefaultDB, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'likewise-classifier'")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(out)
		return n
	}
	if n := connections(); n != 1 {
		t.Errorf("oltp-1: the classifier holds %d connections, want 1", n)
	}
	if err := cluster.Client().CoreV1().Pods(c.ns).Delete(ctx, "oltp-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return connections() == 0, nil
	}); err != nil {
		t.Errorf("oltp-1: the classifier kept %d connections after the pod was deleted", connections())
	}
}

const resultOK = "ok"

// checkClassified checks the marker and the evidence annotations of a pod the classifier labelled.
func checkClassified(t *testing.T, pod *corev1.Pod, want string) {
	t.Helper()
	a := pod.Annotations
	if diff := cmp.Diff(map[string]string{
		apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier,
		apis.AnnotationWorkloadMeasured:   want,
	}, map[string]string{
		apis.AnnotationWorkloadTypeSource: a[apis.AnnotationWorkloadTypeSource],
		apis.AnnotationWorkloadMeasured:   a[apis.AnnotationWorkloadMeasured],
	}); diff != "" {
		t.Errorf("%s: marker annotations (-want,+got):\n%s", pod.Name, diff)
	}
	if c, err := strconv.ParseFloat(a[apis.AnnotationWorkloadConfidence], 64); err != nil || c <= 0 || c > 1 {
		t.Errorf("%s: confidence %q, want a number in (0, 1]", pod.Name, a[apis.AnnotationWorkloadConfidence])
	}
	if _, err := time.Parse(time.RFC3339, a[apis.AnnotationWorkloadClassifiedAt]); err != nil {
		t.Errorf("%s: classified-at %q: %v", pod.Name, a[apis.AnnotationWorkloadClassifiedAt], err)
	}
	if r := a[apis.AnnotationWorkloadReasons]; !strings.Contains(r, " "+want+": ") || !strings.Contains(r, "longShare=") {
		t.Errorf("%s: reasons %q, want the latest window's %s verdict and features", pod.Name, r, want)
	}
}
