package manifests

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/kubernetes/third_party/forked/golang/expansion"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestClassifierRunsWithItsServiceAccount applies manifests/classifier/base for real (but its
// Deployment: KWOK runs no containers) and the example credentials RoleBinding in a namespace of
// databases, then runs bin/likewise with the Deployment's own arguments as the ServiceAccount,
// with leader election on. It must take its Lease, label a database pod whose PostgreSQL runs on
// its IP, and be refused nothing.
func TestClassifierRunsWithItsServiceAccount(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	objs, err := scenario.Kustomize(scenario.ClassifierBase)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
			t.Fatal(err)
		}
		args = kubeletArgs(d.Namespace, d.Spec.Template.Spec.Containers[0])
	}
	if len(args) == 0 || args[0] != "classifier" {
		t.Fatalf("the Deployment's container args %v do not run the classifier", args)
	}
	if err := scenario.InstallClassifierRBAC(ctx, cluster); err != nil {
		t.Fatal(err)
	}

	k, err := scenario.NewCase(ctx, cluster, "classifier-rbac", []localcluster.NodeSpec{{}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Delete(context.Background(), cluster) })
	if err := scenario.GrantClassifierCredentials(ctx, cluster, k.Namespace); err != nil {
		t.Fatal(err)
	}
	// The Deployment selects pods labelled likewise.dev/classify=true by default.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: k.Namespace, Labels: map[string]string{apis.LabelClassify: apis.ClassifyEnabled}},
		Spec:       corev1.PodSpec{NodeName: k.Nodes[0], Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}}},
	}
	if _, err := cluster.Client().CoreV1().Pods(k.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	running, err := scenario.WaitRunning(ctx, cluster.Client(), k.Namespace, []string{pod.Name}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// With TLS and its CA in the Secret: the shipped classifier verifies every server (verify-full).
	db, err := scenario.StartDatabase(ctx, running[pod.Name], scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP, TLSNames: []string{pod.Name}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = k.Delete(context.Background(), cluster)
		db.Close()
	})
	secret := db.MonitorSecret("likewise-monitor")
	secret.StringData["ca.crt"] = string(db.Server.CAPEM())
	if _, err := cluster.Client().CoreV1().Secrets(k.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	bin, err := localcluster.Binary("likewise")
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := cluster.KubeconfigForServiceAccount(ctx, scenario.ClassifierNamespace, scenario.ClassifierName)
	if err != nil {
		t.Fatal(err)
	}
	err = cluster.StartComponent(ctx, localcluster.Component{
		Name:   scenario.ClassifierName,
		Binary: bin,
		Args: func(port int) []string {
			// The Deployment's arguments as shipped; later flags win: the kubeconfig, a loopback
			// secure port, and short windows so that the test takes seconds, not minutes.
			return append(append(append([]string{}, args...), "--kubeconfig="+kubeconfig),
				append(scenario.ServingArgs(port), "--interval=1s", "--window=4s", "--windows-to-switch=2")...)
		},
		Ready: func(ctx context.Context, port int) error {
			return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
				lease, err := cluster.Client().CoordinationV1().Leases(scenario.ClassifierNamespace).Get(ctx, scenario.ClassifierName, metav1.GetOptions{})
				return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", nil
			})
		},
	})
	if err != nil {
		t.Fatalf("the classifier did not take Lease %s/%s: %v", scenario.ClassifierNamespace, scenario.ClassifierName, err)
	}
	t.Cleanup(func() { _ = cluster.StopComponent(scenario.ClassifierName) })

	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := cluster.Client().CoreV1().Pods(k.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Labels[apis.LabelWorkloadType] == apis.WorkloadOLTP, err
	})
	if err != nil {
		events, _ := scenario.PodEvents(ctx, cluster, running[pod.Name])
		t.Fatalf("pod %s/%s not labelled oltp: %v; events %v", k.Namespace, pod.Name, err, events)
	}
	if n := len(mustEvents(ctx, t, running[pod.Name], "WorkloadTypeChanged")); n != 1 {
		t.Errorf("%d WorkloadTypeChanged Events, want 1", n)
	}

	log, err := scenario.ClassifierLog(cluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "forbidden") || strings.Contains(line, "Forbidden") {
			t.Errorf("the classifier was refused a request: %s", line)
		}
	}
}

func mustEvents(ctx context.Context, t *testing.T, pod *corev1.Pod, reason string) []scenario.EventSummary {
	t.Helper()
	var out []scenario.EventSummary
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		all, err := scenario.PodEvents(ctx, cluster, pod)
		if err != nil {
			return false, err
		}
		out = nil
		for _, e := range all {
			if e.Reason == reason {
				out = append(out, e)
			}
		}
		return len(out) > 0, nil
	})
	if err != nil {
		t.Errorf("no %s Event on %s/%s: %v", reason, pod.Namespace, pod.Name, err)
	}
	return out
}

// kubeletArgs expands $(VAR) in a container's args from its env, as the kubelet does, for the
// env a Deployment in namespace can have here: literal values and metadata.namespace.
func kubeletArgs(namespace string, c corev1.Container) []string {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			env[e.Name] = namespace
		}
	}
	mapping := expansion.MappingFuncFor(env)
	var out []string
	for _, a := range c.Args {
		out = append(out, expansion.Expand(a, mapping))
	}
	return out
}
