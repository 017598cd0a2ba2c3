package podruntime

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/podruntime"
)

// TestStatefulSetPodRunsInCgroupsAndMoves: a StatefulSet pod's server runs on the pod's IP with
// every process in the pod's group under its node's; recreated on the other node, the pod gets
// the same data back on its new IP, and the old server and group are gone.
func TestStatefulSetPodRunsInCgroupsAndMoves(t *testing.T) {
	g := newRig(t)
	nodeA, nodeB := g.nodes[0].Name, g.nodes[1].Name
	g.createStatefulSet("db", nodeA, "500m")
	pod := g.waitPod("db-0", "")
	s := g.waitServing("db-0")
	if s.Host != pod.Status.PodIP {
		t.Errorf("server listens on %s, the pod's IP is %s", s.Host, pod.Status.PodIP)
	}
	dir := filepath.Join(g.stateDir, g.ns, "db-0")
	if s.Dir != dir {
		t.Errorf("data directory %s, want the StatefulSet pod's %s", s.Dir, dir)
	}

	// Client backends as well as the auxiliary processes.
	if err := s.PgbenchInit(g.ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	load, err := s.StartPgbench(g.ctx, pgserver.Pgbench{DB: "app", Builtins: []string{pgserver.SelectOnly}, Clients: 2, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	podGroup, ok := g.rt.PodGroup(g.ns, "db-0")
	if !ok {
		t.Fatal("no pod group")
	}
	nodeGroup := g.group(nodeA, "")
	if nodeGroup == nil {
		t.Fatalf("no group of node %s", nodeA)
	}
	if diff := cmp.Diff([]int64{1000, 500}, []int64{nodeGroup.QuotaMilli(), podGroup.QuotaMilli()}); diff != "" {
		t.Errorf("quotas of the node (allocatable 1 CPU) and the pod (limit 500m) (-want,+got):\n%s", diff)
	}
	if g.group(nodeA, pod.UID) == nil {
		t.Errorf("the pod's group is not under node %s's", nodeA)
	}
	procs := waitUnderLoad(g.ctx, t, s.PID())
	for _, pid := range procs {
		inPod, err1 := podGroup.Contains(pid)
		inNode, err2 := nodeGroup.Contains(pid)
		if !pgserver.Alive(pid) {
			continue // an autovacuum worker that has begun to exit (and so left its cgroups), say
		}
		if !inPod || !inNode || err1 != nil || err2 != nil {
			t.Errorf("process %d of the server: in pod group %v (%v), in node group %v (%v)", pid, inPod, err1, inNode, err2)
		}
	}
	if err := load.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Psql(g.ctx, "app", "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('written on "+nodeA+"')"); err != nil {
		t.Fatal(err)
	}
	g.waitEvent("db-0", pod.UID, podruntime.ReasonStarted)

	// The StatefulSet recreates its pod on the other node: same name, new UID and IP.
	_, err = cluster.Client().AppsV1().StatefulSets(g.ns).Patch(g.ctx, "db", "application/merge-patch+json",
		[]byte(`{"spec":{"template":{"spec":{"nodeName":"`+nodeB+`"}}}}`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	moved := g.waitPod("db-0", pod.UID)
	if moved.Spec.NodeName != nodeB {
		t.Fatalf("the recreated pod is on %s, want %s", moved.Spec.NodeName, nodeB)
	}
	s2 := g.waitServing("db-0")
	got, err := s2.Psql(g.ctx, "app", "SELECT inet_server_addr()::text || ' ' || v FROM kept")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(moved.Status.PodIP+"/32 written on "+nodeA, got); diff != "" {
		t.Errorf("the moved database's address and row (-want,+got):\n%s", diff)
	}
	if s2.Created || s2.Dir != dir {
		t.Errorf("moved server: Created %v in %s, want the existing cluster in %s", s2.Created, s2.Dir, dir)
	}
	if moved.Status.PodIP != pod.Status.PodIP && accepts(pod.Status.PodIP, s.Port) {
		t.Errorf("the old IP %s still accepts connections", pod.Status.PodIP)
	}
	if g.group(nodeA, pod.UID) != nil {
		t.Errorf("the old pod's group is still under node %s", nodeA)
	}
	group, _ := g.rt.PodGroup(g.ns, "db-0")
	if in, err := group.Contains(s2.PID()); !in || err != nil || group.Node() != nodeB {
		t.Errorf("the moved postmaster %d is in %s (contains: %v, %v), want node %s's group", s2.PID(), group.Path(), in, err, nodeB)
	}
	g.waitEvent("db-0", pod.UID, podruntime.ReasonStopped)
	g.mu.Lock()
	if diff := cmp.Diff(map[string]int{dir: 1}, g.setups); diff != "" {
		t.Errorf("Setup calls per data directory (-want,+got):\n%s", diff)
	}
	g.mu.Unlock()
}

// TestDeletedUnderLoadLeavesNothing: a Deployment's pod (no claim: an ephemeral data directory)
// deleted while pgbench loads its server leaves no server process, no pgbench, no directory and
// no pod group.
func TestDeletedUnderLoadLeavesNothing(t *testing.T) {
	g := newRig(t)
	labels := map[string]string{"app": "web-db"}
	_, err := cluster.Client().AppsV1().Deployments(g.ns).Create(g.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-db"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec(g.nodes[0].Name, "")},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	err = wait.PollUntilContextTimeout(g.ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		list, err := cluster.Client().CoreV1().Pods(g.ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web-db"})
		if err != nil || len(list.Items) != 1 || list.Items[0].Status.PodIP == "" {
			return false, nil
		}
		pod = &list.Items[0]
		return true, nil
	})
	if err != nil {
		t.Fatalf("the Deployment's pod did not run: %v", err)
	}
	s := g.waitServing(pod.Name)
	dir := filepath.Join(g.stateDir, g.ns, string(pod.UID))
	if s.Dir != dir {
		t.Errorf("data directory %s, want the ephemeral %s", s.Dir, dir)
	}
	group, _ := g.rt.PodGroup(g.ns, pod.Name)
	if group.QuotaMilli() != 0 {
		t.Errorf("pod group quota %dm, want none of its own (the pod has no CPU limit)", group.QuotaMilli())
	}
	if err := s.PgbenchInit(g.ctx, "app", 1); err != nil {
		t.Fatal(err)
	}
	load, err := s.StartPgbench(context.Background(), pgserver.Pgbench{DB: "app", Builtins: []string{pgserver.TPCBLike}, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer load.Stop()
	procs := waitUnderLoad(g.ctx, t, s.PID())

	// Scaled to zero: its ReplicaSet deletes the pod, and no replacement comes.
	if _, err := cluster.Client().AppsV1().Deployments(g.ns).Patch(g.ctx, "web-db", "application/merge-patch+json",
		[]byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	g.waitNoServer(pod.Name)
	select {
	case <-load.Done():
	case <-time.After(timeout):
		t.Fatal("pgbench still runs against the stopped server")
	}
	if left := waitGone(g.ctx, procs); len(left) > 0 {
		t.Errorf("server processes left: %v", left)
	}
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the data directory left: %v", left)
	}
	for _, p := range processesMentioning("pgbench") {
		if strings.Contains(p, " -h "+pod.Status.PodIP+" ") {
			t.Errorf("pgbench left: %s", p)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the ephemeral data directory %s is still there (stat: %v)", dir, err)
	}
	if g.group(pod.Spec.NodeName, pod.UID) != nil {
		t.Errorf("the pod's group is still there")
	}
	g.waitEvent(pod.Name, pod.UID, podruntime.ReasonStopped)
}

// TestRestartedRuntimeFindsItsServers: a new runtime on the same state directory adopts the
// server of a pod that still runs (same postmaster, no restart) and stops the server of a pod
// deleted while no runtime ran, keeping its claim's data directory.
func TestRestartedRuntimeFindsItsServers(t *testing.T) {
	g := newRig(t)
	g.createStatefulSet("kept", g.nodes[0].Name, "")
	claimed := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "claimed"},
		Spec:       podSpec(g.nodes[1].Name, "250m"),
	}
	claimed.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "claimed-data"}}}}
	if _, err := cluster.Client().CoreV1().Pods(g.ns).Create(g.ctx, claimed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	g.waitPod("kept-0", "")
	claimedPod := g.waitPod("claimed", "")
	kept := g.waitServing("kept-0")
	gone := g.waitServing("claimed")
	if want := filepath.Join(g.stateDir, g.ns, "pvc-claimed-data"); gone.Dir != want {
		t.Errorf("data directory %s, want the claim's %s", gone.Dir, want)
	}
	keptPID, gonePIDs := kept.PID(), serverProcesses(t, gone.PID())
	startTime, err := kept.Psql(g.ctx, "app", "SELECT pg_postmaster_start_time()")
	if err != nil {
		t.Fatal(err)
	}

	g.stopRuntime()
	if kept.PID() != keptPID || !accepts(kept.Host, kept.Port) {
		t.Fatalf("the server stopped with the runtime (postmaster %d, was %d)", kept.PID(), keptPID)
	}
	g.deletePod("claimed")
	err = wait.PollUntilContextTimeout(g.ctx, 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client().CoreV1().Pods(g.ns).Get(ctx, "claimed", metav1.GetOptions{})
		return err != nil, nil
	})
	if err != nil {
		t.Fatalf("pod claimed was not deleted: %v", err)
	}
	if len(alive(gonePIDs)) == 0 {
		t.Fatal("the deleted pod's server stopped with no runtime running: the test proves nothing")
	}

	g.startRuntime()
	again := g.waitServing("kept-0")
	if again.PID() != keptPID {
		t.Errorf("postmaster %d after the restart, want the adopted %d", again.PID(), keptPID)
	}
	if got, err := again.Psql(g.ctx, "app", "SELECT pg_postmaster_start_time()"); err != nil || got != startTime {
		t.Errorf("postmaster start time %q (%v), want %q: the server was restarted", got, err, startTime)
	}
	g.waitNoServer("claimed")
	if left := waitGone(g.ctx, gonePIDs); len(left) > 0 {
		t.Errorf("the deleted pod's server processes still run: %v", left)
	}
	// The new runtime stops it while it adopts the other, which may serve first.
	g.waitEvent("claimed", claimedPod.UID, podruntime.ReasonStopped)
	if g.group(claimedPod.Spec.NodeName, claimedPod.UID) != nil {
		t.Errorf("the deleted pod's group is still there")
	}
	if _, err := os.Stat(filepath.Join(gone.Dir, "data", "PG_VERSION")); err != nil {
		t.Errorf("the claim's data directory went with its pod: %v", err)
	}
	g.mu.Lock()
	if diff := cmp.Diff(map[string]int{kept.Dir: 1, gone.Dir: 1}, g.setups); diff != "" {
		t.Errorf("Setup calls per data directory (-want,+got):\n%s", diff)
	}
	g.mu.Unlock()
}

// TestNonLoopbackIP: a pod whose IP is not a loopback address gets a RuntimeFailed event and
// no server. Its node is not KWOK's, so the test sets the pod's status itself.
func TestNonLoopbackIP(t *testing.T) {
	g := newRig(t)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: g.nodes[0].Name + "-ext"},
		Status: corev1.NodeStatus{Allocatable: g.nodes[0].Status.Allocatable, Capacity: g.nodes[0].Status.Capacity}}
	if _, err := cluster.Client().CoreV1().Nodes().Create(g.ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cluster.DeleteNodes(context.Background(), node.Name) })
	pod, err := cluster.Client().CoreV1().Pods(g.ns).Create(g.ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "remote"},
		Spec: podSpec(node.Name, "")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.77.0.5", PodIPs: []corev1.PodIP{{IP: "10.77.0.5"}},
		HostIP: "10.77.0.1", HostIPs: []corev1.HostIP{{IP: "10.77.0.1"}}}
	if _, err := cluster.Client().CoreV1().Pods(g.ns).UpdateStatus(g.ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	g.waitEvent("remote", pod.UID, podruntime.ReasonRuntimeFailed)
	if _, ok := g.rt.Server(g.ns, "remote"); ok {
		t.Error("the pod with IP 10.77.0.5 has a server")
	}
	if entries, _ := os.ReadDir(filepath.Join(g.stateDir, g.ns)); len(entries) > 0 {
		t.Errorf("data directories were made for it: %v", entries)
	}
	if left := processesMentioning("10.77.0.5"); len(left) > 0 {
		t.Errorf("processes name 10.77.0.5: %v", left)
	}
}
