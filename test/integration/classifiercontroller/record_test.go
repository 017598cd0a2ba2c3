package classifiercontroller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/test/scenario"
)

// testTypeFollowsTheWorkload: a StatefulSet's database pod is classified by sampling; the
// classifier records the type on the StatefulSet; the pod is deleted and the StatefulSet
// recreates it; the replacement is labelled from the record at once, without a sample (no
// confidence or reasons, an Event naming the record).
func testTypeFollowsTheWorkload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "record")
	labels := map[string]string{"cnpg.io/cluster": "rec", "cnpg.io/podRole": "instance", "app": "rec"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "rec", Namespace: c.ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "rec"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeName:   c.node,
					Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}},
				},
			},
		},
	}
	statefulSets := cluster.Client().AppsV1().StatefulSets(c.ns)
	if _, err := statefulSets.Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The StatefulSet controller creates the pod; WaitRunning wants it to exist.
	c.waitPod(ctx, "rec-0", time.Minute, "created by the StatefulSet", func(*corev1.Pod) bool { return true })
	pods, err := scenario.WaitRunning(ctx, cluster.Client(), c.ns, []string{"rec-0"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	first := pods["rec-0"]
	c.startDatabase(ctx, first, scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})

	classified := c.waitPod(ctx, "rec-0", labelTimeout, "labelled oltp by sampling", labelIs(apis.WorkloadOLTP))
	checkClassified(t, classified, apis.WorkloadOLTP)
	var record map[string]string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := statefulSets.Get(ctx, "rec", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		record = map[string]string{
			apis.AnnotationWorkloadTypeRecord: s.Annotations[apis.AnnotationWorkloadTypeRecord],
			apis.AnnotationWorkloadTypeSource: s.Annotations[apis.AnnotationWorkloadTypeSource],
		}
		return record[apis.AnnotationWorkloadTypeRecord] != "", nil
	})
	want := map[string]string{apis.AnnotationWorkloadTypeRecord: apis.WorkloadOLTP, apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier}
	if diff := cmp.Diff(want, record); err != nil || diff != "" {
		t.Fatalf("record on StatefulSet %s/rec (-want,+got):\n%s\n%v", c.ns, diff, err)
	}
	if e := c.waitEvent(ctx, classified, "WorkloadTypeRecorded", 30*time.Second); e.Note != "recorded workload type oltp on StatefulSet "+c.ns+"/rec" {
		t.Errorf("WorkloadTypeRecorded note %q", e.Note)
	}

	// The owner recreates the pod: same name, new UID, no label in its template.
	if err := cluster.Client().CoreV1().Pods(c.ns).Delete(ctx, "rec-0", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	replacement := c.waitPod(ctx, "rec-0", time.Minute, "recreated and labelled oltp", func(p *corev1.Pod) bool {
		return p.UID != first.UID && labelIs(apis.WorkloadOLTP)(p)
	})
	gotAnnotations := map[string]string{}
	for _, k := range []string{apis.AnnotationWorkloadTypeSource, apis.AnnotationWorkloadMeasured, apis.AnnotationWorkloadConfidence, apis.AnnotationWorkloadReasons} {
		if v, ok := replacement.Annotations[k]; ok {
			gotAnnotations[k] = v
		}
	}
	wantAnnotations := map[string]string{apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier, apis.AnnotationWorkloadMeasured: apis.WorkloadOLTP}
	if diff := cmp.Diff(wantAnnotations, gotAnnotations); diff != "" {
		t.Errorf("replacement's annotations (-want,+got): no confidence or reasons, since it was not sampled:\n%s", diff)
	}
	e := c.waitEvent(ctx, replacement, "WorkloadTypeFromRecord", 30*time.Second)
	if wantNote := "workload type none -> oltp from the record on StatefulSet " + c.ns + "/rec (recorded by classifier); not sampled yet"; e.Note != wantNote || e.Type != corev1.EventTypeNormal {
		t.Errorf("WorkloadTypeFromRecord Event %+v, want a Normal one noting %q", e, wantNote)
	}
	for _, e := range c.events(ctx, replacement, "WorkloadTypeChanged") {
		if strings.Contains(e.Note, "none ->") {
			t.Errorf("the replacement was labelled by sampling too: %+v", e)
		}
	}
}
