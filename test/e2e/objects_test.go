package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// image is what every test pod runs: PostgreSQL, which the database pods stand for (on kind it
// runs; on the local cluster KWOK only pretends).
const image = "postgres:15"

// container is a small PostgreSQL container.
func container() corev1.Container {
	return corev1.Container{
		Name:  "postgres",
		Image: image,
		Env:   []corev1.EnvVar{{Name: "POSTGRES_PASSWORD", Value: "e2e-only"}},
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
	}
}

// resident is a database pod of type t bound to node by the test itself (no scheduler), to give
// the node its type.
func resident(ns, name, node, t string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{apis.LabelWorkloadType: t, "app": "resident"}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			Containers:                    []corev1.Container{container()},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
}

// template is the pod template of a workload app on the test's nodes, placed by schedulerName
// ("" for the default scheduler).
func template(app, schedulerName string, labels map[string]string) corev1.PodTemplateSpec {
	l := map[string]string{"app": app}
	for k, v := range labels {
		l[k] = v
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: l},
		Spec: corev1.PodSpec{
			SchedulerName:                 schedulerName,
			Affinity:                      onTestNodes(),
			Containers:                    []corev1.Container{container()},
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
}

// onTestNodes requires nodes a, b or c.
func onTestNodes() *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
			{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: nodes[:3]},
		}}},
	}}}
}

func statefulSet(ns, app string, tmpl corev1.PodTemplateSpec, annotations map[string]string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns, Annotations: annotations},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](1), ServiceName: app, Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
}

func deployment(ns, app string, tmpl corev1.PodTemplateSpec) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1), Template: tmpl,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
}

// typedNodes pins two oltp residents on a and two olap residents on b, and leaves c free.
func typedNodes(ctx context.Context, t *testing.T, ns string) (a, b, c string) {
	t.Helper()
	a, b, c = nodes[0], nodes[1], nodes[2]
	for i, r := range []*corev1.Pod{
		resident(ns, "oltp-resident-1", a, apis.WorkloadOLTP), resident(ns, "oltp-resident-2", a, apis.WorkloadOLTP),
		resident(ns, "olap-resident-1", b, apis.WorkloadOLAP), resident(ns, "olap-resident-2", b, apis.WorkloadOLAP),
	} {
		if _, err := client.CoreV1().Pods(ns).Create(ctx, r, metav1.CreateOptions{}); err != nil {
			t.Fatalf("resident %d: %v", i, err)
		}
	}
	waitPods(ctx, t, ns, "app=resident", "the residents running", func(pods []corev1.Pod) bool {
		return len(pods) == 4 && all(pods, running)
	})
	return a, b, c
}

// waitPods polls the pods of ns that selector selects until cond holds, and returns them.
func waitPods(ctx context.Context, t *testing.T, ns, selector, what string, cond func([]corev1.Pod) bool) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, nil
		}
		pods = list.Items
		return cond(pods), nil
	})
	if err != nil {
		var b strings.Builder
		for _, p := range pods {
			b.WriteString("\n  " + p.Name + " node=" + p.Spec.NodeName + " phase=" + string(p.Status.Phase) + " type=" + p.Labels[apis.LabelWorkloadType])
		}
		t.Fatalf("waiting for %s: %v; pods:%s", what, err, b.String())
	}
	return pods
}

func running(p corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil
}

func all(pods []corev1.Pod, f func(corev1.Pod) bool) bool {
	for _, p := range pods {
		if !f(p) {
			return false
		}
	}
	return true
}

// events returns the reasons of the Events that controller reported about the pod of uid in ns.
func events(ctx context.Context, t *testing.T, ns string, uid string, controller string) []string {
	t.Helper()
	list, err := client.EventsV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if string(e.Regarding.UID) == uid && e.ReportingController == controller {
			out = append(out, e.Reason)
		}
	}
	return out
}
