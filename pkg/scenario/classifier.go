package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/likewise-dev/likewise/pkg/localcluster"
)

// The classifier as its manifests deploy it.
const (
	// ClassifierName is the name of the classifier's component, ServiceAccount and Lease.
	ClassifierName = "likewise-classifier"
	// ClassifierNamespace is the namespace the manifests deploy every component in (CommonBase
	// creates it).
	ClassifierNamespace = "likewise-system"
	// ClassifierBase is its kustomization, relative to the repository root.
	ClassifierBase = "manifests/classifier/base"
	// ClassifierCredentialsBinding is the example RoleBinding that lets it read a namespace's
	// monitoring Secret, relative to the repository root.
	ClassifierCredentialsBinding = "manifests/classifier/credentials-rolebinding.yaml"
)

// Kustomize builds the kustomization in dir (relative to the repository root) into objects.
func Kustomize(dir string) ([]*unstructured.Unstructured, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), filepath.Join(root, dir))
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	data, err := res.AsYaml()
	if err != nil {
		return nil, err
	}
	return DecodeObjects(data)
}

// ReadObjects reads the objects of a YAML file (relative to the repository root).
func ReadObjects(file string) ([]*unstructured.Unstructured, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return nil, err
	}
	return DecodeObjects(data)
}

// DecodeObjects decodes a multi-document YAML or JSON stream.
func DecodeObjects(data []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(obj) > 0 {
			out = append(out, &unstructured.Unstructured{Object: obj})
		}
	}
}

// Applier server-side-applies objects as the cluster's admin.
type Applier struct {
	mapper *restmapper.DeferredDiscoveryRESTMapper
	dyn    dynamic.Interface
}

// NewApplier returns an Applier for c.
func NewApplier(c *localcluster.Cluster) (*Applier, error) {
	cfg := c.RESTConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Applier{mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), dyn: dyn}, nil
}

// Resource is the dynamic client of obj's resource (in obj's namespace if it is namespaced).
func (a *Applier) Resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", gvk, obj.GetName(), err)
	}
	if mapping.Scope.Name() != "namespace" {
		return a.dyn.Resource(mapping.Resource), nil
	}
	if obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s %s: namespaced object without a namespace", gvk.Kind, obj.GetName())
	}
	return a.dyn.Resource(mapping.Resource).Namespace(obj.GetNamespace()), nil
}

// Apply server-side-applies obj; with dryRun the API server validates and admits it without
// storing it.
func (a *Applier) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	opts := metav1.ApplyOptions{FieldManager: "likewise-tests", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	ri, err := a.Resource(obj)
	if err != nil {
		return err
	}
	if _, err := ri.Apply(ctx, obj.GetName(), obj, opts); err != nil {
		return fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}

// InstallClassifierRBAC applies manifests/classifier/base (after CommonBase, the namespace) for
// real, except its Deployment (KWOK runs no containers: StartClassifier runs the binary in its
// place): the ServiceAccount, its roles and bindings.
func InstallClassifierRBAC(ctx context.Context, c *localcluster.Cluster) error {
	return InstallBase(ctx, c, ClassifierBase)
}

// GrantClassifierCredentials applies the example RoleBinding of
// manifests/classifier/credentials-rolebinding.yaml into namespace, so that the classifier may
// read the monitoring Secret there, as a user would.
func GrantClassifierCredentials(ctx context.Context, c *localcluster.Cluster, namespace string) error {
	objs, err := ReadObjects(ClassifierCredentialsBinding)
	if err != nil {
		return err
	}
	a, err := NewApplier(c)
	if err != nil {
		return err
	}
	for _, o := range objs {
		o.SetNamespace(namespace)
		if err := a.Apply(ctx, o, false); err != nil {
			return fmt.Errorf("%s: %w", ClassifierCredentialsBinding, err)
		}
	}
	return nil
}

// Classifier is bin/likewise classifier running with a local cluster.
type Classifier = Running

// StartClassifier runs bin/likewise classifier as the manifests' ServiceAccount (so with exactly
// the rights they grant; InstallClassifierRBAC first), with args after the kubeconfig and the
// metrics address. It returns once /readyz answers.
func StartClassifier(ctx context.Context, c *localcluster.Cluster, args ...string) (*Classifier, error) {
	return startLikewise(ctx, c, ClassifierName, "classifier", args)
}

// ClassifierLog returns the classifier's log so far.
func ClassifierLog(c *localcluster.Cluster) (string, error) { return componentLog(c, ClassifierName) }

// startLikewise runs `bin/likewise <subcommand>` as the ServiceAccount name in
// ClassifierNamespace (likewise-system), with args after the kubeconfig and the secure serving
// flags (127.0.0.1, a free port), as the component name; it returns once /readyz answers over
// HTTPS, without credentials, as a kubelet's probe asks.
func startLikewise(ctx context.Context, c *localcluster.Cluster, name, subcommand string, args []string) (*Running, error) {
	return startLikewiseAs(ctx, c, name, name, subcommand, args)
}

// StartClassifierReplica runs bin/likewise classifier as StartClassifier does, as the same
// ServiceAccount, under its own component name (its log, and the name to kill it by): a second
// replica, or the process that replaces a killed one.
func StartClassifierReplica(ctx context.Context, c *localcluster.Cluster, name string, args ...string) (*Classifier, error) {
	return startLikewiseAs(ctx, c, ClassifierName, name, "classifier", args)
}

// ComponentLog returns the log so far of the component of that name.
func ComponentLog(c *localcluster.Cluster, name string) (string, error) { return componentLog(c, name) }

// startLikewiseAs is startLikewise as ServiceAccount serviceAccount, under component name name.
func startLikewiseAs(ctx context.Context, c *localcluster.Cluster, serviceAccount, name, subcommand string, args []string) (*Running, error) {
	bin, err := localcluster.Binary("likewise")
	if err != nil {
		return nil, err
	}
	kubeconfig, err := c.KubeconfigForServiceAccount(ctx, ClassifierNamespace, serviceAccount)
	if err != nil {
		return nil, err
	}
	r := &Running{cluster: c}
	err = c.StartComponent(ctx, localcluster.Component{
		Name:   name,
		Binary: bin,
		Args: func(port int) []string {
			r.Port = port
			return append([]string{subcommand, "--kubeconfig=" + kubeconfig}, append(ServingArgs(port), args...)...)
		},
		Ready: controllerReady,
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func componentLog(c *localcluster.Cluster, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(c.LogsDir(), name+".log"))
	return string(data), err
}

// PodEvents returns the Events (events.k8s.io) about pod, oldest first.
func PodEvents(ctx context.Context, c *localcluster.Cluster, pod *corev1.Pod) ([]EventSummary, error) {
	list, err := c.Client().EventsV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	items := list.Items
	slices.SortStableFunc(items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
	var out []EventSummary
	for _, e := range items {
		if e.Regarding.Kind != "Pod" || e.Regarding.Name != pod.Name || e.Regarding.UID != pod.UID {
			continue
		}
		out = append(out, EventSummary{Type: e.Type, Reason: e.Reason, Note: e.Note, Controller: e.ReportingController})
	}
	return out, nil
}

// EventSummary is what the tests read of an Event.
type EventSummary struct {
	Type, Reason, Note, Controller string
}
