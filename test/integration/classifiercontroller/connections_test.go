package classifiercontroller

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// plaintext is the opt-in of a pod whose scenario server runs without TLS: without it (or a CA)
// the classifier does not connect at all.
func plaintext(extra ...map[string]string) map[string]string {
	a := map[string]string{apis.AnnotationPostgresSSLMode: apis.SSLModeDisable}
	for _, e := range extra {
		maps.Copy(a, e)
	}
	return a
}

// testVerifyFullOrNothing: a pod whose Secret gives no CA and that opts into nothing is not
// sampled (a TLSNotConfigured Event saying what to do) and its server never sees the monitoring
// role log in, although it offers TLS; given a CA by annotation it is sampled over verified TLS.
// An opt-in to require reaches a TLS server encrypted (pg_stat_ssl), once announced by an
// InsecureConnection Event and counted under sslmode="require", and fails against a server
// without TLS (TLSFailed) without ever trying plaintext.
func testVerifyFullOrNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "tls")
	require := map[string]string{apis.AnnotationPostgresSSLMode: apis.SSLModeRequire}
	pods := c.createPods(ctx,
		podSpec{name: "noca-1"},
		podSpec{name: "require-1", annotations: require},
		podSpec{name: "require-plain-1", annotations: require},
	)
	logins := pgserver.WithSetting("log_connections", "on")
	noca := c.startDatabase(ctx, pods["noca-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP, TLSNames: []string{"app-rw"}, ServerOptions: []pgserver.Option{logins}})
	req := c.startDatabase(ctx, pods["require-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP, TLSNames: []string{"app-rw"}})
	plain := c.startDatabase(ctx, pods["require-plain-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadIdle, ServerOptions: []pgserver.Option{logins}})

	e := c.waitEvent(ctx, pods["noca-1"], controller.FailureTLSNotConfigured.Reason, time.Minute)
	for _, want := range []string{"no CA to verify the server with", `"ca.crt"`, apis.AnnotationPostgresCASecret, apis.AnnotationPostgresSSLMode + "=require"} {
		if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, want) {
			t.Errorf("noca-1: Event %+v, want a Warning naming %q", e, want)
		}
	}
	e = c.waitEvent(ctx, pods["require-plain-1"], controller.FailureTLS.Reason, time.Minute)
	if !strings.Contains(e.Note, "server refused TLS connection") {
		t.Errorf("require-plain-1: Event %+v, want the server's refusal of TLS", e)
	}

	// require: encrypted, announced once, counted.
	c.waitPod(ctx, "require-1", labelTimeout, "labelled oltp", labelIs(apis.WorkloadOLTP))
	out, err := req.Server.Psql(ctx, pgserver.DefaultDB, "SELECT string_agg(s.ssl::text, ',') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'likewise-classifier'")
	if err != nil {
		t.Fatal(err)
	}
	if out != "true" {
		t.Errorf("require-1: the classifier's sessions' pg_stat_ssl.ssl: %q, want one, encrypted", out)
	}
	e = c.waitEvent(ctx, pods["require-1"], controller.ReasonInsecureConnection, 30*time.Second)
	if e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, "sslmode=require by annotation "+apis.AnnotationPostgresSSLMode) {
		t.Errorf("require-1: Event %+v", e)
	}
	if n := gauge(ctx, t, `likewise_classifier_connections{sslmode="require"}`); n < 2 {
		t.Errorf(`likewise_classifier_connections{sslmode="require"} = %v, want at least this test's 2`, n)
	}

	// Neither the pod without a CA nor the require pod facing a server without TLS ever logged
	// in, though each was tried again and again.
	waitSamples(ctx, t, map[string]float64{controller.FailureTLSNotConfigured.Result: 2, controller.FailureTLS.Result: 2})
	for name, d := range map[string]*scenario.Database{"noca-1": noca, "require-plain-1": plain} {
		log := d.Server.LogTail(1 << 20)
		if !strings.Contains(log, "connection authorized: user=postgres") {
			t.Fatalf("%s: the server log shows no logins at all: is log_connections on?\n%s", name, log)
		}
		if strings.Contains(log, "user="+pgserver.MonitorRole) {
			t.Errorf("%s: the monitoring role logged in:\n%s", name, grepLines(log, "user="+pgserver.MonitorRole))
		}
	}

	// What the Event says to do works: a CA Secret named by annotation, and verify-full.
	c.createSecret(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "noca-1-ca", Namespace: c.ns},
		Data: map[string][]byte{controller.SecretKeyCA: noca.Server.CAPEM()}})
	c.grantSecret(ctx, "noca-1-ca")
	pod, err := cluster.Client().CoreV1().Pods(c.ns).Get(ctx, "noca-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Annotations = map[string]string{apis.AnnotationPostgresCASecret: "noca-1-ca"}
	if _, err := cluster.Client().CoreV1().Pods(c.ns).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitEvent(ctx, pod, controller.ReasonSamplingResumed, time.Minute)
	if n := len(c.events(ctx, pod, controller.ReasonInsecureConnection)); n != 0 {
		t.Errorf("noca-1: %d InsecureConnection Events for a verified connection", n)
	}
}

// testCredentialsChangeTakesEffect: the classifier notices a changed Secret within
// --credentials-refresh without a restart and connects again with it: a new dbname moves its
// session to that database, and a rotated password (server and Secret) gives a new session with
// no failure. The pod's plaintext opt-in is announced once, not at each reconnection.
func testCredentialsChangeTakesEffect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "creds")
	c.createSecret(ctx, scenario.MonitorSecret(c.ns, "rotating", monitorPassword))
	c.grantSecret(ctx, "rotating")
	pods := c.createPods(ctx, podSpec{name: "rotate-1", annotations: plaintext(map[string]string{apis.AnnotationPostgresCredentials: "rotating"})})
	d := c.startDatabase(ctx, pods["rotate-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})
	if err := d.Server.CreateDatabase(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	// session is the classifier's one session: its database and backend pid.
	session := func() (db string, pid int) {
		out, err := d.Server.Psql(ctx, pgserver.DefaultDB, "SELECT string_agg(datname || ' ' || pid, ',') FROM pg_stat_activity WHERE application_name = 'likewise-classifier'")
		if err != nil {
			t.Fatal(err)
		}
		if out == "" || strings.Contains(out, ",") {
			return out, 0 // none, or one closing beside a new one
		}
		f := strings.Fields(out)
		pid, _ = strconv.Atoi(f[1])
		return f[0], pid
	}
	waitSession := func(what string, cond func(db string, pid int) bool) int {
		t.Helper()
		var db string
		var pid int
		if err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
			db, pid = session()
			return pid != 0 && cond(db, pid), nil
		}); err != nil {
			t.Fatalf("rotate-1: %s: %v (session %q %d)", what, err, db, pid)
		}
		return pid
	}
	first := waitSession("sampled in database app", func(db string, _ int) bool { return db == scenario.DatabaseName })
	// The classifier may have tried before the harness gave the role the Secret's password; from
	// here on, the server must see no failed login.
	authFailures := func() int { return strings.Count(d.Server.LogTail(1<<24), "password authentication failed") }
	failedBefore := authFailures()
	update := func(change func(*corev1.Secret)) {
		t.Helper()
		s, err := cluster.Client().CoreV1().Secrets(c.ns).Get(ctx, "rotating", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		change(s)
		if _, err := cluster.Client().CoreV1().Secrets(c.ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	update(func(s *corev1.Secret) { s.Data[controller.SecretKeyDatabase] = []byte("other") })
	moved := waitSession("moved to database other", func(db string, _ int) bool { return db == "other" })
	if moved == first {
		t.Errorf("rotate-1: the same session %d in another database?", moved)
	}

	const rotated = "rotated-monitor-pw"
	if err := d.SetMonitorPassword(ctx, rotated); err != nil {
		t.Fatal(err)
	}
	update(func(s *corev1.Secret) { s.Data[controller.SecretKeyPassword] = []byte(rotated) })
	waitSession("a new session with the rotated password", func(db string, pid int) bool { return db == "other" && pid != moved })
	if n := authFailures() - failedBefore; n > 0 {
		t.Errorf("rotate-1: %d failed logins after the changes began: the classifier connected with stale credentials; Events %v",
			n, c.events(ctx, pods["rotate-1"], controller.FailureCredentialsInvalid.Reason))
	}
	if got := c.events(ctx, pods["rotate-1"], controller.FailureCredentialsUnavailable.Reason); len(got) > 0 {
		t.Errorf("rotate-1: %s Events %v: a Secret change made the credentials unreadable", controller.FailureCredentialsUnavailable.Reason, got)
	}

	log, err := scenario.ClassifierLog(cluster)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf(`pod="%s/rotate-1"`, c.ns)
	if got := grepLines(grepLines(log, "Connecting without verifying the server"), ref); strings.Count(got, "\n") != 1 {
		t.Errorf("rotate-1: the opt-in was logged %d times over 3 connections, want once:\n%s", strings.Count(got, "\n"), got)
	}
	if got := grepLines(grepLines(log, "Credentials changed; connecting again"), ref); strings.Count(got, "\n") != 2 {
		t.Errorf("rotate-1: %d reconnections for 2 changes of its Secret:\n%s", strings.Count(got, "\n"), got)
	}
}

// Unresponsive databases of testUnresponsiveDatabasesDoNotStarve, of each kind: together four
// times the classifier's --workers.
const silentPerKind = 8

// testUnresponsiveDatabasesDoNotStarve: servers that accept connections and never answer, and
// servers that answer the TLS and startup handshake and then never answer a query, four times
// as many as the classifier has workers, each fail by the attempt's deadline with
// DatabaseUnreachable (one Event each, retried), while a healthy database beside them is sampled
// and labelled as if they were not there.
func testUnresponsiveDatabasesDoNotStarve(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "silent")
	specs := []podSpec{{name: "healthy-1", annotations: plaintext()}}
	for i := range silentPerKind {
		// Plaintext, so the client waits for the startup's answer; require, so the handshake
		// is TLS before the silence.
		specs = append(specs, podSpec{name: fmt.Sprintf("accept-%d", i), annotations: plaintext()},
			podSpec{name: fmt.Sprintf("startup-%d", i), annotations: map[string]string{apis.AnnotationPostgresSSLMode: apis.SSLModeRequire}})
	}
	pods := c.createPods(ctx, specs...)
	silent := map[string]*pgserver.SilentServer{}
	for name, pod := range pods {
		addr := net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(controller.DefaultPort))
		switch {
		case strings.HasPrefix(name, "accept-"):
			silent[name] = pgserver.StartSilentT(t, addr, pgserver.SilentAtAccept)
		case strings.HasPrefix(name, "startup-"):
			silent[name] = pgserver.StartSilentT(t, addr, pgserver.SilentAfterStartup)
		}
	}
	c.startDatabase(ctx, pods["healthy-1"], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})

	c.waitPod(ctx, "healthy-1", labelTimeout, "labelled oltp beside unresponsive databases", labelIs(apis.WorkloadOLTP))
	// Each is tried again, with backoff (a second connection accepted), the startup ones past the
	// handshake (a session started: the second attempt's may still be in its handshake on a busy
	// machine), and has one Event for it (the first attempts may come before its server listens,
	// and be refused: the same failure).
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		for name, s := range silent {
			if accepted, started := s.Counts(); accepted < 2 || strings.HasPrefix(name, "startup-") && started < 1 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		for name, s := range silent {
			accepted, started := s.Counts()
			t.Logf("%s: accepted %d connections, started %d sessions", name, accepted, started)
		}
		t.Fatalf("unresponsive databases not retried: %v", err)
	}
	log, err := scenario.ClassifierLog(cluster)
	if err != nil {
		t.Fatal(err)
	}
	for name := range silent {
		if n := len(c.events(ctx, pods[name], controller.FailureDatabaseUnreachable.Reason)); n != 1 {
			t.Errorf("%s: %d DatabaseUnreachable Events, want 1", name, n)
		}
		// The sampler names its target in its errors; the attempt ended by the client's deadline.
		target := fmt.Sprintf("@%s:%d/", pods[name].Status.PodIP, controller.DefaultPort)
		failures := grepLines(grepLines(log, `"Sampling failed"`), target)
		if !strings.Contains(failures, `reason="DatabaseUnreachable"`) || !strings.Contains(failures, "timeout") && !strings.Contains(failures, "deadline") {
			t.Errorf("%s: no failure by timeout in the classifier's log:\n%s", name, failures)
		}
	}
	c.waitPod(ctx, "healthy-1", time.Second, "still labelled oltp", labelIs(apis.WorkloadOLTP))
}

// gauge scrapes the classifier's /metrics for one series' value (0 when absent).
func gauge(ctx context.Context, t *testing.T, series string) float64 {
	t.Helper()
	text, err := classifier.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric line %q: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// waitSamples waits until likewise_classifier_samples_total counts at least want of each result.
func waitSamples(ctx context.Context, t *testing.T, want map[string]float64) {
	t.Helper()
	var counts map[string]float64
	if err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		counts = sampleCounts(ctx, t)
		for r, n := range want {
			if counts[r] < n {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("samples by result %v, want at least %v", counts, want)
	}
}

// grepLines returns the lines of text that contain s, each ending in a newline.
func grepLines(text, s string) string {
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, s) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
