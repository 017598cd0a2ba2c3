package manifests

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// servedComponent is a controller whose base ships secure serving.
type servedComponent struct {
	name, base string
	port       int // the Deployment's --secure-port
	start      func(ctx context.Context, c *localcluster.Cluster, args ...string) (*scenario.Running, error)
	// args scope it to the test's empty namespace, where it can.
	args func(namespace string) []string
}

var servedComponents = []servedComponent{
	{scenario.ClassifierName, scenario.ClassifierBase, 10261, scenario.StartClassifier,
		func(ns string) []string { return []string{"--namespace=" + ns} }},
	{scenario.RebalancerName, scenario.RebalancerBase, 10262, scenario.StartRebalancer,
		func(string) []string { return nil }},
}

// TestServingRBACShapes: each base ships exactly what delegated authentication and authorization
// need, bound to its own ServiceAccount and nothing more (system:auth-delegator cluster-wide, the
// extension-apiserver-authentication-reader Role in kube-system), and the metrics-reader
// ClusterRole (get /metrics, nothing else, in manifests/common: every component's scraper needs
// it, so no component's base holds it) bound to no one; its Deployment serves HTTPS on the
// documented port, and probes it so.
func TestServingRBACShapes(t *testing.T) {
	common, err := scenario.Kustomize(scenario.CommonBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, comp := range servedComponents {
		t.Run(comp.name, func(t *testing.T) {
			own, err := scenario.Kustomize(comp.base)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range own {
				if o.GetKind() == "ClusterRole" && o.GetName() == scenario.MetricsReaderRole {
					t.Errorf("%s ships ClusterRole %s: deleting the base would take it from the other components' scrapers", comp.base, scenario.MetricsReaderRole)
				}
			}
			objs := append(slices.Clone(own), common...)
			subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: comp.name, Namespace: scenario.ClassifierNamespace}}
			var reader *rbacv1.ClusterRole
			var deployment *appsv1.Deployment
			type binding struct {
				Kind, Namespace, Name string
				RoleRef               rbacv1.RoleRef
				Subjects              []rbacv1.Subject
			}
			var delegation []binding
			for _, o := range objs {
				switch o.GetKind() {
				case "ClusterRole":
					if o.GetName() == scenario.MetricsReaderRole {
						reader = &rbacv1.ClusterRole{}
						fromUnstructured(t, o, reader)
					}
				case "ClusterRoleBinding", "RoleBinding":
					var b rbacv1.RoleBinding // a ClusterRoleBinding has the same fields
					fromUnstructured(t, o, &b)
					if b.RoleRef.Name == scenario.MetricsReaderRole {
						t.Errorf("%s %s binds %s: the component reads no metrics; bind it to your scraper", o.GetKind(), o.GetName(), scenario.MetricsReaderRole)
					}
					if b.RoleRef.Name == "system:auth-delegator" || b.RoleRef.Name == "extension-apiserver-authentication-reader" {
						delegation = append(delegation, binding{o.GetKind(), b.Namespace, b.Name, b.RoleRef, b.Subjects})
					}
				case "Deployment":
					deployment = &appsv1.Deployment{}
					fromUnstructured(t, o, deployment)
				}
			}
			if reader == nil {
				t.Fatalf("%s ships no ClusterRole %s", scenario.CommonBase, scenario.MetricsReaderRole)
			}
			wantRules := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
			if diff := cmp.Diff(wantRules, reader.Rules); diff != "" {
				t.Errorf("%s rules (-want,+got):\n%s", scenario.MetricsReaderRole, diff)
			}
			want := []binding{
				{"ClusterRoleBinding", "", comp.name + "-auth-delegator",
					rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:auth-delegator"}, subject},
				{"RoleBinding", metav1.NamespaceSystem, comp.name + "-authentication-reader",
					rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"}, subject},
			}
			if diff := cmp.Diff(want, delegation); diff != "" {
				t.Errorf("delegation bindings (-want,+got):\n%s", diff)
			}

			if deployment == nil {
				t.Fatalf("%s ships no Deployment", comp.base)
			}
			c := deployment.Spec.Template.Spec.Containers[0]
			if arg := "--secure-port=" + strconv.Itoa(comp.port); !slices.Contains(c.Args, arg) {
				t.Errorf("container args %q lack %s", c.Args, arg)
			}
			for _, a := range c.Args {
				if strings.HasPrefix(a, "--metrics-bind-address") {
					t.Errorf("container args %q still pass the removed %s", c.Args, a)
				}
			}
			wantPorts := []corev1.ContainerPort{{Name: "https", ContainerPort: int32(comp.port), Protocol: corev1.ProtocolTCP}}
			if diff := cmp.Diff(wantPorts, c.Ports); diff != "" {
				t.Errorf("container ports (-want,+got):\n%s", diff)
			}
			for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("no %s httpGet probe", name)
					continue
				}
				if p.HTTPGet.Scheme != corev1.URISchemeHTTPS || p.HTTPGet.Port.String() != "https" {
					t.Errorf("%s probe %s on port %s, want HTTPS on https", name, p.HTTPGet.Scheme, p.HTTPGet.Port.String())
				}
			}
		})
	}
}

// TestServingRBACIsLeastPrivilege applies each base for real and asks the API server what its
// ServiceAccount may do: review tokens and access, read the one ConfigMap of kube-system it
// needs, and no other ConfigMap there, nor get /metrics.
func TestServingRBACIsLeastPrivilege(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, comp := range servedComponents {
		t.Run(comp.name, func(t *testing.T) {
			if err := scenario.InstallBase(ctx, cluster, comp.base); err != nil {
				t.Fatal(err)
			}
			sa := "system:serviceaccount:" + scenario.ClassifierNamespace + ":" + comp.name
			for _, tc := range []struct {
				what  string
				attrs authorizationv1.SubjectAccessReviewSpec
				want  bool
			}{
				{"create tokenreviews", resourceAttrs("create", "authentication.k8s.io", "tokenreviews", "", ""), true},
				{"create subjectaccessreviews", resourceAttrs("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), true},
				{"get the authentication ConfigMap", resourceAttrs("get", "", "configmaps", metav1.NamespaceSystem, "extension-apiserver-authentication"), true},
				{"watch the authentication ConfigMap", resourceAttrs("watch", "", "configmaps", metav1.NamespaceSystem, "extension-apiserver-authentication"), true},
				{"get another kube-system ConfigMap", resourceAttrs("get", "", "configmaps", metav1.NamespaceSystem, "kube-proxy"), false},
				{"get /metrics", authorizationv1.SubjectAccessReviewSpec{NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}, false},
			} {
				tc.attrs.User = sa
				tc.attrs.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + scenario.ClassifierNamespace, "system:authenticated"}
				r, err := cluster.Client().AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: tc.attrs}, metav1.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status.Allowed != tc.want {
					t.Errorf("%s may %s: %v, want %v (%s)", sa, tc.what, r.Status.Allowed, tc.want, r.Status.Reason)
				}
			}
		})
	}
}

// TestControllersServeSecurely runs each controller as its ServiceAccount with the shipped RBAC
// (and --authentication-tolerate-lookup-failure=false, so that it must read kube-system's
// extension-apiserver-authentication ConfigMap): its health paths answer anyone over HTTPS;
// /metrics refuses a request without a token (401), with a bad one (401), with a ServiceAccount's
// bound to nothing (403), and serves one bound to likewise-metrics-reader (200, likewise_ metrics).
func TestControllersServeSecurely(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, base := range []string{scenario.ClassifierBase, scenario.RebalancerBase} {
		if err := scenario.InstallBase(ctx, cluster, base); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := cluster.CreateNamespace(ctx, "serving-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client().CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	nobody, err := scenario.ServiceAccountToken(ctx, cluster, ns.Name, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	reader, err := scenario.MetricsReaderToken(ctx, cluster)
	if err != nil {
		t.Fatal(err)
	}
	for _, comp := range servedComponents {
		t.Run(comp.name, func(t *testing.T) {
			offset := len(componentLog(t, comp.name))
			r, err := comp.start(ctx, cluster, append(comp.args(ns.Name), "--authentication-tolerate-lookup-failure=false", "--v=2")...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cluster.StopComponent(comp.name) })
			waitLeadingAndReady(ctx, t, comp.name, offset, r)
			for _, tc := range []struct {
				path, who, token string
				want             int
			}{
				{"/healthz", "anyone", "", http.StatusOK},
				{"/readyz", "anyone", "", http.StatusOK},
				{"/livez", "anyone", "", http.StatusOK},
				{"/metrics", "anyone", "", http.StatusUnauthorized},
				{"/metrics", "a bad token", "not-a-token", http.StatusUnauthorized},
				{"/metrics", "a ServiceAccount bound to nothing", nobody, http.StatusForbidden},
				{"/metrics", "a ServiceAccount bound to " + scenario.MetricsReaderRole, reader, http.StatusOK},
				{"/healthz", "a ServiceAccount bound to nothing", nobody, http.StatusOK},
			} {
				status, body, err := r.Get(ctx, tc.path, tc.token)
				if err != nil {
					t.Errorf("GET %s as %s: %v", tc.path, tc.who, err)
					continue
				}
				if status != tc.want {
					t.Errorf("GET %s as %s: %d %q, want %d", tc.path, tc.who, status, truncate(body, 300), tc.want)
					continue
				}
				if tc.path == "/metrics" && status == http.StatusOK && !strings.Contains(body, "\nlikewise_") {
					t.Errorf("GET /metrics as %s: no likewise_ metric in %q", tc.who, truncate(body, 300))
				}
			}
			// Plain HTTP is not served.
			if status, _, err := plainGet(ctx, r.Port, "/healthz"); err == nil && status == http.StatusOK {
				t.Errorf("GET http://127.0.0.1:%d/healthz answered %d over plain HTTP", r.Port, status)
			}
			log := componentLog(t, comp.name)[offset:]
			for _, line := range strings.Split(log, "\n") {
				// RBAC's refusal: `... is forbidden: User "system:serviceaccount:..." cannot ...`.
				if strings.Contains(line, `forbidden: User \"`) || strings.Contains(line, `forbidden: User "`) {
					t.Errorf("%s was refused a request: %s", comp.name, line)
				}
				if strings.Contains(line, nobody) || strings.Contains(line, reader) {
					t.Errorf("%s logged a client's token", comp.name)
				}
			}
		})
	}
}

// waitLeadingAndReady waits until the component has taken its lease (it logs "Leading") and then
// answers /readyz with 200. Readiness moves during a start, by design: a replica waiting for the
// lease is ready (a standby), and it reports not ready from the moment it leads until its
// informers run. StartComponent's wait can see the standby's 200, so a check of /readyz right
// after it races the lease (CI saw the rebalancer's 500 "ready failed" there).
func waitLeadingAndReady(ctx context.Context, t *testing.T, name string, offset int, r *scenario.Running) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	status, body := 0, ""
	for {
		leading := strings.Contains(componentLog(t, name)[offset:], `"Leading"`)
		if leading {
			var err error
			status, body, err = r.Get(ctx, "/readyz", "")
			if err == nil && status == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not leading and ready within 60s (leading %v, last /readyz %d %q)", name, leading, status, truncate(body, 300))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func plainGet(ctx context.Context, port int, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(port)+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	return resp.StatusCode, "", nil
}

func componentLog(t *testing.T, name string) string {
	t.Helper()
	var log string
	var err error
	switch name {
	case scenario.ClassifierName:
		log, err = scenario.ClassifierLog(cluster)
	case scenario.RebalancerName:
		log, err = scenario.RebalancerLog(cluster)
	}
	if err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Fatal(err)
	}
	return log
}

func resourceAttrs(verb, group, resource, namespace, name string) authorizationv1.SubjectAccessReviewSpec {
	return authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
		Verb: verb, Group: group, Resource: resource, Namespace: namespace, Name: name,
	}}
}

func fromUnstructured(t *testing.T, o *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
