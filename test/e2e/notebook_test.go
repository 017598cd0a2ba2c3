package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// TestNotebooksSpreadByUsers: node c is busy with a pod requesting 60% of its CPU; six users log
// in one after another, their notebook servers opting in with spec.schedulerName:
// notebook-scheduler as KubeSpawner's scheduler_name does. Each of a, b and c ends with two
// users: NotebookSpread spreads users, where kube-scheduler's resource scoring would keep the
// servers off the busy node.
func TestNotebooksSpreadByUsers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	node, err := client.CoreV1().Nodes().Get(ctx, c, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	busy := container()
	busy.Resources.Requests[corev1.ResourceCPU] = *resource.NewMilliQuantity(node.Status.Allocatable.Cpu().MilliValue()*6/10, resource.DecimalSI)
	filler := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "busy", Namespace: ns, Labels: map[string]string{"app": "busy"}},
		Spec:       corev1.PodSpec{NodeName: c, Containers: []corev1.Container{busy}, TerminationGracePeriodSeconds: ptr.To[int64](0)},
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, filler, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(ctx, t, ns, "app=busy", "the busy pod running", func(pods []corev1.Pod) bool { return len(pods) == 1 && running(pods[0]) })

	usersOn := map[string]int{}
	for i := range 6 {
		user := fmt.Sprintf("user-%d", i+1)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: "jupyter-" + user, Namespace: ns,
				Labels:      map[string]string{apis.LabelComponent: "singleuser-server", apis.AnnotationHubUsername: user, "app": "notebook"},
				Annotations: map[string]string{apis.AnnotationHubUsername: user},
			},
			Spec: corev1.PodSpec{
				SchedulerName:                 "notebook-scheduler",
				Affinity:                      onTestNodes(),
				Containers:                    []corev1.Container{container()},
				TerminationGracePeriodSeconds: ptr.To[int64](0),
			},
		}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// One login at a time, as users arrive: each server is placed knowing where the others are.
		got := waitPods(ctx, t, ns, "app=notebook,"+apis.AnnotationHubUsername+"="+user, user+"'s server running", func(pods []corev1.Pod) bool {
			return len(pods) == 1 && running(pods[0])
		})[0]
		usersOn[got.Spec.NodeName]++
	}
	for _, n := range []string{a, b, c} {
		if usersOn[n] != 2 {
			t.Errorf("users per node %v, want 2 on each of %s, %s and %s", usersOn, a, b, c)
			break
		}
	}
}
