package classifiercontroller

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// TestClassifier runs the classifier's scenarios side by side, then checks that it held its
// Lease in likewise-system and was refused nothing, running as its ServiceAccount, but what the
// scenarios deny it on purpose.
func TestClassifier(t *testing.T) {
	t.Run("scenarios", func(t *testing.T) {
		t.Run("LabelsDatabasePods", func(t *testing.T) { t.Parallel(); testLabelsDatabasePods(t) })
		t.Run("FailuresLeaveLabelsAlone", func(t *testing.T) { t.Parallel(); testFailuresLeaveLabelsAlone(t) })
		t.Run("TypeFollowsTheWorkload", func(t *testing.T) { t.Parallel(); testTypeFollowsTheWorkload(t) })
		t.Run("VerifyFullOrNothing", func(t *testing.T) { t.Parallel(); testVerifyFullOrNothing(t) })
		t.Run("CredentialsChangeTakesEffect", func(t *testing.T) { t.Parallel(); testCredentialsChangeTakesEffect(t) })
		t.Run("UnresponsiveDatabasesDoNotStarve", func(t *testing.T) { t.Parallel(); testUnresponsiveDatabasesDoNotStarve(t) })
		t.Run("MixedIsPlacedAsOLAP", func(t *testing.T) { t.Parallel(); testMixedIsPlacedAsOLAP(t) })
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		lease, err := cluster.Client().CoordinationV1().Leases(scenario.ClassifierNamespace).Get(ctx, scenario.ClassifierName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil && lease.Spec.HolderIdentity != nil && *lease.Spec.HolderIdentity != "", err
	})
	if err != nil {
		t.Fatalf("no holder of Lease %s/%s: %v", scenario.ClassifierNamespace, scenario.ClassifierName, err)
	}
	log, err := scenario.ClassifierLog(cluster)
	if err != nil {
		t.Fatal(err)
	}
	denied := 0
	for _, line := range strings.Split(log, "\n") {
		// RBAC's refusals read `... is forbidden: User "system:serviceaccount:..." cannot ...`.
		if !strings.Contains(line, "forbidden: User") {
			continue
		}
		if strings.Contains(line, `secrets \"not-granted\"`) {
			denied++
			continue
		}
		t.Errorf("the classifier was refused a request: %s", line)
	}
	if denied == 0 {
		t.Errorf("the log shows no refusal of the Secret not granted on purpose: is the refusal logged at all?")
	}
}

// TestPatchIsConditional: a decision made on a pod that changed since it was read is refused
// by the API server (Conflict) instead of overwriting the change, as when a person labels a pod
// while the classifier decides about it.
func TestPatchIsConditional(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns, err := cluster.CreateNamespace(ctx, "patch-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client().CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	pods := cluster.Client().CoreV1().Pods(ns.Name)
	read, err := pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A person labels the pod after the classifier read it.
	person := read.DeepCopy()
	person.Labels = map[string]string{apis.LabelWorkloadType: apis.WorkloadOLAP}
	if _, err := pods.Update(ctx, person, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	d := controller.Decision{SetLabel: apis.WorkloadOLTP, Annotations: map[string]string{
		apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier, apis.AnnotationWorkloadMeasured: apis.WorkloadOLTP,
	}}
	if _, err := controller.PatchPod(ctx, cluster.Client(), read, d); !apierrors.IsConflict(err) {
		t.Fatalf("patch of a stale pod: error %v, want a Conflict", err)
	}
	now, err := pods.Get(ctx, "db-0", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if now.Labels[apis.LabelWorkloadType] != apis.WorkloadOLAP || now.Annotations[apis.AnnotationWorkloadTypeSource] != "" {
		t.Errorf("the person's label was overwritten: labels %v, annotations %v", now.Labels, now.Annotations)
	}
	// Decided again on the fresh pod, the label is the person's: nothing to patch.
	// (Decide is unit-tested; here the fresh pod's patch goes through.)
	if _, err := controller.PatchPod(ctx, cluster.Client(), now, controller.Decision{Annotations: map[string]string{apis.AnnotationWorkloadMeasured: apis.WorkloadOLTP}}); err != nil {
		t.Errorf("patch of the fresh pod: %v", err)
	}
}
