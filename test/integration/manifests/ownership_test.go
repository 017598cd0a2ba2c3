package manifests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// componentBases are the components' kustomizations; each holds only its own objects.
var componentBases = []string{scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase}

// componentRights are what each component's ServiceAccount needs to run, asked of the API
// server as SubjectAccessReviews in the namespace it runs in.
func componentRights(namespace string) map[string][]authorizationv1.SubjectAccessReviewSpec {
	return map[string][]authorizationv1.SubjectAccessReviewSpec{
		scenario.SchedulerBase: {
			resourceAttrs("update", "coordination.k8s.io", "leases", namespace, "likewise-scheduler"),
			subresourceAttrs("create", "pods", "binding", "databases"),
			resourceAttrs("get", "", "configmaps", metav1.NamespaceSystem, "extension-apiserver-authentication"),
		},
		scenario.ClassifierBase: {
			resourceAttrs("update", "coordination.k8s.io", "leases", namespace, scenario.ClassifierName),
			resourceAttrs("patch", "", "pods", "databases", ""),
			resourceAttrs("get", "", "configmaps", metav1.NamespaceSystem, "extension-apiserver-authentication"),
		},
		scenario.RebalancerBase: {
			resourceAttrs("update", "coordination.k8s.io", "leases", namespace, scenario.RebalancerName),
			resourceAttrs("watch", "coordination.k8s.io", "leases", namespace, ""),
			subresourceAttrs("create", "pods", "eviction", "databases"),
			resourceAttrs("get", "", "configmaps", metav1.NamespaceSystem, "extension-apiserver-authentication"),
		},
	}
}

func subresourceAttrs(verb, resource, subresource, namespace string) authorizationv1.SubjectAccessReviewSpec {
	a := resourceAttrs(verb, "", resource, namespace, "")
	a.ResourceAttributes.Subresource = subresource
	return a
}

// serviceAccountOf is the name of the ServiceAccount a component's base holds.
func serviceAccountOf(t *testing.T, objs []*unstructured.Unstructured) (namespace, name string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == "ServiceAccount" {
			return o.GetNamespace(), o.GetName()
		}
	}
	t.Fatal("no ServiceAccount")
	return "", ""
}

// checkRights asks the API server whether base's ServiceAccount still has its rights.
func checkRights(ctx context.Context, t *testing.T, base string, objs []*unstructured.Unstructured) {
	t.Helper()
	ns, name := serviceAccountOf(t, objs)
	for _, attrs := range componentRights(ns)[base] {
		attrs.User = "system:serviceaccount:" + ns + ":" + name
		attrs.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
		r, err := cluster.Client().AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: attrs}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Status.Allowed {
			a := attrs.ResourceAttributes
			t.Errorf("%s may not %s %s %s/%s: %s", attrs.User, a.Verb, a.Resource, a.Namespace, a.Name, r.Status.Reason)
		}
	}
	// Its ServiceAccount still exists and gets tokens.
	if _, err := cluster.KubeconfigForServiceAccount(ctx, ns, name); err != nil {
		t.Errorf("a token for %s/%s: %v", ns, name, err)
	}
}

func objResource(t *testing.T, a *scenario.Applier, o *unstructured.Unstructured) dynamic.ResourceInterface {
	t.Helper()
	r, err := a.Resource(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func describe(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetKind() + " " + o.GetName()
	}
	return o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
}

// TestDeletingABaseLeavesTheOthers installs manifests/common and every component's base, then
// deletes one base's objects as `kubectl delete -k` does (every object the base renders) and
// waits until they are gone: every object of manifests/common and of the other bases is still
// there and not being deleted (the likewise-system Namespace above all: deleting it takes
// everything in it), and the other components' ServiceAccounts still have their rights.
func TestDeletingABaseLeavesTheOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rendered := map[string][]*unstructured.Unstructured{}
	for _, b := range append([]string{scenario.CommonBase}, componentBases...) {
		objs, err := scenario.Kustomize(b)
		if err != nil {
			t.Fatal(err)
		}
		rendered[b] = objs
	}
	a := newApplier(t)
	// The package's other tests find the bases installed as shipped.
	t.Cleanup(func() {
		for _, b := range componentBases {
			if err := scenario.InstallBase(context.Background(), cluster, b); err != nil {
				t.Errorf("reinstalling %s: %v", b, err)
			}
		}
	})
	for _, deleted := range componentBases {
		t.Run(deleted, func(t *testing.T) {
			for _, b := range componentBases {
				if err := scenario.InstallBase(ctx, cluster, b); err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range rendered[deleted] {
				err := objResource(t, a, o).Delete(ctx, o.GetName(), metav1.DeleteOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Fatalf("deleting %s: %v", describe(o), err)
				}
			}
			for _, o := range rendered[deleted] {
				err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
					_, err := objResource(t, a, o).Get(ctx, o.GetName(), metav1.GetOptions{})
					return apierrors.IsNotFound(err), nil
				})
				if err != nil {
					t.Fatalf("%s of %s still there: %v", describe(o), deleted, err)
				}
			}
			for _, b := range append([]string{scenario.CommonBase}, componentBases...) {
				if b == deleted {
					continue
				}
				for _, o := range rendered[b] {
					if o.GetKind() == "Deployment" {
						continue // InstallBase applies none: KWOK runs no containers
					}
					got, err := objResource(t, a, o).Get(ctx, o.GetName(), metav1.GetOptions{})
					switch {
					case err != nil:
						t.Errorf("%s of %s: %v", describe(o), b, err)
					case got.GetDeletionTimestamp() != nil:
						t.Errorf("%s of %s is being deleted", describe(o), b)
					}
				}
				if b != scenario.CommonBase {
					checkRights(ctx, t, b, rendered[b])
				}
			}
			ns, err := cluster.Client().CoreV1().Namespaces().Get(ctx, scenario.ClassifierNamespace, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ns.Status.Phase != corev1.NamespaceActive {
				t.Errorf("namespace %s is %s, want %s", ns.Name, ns.Status.Phase, corev1.NamespaceActive)
			}
		})
	}
}

// otherNamespace is the namespace of the overlays in testdata/other-namespace.
const otherNamespace = "databases-control"

// TestOverlayInAnotherNamespace renders the overlays of testdata/other-namespace, a user's
// kustomizations that set `namespace: databases-control` over manifests/common and each base
// (and list the base's follow-namespace transformers): every namespaced object is in that
// namespace but the RoleBindings to kube-system's authentication reader, which stay in
// kube-system; every binding's subject, each admission policy's username and every lease the
// Deployments name follow it; likewise-system appears nowhere but in the scheduler config's
// text, which the Deployments' flags override. Applied for real, each ServiceAccount has its
// rights there, and the classifier's policy guards its ServiceAccount of that namespace.
func TestOverlayInAnotherNamespace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const overlays = "test/integration/manifests/testdata/other-namespace/"
	dirs := map[string]string{
		scenario.CommonBase:     overlays + "common",
		scenario.SchedulerBase:  overlays + "scheduler",
		scenario.ClassifierBase: overlays + "classifier",
		scenario.RebalancerBase: overlays + "rebalancer",
	}
	rendered := map[string][]*unstructured.Unstructured{}
	for _, base := range append([]string{scenario.CommonBase}, componentBases...) {
		objs, err := scenario.Kustomize(dirs[base])
		if err != nil {
			t.Fatal(err)
		}
		rendered[base] = objs
		shipped, err := scenario.Kustomize(base)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != len(shipped) {
			t.Errorf("%s renders %d objects, %s %d", dirs[base], len(objs), base, len(shipped))
		}
		t.Run(base, func(t *testing.T) {
			for _, o := range objs {
				checkFollows(t, o)
			}
		})
	}
	var namespaces []string
	for _, o := range rendered[scenario.CommonBase] {
		if o.GetKind() == "Namespace" {
			namespaces = append(namespaces, o.GetName())
		}
	}
	if diff := cmp.Diff([]string{otherNamespace}, namespaces); diff != "" {
		t.Errorf("%s Namespaces (-want,+got):\n%s", dirs[scenario.CommonBase], diff)
	}
	wantArgs := map[string]string{
		"likewise-scheduler":    "--leader-elect-resource-namespace=$(POD_NAMESPACE)",
		scenario.ClassifierName: "--leader-elect-resource-namespace=$(POD_NAMESPACE)",
		scenario.RebalancerName: "--scheduler-lease=$(POD_NAMESPACE)/likewise-scheduler",
	}
	for _, base := range componentBases {
		for _, o := range rendered[base] {
			if o.GetKind() != "Deployment" {
				continue
			}
			var args []string
			containers, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			if len(containers) == 1 {
				args, _, _ = unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
			}
			if want := wantArgs[o.GetName()]; !slices.Contains(args, want) {
				t.Errorf("Deployment %s args %q, want %s among them: its lease would be elsewhere than its Role grants", o.GetName(), args, want)
			}
		}
	}

	// For real: the overlays' objects (Deployments aside), then what each ServiceAccount may do.
	a := newApplier(t)
	t.Cleanup(func() {
		// The cluster-scoped objects (bindings, policies) have the shipped bases' names: restore them.
		for _, b := range componentBases {
			if err := scenario.InstallBase(context.Background(), cluster, b); err != nil {
				t.Errorf("reinstalling %s: %v", b, err)
			}
		}
		_ = cluster.Client().CoreV1().Namespaces().Delete(context.Background(), otherNamespace, metav1.DeleteOptions{})
	})
	for _, base := range append([]string{scenario.CommonBase}, componentBases...) {
		for _, o := range rendered[base] {
			if o.GetKind() == "Deployment" {
				continue
			}
			if err := a.Apply(ctx, o, false); err != nil {
				t.Fatalf("%s: %v", dirs[base], err)
			}
		}
	}
	for _, base := range componentBases {
		checkRights(ctx, t, base, rendered[base])
	}

	b := loadAdmissionBase(t, dirs[scenario.ClassifierBase], scenario.ClassifierName)
	if b.namespace != otherNamespace {
		t.Fatalf("classifier's ServiceAccount in %s, want %s", b.namespace, otherNamespace)
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
	patch := func(ctx context.Context, c admissionCase, dryRun bool) error {
		opts := metav1.PatchOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := as.CoreV1().Pods(ns).Patch(ctx, pod.Name, c.patchType, []byte(c.patch), opts)
		return err
	}
	foreign := admissionCase{name: "foreign label", patchType: types.MergePatchType, patch: `{"metadata":{"labels":{"app":"other"}}}`, refusedBy: validationLabels}
	b.waitEnforced(ctx, t, func(ctx context.Context) error {
		return patch(ctx, admissionCase{patchType: types.StrategicMergePatchType, patch: `{"spec":{"containers":[{"name":"postgres","image":"attacker/postgres:15"}]}}`}, true)
	})
	b.check(t, foreign, patch(ctx, foreign, false))
	own := admissionCase{name: "own label", patchType: types.MergePatchType, refusedBy: -1,
		patch: fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, apis.LabelWorkloadType, apis.WorkloadOLTP)}
	b.check(t, own, patch(ctx, own, false))
}

// checkFollows fails unless o names otherNamespace wherever it names a namespace of likewise's.
func checkFollows(t *testing.T, o *unstructured.Unstructured) {
	t.Helper()
	kubeSystem := o.GetKind() == "RoleBinding" && strings.HasSuffix(o.GetName(), "authentication-reader")
	switch ns := o.GetNamespace(); {
	case kubeSystem && ns != metav1.NamespaceSystem:
		t.Errorf("%s in %q, want %s (beside the Role it binds)", describe(o), ns, metav1.NamespaceSystem)
	case !kubeSystem && ns != "" && ns != otherNamespace:
		t.Errorf("%s in %q, want %s", describe(o), ns, otherNamespace)
	}
	if o.GetKind() == "Namespace" {
		return
	}
	switch o.GetKind() {
	case "RoleBinding", "ClusterRoleBinding":
		subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
		if len(subjects) == 0 {
			t.Errorf("%s has no subjects", describe(o))
		}
		for _, s := range subjects {
			s := s.(map[string]any)
			if s["kind"] == "ServiceAccount" && s["namespace"] != otherNamespace {
				t.Errorf("%s binds ServiceAccount %v/%v, want it in %s", describe(o), s["namespace"], s["name"], otherNamespace)
			}
		}
	case "ValidatingAdmissionPolicy":
		conditions, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConditions")
		want := fmt.Sprintf("request.userInfo.username == 'system:serviceaccount:%s:%s'", otherNamespace, o.GetName())
		if len(conditions) != 1 || conditions[0].(map[string]any)["expression"] != want {
			t.Errorf("%s matchConditions %v, want one: %s", describe(o), conditions, want)
		}
	}
	// The shipped namespace nowhere else (a ConfigMap's text aside: the scheduler config's
	// leaderElection, which the Deployments' flags override).
	if o.GetKind() == "ConfigMap" {
		return
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			if strings.Contains(v, scenario.ClassifierNamespace) {
				t.Errorf("%s %s = %q names %s", describe(o), path, v, scenario.ClassifierNamespace)
			}
		}
	}
	walk("", o.Object)
}
