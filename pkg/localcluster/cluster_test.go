package localcluster

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// stayReadyFor is how long TestNodesStayReady watches the nodes. The default outlasts
// kube-controller-manager's node-monitor-grace-period (50 s) three times over; run with
// -stay-ready-for=7m to also outlast the 5-minute eviction timeout.
var stayReadyFor = flag.Duration("stay-ready-for", 150*time.Second, "how long TestNodesStayReady watches the nodes")

// shared is the package's cluster, started by TestMain with two nodes.
var shared *Cluster

func TestMain(m *testing.M) {
	if dir := os.Getenv(envOrphanHelper); dir != "" {
		os.Exit(orphanHelper(dir))
	}
	Main(m, Options{Nodes: 2}, func(c *Cluster) error {
		shared = c
		return nil
	})
}

const pollTimeout = 2 * time.Minute

func TestStartedNodes(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	list, err := shared.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "!test-node"})
	if err != nil {
		t.Fatal(err)
	}
	type nodeSummary struct {
		Name, PodCIDR, InternalIP string
		PodCIDRs                  []string
		Ready                     bool
		Annotation                string
		Capacity, Allocatable     corev1.ResourceList
	}
	block := shared.LoopbackBlock()
	var got []nodeSummary
	for _, n := range list.Items {
		got = append(got, nodeSummary{Name: n.Name, PodCIDR: n.Spec.PodCIDR, PodCIDRs: n.Spec.PodCIDRs, InternalIP: internalIP(&n),
			Ready: NodeReady(&n), Annotation: n.Annotations[apis.AnnotationKWOKNode], Capacity: n.Status.Capacity,
			Allocatable: n.Status.Allocatable})
	}
	prefix := fmt.Sprintf("127.%d.", block.Addr().As4()[1])
	want := []nodeSummary{
		{Name: "node-1", PodCIDR: prefix + "1.0/24", PodCIDRs: []string{prefix + "1.0/24"}, InternalIP: prefix + "0.1",
			Ready: true, Annotation: apis.KWOKNodeFake, Capacity: DefaultNodeCapacity(), Allocatable: DefaultNodeCapacity()},
		{Name: "node-2", PodCIDR: prefix + "2.0/24", PodCIDRs: []string{prefix + "2.0/24"}, InternalIP: prefix + "0.2",
			Ready: true, Annotation: apis.KWOKNodeFake, Capacity: DefaultNodeCapacity(), Allocatable: DefaultNodeCapacity()},
	}
	if diff := cmp.Diff(want, got, quantityCmp); diff != "" {
		t.Errorf("nodes (-want,+got):\n%s", diff)
	}
	if !block.Addr().IsLoopback() || block.Bits() != 16 {
		t.Errorf("LoopbackBlock() = %v, want a /16 inside 127.0.0.0/8", block)
	}
}

var quantityCmp = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

func TestAddNodes(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	taint := corev1.Taint{Key: "example.com/dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	specs := []NodeSpec{
		{Name: "add-big", Labels: map[string]string{"test-node": "", apis.LabelWorkloadType: apis.WorkloadOLAP},
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}, Taints: []corev1.Taint{taint}},
		{Labels: map[string]string{"test-node": ""}},
	}
	nodes, err := shared.AddNodes(ctx, specs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shared.DeleteNodes(context.Background(), nodes[0].Name, nodes[1].Name); err != nil {
			t.Error(err)
		}
	})

	wantBig := DefaultNodeCapacity()
	wantBig[corev1.ResourceCPU] = resource.MustParse("64")
	tests := []struct {
		name         string
		node         *corev1.Node
		wantName     string
		wantCapacity corev1.ResourceList
		wantTaints   []corev1.Taint
		wantLabel    string
	}{
		{name: "named, tainted, with capacity", node: nodes[0], wantName: "add-big", wantCapacity: wantBig,
			wantTaints: []corev1.Taint{taint}, wantLabel: apis.WorkloadOLAP},
		{name: "defaults", node: nodes[1], wantName: fmt.Sprintf("node-%d", nodeIndexOf(shared.slot, nodes[1].Spec.PodCIDR)),
			wantCapacity: DefaultNodeCapacity()},
	}
	seenCIDRs := map[string]bool{"": true}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node
			if n.Name != tc.wantName {
				t.Errorf("name = %q, want %q", n.Name, tc.wantName)
			}
			if !NodeReady(n) {
				t.Errorf("node %s is not Ready: %+v", n.Name, n.Status.Conditions)
			}
			if diff := cmp.Diff(tc.wantCapacity, n.Status.Allocatable, quantityCmp); diff != "" {
				t.Errorf("allocatable (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantTaints, n.Spec.Taints); diff != "" {
				t.Errorf("taints (-want,+got):\n%s", diff)
			}
			if got := n.Labels[apis.LabelWorkloadType]; got != tc.wantLabel {
				t.Errorf("label %s = %q, want %q", apis.LabelWorkloadType, got, tc.wantLabel)
			}
			if got := n.Labels[corev1.LabelHostname]; got != n.Name {
				t.Errorf("label %s = %q, want %q", corev1.LabelHostname, got, n.Name)
			}
			cidr, err := netip.ParsePrefix(n.Spec.PodCIDR)
			if err != nil || !shared.LoopbackBlock().Contains(cidr.Addr()) || cidr.Bits() != 24 || seenCIDRs[n.Spec.PodCIDR] {
				t.Errorf("podCIDR %q: want a /24 in %v that no other node has (%v)", n.Spec.PodCIDR, shared.LoopbackBlock(), err)
			}
			seenCIDRs[n.Spec.PodCIDR] = true
		})
	}

	_, err = shared.AddNodes(ctx, []NodeSpec{{Name: "add-big"}})
	if err == nil || !strings.Contains(err.Error(), `"add-big" already exists`) {
		t.Errorf("AddNodes with an existing name: err = %v, want one naming the node", err)
	}
	_, err = shared.AddNodes(ctx, []NodeSpec{{Name: "Not_A_Name"}})
	if err == nil || !strings.Contains(err.Error(), "specs[0].Name") {
		t.Errorf("AddNodes with an invalid name: err = %v, want one naming specs[0].Name", err)
	}
}

// TestWorkloadsRun checks that the controllers create pods and that KWOK runs those bound to a
// node, with loopback IPs from the node's podCIDR. There is no scheduler, so every workload
// presets spec.nodeName.
func TestWorkloadsRun(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := shared.Client()
	node, err := client.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nodeCIDR := netip.MustParsePrefix(node.Spec.PodCIDR)

	tests := []struct {
		name     string
		create   func(ctx context.Context, ns string) error
		selector string
		wantPods int
	}{
		{
			name: "bare pod",
			create: func(ctx context.Context, ns string) error {
				p := testPod(ns, "bare", "node-2", map[string]string{"app": "bare"})
				_, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
				return err
			},
			selector: "app=bare", wantPods: 1,
		},
		{
			name: "deployment",
			create: func(ctx context.Context, ns string) error {
				_, err := client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: "web"},
					Spec: appsv1.DeploymentSpec{
						Replicas: ptr.To[int32](3),
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
						Template: podTemplate("node-2", map[string]string{"app": "web"}),
					},
				}, metav1.CreateOptions{})
				return err
			},
			selector: "app=web", wantPods: 3,
		},
		{
			name: "statefulset",
			create: func(ctx context.Context, ns string) error {
				_, err := client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Name: "db"},
					Spec: appsv1.StatefulSetSpec{
						Replicas: ptr.To[int32](2),
						Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
						Template: podTemplate("node-2", map[string]string{"app": "db"}),
					},
				}, metav1.CreateOptions{})
				return err
			},
			selector: "app=db", wantPods: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ns, err := shared.CreateNamespace(ctx, "workloads-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { deleteNamespace(t, ns.Name) })
			if err := tc.create(ctx, ns.Name); err != nil {
				t.Fatal(err)
			}
			pods := waitPodsRunning(ctx, t, ns.Name, tc.selector, tc.wantPods)
			seen := map[string]bool{}
			for _, p := range pods {
				ip, err := netip.ParseAddr(p.Status.PodIP)
				if err != nil || !ip.IsLoopback() || !nodeCIDR.Contains(ip) || seen[p.Status.PodIP] {
					t.Errorf("pod %s has IP %q, want a unique address in node-2's podCIDR %v", p.Name, p.Status.PodIP, nodeCIDR)
				}
				seen[p.Status.PodIP] = true
				if diff := cmp.Diff([]corev1.PodIP{{IP: p.Status.PodIP}}, p.Status.PodIPs); diff != "" {
					t.Errorf("pod %s podIPs (-want,+got):\n%s", p.Name, diff)
				}
				if want := internalIP(node); p.Status.HostIP != want {
					t.Errorf("pod %s hostIP = %q, want node-2's InternalIP %q", p.Name, p.Status.HostIP, want)
				}
			}
		})
	}
}

// TestNoScheduler checks that a pod without spec.nodeName stays unbound: binding is the job of
// the scheduler under test. It waits until a pod created after it runs, so the unbound pod had
// every chance to be bound.
func TestNoScheduler(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ns, err := shared.CreateNamespace(ctx, "noscheduler-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespace(t, ns.Name) })
	pods := shared.Client().CoreV1().Pods(ns.Name)
	if _, err := pods.Create(ctx, testPod(ns.Name, "unbound", "", map[string]string{"app": "unbound"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, testPod(ns.Name, "bound", "node-1", map[string]string{"app": "bound"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPodsRunning(ctx, t, ns.Name, "app=bound", 1)
	got, err := pods.Get(ctx, "unbound", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "" || got.Status.Phase != corev1.PodPending {
		t.Errorf("unbound pod: nodeName %q, phase %s; want no node and Pending", got.Spec.NodeName, got.Status.Phase)
	}
}

func TestDeletion(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := shared.Client()
	ns, err := shared.CreateNamespace(ctx, "deletion-")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("pod", func(t *testing.T) {
		p := testPod(ns.Name, "victim", "node-1", map[string]string{"app": "victim"})
		if _, err := client.CoreV1().Pods(ns.Name).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodsRunning(ctx, t, ns.Name, "app=victim", 1)
		// A graceful delete: KWOK, like a kubelet, must finish it.
		if err := client.CoreV1().Pods(ns.Name).Delete(ctx, "victim", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(ctx, t, "pod "+ns.Name+"/victim", func(ctx context.Context) error {
			_, err := client.CoreV1().Pods(ns.Name).Get(ctx, "victim", metav1.GetOptions{})
			return err
		})
	})

	t.Run("deployment's pods by garbage collection", func(t *testing.T) {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "gc"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To[int32](2),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "gc"}},
				Template: podTemplate("node-1", map[string]string{"app": "gc"}),
			},
		}
		if _, err := client.AppsV1().Deployments(ns.Name).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodsRunning(ctx, t, ns.Name, "app=gc", 2)
		err := client.AppsV1().Deployments(ns.Name).Delete(ctx, "gc", metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
		if err != nil {
			t.Fatal(err)
		}
		waitNoPods(ctx, t, ns.Name, "app=gc")
	})

	t.Run("namespace", func(t *testing.T) {
		p := testPod(ns.Name, "last", "node-1", map[string]string{"app": "last"})
		if _, err := client.CoreV1().Pods(ns.Name).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPodsRunning(ctx, t, ns.Name, "app=last", 1)
		if err := client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitGone(ctx, t, "namespace "+ns.Name, func(ctx context.Context) error {
			_, err := client.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			return err
		})
	})
}

func TestIdentities(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	ns, err := shared.CreateNamespace(ctx, "identities-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespace(t, ns.Name) })

	// A ServiceAccount token, as a Deployment of ours would get one.
	if _, err := shared.Client().CoreV1().ServiceAccounts(ns.Name).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := shared.Client().CoreV1().ServiceAccounts(ns.Name).CreateToken(ctx, "robot",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokenConfig := rest.AnonymousClientConfig(shared.RESTConfig())
	tokenConfig.BearerToken = tr.Status.Token

	configFor := func(id Identity) *rest.Config {
		cfg, err := shared.RESTConfigFor(id)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	userConfig, err := shared.RESTConfigForUser("alice", "team-a")
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name        string
		config      *rest.Config
		wantUser    string
		wantGroups  []string
		canListNode bool
	}{
		{name: "admin", config: shared.RESTConfig(), wantUser: "likewise-admin",
			wantGroups: []string{"system:masters", "system:authenticated"}, canListNode: true},
		{name: "kube-scheduler", config: configFor(KubeScheduler), wantUser: "system:kube-scheduler",
			wantGroups: []string{"system:authenticated"}, canListNode: true},
		{name: "kube-controller-manager", config: configFor(KubeControllerManager), wantUser: "system:kube-controller-manager",
			wantGroups: []string{"system:authenticated"}, canListNode: true},
		{name: "kwok", config: configFor(KWOK), wantUser: "kwok-controller",
			wantGroups: []string{"system:masters", "system:authenticated"}, canListNode: true},
		{name: "user with groups", config: userConfig, wantUser: "alice",
			wantGroups: []string{"team-a", "system:authenticated"}},
		{name: "ServiceAccount token", config: tokenConfig, wantUser: "system:serviceaccount:" + ns.Name + ":robot",
			wantGroups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns.Name, "system:authenticated"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client, err := kubernetes.NewForConfig(tc.config)
			if err != nil {
				t.Fatal(err)
			}
			review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := review.Status.UserInfo
			if diff := cmp.Diff([]string{tc.wantUser}, []string{got.Username}); diff != "" {
				t.Errorf("user (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantGroups, got.Groups); diff != "" {
				t.Errorf("groups (-want,+got):\n%s", diff)
			}
			_, err = client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
			switch {
			case tc.canListNode && err != nil:
				t.Errorf("listing nodes: %v, want allowed", err)
			case !tc.canListNode && !apierrors.IsForbidden(err):
				t.Errorf("listing nodes: err = %v, want Forbidden (RBAC)", err)
			}
		})
	}

	if _, err := shared.KubeconfigFor("nobody"); err == nil {
		t.Error(`KubeconfigFor("nobody") succeeded, want an error`)
	}
}

// TestNodesStayReady watches the nodes for -stay-ready-for: KWOK renews their Leases, so the
// node lifecycle controller must never mark them NotReady or taint them unreachable.
func TestNodesStayReady(t *testing.T) {
	t.Parallel()
	_, ctx := ktesting.NewTestContext(t)
	ctx, cancel := context.WithTimeout(ctx, *stayReadyFor)
	defer cancel()
	client := shared.Client()
	// The nodes from TestMain, older than the test; the not-ready state would show here.
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "!test-node"})
	if err != nil {
		t.Fatal(err)
	}
	w, err := client.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{LabelSelector: "!test-node", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for _, n := range list.Items {
		if !NodeReady(&n) {
			t.Errorf("node %s is not Ready at the start: %+v %+v", n.Name, n.Status.Conditions, n.Spec.Taints)
		}
	}
	updates := 0
	for ev := range w.ResultChan() {
		n, ok := ev.Object.(*corev1.Node)
		if !ok {
			if ctx.Err() == nil {
				t.Fatalf("watch event %s: %#v", ev.Type, ev.Object)
			}
			break
		}
		updates++
		if !NodeReady(n) {
			t.Errorf("node %s stopped being Ready after %d updates: conditions %+v, taints %+v", n.Name, updates, n.Status.Conditions, n.Spec.Taints)
		}
	}
	if ctx.Err() == nil {
		t.Fatal("the node watch ended early")
	}
	// Not an assertion on the lease itself: it is what kept the nodes Ready.
	for _, n := range list.Items {
		lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), n.Name, metav1.GetOptions{})
		if err != nil {
			t.Errorf("node %s has no Lease: %v", n.Name, err)
			continue
		}
		t.Logf("node %s: lease renewed at %v, %d node updates seen in %v", n.Name, lease.Spec.RenewTime, updates, *stayReadyFor)
	}
}

// TestLifecycle starts and stops extra clusters beside the shared one.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	t.Run("stop leaves no process, start again in the same directory", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		dir := filepath.Join(t.TempDir(), "state")
		for round := 1; round <= 2; round++ {
			c, err := Start(ctx, Options{StateDir: dir})
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if c.LoopbackBlock() == shared.LoopbackBlock() {
				t.Errorf("round %d: loopback block %v is the shared cluster's too", round, c.LoopbackBlock())
			}
			if _, err := c.Client().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
				t.Errorf("round %d: %v", round, err)
			}
			procs := slices.Clone(c.procs)
			if err := c.Stop(); err != nil {
				t.Fatalf("round %d: Stop: %v", round, err)
			}
			assertGone(ctx, t, procs)
			if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
				t.Errorf("round %d: after Stop the state directory holds %v (%v), want it empty", round, entries, err)
			}
			if err := c.Stop(); err != nil {
				t.Errorf("round %d: second Stop: %v", round, err)
			}
		}
	})

	t.Run("start over a crashed cluster", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		dir := filepath.Join(t.TempDir(), "state")
		crashed, err := Start(ctx, Options{StateDir: dir, Nodes: 1})
		if err != nil {
			t.Fatal(err)
		}
		// The API server dies; etcd (with its data), the controllers and KWOK live on, and
		// the state file still records them all.
		if err := syscall.Kill(procNamed(t, crashed, binKubeAPIServer).PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		crashed.releaseSlot() // what the crash of its owner would have done
		c, err := Start(ctx, Options{StateDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Stop()
		assertGone(ctx, t, crashed.procs)
		nodes, err := c.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 0 {
			t.Errorf("the new cluster has %d nodes, want 0: etcd's old data was reused", len(nodes.Items))
		}
	})

	t.Run("detached, attach, stop detached", func(t *testing.T) {
		_, ctx := ktesting.NewTestContext(t)
		dir := filepath.Join(t.TempDir(), "local")
		started, err := Start(ctx, Options{StateDir: dir, Detach: true, Nodes: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range started.procs {
			if sid, err := unix.Getsid(p.PID); err != nil || sid != p.PID {
				t.Errorf("%s (pid %d) is in session %d (%v), want a session of its own", p.Name, p.PID, sid, err)
			}
		}
		attached, err := Attach(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if attached.Server() != started.Server() || attached.LoopbackBlock() != started.LoopbackBlock() {
			t.Errorf("Attach found %s %v, want %s %v", attached.Server(), attached.LoopbackBlock(), started.Server(), started.LoopbackBlock())
		}
		nodes, err := attached.AddNodes(ctx, []NodeSpec{{}})
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("%s.2.0/24", strings.TrimSuffix(started.LoopbackBlock().Addr().String(), ".0.0")); nodes[0].Spec.PodCIDR != want {
			t.Errorf("the attached cluster's new node has podCIDR %s, want %s (the next after the existing node's)", nodes[0].Spec.PodCIDR, want)
		}
		if err := StopDetached(ctx, dir); err != nil {
			t.Fatal(err)
		}
		assertGone(ctx, t, started.procs)
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("after StopDetached %s still exists (%v)", dir, err)
		}
		if err := StopDetached(ctx, dir); err != nil {
			t.Errorf("StopDetached with nothing left: %v", err)
		}
		if _, err := Attach(ctx, dir); err == nil {
			t.Error("Attach after StopDetached succeeded")
		}
	})
}

// envOrphanHelper makes the test binary start a cluster in the directory it names, say
// "ready" and wait to be killed (see TestOwnerDies).
const envOrphanHelper = "LOCALCLUSTER_ORPHAN_HELPER_DIR"

func orphanHelper(dir string) int {
	if _, err := Start(context.Background(), Options{StateDir: dir}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	select {}
}

// TestOwnerDies kills (SIGKILL, no cleanup) a process that started a cluster: the cluster's
// processes must die with it.
func TestOwnerDies(t *testing.T) {
	t.Parallel()
	_, ctx := ktesting.NewTestContext(t)
	dir := filepath.Join(t.TempDir(), "state")
	owner := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	owner.Env = append(os.Environ(), envOrphanHelper+"="+dir)
	owner.Stderr = os.Stderr
	stdout, err := owner.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		owner.Process.Kill()
		owner.Wait()
		t.Fatalf("the owner process said %q (%v), want ready", line, err)
	}
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Procs) != 4 {
		t.Errorf("the owner's cluster records %d processes, want 4", len(st.Procs))
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	assertGone(ctx, t, st.Procs)
}

func TestStartRefuses(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	foreign := t.TempDir()
	precious := filepath.Join(foreign, "precious.txt")
	if err := os.WriteFile(precious, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	emptyTools := t.TempDir()

	tests := []struct {
		name    string
		opts    Options
		wantErr []string
	}{
		{name: "missing binaries", opts: Options{ToolsDir: emptyTools},
			wantErr: []string{"etcd, kube-apiserver, kube-controller-manager, kwok, kwok-stages/*.yaml", "make cluster-binaries"}},
		{name: "foreign state directory", opts: Options{StateDir: foreign},
			wantErr: []string{"options.StateDir " + foreign, "refusing to remove"}},
		{name: "negative nodes", opts: Options{Nodes: -1}, wantErr: []string{"options.Nodes"}},
		{name: "too many nodes", opts: Options{Nodes: maxNodes + 1}, wantErr: []string{"options.Nodes", "255"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Start(ctx, tc.opts)
			if err == nil {
				c.Stop()
				t.Fatal("Start succeeded")
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
	if data, err := os.ReadFile(precious); err != nil || string(data) != "keep me" {
		t.Errorf("the foreign state directory's file was touched: %q, %v", data, err)
	}
	if err := StopDetached(ctx, foreign); err == nil || !errors.Is(err, errNotACluster) {
		t.Errorf("StopDetached on a foreign directory: err = %v, want %v", err, errNotACluster)
	}
}

func internalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func procNamed(t *testing.T, c *Cluster, name string) *process {
	t.Helper()
	for _, p := range c.procs {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("the cluster runs no %s", name)
	return nil
}

func testPod(ns, name, nodeName string, labels map[string]string) *corev1.Pod {
	t := podTemplate(nodeName, labels)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}, Spec: t.Spec}
}

func podTemplate(nodeName string, labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec: corev1.PodSpec{
			NodeName: nodeName,
			Containers: []corev1.Container{{
				Name:  "main",
				Image: "registry.invalid/never-pulled:v1", // KWOK runs no container
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
				}},
			}},
		},
	}
}

// waitPodsRunning waits until exactly n pods match selector and all are Running with an IP.
func waitPodsRunning(ctx context.Context, t *testing.T, ns, selector string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	var last string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, pollTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := shared.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		pods = list.Items
		last = ""
		for _, p := range pods {
			last += fmt.Sprintf(" %s=%s/%q", p.Name, p.Status.Phase, p.Status.PodIP)
			if p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				return false, nil
			}
		}
		return len(pods) == n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d running pods %s in %s: %v; last seen:%s", n, selector, ns, err, last)
	}
	return pods
}

func waitNoPods(ctx context.Context, t *testing.T, ns, selector string) {
	t.Helper()
	sel, err := labels.Parse(selector)
	if err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, pollTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := shared.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		return err == nil && len(list.Items) == 0, err
	})
	if err != nil {
		t.Fatalf("pods %s in %s are still there: %v", selector, ns, err)
	}
}

// waitGone waits until get returns NotFound.
func waitGone(ctx context.Context, t *testing.T, what string, get func(context.Context) error) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, pollTimeout, true, func(ctx context.Context) (bool, error) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		t.Fatalf("%s is still there: %v", what, err)
	}
}

func deleteNamespace(t *testing.T, name string) {
	err := shared.Client().CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("deleting namespace %s: %v", name, err)
	}
}

// assertGone checks that no process of procs, nor any process in their groups, still runs.
// A zombie counts as gone: whether it is reaped soon depends on its parent (init, for the
// processes of a dead owner), not on us. The poll leaves time for SIGKILL to take effect.
func assertGone(ctx context.Context, t *testing.T, procs []*process) {
	t.Helper()
	for _, p := range procs {
		var running []int
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			running = runningInGroup(t, p.PID)
			return len(running) == 0, nil
		})
		if err != nil {
			t.Errorf("%s (pid %d): processes %v of its group still run", p.Name, p.PID, running)
		}
	}
}

// runningInGroup lists the pids of the processes of process group pgid that are not zombies.
func runningInGroup(t *testing.T, pgid int) []int {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// After the parenthesised command name: state ppid pgrp ...
		i := strings.LastIndexByte(string(data), ')')
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		pids = append(pids, pid)
	}
	return pids
}
