// Package manifests applies what users deploy (every kustomization and manifest under
// manifests/) to a real kube-apiserver with server-side dry-run, checks pod templates against
// their namespace's Pod Security level, and runs likewise-scheduler and likewise classifier with
// exactly the rights their manifests grant their ServiceAccounts, within what the components'
// ValidatingAdmissionPolicies let those ServiceAccounts change.
package manifests

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

var cluster *localcluster.Cluster

func TestMain(m *testing.M) {
	localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
		cluster = c
		return nil
	})
}

// manifestSet is the objects of one kustomization or one plain manifest file.
type manifestSet struct {
	source  string
	objects []*unstructured.Unstructured
}

// loadManifests builds every kustomization under manifests/ and reads every other YAML file
// that holds Kubernetes objects (KubeSchedulerConfiguration files are configs, loaded by
// cmd/scheduler's tests; files a kustomization uses are covered by building it).
func loadManifests(t *testing.T) []manifestSet {
	t.Helper()
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "manifests")
	var kustomizations []string
	var files []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			// Helm templates are no YAML until rendered: the chart's own tests render them.
			if path == filepath.Join(dir, "charts") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "kustomization.yaml")); err == nil {
				kustomizations = append(kustomizations, path)
			}
			return nil
		}
		if strings.HasSuffix(path, ".yaml") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sets []manifestSet
	for _, k := range kustomizations {
		objects, err := scenario.Kustomize(rel(root, k))
		if err != nil {
			t.Fatal(err)
		}
		// A set of transformers (follow-namespace) is no manifest: the bases and
		// TestOverlayInAnotherNamespace run it.
		if !slices.ContainsFunc(objects, func(o *unstructured.Unstructured) bool { return o.GetAPIVersion() != "builtin" }) {
			continue
		}
		sets = append(sets, manifestSet{source: rel(root, k), objects: objects})
	}
	for _, f := range files {
		if slices.ContainsFunc(kustomizations, func(k string) bool { return filepath.Dir(f) == k }) {
			continue
		}
		all, err := scenario.ReadObjects(rel(root, f))
		if err != nil {
			t.Fatalf("%s: %v", rel(root, f), err)
		}
		var objects []*unstructured.Unstructured
		for _, o := range all {
			if o.GetAPIVersion() != "kubescheduler.config.k8s.io/v1" {
				objects = append(objects, o)
			}
		}
		if len(objects) > 0 {
			sets = append(sets, manifestSet{source: rel(root, f), objects: objects})
		}
	}
	if len(sets) == 0 {
		t.Fatal("found no manifests")
	}
	return sets
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}

func newApplier(t *testing.T) *scenario.Applier {
	t.Helper()
	a, err := scenario.NewApplier(cluster)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServerSideDryRun applies every manifest with server-side dry-run. Namespaces and
// ServiceAccounts are created for real first: the API server cannot admit objects into a
// namespace that does not exist, nor pods that run as a ServiceAccount that does not.
// Every pod template is also admitted, as a dry-run Pod, into its namespace, so Pod Security
// (likewise-system enforces "restricted") judges it as it would the Deployment's pods.
func TestServerSideDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newApplier(t)
	sets := loadManifests(t)
	created := map[string]bool{}
	// Every Namespace (manifests/common's), then the ServiceAccounts of every base.
	for _, kind := range []string{"Namespace", "ServiceAccount"} {
		for _, s := range sets {
			for _, o := range s.objects {
				if o.GetKind() != kind {
					continue
				}
				if err := a.Apply(ctx, o, false); err != nil {
					t.Fatalf("%s: %v", s.source, err)
				}
				if kind == "Namespace" {
					created[o.GetName()] = true
				}
			}
		}
	}
	// Examples meant for the user's own namespaces (a RoleBinding per namespace of databases)
	// name one that no manifest creates: create it, as the user has.
	for _, s := range sets {
		for _, o := range s.objects {
			ns := o.GetNamespace()
			if ns == "" || created[ns] {
				continue
			}
			if _, err := cluster.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("%s: creating namespace %s: %v", s.source, ns, err)
			}
			created[ns] = true
		}
	}
	for _, s := range sets {
		t.Run(s.source, func(t *testing.T) {
			for _, o := range s.objects {
				if err := a.Apply(ctx, o, true); err != nil {
					t.Errorf("%v", err)
				}
				if o.GetKind() != "Deployment" {
					continue
				}
				var d appsv1.Deployment
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
					t.Fatal(err)
				}
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-template", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
					Spec:       d.Spec.Template.Spec,
				}
				_, err := cluster.Client().CoreV1().Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				if err != nil {
					t.Errorf("pod template of Deployment %s/%s: %v", d.Namespace, d.Name, err)
				}
			}
		})
	}
}

// TestBasesShareNoObject: no object is in two of the kustomizations a user applies side by side,
// so that deleting one (`kubectl delete -k`) deletes nothing another holds: what all components
// need (the likewise-system Namespace, the metrics reader) is in manifests/common alone. An
// overlay (manifests/rebalancer/replace) is applied instead of the base it includes, not beside it.
func TestBasesShareNoObject(t *testing.T) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	type id struct{ group, kind, namespace, name string }
	seen := map[id]string{}
	for _, s := range loadManifests(t) {
		if isOverlay(t, filepath.Join(root, s.source)) {
			continue
		}
		for _, o := range s.objects {
			k := id{o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName()}
			if first, ok := seen[k]; ok {
				t.Errorf("%s %s/%s is in both %s and %s", k.kind, k.namespace, k.name, first, s.source)
				continue
			}
			seen[k] = s.source
		}
	}
	if len(seen) == 0 {
		t.Error("no objects")
	}
}

// isOverlay says whether the kustomization in dir includes another kustomization.
func isOverlay(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return false // a plain manifest
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	for _, r := range k.Resources {
		if fi, err := os.Stat(filepath.Join(dir, r)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}
