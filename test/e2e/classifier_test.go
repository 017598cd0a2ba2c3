package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
)

// TestTypeFromTheWorkload: a user declares a StatefulSet's type on the StatefulSet itself (the
// record annotation), not on its pods. The scheduler places the pod by that type on its first
// attempt (node b, the olap node), and the classifier labels the pod from the record at once,
// as the person's (source manual), saying so in an Event, without sampling it.
func TestTypeFromTheWorkload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t)
	_, b, _ := typedNodes(ctx, t, ns)
	tmpl := template("ledger", databaseScheduler, map[string]string{apis.LabelClassify: apis.ClassifyEnabled})
	sts := statefulSet(ns, "ledger", tmpl, map[string]string{apis.AnnotationWorkloadTypeRecord: apis.WorkloadOLAP})
	if _, err := client.AppsV1().StatefulSets(ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pods := waitPods(ctx, t, ns, "app=ledger", "ledger-0 running and labelled olap by the classifier", func(pods []corev1.Pod) bool {
		return len(pods) == 1 && running(pods[0]) && pods[0].Labels[apis.LabelWorkloadType] == apis.WorkloadOLAP
	})
	p := pods[0]
	if p.Spec.NodeName != b {
		t.Errorf("%s on %s, want %s: the record on its StatefulSet types it before it is labelled", p.Name, p.Spec.NodeName, b)
	}
	// The person's type, carried to the pod: the classifier will not overwrite it.
	if got := p.Annotations[apis.AnnotationWorkloadTypeSource]; got != apis.WorkloadTypeSourceManual {
		t.Errorf("%s: %s=%q, want %q (the record's author)", p.Name, apis.AnnotationWorkloadTypeSource, got, apis.WorkloadTypeSourceManual)
	}
	got := events(ctx, t, ns, string(p.UID), controller.Name)
	if !slices.Contains(got, controller.ReasonWorkloadTypeFromRecord) {
		t.Errorf("%s: Events %v from %s, want %s", p.Name, got, controller.Name, controller.ReasonWorkloadTypeFromRecord)
	}
}
