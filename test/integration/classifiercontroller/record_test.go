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
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// testTypeFollowsTheWorkload: a StatefulSet's database pod is classified by sampling; the
// classifier records the type on the StatefulSet; the pod is deleted and the StatefulSet
// recreates it; the replacement is labelled from the record at once, without a sample (no
// confidence or reasons, an Event naming the record).
func testTypeFollowsTheWorkload(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "record")
	first := c.createStatefulSet(ctx, "rec", plaintext()) // its server runs without TLS
	c.startDatabase(ctx, first, scenario.DatabaseOptions{Workload: scenario.WorkloadOLTP})

	classified := c.waitPod(ctx, "rec-0", labelTimeout, "labelled oltp by sampling", labelIs(apis.WorkloadOLTP))
	checkClassified(t, classified, apis.WorkloadOLTP)
	want := map[string]string{apis.AnnotationWorkloadTypeRecord: apis.WorkloadOLTP, apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier}
	if diff := cmp.Diff(want, c.recordOn(ctx, "rec")); diff != "" {
		t.Fatalf("record on StatefulSet %s/rec (-want,+got):\n%s", c.ns, diff)
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

// createStatefulSet creates a one-replica StatefulSet of CloudNativePG-style instance pods of
// cluster name, bound to the case's node and annotated with annotations, and returns its pod
// once it runs.
func (c *dbCase) createStatefulSet(ctx context.Context, name string, annotations map[string]string) *corev1.Pod {
	c.t.Helper()
	labels := map[string]string{"cnpg.io/cluster": name, "cnpg.io/podRole": "instance", "app": name}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas: new(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					NodeName:   c.node,
					Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}},
				},
			},
		},
	}
	if _, err := cluster.Client().AppsV1().StatefulSets(c.ns).Create(ctx, sts, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	// The StatefulSet controller creates the pod; WaitRunning wants it to exist.
	c.waitPod(ctx, name+"-0", time.Minute, "created by the StatefulSet", func(*corev1.Pod) bool { return true })
	pods, err := scenario.WaitRunning(ctx, cluster.Client(), c.ns, []string{name + "-0"}, time.Minute)
	if err != nil {
		c.t.Fatal(err)
	}
	return pods[name+"-0"]
}

// recordOn waits for the classifier's record on StatefulSet name and returns its type and source.
func (c *dbCase) recordOn(ctx context.Context, name string) map[string]string {
	c.t.Helper()
	var record map[string]string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		s, err := cluster.Client().AppsV1().StatefulSets(c.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		record = map[string]string{
			apis.AnnotationWorkloadTypeRecord: s.Annotations[apis.AnnotationWorkloadTypeRecord],
			apis.AnnotationWorkloadTypeSource: s.Annotations[apis.AnnotationWorkloadTypeSource],
		}
		return record[apis.AnnotationWorkloadTypeRecord] != "", nil
	})
	if err != nil {
		c.t.Errorf("no record on StatefulSet %s/%s: %v", c.ns, name, err)
	}
	return record
}
