// Package classifiercontroller tests `likewise classifier` end to end: the real bin/likewise on a
// local cluster (etcd, kube-apiserver, kube-controller-manager, KWOK), running as the
// ServiceAccount of manifests/classifier/base with exactly the rights those manifests grant, and
// real PostgreSQL 15 servers on the database pods' loopback IPs, under light pgbench loads.
// Windows are short (4 s, sampled every second) so that a database is classified in about 10 s.
package classifiercontroller

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

var (
	cluster    *localcluster.Cluster
	classifier *scenario.Classifier
)

// Flags of the classifier under test: the CloudNativePG preset, short windows.
var classifierArgs = []string{
	"--preset=cnpg",
	"--interval=1s",
	"--window=4s",
	"--windows-to-switch=2",
	"--min-dwell=8s",
	"--query-timeout=3s",
	"--max-backoff=4s",
	"--credentials-refresh=2s",
	"--workers=4",
	"--v=4",
}

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := scenario.InstallClassifierRBAC(ctx, c); err != nil {
			return err
		}
		var err error
		classifier, err = scenario.StartClassifier(ctx, c, classifierArgs...)
		return err
	})
}

// monitorPassword is the monitoring role's password on every server of a test namespace, so
// that one Secret of the default name serves them all.
const monitorPassword = "monitor-pw-for-tests"

// dbCase is one test's namespace and node; the classifier may read its default Secret there
// (the example RoleBinding of manifests/classifier/credentials-rolebinding.yaml).
type dbCase struct {
	t    *testing.T
	ns   string
	node string
	dbs  []*scenario.Database
}

func newDBCase(ctx context.Context, t *testing.T, prefix string) *dbCase {
	t.Helper()
	k, err := scenario.NewCase(ctx, cluster, prefix, []localcluster.NodeSpec{{}}, corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"),
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &dbCase{t: t, ns: k.Namespace, node: k.Nodes[0]}
	// The pods go first, then their servers: a server stopped under a pod would be a failure
	// the classifier reports.
	t.Cleanup(func() {
		_ = k.Delete(context.Background(), cluster)
		for _, d := range c.dbs {
			if err := d.StopLoad(); err != nil {
				t.Errorf("load of %s: %v", d.Pod.Name, err)
			}
			if t.Failed() {
				t.Logf("PostgreSQL log of %s:\n%s", d.Pod.Name, d.Server.LogTail(4000))
			}
			d.Close()
		}
	})
	if err := scenario.GrantClassifierCredentials(ctx, cluster, k.Namespace); err != nil {
		t.Fatal(err)
	}
	c.createSecret(ctx, scenario.MonitorSecret(k.Namespace, "likewise-monitor", monitorPassword))
	return c
}

func (c *dbCase) createSecret(ctx context.Context, s *corev1.Secret) {
	c.t.Helper()
	if _, err := cluster.Client().CoreV1().Secrets(c.ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// grantSecret lets the classifier read one more Secret by name, as a user does for a pod that
// names a Secret other than the default.
func (c *dbCase) grantSecret(ctx context.Context, name string) {
	c.t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "likewise-classifier-" + name, Namespace: c.ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{name}, Verbs: []string{"get"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: c.ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: scenario.ClassifierName, Namespace: scenario.ClassifierNamespace}},
	}
	if _, err := cluster.Client().RbacV1().Roles(c.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	if _, err := cluster.Client().RbacV1().RoleBindings(c.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// newCASecret creates an empty Secret, granted to the classifier, to hold a server's CA once the
// server made it (giveCA): a pod annotated likewise.dev/postgres-ca-secret=name is sampled over
// TLS with verify-full.
func (c *dbCase) newCASecret(ctx context.Context, name string) {
	c.t.Helper()
	c.createSecret(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns}})
	c.grantSecret(ctx, name)
}

// giveCA puts d's CA into the Secret newCASecret made.
func (c *dbCase) giveCA(ctx context.Context, name string, d *scenario.Database) {
	c.t.Helper()
	secret, err := cluster.Client().CoreV1().Secrets(c.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	secret.Data = map[string][]byte{"ca.crt": d.Server.CAPEM()}
	if _, err := cluster.Client().CoreV1().Secrets(c.ns).Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// podSpec is a CloudNativePG-style instance pod of cluster "app", bound to the case's node.
type podSpec struct {
	name        string
	labels      map[string]string
	annotations map[string]string
	// selector, when set, replaces the CloudNativePG labels: a pod that the package's classifier
	// does not select, for a classifier of its own.
	selector map[string]string
}

func (c *dbCase) createPods(ctx context.Context, specs ...podSpec) map[string]*corev1.Pod {
	c.t.Helper()
	var names []string
	for _, s := range specs {
		lbls := map[string]string{"cnpg.io/cluster": "app", "cnpg.io/podRole": "instance", "cnpg.io/instanceRole": "primary"}
		if s.selector != nil {
			lbls = maps.Clone(s.selector)
		}
		for k, v := range s.labels {
			lbls[k] = v
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: c.ns, Labels: lbls, Annotations: s.annotations},
			Spec: corev1.PodSpec{
				NodeName:   c.node,
				Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}},
			},
		}
		if _, err := cluster.Client().CoreV1().Pods(c.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			c.t.Fatal(err)
		}
		names = append(names, s.name)
	}
	pods, err := scenario.WaitRunning(ctx, cluster.Client(), c.ns, names, time.Minute)
	if err != nil {
		c.t.Fatal(err)
	}
	return pods
}

// startDatabase runs PostgreSQL with opts on pod's IP, its monitoring role's password the
// case's, and stops it when the test ends (after its pod).
func (c *dbCase) startDatabase(ctx context.Context, pod *corev1.Pod, opts scenario.DatabaseOptions) *scenario.Database {
	c.t.Helper()
	if opts.Workload == scenario.WorkloadOLAP || opts.Workload == scenario.WorkloadMixed {
		opts.ScriptDir = c.t.TempDir()
	}
	d, err := scenario.StartDatabase(ctx, pod, opts)
	if err != nil {
		c.t.Fatal(err)
	}
	c.dbs = append(c.dbs, d)
	if err := d.SetMonitorPassword(ctx, monitorPassword); err != nil {
		c.t.Fatal(err)
	}
	return d
}

// waitPod polls pod until it exists and cond holds; on timeout it fails with the pod's labels, annotations
// and Events.
func (c *dbCase) waitPod(ctx context.Context, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	c.t.Helper()
	var pod *corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		p, err := cluster.Client().CoreV1().Pods(c.ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil // not created yet, or being recreated by its owner
		}
		if err != nil {
			return false, err
		}
		pod = p
		return cond(pod), nil
	})
	if err != nil && pod == nil {
		c.t.Fatalf("pod %s/%s: %s: %v (never found)", c.ns, name, what, err)
	}
	if err != nil {
		events, _ := scenario.PodEvents(ctx, cluster, pod)
		c.t.Fatalf("pod %s/%s: %s: %v\nlabels %v\nannotations %v\nevents %v", c.ns, name, what, err, pod.Labels, pod.Annotations, events)
	}
	return pod
}

// events returns pod's Events of reason.
func (c *dbCase) events(ctx context.Context, pod *corev1.Pod, reason string) []scenario.EventSummary {
	c.t.Helper()
	all, err := scenario.PodEvents(ctx, cluster, pod)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []scenario.EventSummary
	for _, e := range all {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event of reason on pod from the classifier and returns it.
func (c *dbCase) waitEvent(ctx context.Context, pod *corev1.Pod, reason string, timeout time.Duration) scenario.EventSummary {
	c.t.Helper()
	var got []scenario.EventSummary
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got = c.events(ctx, pod, reason)
		return len(got) > 0, nil
	})
	if err != nil {
		all, _ := scenario.PodEvents(ctx, cluster, pod)
		c.t.Fatalf("pod %s/%s: no %s Event: %v; events: %v", c.ns, pod.Name, reason, err, all)
	}
	if got[0].Controller != scenario.ClassifierName {
		c.t.Errorf("Event %s reported by %q, want %s", reason, got[0].Controller, scenario.ClassifierName)
	}
	return got[0]
}

// sampleCounts scrapes likewise_classifier_samples_total by result.
func sampleCounts(ctx context.Context, t *testing.T) map[string]float64 {
	t.Helper()
	text, err := classifier.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		var result string
		var v float64
		if !strings.HasPrefix(line, "likewise_classifier_samples_total{") {
			continue
		}
		if _, err := fmt.Sscanf(strings.NewReplacer(`{result="`, " ", `"}`, " ").Replace(line), "likewise_classifier_samples_total %s %g", &result, &v); err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		counts[result] = v
	}
	return counts
}

func labelIs(want string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return p.Labels[apis.LabelWorkloadType] == want }
}
