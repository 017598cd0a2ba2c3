package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/yaml"

	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

const (
	// chartDir is likewise's Helm chart, relative to the repository root.
	chartDir = "manifests/charts/likewise"
	// serviceMonitorCRD is what `make helm` puts beside helm in the tools directory.
	serviceMonitorCRD = "crds/monitoring.coreos.com_servicemonitors.yaml"
)

// kustomizeInstall is what a user applies to install likewise with kustomize, in order: the
// chart's default rendering must equal it in effect.
var kustomizeInstall = []string{"manifests/common", scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase}

// chartCase is one rendering of the chart: default values, or one of its ci/ values files.
type chartCase struct {
	name   string
	values string // relative to the chart; "" for the defaults
}

var chartCases = []chartCase{
	{"default", ""},
	{"replace", "ci/replace-values.yaml"},
	{"production", "ci/production-values.yaml"},
	{"classifier-only", "ci/classifier-only-values.yaml"},
}

// TestChartValuesFilesAreTested: every values file under ci/ is one of chartCases, so a new one
// cannot be added and left unrendered.
func TestChartValuesFilesAreTested(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, chartDir, "ci", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, f := range files {
		got = append(got, "ci/"+filepath.Base(f))
	}
	for _, c := range chartCases {
		if c.values != "" {
			want = append(want, c.values)
		}
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values files under %s/ci (-tested,+present):\n%s", chartDir, diff)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// helmBinary is the helm `make helm` builds: $LIKEWISE_TOOLS_DIR/helm, else _output/bin/helm.
func helmBinary(t *testing.T) string {
	t.Helper()
	dir, err := localcluster.ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "helm")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%v: run `make helm` (or set %s)", err, localcluster.EnvToolsDir)
	}
	return path
}

// runHelm runs helm in the repository root and returns its standard output; an error carries
// its standard error.
func runHelm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Dir = repoRoot(t)
	// No user's repositories, plugins or cache.
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w: %s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.String(), nil
}

func valuesArgs(c chartCase, set []string) []string {
	var args []string
	if c.values != "" {
		args = append(args, "--values", filepath.Join(chartDir, c.values))
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return args
}

// renderChart is `helm template` of the chart into namespace, with c's values and then set.
func renderChart(t *testing.T, c chartCase, namespace string, set ...string) []*unstructured.Unstructured {
	t.Helper()
	out, err := runHelm(t, append([]string{"template", "likewise", chartDir, "--namespace", namespace}, valuesArgs(c, set)...)...)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := scenario.DecodeObjects([]byte(out))
	if err != nil {
		t.Fatalf("helm template (%s): %v", c.name, err)
	}
	if len(objs) == 0 {
		t.Fatalf("helm template (%s) rendered nothing", c.name)
	}
	return objs
}

// TestChartLint: `helm lint --strict` passes for the defaults and every ci/ values file (the
// schema, the templates, and the YAML they render).
func TestChartLint(t *testing.T) {
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			if out, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, valuesArgs(c, nil)...)...); err != nil {
				t.Errorf("%v\n%s", err, out)
			}
		})
	}
}

// TestChartRefusesBadValues: values.schema.json refuses a bad value at lint and install time
// with a message that names the value.
func TestChartRefusesBadValues(t *testing.T) {
	for _, tc := range []struct{ set, want string }{
		{"scheduler.mode=Replace", "/scheduler/mode"},
		{"scheduler.replicas=2,scheduler.leaderElection.enabled=false", "/scheduler/leaderElection/enabled"},
		{"classifier.replicas=3,classifier.leaderElection.enabled=false", "/classifier/leaderElection/enabled"},
		{"scheduler.percentageOfNodesToScore=101", "/scheduler/percentageOfNodesToScore"},
		{"scheduler.workloadTypeAffinity.args.mode=Strict", "/scheduler/workloadTypeAffinity/args/mode"},
		{"scheduler.workloadTypeAffinity.args.majorityPercent=50", "/scheduler/workloadTypeAffinity/args/majorityPercent"},
		{"scheduler.workloadTypeAffinity.args.scorez.free=1", "scorez"},
		{"scheduler.notebook.args.mode=Even", "/scheduler/notebook/args/mode"},
		{"classifier.preset=stolon", "/classifier/preset"},
		{"classifier.selector=app=pg,classifier.preset=cnpg", "/classifier/preset"},
		{"classifier.credentials.defaultSecret=Monitor_Secret", "/classifier/credentials/defaultSecret"},
		{"classifier.credentials.namespaces={databases,Analytics}", "/classifier/credentials/namespaces/1"},
		{"rebalancer.dryRun=maybe", "/rebalancer/dryRun"},
		{"rebalancer.limits.maxEvictionsPerNode=0", "/rebalancer/limits/maxEvictionsPerNode"},
		{"rebalancer.limits.minPodAge=10min", "/rebalancer/limits/minPodAge"},
		{"rebalancer.securePort=70000", "/rebalancer/securePort"},
		{"classifier.podAntiAffinity=always", "/classifier/podAntiAffinity"},
		{"classifier.image.pullPolicy=Sometimes", "/classifier/image/pullPolicy"},
		{"metrics.serviceMonitor.interval=soon", "/metrics/serviceMonitor/interval"},
		{"rebalancr.enabled=false", "rebalancr"},
	} {
		t.Run(tc.set, func(t *testing.T) {
			for _, cmd := range [][]string{{"lint", chartDir}, {"template", "likewise", chartDir}} {
				_, err := runHelm(t, append(cmd, "--set", tc.set)...)
				if err == nil {
					t.Errorf("helm %s --set %s: accepted", cmd[0], tc.set)
					continue
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("helm %s --set %s: the error does not name %q:\n%v", cmd[0], tc.set, tc.want, err)
				}
			}
		})
	}
}

// TestChartServerSideDryRun applies every rendering (defaults and each ci/ values file), each
// into a namespace of its own, with server-side dry-run; Namespaces, ServiceAccounts and the
// namespaces the values name are created for real first, and the ServiceMonitor CRD is
// installed, so that the API server validates the ServiceMonitors too. Every pod template is
// admitted as a dry-run Pod into its namespace, which enforces Pod Security "restricted".
func TestChartServerSideDryRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	installServiceMonitorCRD(ctx, t)
	a := newApplier(t)
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			ns := "chart-" + c.name
			objs := renderChart(t, c, ns)
			if !slices.ContainsFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Namespace" }) {
				// As `helm install --create-namespace` and a cluster's admin would.
				if err := ensureNamespace(ctx, ns, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}); err != nil {
					t.Fatal(err)
				}
			}
			for _, kind := range []string{"Namespace", "ServiceAccount"} {
				for _, o := range objs {
					if o.GetKind() != kind {
						continue
					}
					if err := a.Apply(ctx, o, false); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range objs {
				if n := o.GetNamespace(); n != "" && n != ns {
					if err := ensureNamespace(ctx, n, nil); err != nil {
						t.Fatal(err)
					}
				}
			}
			for _, o := range objs {
				if o.GetKind() == "Namespace" || o.GetKind() == "ServiceAccount" {
					continue
				}
				if err := a.Apply(ctx, o, true); err != nil {
					t.Errorf("%v", err)
				}
				if o.GetKind() != "Deployment" {
					continue
				}
				var d appsv1.Deployment
				fromUnstructured(t, o, &d)
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-template", Namespace: d.Namespace, Labels: d.Spec.Template.Labels},
					Spec:       d.Spec.Template.Spec,
				}
				if _, err := cluster.Client().CoreV1().Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
					t.Errorf("pod template of Deployment %s/%s: %v", d.Namespace, d.Name, err)
				}
			}
		})
	}
}

// installServiceMonitorCRD applies the Prometheus Operator's ServiceMonitor CRD for real and
// waits until it is served.
func installServiceMonitorCRD(ctx context.Context, t *testing.T) {
	t.Helper()
	dir, err := localcluster.ToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, serviceMonitorCRD))
	if err != nil {
		t.Fatalf("%v: run `make helm` (or set %s)", err, localcluster.EnvToolsDir)
	}
	objs, err := scenario.DecodeObjects(data)
	if err != nil {
		t.Fatal(err)
	}
	a := newApplier(t)
	for _, o := range objs {
		if err := a.Apply(ctx, o, false); err != nil {
			t.Fatal(err)
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cluster.Client().Discovery().ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("monitoring.coreos.com/v1 not served after applying the CRD: %v", err)
	}
}

func ensureNamespace(ctx context.Context, name string, labels map[string]string) error {
	_, err := cluster.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// objectKey identifies an object across a kustomize build and a helm rendering.
type objectKey struct{ Group, Kind, Namespace, Name string }

func (k objectKey) String() string {
	return fmt.Sprintf("%s.%s %s/%s", k.Kind, k.Group, k.Namespace, k.Name)
}

// clusterScoped are the kinds of both installs without a namespace (kustomize writes its
// namespace into some of them anyway; the API server ignores it).
var clusterScoped = map[string]bool{
	"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
}

// helmLabels are labels that change no object's effect: Helm's own and the release's, and
// app.kubernetes.io/part-of, which the chart puts on every object and kustomize's labels on the
// bases' (not on pod templates, nor on an overlay's own objects).
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/part-of"}

// chartExplicitFlags are flags the chart always passes with their default value where the bases
// leave the default: the chart takes the Secret's name from one value for both the flag and the
// ClusterRole that grants it (whose rules are compared).
var chartExplicitFlags = []string{"--default-credentials-secret=likewise-monitor"}

// kustomizeHash is the suffix configMapGenerator gives a ConfigMap's name (its alphabet has no
// vowels, 0, 1 or 3); the chart rolls its pods with a checksum annotation instead.
var kustomizeHash = regexp.MustCompile(`-[2456789bcdfghkmt]{10}$`)

// normalize returns the objects by key, with what may differ between the two installs without
// changing their effect removed: Helm's labels and checksum annotation, kustomize's ConfigMap
// hash and its namespace on cluster-scoped objects, comments and key order in the scheduler
// config (compared as data), the order of container args.
func normalize(t *testing.T, objs []*unstructured.Unstructured, fromChart bool) map[objectKey]map[string]any {
	t.Helper()
	out := map[objectKey]map[string]any{}
	for _, orig := range objs {
		o := orig.DeepCopy()
		if clusterScoped[o.GetKind()] {
			o.SetNamespace("")
		}
		dropLabels := func(fields ...string) {
			labels, _, _ := unstructured.NestedStringMap(o.Object, fields...)
			for _, l := range helmLabels {
				delete(labels, l)
			}
			if len(labels) == 0 {
				unstructured.RemoveNestedField(o.Object, fields...)
			} else {
				_ = unstructured.SetNestedStringMap(o.Object, labels, fields...)
			}
		}
		dropLabels("metadata", "labels")
		switch o.GetKind() {
		case "ConfigMap":
			if !fromChart {
				o.SetName(kustomizeHash.ReplaceAllString(o.GetName(), ""))
			}
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			parsed := map[string]any{}
			for k, v := range data {
				var doc any
				if err := yaml.Unmarshal([]byte(v), &doc); err != nil {
					t.Fatalf("ConfigMap %s key %s: %v", o.GetName(), k, err)
				}
				if m, ok := doc.(map[string]any); ok && m["kind"] == "KubeSchedulerConfiguration" {
					doc = schedulerConfigInEffect(t, o.GetName()+"-"+k, []byte(v))
				}
				parsed[k] = doc
			}
			o.Object["data"] = parsed
		case "ValidatingAdmissionPolicy":
			// CEL ignores the whitespace that YAML's folded scalars leave (kustomize re-folds them).
			validations, _, _ := unstructured.NestedSlice(o.Object, "spec", "validations")
			for _, v := range validations {
				v := v.(map[string]any)
				if e, ok := v["expression"].(string); ok {
					v["expression"] = strings.Join(strings.Fields(e), " ")
				}
			}
			_ = unstructured.SetNestedSlice(o.Object, validations, "spec", "validations")
		case "Deployment":
			dropLabels("spec", "template", "metadata", "labels")
			ann, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "annotations")
			delete(ann, "checksum/config")
			if len(ann) == 0 {
				unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
			}
			podSpec, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "spec")
			volumes, _, _ := unstructured.NestedSlice(podSpec, "volumes")
			for _, v := range volumes {
				if name, ok, _ := unstructured.NestedString(v.(map[string]any), "configMap", "name"); ok && !fromChart {
					_ = unstructured.SetNestedField(v.(map[string]any), kustomizeHash.ReplaceAllString(name, ""), "configMap", "name")
				}
			}
			containers, _, _ := unstructured.NestedSlice(podSpec, "containers")
			for _, c := range containers {
				c := c.(map[string]any)
				args, _, _ := unstructured.NestedStringSlice(c, "args")
				if fromChart {
					args = slices.DeleteFunc(args, func(a string) bool { return slices.Contains(chartExplicitFlags, a) })
				}
				slices.Sort(args)
				_ = unstructured.SetNestedStringSlice(c, args, "args")
			}
			_ = unstructured.SetNestedSlice(podSpec, containers, "containers")
			_ = unstructured.SetNestedSlice(podSpec, volumes, "volumes")
			_ = unstructured.SetNestedMap(o.Object, podSpec, "spec", "template", "spec")
		}
		k := objectKey{o.GroupVersionKind().Group, o.GetKind(), o.GetNamespace(), o.GetName()}
		if _, dup := out[k]; dup {
			t.Fatalf("%s twice", k)
		}
		out[k] = o.Object
	}
	return out
}

// schedulerConfigInEffect is a KubeSchedulerConfiguration as kube-scheduler runs it: loaded
// (strictly), defaulted and validated, as data. Two configs that differ only in comments, order
// or values spelt out that are the defaults anyway are equal.
func schedulerConfigInEffect(t *testing.T, name string, data []byte) any {
	t.Helper()
	logger, _ := ktesting.NewTestContext(t)
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := options.LoadConfigFromFile(logger, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func kustomizeObjects(t *testing.T, dirs ...string) []*unstructured.Unstructured {
	t.Helper()
	var all []*unstructured.Unstructured
	for _, d := range dirs {
		objs, err := scenario.Kustomize(d)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, objs...)
	}
	return all
}

func withoutKind(objs []*unstructured.Unstructured, kind string) (rest, removed []*unstructured.Unstructured) {
	for _, o := range objs {
		if o.GetKind() == kind {
			removed = append(removed, o)
		} else {
			rest = append(rest, o)
		}
	}
	return rest, removed
}

// TestChartEqualsKustomizeBases: the chart with its default values, into likewise-system,
// installs what the kustomize bases install, object for object: the same kinds and names, RBAC
// rules and subjects, admission policies, container args, probes, security contexts and
// scheduler config. A rule, flag or object added to a base and not to the chart (or the
// reverse) fails it. The Namespace, which Helm leaves to --create-namespace by default, is
// compared with namespace.create=true; the per-namespace credentials RoleBinding with
// manifests/classifier/credentials-rolebinding.yaml.
func TestChartEqualsKustomizeBases(t *testing.T) {
	const ns = scenario.ClassifierNamespace
	bases, baseNamespaces := withoutKind(kustomizeObjects(t, kustomizeInstall...), "Namespace")
	chart := renderChart(t, chartCases[0], ns)
	if diff := cmp.Diff(normalize(t, bases, false), normalize(t, chart, true)); diff != "" {
		t.Errorf("helm template %s differs from kustomize build of %s (-kustomize,+helm):\n%s", chartDir, strings.Join(kustomizeInstall, ", "), diff)
	}

	t.Run("namespace.create", func(t *testing.T) {
		_, chartNamespaces := withoutKind(renderChart(t, chartCases[0], ns, "namespace.create=true"), "Namespace")
		if diff := cmp.Diff(normalize(t, baseNamespaces, false), normalize(t, chartNamespaces, true)); diff != "" {
			t.Errorf("Namespace (-kustomize,+helm):\n%s", diff)
		}
	})

	t.Run("credentials", func(t *testing.T) {
		want, err := scenario.ReadObjects(scenario.ClassifierCredentialsBinding)
		if err != nil {
			t.Fatal(err)
		}
		var namespaces []string
		for _, o := range want {
			namespaces = append(namespaces, o.GetNamespace())
		}
		rendered := renderChart(t, chartCases[0], ns, "classifier.credentials.namespaces={"+strings.Join(namespaces, ",")+"}")
		got := normalize(t, rendered, true)
		for k := range normalize(t, chart, true) {
			delete(got, k)
		}
		if diff := cmp.Diff(normalize(t, want, false), got); diff != "" {
			t.Errorf("objects classifier.credentials.namespaces adds (-%s,+helm):\n%s", scenario.ClassifierCredentialsBinding, diff)
		}
	})
}

// replaceKustomizeInstall is what a user applies with kustomize beside likewise-scheduler in
// place of kube-scheduler.
var replaceKustomizeInstall = []string{"manifests/common", scenario.ClassifierBase, "manifests/rebalancer/replace"}

// replaceConfigFile is the config of likewise-scheduler in place of kube-scheduler.
const replaceConfigFile = "manifests/scheduler/replace/kube-scheduler-config.yaml"

// TestChartReplaceMode: with scheduler.mode=replace the chart installs what the kustomize
// replace path installs (no scheduler Deployment or RBAC: the static pod uses kubeadm's
// scheduler.conf; the rebalancer simulating default-scheduler, reading kube-system's lease),
// object for object, plus the ConfigMap likewise-kube-scheduler-config for the control-plane
// nodes, whose config is manifests/scheduler/replace/kube-scheduler-config.yaml in effect: every
// profile the same once loaded, defaulted and validated as kube-scheduler loads it.
func TestChartReplaceMode(t *testing.T) {
	const ns = scenario.ClassifierNamespace
	objs := renderChart(t, chartCases[0], ns, "scheduler.mode=replace")
	got := normalize(t, objs, true)
	nodeConfig := objectKey{"", "ConfigMap", ns, "likewise-kube-scheduler-config"}
	cm, ok := got[nodeConfig]
	if !ok {
		t.Fatalf("no %s", nodeConfig)
	}
	delete(got, nodeConfig)
	want := normalize(t, kustomizeObjects(t, replaceKustomizeInstall...), false)
	for k := range want {
		if k.Kind == "Namespace" {
			delete(want, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("helm template --set scheduler.mode=replace differs from kustomize build of %s (-kustomize,+helm):\n%s", strings.Join(replaceKustomizeInstall, ", "), diff)
	}

	wantData, err := os.ReadFile(filepath.Join(repoRoot(t), replaceConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(schedulerConfigInEffect(t, "want.yaml", wantData), cm["data"].(map[string]any)["kube-scheduler-config.yaml"]); diff != "" {
		t.Errorf("ConfigMap likewise-kube-scheduler-config differs in effect from %s (-want,+got):\n%s", replaceConfigFile, diff)
	}
}

func containerArgs(t *testing.T, byKey map[objectKey]map[string]any, deployment string) []string {
	t.Helper()
	for k, o := range byKey {
		if k.Kind == "Deployment" && k.Name == deployment {
			containers, _, _ := unstructured.NestedSlice(o, "spec", "template", "spec", "containers")
			args, _, _ := unstructured.NestedStringSlice(containers[0].(map[string]any), "args")
			return args
		}
	}
	t.Fatalf("no Deployment %s", deployment)
	return nil
}

// TestChartFollowsNamespace: rendered into another namespace, nothing names likewise-system:
// every binding's subjects, every namespaced object, the admission policies' usernames and the
// scheduler's lease follow the release namespace (kube-system aside, where the RoleBindings to
// its Roles must live).
func TestChartFollowsNamespace(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	const ns = "databases-control"
	for _, c := range chartCases {
		t.Run(c.name, func(t *testing.T) {
			objs := renderChart(t, c, ns)
			for _, o := range objs {
				data, err := yaml.Marshal(o.Object)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(data, []byte(scenario.ClassifierNamespace)) {
					t.Errorf("%s %s names %s:\n%s", o.GetKind(), o.GetName(), scenario.ClassifierNamespace, data)
				}
				if n := o.GetNamespace(); n != "" && n != ns && n != metav1.NamespaceSystem && !strings.HasPrefix(o.GetName(), "likewise-classifier-credentials") {
					t.Errorf("%s %s is in namespace %s, want %s", o.GetKind(), o.GetName(), n, ns)
				}
				subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
				for _, s := range subjects {
					s := s.(map[string]any)
					if name, _ := s["name"].(string); strings.HasPrefix(name, "likewise-") && s["namespace"] != ns {
						t.Errorf("%s %s: subject %v, want namespace %s", o.GetKind(), o.GetName(), s, ns)
					}
				}
				if o.GetKind() == "ValidatingAdmissionPolicy" {
					expr, _, _ := unstructured.NestedSlice(o.Object, "spec", "matchConditions")
					want := "'system:serviceaccount:" + ns + ":" + o.GetName() + "'"
					if got, _ := expr[0].(map[string]any)["expression"].(string); !strings.Contains(got, want) {
						t.Errorf("ValidatingAdmissionPolicy %s matches %q, want the username %s", o.GetName(), got, want)
					}
				}
				if o.GetKind() == "ConfigMap" && o.GetName() == "likewise-rebalancer-scheduler-config" {
					data, _, _ := unstructured.NestedString(o.Object, "data", "config.yaml")
					path := filepath.Join(t.TempDir(), "config.yaml")
					if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
						t.Fatal(err)
					}
					profile := strings.TrimPrefix(findArg(containerArgs(t, normalize(t, objs, true), "likewise-rebalancer"), "--profile="), "--profile=")
					cfg, err := rebalancer.LoadSchedulerConfig(logger, path, profile)
					if err != nil {
						t.Fatal(err)
					}
					if c.name != "replace" && cfg.LeaseNamespace != ns {
						t.Errorf("the scheduler's lease is in %q, want %s", cfg.LeaseNamespace, ns)
					}
				}
			}
		})
	}
}

func findArg(args []string, prefix string) string {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return a
		}
	}
	return ""
}

// TestChartValues: the values of ci/production-values.yaml reach the objects they configure:
// scheduler names, args and weights in the config the scheduler and the rebalancer read, the
// rebalancer's limits and dry-run as its flags, the classifier's preset and credentials (flag,
// ClusterRole and one RoleBinding per namespace), images, replicas, budgets, anti-affinity, the
// metrics reader binding and the ServiceMonitors' HTTPS, token and TLS settings.
func TestChartValues(t *testing.T) {
	logger, _ := ktesting.NewTestContext(t)
	const ns = "likewise"
	objs := renderChart(t, chartCases[2], ns)
	byKey := normalize(t, objs, true)
	get := func(group, kind, namespace, name string) map[string]any {
		t.Helper()
		o, ok := byKey[objectKey{group, kind, namespace, name}]
		if !ok {
			t.Fatalf("no %s %s/%s", kind, namespace, name)
		}
		return o
	}
	field := func(o map[string]any, fields ...string) any {
		v, _, _ := unstructured.NestedFieldNoCopy(o, fields...)
		return v
	}

	// The scheduler config, as the rebalancer loads it.
	cm := get("", "ConfigMap", ns, "likewise-scheduler-config")
	var raw string
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == "likewise-scheduler-config" {
			raw, _, _ = unstructured.NestedString(o.Object, "data", "config.yaml")
		}
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(raw), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := rebalancer.LoadSchedulerConfig(logger, path, "db-scheduler")
	if err != nil {
		t.Fatal(err)
	}
	if got := ptrDeref(cfg.Profile.PercentageOfNodesToScore); got != 50 || cfg.MajorityPercent != 60 {
		t.Errorf("profile db-scheduler: percentageOfNodesToScore %d, majorityPercent %d; want 50, 60", got, cfg.MajorityPercent)
	}
	var profiles []string
	for _, p := range field(cm, "data", "config.yaml", "Profiles").([]any) {
		profiles = append(profiles, p.(map[string]any)["SchedulerName"].(string))
	}
	if diff := cmp.Diff([]string{"db-scheduler", "jupyter-scheduler", "plain-scheduler"}, profiles); diff != "" {
		t.Errorf("profiles (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(field(cm, "data"), field(get("", "ConfigMap", ns, "likewise-rebalancer-scheduler-config"), "data")); diff != "" {
		t.Errorf("the rebalancer's scheduler config differs from the scheduler's (-scheduler,+rebalancer):\n%s", diff)
	}

	wantArgs := map[string][]string{
		"likewise-rebalancer": {"--profile=db-scheduler", "--dry-run=false", "--max-evictions-per-cycle=2", "--max-evictions-per-node=1",
			"--max-evictions-per-minute=4", "--interval=2m", "--min-pod-age=30m", "--max-backoff=12h",
			"--excluded-namespaces=kube-system,monitoring", "--movable-emptydir-volumes=scratch",
			"--tls-cert-file=/etc/likewise-tls/tls.crt", "--tls-private-key-file=/etc/likewise-tls/tls.key"},
		"likewise-classifier": {"--preset=cnpg", "--default-credentials-secret=pg-monitor", "--interval=30s", "--min-dwell=1h", "--secure-port=10261"},
	}
	for d, want := range wantArgs {
		args := containerArgs(t, byKey, d)
		for _, a := range want {
			if !slices.Contains(args, a) {
				t.Errorf("%s args %q lack %s", d, args, a)
			}
		}
		if slices.Contains(args, "--leader-elect=false") {
			t.Errorf("%s args %q turn leader election off", d, args)
		}
	}
	if got := field(get("rbac.authorization.k8s.io", "ClusterRole", "", "likewise-classifier-credentials"), "rules"); !cmp.Equal(got, []any{map[string]any{
		"apiGroups": []any{""}, "resources": []any{"secrets"}, "resourceNames": []any{"pg-monitor"}, "verbs": []any{"get"}}}) {
		t.Errorf("ClusterRole likewise-classifier-credentials rules %v, want get on Secret pg-monitor", got)
	}
	for _, n := range []string{"databases", "analytics"} {
		rb := get("rbac.authorization.k8s.io", "RoleBinding", n, "likewise-classifier-credentials")
		want := []any{map[string]any{"kind": "ServiceAccount", "name": "likewise-classifier", "namespace": ns}}
		if diff := cmp.Diff(want, rb["subjects"]); diff != "" {
			t.Errorf("RoleBinding %s/likewise-classifier-credentials subjects (-want,+got):\n%s", n, diff)
		}
	}

	for _, tc := range []struct {
		name, image, pullPolicy string
		replicas                float64
		pdb                     map[string]any
		antiAffinity            string
	}{
		{"likewise-scheduler", "registry.example/likewise/likewise-scheduler:v0.1.0", "Always", 3, map[string]any{"maxUnavailable": float64(1)}, "requiredDuringSchedulingIgnoredDuringExecution"},
		{"likewise-classifier", "registry.example/likewise/likewise:v0.1.0", "IfNotPresent", 3, map[string]any{"minAvailable": float64(2)}, "preferredDuringSchedulingIgnoredDuringExecution"},
		{"likewise-rebalancer", "registry.example/likewise/likewise:v0.1.0", "IfNotPresent", 1, map[string]any{"maxUnavailable": float64(1)}, "preferredDuringSchedulingIgnoredDuringExecution"},
	} {
		d := get("apps", "Deployment", ns, tc.name)
		c := field(d, "spec", "template", "spec", "containers").([]any)[0].(map[string]any)
		if c["image"] != tc.image || c["imagePullPolicy"] != tc.pullPolicy || field(d, "spec", "replicas") != tc.replicas {
			t.Errorf("Deployment %s: image %v (%v), replicas %v; want %s (%s), %v", tc.name, c["image"], c["imagePullPolicy"], field(d, "spec", "replicas"), tc.image, tc.pullPolicy, tc.replicas)
		}
		if field(d, "spec", "template", "spec", "affinity", "podAntiAffinity", tc.antiAffinity) == nil {
			t.Errorf("Deployment %s: no podAntiAffinity %s", tc.name, tc.antiAffinity)
		}
		pdb := get("policy", "PodDisruptionBudget", ns, tc.name)
		spec := map[string]any{}
		for k, v := range pdb["spec"].(map[string]any) {
			if k != "selector" {
				spec[k] = v
			}
		}
		if diff := cmp.Diff(tc.pdb, spec); diff != "" {
			t.Errorf("PodDisruptionBudget %s (-want,+got):\n%s", tc.name, diff)
		}
		if got := field(pdb, "spec", "selector", "matchLabels"); !cmp.Equal(got, map[string]any{"app.kubernetes.io/name": tc.name}) {
			t.Errorf("PodDisruptionBudget %s selects %v", tc.name, got)
		}

		sm := get("monitoring.coreos.com", "ServiceMonitor", ns, tc.name)
		endpoint := field(sm, "spec", "endpoints").([]any)[0].(map[string]any)
		wantEndpoint := map[string]any{
			"port": "https", "path": "/metrics", "scheme": "https", "interval": "15s", "scrapeTimeout": "10s",
			"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
			"tlsConfig":       map[string]any{"insecureSkipVerify": true},
		}
		if diff := cmp.Diff(wantEndpoint, endpoint); diff != "" {
			t.Errorf("ServiceMonitor %s endpoint (-want,+got):\n%s", tc.name, diff)
		}
		if l := field(sm, "metadata", "labels", "release"); l != "prometheus" {
			t.Errorf("ServiceMonitor %s label release=%v, want prometheus", tc.name, l)
		}
		svc := get("", "Service", ns, tc.name+"-metrics")
		if got := field(svc, "spec", "ports").([]any)[0].(map[string]any)["targetPort"]; got != "https" {
			t.Errorf("Service %s-metrics targets %v, want the container port https", tc.name, got)
		}
	}
	binding := get("rbac.authorization.k8s.io", "ClusterRoleBinding", "", scenario.MetricsReaderRole)
	wantSubjects := []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}}
	if diff := cmp.Diff(wantSubjects, binding["subjects"]); diff != "" {
		t.Errorf("ClusterRoleBinding %s subjects (-want,+got):\n%s", scenario.MetricsReaderRole, diff)
	}
}

func ptrDeref(p *int32) int32 {
	if p == nil {
		return -1
	}
	return *p
}
