package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// The validations of each component's ValidatingAdmissionPolicy, in the manifests' order.
const (
	validationSpec = iota
	validationLabels
	validationAnnotations
)

// admissionBase is what a test needs of a component's base: the ServiceAccount its policy
// guards and the policy's validation messages.
type admissionBase struct {
	namespace, serviceAccount, policy string
	messages                          []string
}

// loadAdmissionBase builds dir and finds the ServiceAccount and the ValidatingAdmissionPolicy of
// component name (they share the name).
func loadAdmissionBase(t *testing.T, dir, name string) admissionBase {
	t.Helper()
	objs, err := scenario.Kustomize(dir)
	if err != nil {
		t.Fatal(err)
	}
	b := admissionBase{serviceAccount: name, policy: name}
	for _, o := range objs {
		switch {
		case o.GetKind() == "ServiceAccount" && o.GetName() == name:
			b.namespace = o.GetNamespace()
		case o.GetKind() == "ValidatingAdmissionPolicy" && o.GetName() == name:
			validations, _, _ := unstructured.NestedSlice(o.Object, "spec", "validations")
			for _, v := range validations {
				msg, _, _ := unstructured.NestedString(v.(map[string]any), "message")
				b.messages = append(b.messages, msg)
			}
		}
	}
	if b.namespace == "" || len(b.messages) <= validationAnnotations {
		t.Fatalf("%s: no ServiceAccount %s, or no ValidatingAdmissionPolicy %s with its validations", dir, name, name)
	}
	return b
}

// clientAs returns a clientset authenticating as the base's ServiceAccount.
func (b admissionBase) clientAs(ctx context.Context, t *testing.T) kubernetes.Interface {
	t.Helper()
	path, err := cluster.KubeconfigForServiceAccount(ctx, b.namespace, b.serviceAccount)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// waitEnforced waits until the policy, applied a moment ago, refuses a dry-run patch as its
// ServiceAccount (the API server loads policies asynchronously), and then that the API server
// checked its expressions without a warning.
func (b admissionBase) waitEnforced(ctx context.Context, t *testing.T, dryRunPatch func(ctx context.Context) error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		err := dryRunPatch(ctx)
		if ctx.Err() == nil { // not the client's own refusal to wait past the deadline
			last = err
		}
		return b.refusedBy(err, validationSpec), nil
	})
	if err != nil {
		t.Fatalf("ValidatingAdmissionPolicy %s not enforced: the last dry-run patch returned %v", b.policy, last)
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := cluster.Client().AdmissionregistrationV1().ValidatingAdmissionPolicies().Get(ctx, b.policy, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.ObservedGeneration != p.Generation || p.Status.TypeChecking == nil {
			return false, nil
		}
		for _, w := range p.Status.TypeChecking.ExpressionWarnings {
			t.Errorf("ValidatingAdmissionPolicy %s: %s: %s", b.policy, w.FieldRef, w.Warning)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("ValidatingAdmissionPolicy %s: no type checking reported: %v", b.policy, err)
	}
}

// refusedBy says whether err is the policy's refusal with validation i's message.
func (b admissionBase) refusedBy(err error, i int) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), b.messages[i])
}

// admissionCase is one patch as the ServiceAccount: accepted (refusedBy < 0) or refused with the
// message of validation refusedBy.
type admissionCase struct {
	name      string
	patchType types.PatchType
	patch     string
	refusedBy int
}

func (b admissionBase) check(t *testing.T, c admissionCase, err error) {
	t.Helper()
	switch {
	case c.refusedBy < 0 && err != nil:
		t.Errorf("refused: %v", err)
	case c.refusedBy >= 0 && err == nil:
		t.Errorf("accepted, want refused with %q", b.messages[c.refusedBy])
	case c.refusedBy >= 0 && !b.refusedBy(err, c.refusedBy):
		t.Errorf("got %v, want Forbidden with %q", err, b.messages[c.refusedBy])
	}
}

// TestClassifierAdmissionPolicy applies manifests/classifier/base for real and patches a pod as
// likewise-classifier: a new image and a foreign label are refused with the policy's messages,
// its own label and annotations are accepted. The admin, whom the policy does not match, may
// still change the pod.
func TestClassifierAdmissionPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := loadAdmissionBase(t, scenario.ClassifierBase, scenario.ClassifierName)
	if err := scenario.InstallBase(ctx, cluster, scenario.ClassifierBase); err != nil {
		t.Fatal(err)
	}
	ns := admissionNamespace(ctx, t)
	pod, err := cluster.Client().CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns, Labels: map[string]string{"app": "db"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	as := b.clientAs(ctx, t)
	image := `{"spec":{"containers":[{"name":"postgres","image":"attacker/postgres:15"}]}}`
	patch := func(ctx context.Context, c admissionCase, dryRun bool) error {
		opts := metav1.PatchOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := as.CoreV1().Pods(ns).Patch(ctx, pod.Name, c.patchType, []byte(c.patch), opts)
		return err
	}
	b.waitEnforced(ctx, t, func(ctx context.Context) error {
		return patch(ctx, admissionCase{patchType: types.StrategicMergePatchType, patch: image}, true)
	})

	for _, c := range []admissionCase{
		{name: "image", patchType: types.StrategicMergePatchType, patch: image, refusedBy: validationSpec},
		{name: "foreign label", patchType: types.MergePatchType, patch: `{"metadata":{"labels":{"app":"other"}}}`, refusedBy: validationLabels},
		{name: "foreign label removed", patchType: types.MergePatchType, patch: `{"metadata":{"labels":{"app":null}}}`, refusedBy: validationLabels},
		{name: "foreign annotation", patchType: types.MergePatchType, patch: `{"metadata":{"annotations":{"example.com/owner":"x"}}}`, refusedBy: validationAnnotations},
		{name: "own label and annotations", patchType: types.MergePatchType, refusedBy: -1, patch: fmt.Sprintf(
			`{"metadata":{"labels":{%q:%q},"annotations":{%q:%q,%q:%q}}}`, apis.LabelWorkloadType, apis.WorkloadOLTP,
			apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceClassifier, apis.AnnotationWorkloadConfidence, "0.90")},
	} {
		t.Run(c.name, func(t *testing.T) { b.check(t, c, patch(ctx, c, false)) })
	}
	got, err := cluster.Client().CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantLabels := map[string]string{"app": "db", apis.LabelWorkloadType: apis.WorkloadOLTP}
	wantAnnotations := map[string]string{apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier, apis.AnnotationWorkloadConfidence: "0.90"}
	if diff := cmp.Diff(wantLabels, got.Labels); diff != "" {
		t.Errorf("pod labels (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(wantAnnotations, got.Annotations); diff != "" {
		t.Errorf("pod annotations (-want,+got):\n%s", diff)
	}
	if img := got.Spec.Containers[0].Image; img != scenario.PodImage {
		t.Errorf("pod image %s, want %s", img, scenario.PodImage)
	}

	// Only the ServiceAccount is matched: anyone else is judged by RBAC alone.
	if _, err := cluster.Client().CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"app":"other"}}}`), metav1.PatchOptions{}); err != nil {
		t.Errorf("the admin's patch of a foreign label: %v", err)
	}
}

// TestRebalancerAdmissionPolicy applies manifests/rebalancer/base for real and, as
// likewise-rebalancer, patches a StatefulSet: a foreign annotation and a new replica count are
// refused, its own type record accepted. It can still evict a pod of a ReplicaSet: an eviction is
// a CREATE of pods/eviction, which the policy does not match.
func TestRebalancerAdmissionPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := loadAdmissionBase(t, scenario.RebalancerBase, scenario.RebalancerName)
	if err := scenario.InstallBase(ctx, cluster, scenario.RebalancerBase); err != nil {
		t.Fatal(err)
	}
	ns := admissionNamespace(ctx, t)
	obj, err := scenario.DatabaseWorkload{Name: "db", Kind: "StatefulSet", Replicas: 1}.Object(ns, "", "admission")
	if err != nil {
		t.Fatal(err)
	}
	sts, err := cluster.Client().AppsV1().StatefulSets(ns).Create(ctx, obj.(*appsv1.StatefulSet), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	as := b.clientAs(ctx, t)
	replicas := `{"spec":{"replicas":3}}`
	patch := func(ctx context.Context, c admissionCase, dryRun bool) error {
		opts := metav1.PatchOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := as.AppsV1().StatefulSets(ns).Patch(ctx, sts.Name, c.patchType, []byte(c.patch), opts)
		return err
	}
	b.waitEnforced(ctx, t, func(ctx context.Context) error {
		return patch(ctx, admissionCase{patchType: types.MergePatchType, patch: replicas}, true)
	})

	for _, c := range []admissionCase{
		{name: "foreign annotation", patchType: types.MergePatchType, patch: `{"metadata":{"annotations":{"example.com/owner":"x"}}}`, refusedBy: validationAnnotations},
		{name: "replicas", patchType: types.MergePatchType, patch: replicas, refusedBy: validationSpec},
		{name: "image", patchType: types.StrategicMergePatchType, refusedBy: validationSpec,
			patch: `{"spec":{"template":{"spec":{"containers":[{"name":"postgres","image":"attacker/postgres:15"}]}}}}`},
		{name: "type record", patchType: types.MergePatchType, refusedBy: -1, patch: fmt.Sprintf(
			`{"metadata":{"annotations":{%q:%q,%q:%q}}}`, apis.AnnotationWorkloadTypeRecord, apis.WorkloadOLAP,
			apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceRebalancer)},
	} {
		t.Run(c.name, func(t *testing.T) { b.check(t, c, patch(ctx, c, false)) })
	}
	got, err := cluster.Client().AppsV1().StatefulSets(ns).Get(ctx, sts.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantAnnotations := map[string]string{apis.AnnotationWorkloadTypeRecord: apis.WorkloadOLAP, apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceRebalancer}
	if diff := cmp.Diff(wantAnnotations, got.Annotations); diff != "" {
		t.Errorf("StatefulSet annotations (-want,+got):\n%s", diff)
	}
	if r := ptr.Deref(got.Spec.Replicas, 0); r != 1 {
		t.Errorf("StatefulSet replicas %d, want 1", r)
	}

	t.Run("eviction", func(t *testing.T) {
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: ptr.To[int32](1),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: scenario.PodImage}}},
				},
			},
		}
		if _, err := cluster.Client().AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var pod corev1.Pod
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			list, err := cluster.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			if err != nil || len(list.Items) == 0 {
				return false, err
			}
			pod = list.Items[0]
			return true, nil
		})
		if err != nil {
			t.Fatalf("ReplicaSet %s/%s made no pod: %v", ns, rs.Name, err)
		}
		eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: ns}}
		if err := as.PolicyV1().Evictions(ns).Evict(ctx, eviction); err != nil {
			t.Fatalf("evicting pod %s/%s as %s: %v", ns, pod.Name, b.serviceAccount, err)
		}
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			p, err := cluster.Client().CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return err == nil && (p.UID != pod.UID || p.DeletionTimestamp != nil), err
		})
		if err != nil {
			t.Errorf("pod %s/%s not deleted after its eviction: %v", ns, pod.Name, err)
		}
	})
}

// TestAdmissionPolicyFollowsNamespace: each policy matches its ServiceAccount by username, whose
// namespace kustomize's replacements take from the ServiceAccount: in the base as shipped, and in
// a copy of the base whose namespace a user changed. The two policies validate alike.
func TestAdmissionPolicyFollowsNamespace(t *testing.T) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var specs []map[string]any
	for _, c := range []struct{ dir, name string }{
		{scenario.ClassifierBase, scenario.ClassifierName},
		{scenario.RebalancerBase, scenario.RebalancerName},
	} {
		for _, namespace := range []string{"", "databases-control"} {
			t.Run(c.dir+"/"+namespace, func(t *testing.T) {
				fs := filesys.MakeFsInMemory()
				// The base's transformers beside it, as in the repository.
				follow := filepath.Join(filepath.Dir(c.dir), "follow-namespace")
				entries, err := os.ReadDir(filepath.Join(root, follow))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					data, err := os.ReadFile(filepath.Join(root, follow, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					if err := fs.WriteFile(filepath.Join("/follow-namespace", e.Name()), data); err != nil {
						t.Fatal(err)
					}
				}
				entries, err = os.ReadDir(filepath.Join(root, c.dir))
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					data, err := os.ReadFile(filepath.Join(root, c.dir, e.Name()))
					if err != nil {
						t.Fatal(err)
					}
					if e.Name() == "kustomization.yaml" && namespace != "" {
						edited := strings.Replace(string(data), "\nnamespace: likewise-system\n", "\nnamespace: "+namespace+"\n", 1)
						if edited == string(data) {
							t.Fatalf("%s/kustomization.yaml sets no namespace: likewise-system", c.dir)
						}
						data = []byte(edited)
					}
					if err := fs.WriteFile(filepath.Join("/base", e.Name()), data); err != nil {
						t.Fatal(err)
					}
				}
				res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, "/base")
				if err != nil {
					t.Fatal(err)
				}
				var saNamespace, condition string
				var spec map[string]any
				for _, r := range res.Resources() {
					switch {
					case r.GetKind() == "ServiceAccount" && r.GetName() == c.name:
						saNamespace = r.GetNamespace()
					case r.GetKind() == "ValidatingAdmissionPolicy" && r.GetName() == c.name:
						m, err := r.Map()
						if err != nil {
							t.Fatal(err)
						}
						conditions, _, _ := unstructured.NestedSlice(m, "spec", "matchConditions")
						if len(conditions) != 1 {
							t.Fatalf("policy %s has %d matchConditions, want 1", c.name, len(conditions))
						}
						condition, _, _ = unstructured.NestedString(conditions[0].(map[string]any), "expression")
						spec, _, _ = unstructured.NestedMap(m, "spec")
					}
				}
				want := fmt.Sprintf("request.userInfo.username == 'system:serviceaccount:%s:%s'", saNamespace, c.name)
				if saNamespace == "" || (namespace != "" && saNamespace != namespace) {
					t.Fatalf("ServiceAccount %s in namespace %q, want %q", c.name, saNamespace, namespace)
				}
				if condition != want {
					t.Errorf("policy %s matches %q, want %q", c.name, condition, want)
				}
				if namespace == "" {
					// Only the match and the messages' subject name the component.
					delete(spec, "matchConditions")
					data := strings.ReplaceAll(fmt.Sprint(spec), c.name, "<component>")
					specs = append(specs, map[string]any{"spec": data})
				}
			})
		}
	}
	if len(specs) == 2 {
		if diff := cmp.Diff(specs[0], specs[1]); diff != "" {
			t.Errorf("the classifier's and the rebalancer's policies differ (-classifier,+rebalancer):\n%s", diff)
		}
	}
}

// admissionNamespace creates a namespace for one test, deleted after it.
func admissionNamespace(ctx context.Context, t *testing.T) string {
	t.Helper()
	ns, err := cluster.CreateNamespace(ctx, "admission-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client().CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}
