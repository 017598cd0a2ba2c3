package scheduler

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestRecordedTypeOnFirstAttempt: the type follows the workload. A StatefulSet or Deployment
// whose pod template has no type, but which carries the classifier's record, gets its pod placed
// by that type on its first attempt: kube-controller-manager creates the pod (from the
// Deployment through a ReplicaSet, onto which the Deployment controller copies the record), and
// likewise-scheduler, running as system:kube-scheduler, resolves the type from the owner it may
// read. The node of the recorded type is the fuller one, so an untyped pod would go to the other.
func TestRecordedTypeOnFirstAttempt(t *testing.T) {
	for _, tc := range []struct {
		kind string
		typ  string
	}{
		{kind: "StatefulSet", typ: apis.WorkloadOLTP},
		{kind: "Deployment", typ: apis.WorkloadOLAP},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			ctx, nodes, ns, caseName := newCase(t, []localcluster.NodeSpec{{}, {}}, "8", "32Gi")
			other := apis.WorkloadOLAP
			if tc.typ == apis.WorkloadOLAP {
				other = apis.WorkloadOLTP
			}
			// nodes[0] is of the recorded type and half full; nodes[1] of the other type, nearly empty.
			prebind(ctx, t, ns, caseName, "resident-0", nodes[0], tc.typ, "4", "16Gi")
			prebind(ctx, t, ns, caseName, "resident-1", nodes[1], other, "500m", "1Gi")

			template := scenario.Pod{Name: "db", Labels: map[string]string{"app": "db"}, CPU: "1", Memory: "1Gi"}.Build(ns, profileLikewise, caseName)
			meta := metav1.ObjectMeta{Name: "db", Namespace: ns, Annotations: map[string]string{
				apis.AnnotationWorkloadTypeRecord: tc.typ,
				apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier,
			}}
			spec := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template.Labels}, Spec: template.Spec}
			selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
			var err error
			switch tc.kind {
			case "StatefulSet":
				_, err = client().AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: meta,
					Spec: appsv1.StatefulSetSpec{Replicas: new(int32(1)), Selector: selector, Template: spec}}, metav1.CreateOptions{})
			case "Deployment":
				_, err = client().AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: meta,
					Spec: appsv1.DeploymentSpec{Replicas: new(int32(1)), Selector: selector, Template: spec}}, metav1.CreateOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			placement, err := scenario.WaitPlaced(ctx, client(), ns, caseName, 3, placeTimeout)
			if err != nil {
				t.Fatal(err)
			}
			var pod string
			for name := range placement {
				if name != "resident-0" && name != "resident-1" {
					pod = name
				}
			}
			if got := placement[pod]; got != nodes[0] {
				t.Errorf("pod %s of the %s recorded %s on %q, want %q (the %s node); placement %v", pod, tc.kind, tc.typ, got, nodes[0], tc.typ, placement)
			}
			// No label was written by anyone: the type came from the record alone.
			p, err := client().CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := p.Labels[apis.LabelWorkloadType]; ok {
				t.Errorf("pod %s has label %s=%s, want none", pod, apis.LabelWorkloadType, v)
			}
		})
	}
}
