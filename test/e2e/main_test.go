// Package e2e tests a deployed likewise through the objects a user creates, on whatever cluster
// KUBECONFIG names. `make test` runs it on the local cluster (test/integration/e2e deploys
// likewise there from test/e2e/deploy/<mode>, once per mode); `make kind-e2e` runs it, unchanged,
// on the kind cluster of `make kind-up`, deployed from the same directory.
//
// LIKEWISE_E2E_MODE says how likewise-scheduler is deployed:
//
//   - replace (the default): it is the cluster's kube-scheduler (manifests/scheduler/replace):
//     pods without spec.schedulerName are its, as are pods that opt in with likewise-scheduler or
//     notebook-scheduler; the rebalancer is manifests/rebalancer/replace's, moving
//     default-scheduler's pods;
//   - second: it runs beside whatever scheduler the cluster has (manifests/scheduler/base):
//     pods opt in with likewise-scheduler or notebook-scheduler; the rebalancer is the base's,
//     moving likewise-scheduler's pods.
//
// Either way the cluster must also run the classifier (manifests/classifier/base), the rebalancer
// with short cycles (test/e2e/deploy/<mode>), and have at least three schedulable nodes labelled
// e2e.likewise.dev/node=true, with room for a few small pods each. The tests use the first three
// by name (a, b and c), pin their resident pods there, and keep their own pods there.
//
// Tests run one at a time (they share the nodes) and each deletes its namespace, waiting until it
// is gone, so that no pod of one test types a node for the next.
package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// LabelNode marks the nodes the tests may use.
const LabelNode = "e2e.likewise.dev/node"

// EnvMode names the deployment mode: ModeReplace (the default) or ModeSecond.
const (
	EnvMode     = "LIKEWISE_E2E_MODE"
	ModeReplace = "replace"
	ModeSecond  = "second"
)

type lease struct{ namespace, name, what string }

// leases must be held for the tests to mean anything, by mode: the scheduler in replace mode
// holds kube-scheduler's own.
var leases = map[string][]lease{
	ModeReplace: {
		{"kube-system", "kube-scheduler", "likewise-scheduler in replace mode (manifests/scheduler/replace)"},
		{"likewise-system", "likewise-classifier", "the classifier (manifests/classifier/base)"},
		{"likewise-system", "likewise-rebalancer", "the rebalancer (test/e2e/deploy/replace)"},
	},
	ModeSecond: {
		{"likewise-system", "likewise-scheduler", "likewise-scheduler as a second scheduler (manifests/scheduler/base)"},
		{"likewise-system", "likewise-classifier", "the classifier (manifests/classifier/base)"},
		{"likewise-system", "likewise-rebalancer", "the rebalancer (test/e2e/deploy/second)"},
	},
}

var (
	client kubernetes.Interface
	// nodes are the names of the nodes labelled LabelNode, sorted: the tests call the first
	// three a, b and c.
	nodes []string
	// mode is EnvMode's value.
	mode string
	// databaseScheduler is the spec.schedulerName of database pods that the rebalancer moves: the
	// default scheduler's in replace mode (""), likewise-scheduler as a second scheduler.
	databaseScheduler string
)

func TestMain(m *testing.M) {
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setUp() error {
	switch mode = os.Getenv(EnvMode); mode {
	case "", ModeReplace:
		mode, databaseScheduler = ModeReplace, ""
	case ModeSecond:
		databaseScheduler = "likewise-scheduler"
	default:
		return fmt.Errorf("%s=%q: must be %s or %s", EnvMode, mode, ModeReplace, ModeSecond)
	}
	fmt.Printf("e2e: likewise-scheduler deployed in %s mode (%s)\n", mode, EnvMode)
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		return fmt.Errorf("KUBECONFIG is not set: it must name the cluster likewise is deployed to (make test-e2e or make kind-e2e set it)")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return fmt.Errorf("KUBECONFIG %s: %w", path, err)
	}
	if client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: LabelNode + "=true"})
	if err != nil {
		return fmt.Errorf("listing the nodes labelled %s=true: %w", LabelNode, err)
	}
	for _, n := range list.Items {
		if !n.Spec.Unschedulable {
			nodes = append(nodes, n.Name)
		}
	}
	slices.Sort(nodes)
	if len(nodes) < 3 {
		return fmt.Errorf("%d schedulable nodes labelled %s=true (%v), want at least 3", len(nodes), LabelNode, nodes)
	}
	// The components may still be starting: wait for each one's lease.
	for _, l := range leases[mode] {
		var last string
		err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			lease, err := client.CoordinationV1().Leases(l.namespace).Get(ctx, l.name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			fresh, why := leaseFresh(lease)
			last = why
			return fresh, nil
		})
		if err != nil {
			return fmt.Errorf("%s is not running: lease %s/%s: %s", l.what, l.namespace, l.name, last)
		}
	}
	return nil
}

func leaseFresh(l *coordinationv1.Lease) (bool, string) {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return false, "not held"
	}
	if age := time.Since(s.RenewTime.Time); age > time.Duration(*s.LeaseDurationSeconds)*time.Second {
		return false, fmt.Sprintf("held by %s, last renewed %v ago", *s.HolderIdentity, age.Round(time.Second))
	}
	return true, ""
}

// newNamespace creates a namespace for the test and, when the test ends, deletes it and waits
// until it is gone.
func newNamespace(ctx context.Context, t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 40 {
		name = name[:40]
	}
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-" + strings.TrimRight(name, "-") + "-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if t.Failed() {
			dumpNamespace(ctx, t, ns.Name)
		}
		if err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting namespace %s: %v", ns.Name, err)
			return
		}
		err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			return err != nil, nil
		})
		if err != nil {
			t.Errorf("namespace %s was not deleted: %v", ns.Name, err)
		}
	})
	return ns.Name
}

// dumpNamespace logs the namespace's pods and Events, for a failed test.
func dumpNamespace(ctx context.Context, t *testing.T, ns string) {
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, p := range pods.Items {
			t.Logf("pod %s: node=%q phase=%s labels=%v", p.Name, p.Spec.NodeName, p.Status.Phase, p.Labels)
		}
	}
	events, err := client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, e := range events.Items {
			t.Logf("event %s/%s %s (%s): %s", e.Regarding.Kind, e.Regarding.Name, e.Reason, e.ReportingController, e.Note)
		}
	}
}
