package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// The rebalancer and the scheduler as their manifests deploy them.
const (
	// RebalancerName is the name of the rebalancer's component, ServiceAccount and Lease.
	RebalancerName = "likewise-rebalancer"
	// RebalancerBase is its kustomization, relative to the repository root.
	RebalancerBase = "manifests/rebalancer/base"
	// CommonBase is the kustomization of what every component expects and none owns: the
	// namespace (ClassifierNamespace) and the ClusterRole MetricsReaderRole. Apply it before a
	// component's base (InstallBase does).
	CommonBase = "manifests/common"
	// SchedulerBase is the second scheduler's kustomization.
	SchedulerBase = "manifests/scheduler/base"
	// SchedulerConfigFile is the shipped second-scheduler config.
	SchedulerConfigFile = "manifests/scheduler/base/scheduler-config.yaml"
)

// InstallBase applies the kustomization in dir for real, except its Deployments (KWOK runs no
// containers: the tests run the binaries in their place): ServiceAccounts, roles and bindings,
// ConfigMaps. Like a user, it applies CommonBase first (the namespace and the metrics reader every
// component expects and no component base holds).
func InstallBase(ctx context.Context, c *localcluster.Cluster, dir string) error {
	dirs := []string{CommonBase, dir}
	if dir == CommonBase {
		dirs = dirs[1:]
	}
	for _, d := range dirs {
		objs, err := Kustomize(d)
		if err != nil {
			return err
		}
		if err := InstallObjects(ctx, c, objs); err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
	}
	return nil
}

// StartSchedulerAsServiceAccount runs bin/likewise-scheduler with config (nil: the shipped
// second-scheduler config, leader election on, its lease likewise-system/likewise-scheduler) as
// the ServiceAccount of manifests/scheduler/base (InstallBase it first).
func StartSchedulerAsServiceAccount(ctx context.Context, c *localcluster.Cluster, config []byte) error {
	if config == nil {
		root, err := localcluster.RepoRoot()
		if err != nil {
			return err
		}
		if config, err = os.ReadFile(filepath.Join(root, SchedulerConfigFile)); err != nil {
			return err
		}
	}
	kubeconfig, err := c.KubeconfigForServiceAccount(ctx, ClassifierNamespace, localcluster.SchedulerName)
	if err != nil {
		return err
	}
	return c.StartScheduler(ctx, config, kubeconfig)
}

// Rebalancer is bin/likewise rebalancer running with a local cluster.
type Rebalancer = Running

// StartRebalancer runs bin/likewise rebalancer as the manifests' ServiceAccount (InstallBase
// RebalancerBase first), with the shipped scheduler config and args after it. It returns once
// /readyz answers.
func StartRebalancer(ctx context.Context, c *localcluster.Cluster, args ...string) (*Rebalancer, error) {
	root, err := localcluster.RepoRoot()
	if err != nil {
		return nil, err
	}
	return startLikewise(ctx, c, RebalancerName, "rebalancer",
		append([]string{"--scheduler-config=" + filepath.Join(root, SchedulerConfigFile)}, args...))
}

// RebalancerLog returns the rebalancer's log so far.
func RebalancerLog(c *localcluster.Cluster) (string, error) { return componentLog(c, RebalancerName) }

// DatabaseWorkload describes a database workload: a StatefulSet or a Deployment of replicas pods, each
// requesting CPU and Memory, placed by schedulerName on the case's nodes.
type DatabaseWorkload struct {
	Name     string
	Kind     string // "StatefulSet" or "Deployment"
	Replicas int32
	CPU      string
	Memory   string
	// Labels and Annotations are added to the pod template.
	Labels, Annotations map[string]string
	// Volumes go into the pod template; ClaimTemplates into a StatefulSet's
	// volumeClaimTemplates.
	Volumes        []corev1.Volume
	ClaimTemplates []corev1.PersistentVolumeClaim
}

// Object returns the workload's object for case caseName in ns.
func (w DatabaseWorkload) Object(ns, schedulerName, caseName string) (any, error) {
	lbls := map[string]string{LabelCase: caseName, "app": w.Name}
	for k, v := range w.Labels {
		lbls[k] = v
	}
	requests := corev1.ResourceList{}
	if w.CPU != "" {
		requests[corev1.ResourceCPU] = resource.MustParse(w.CPU)
	}
	if w.Memory != "" {
		requests[corev1.ResourceMemory] = resource.MustParse(w.Memory)
	}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: w.Annotations},
		Spec: corev1.PodSpec{
			SchedulerName: schedulerName,
			NodeSelector:  map[string]string{LabelCase: caseName},
			Containers: []corev1.Container{{
				Name:      "postgres",
				Image:     PodImage,
				Resources: corev1.ResourceRequirements{Requests: requests},
			}},
			Volumes: w.Volumes,
			// KWOK pods go at once; nothing to wait for.
			TerminationGracePeriodSeconds: ptr.To[int64](0),
		},
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{LabelCase: caseName, "app": w.Name}}
	meta := metav1.ObjectMeta{Name: w.Name, Namespace: ns, Labels: map[string]string{LabelCase: caseName}}
	switch w.Kind {
	case "StatefulSet":
		return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To(w.Replicas), Selector: selector, Template: tmpl, ServiceName: w.Name,
			PodManagementPolicy: appsv1.ParallelPodManagement, VolumeClaimTemplates: w.ClaimTemplates,
		}}, nil
	case "Deployment":
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(w.Replicas), Selector: selector, Template: tmpl,
		}}, nil
	}
	return nil, fmt.Errorf("workload %s: kind %q: want StatefulSet or Deployment", w.Name, w.Kind)
}

// CreateWorkload creates w in the case, placed by schedulerName.
func (k *Case) CreateWorkload(ctx context.Context, c *localcluster.Cluster, schedulerName string, w DatabaseWorkload) error {
	obj, err := w.Object(k.Namespace, schedulerName, k.Name)
	if err != nil {
		return err
	}
	apps := c.Client().AppsV1()
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		_, err = apps.StatefulSets(k.Namespace).Create(ctx, o, metav1.CreateOptions{})
	case *appsv1.Deployment:
		_, err = apps.Deployments(k.Namespace).Create(ctx, o, metav1.CreateOptions{})
	}
	if err != nil {
		return fmt.Errorf("creating %s %s/%s: %w", w.Kind, k.Namespace, w.Name, err)
	}
	return nil
}

// Mixing measures the case's placement as the rebalancer does (rebalancer.View, the one
// definition): the mixing of the case's nodes, and each node's typed pods.
func (k *Case) Mixing(ctx context.Context, c *localcluster.Cluster) (int, map[string]workloadtype.Counts, error) {
	var nodes []*corev1.Node
	for _, name := range k.Nodes {
		n, err := c.Client().CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, nil, err
		}
		nodes = append(nodes, n)
	}
	list, err := c.Client().CoreV1().Pods(k.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{LabelCase: k.Name}).String(),
	})
	if err != nil {
		return 0, nil, err
	}
	pods := make([]*corev1.Pod, len(list.Items))
	for i := range list.Items {
		pods[i] = &list.Items[i]
	}
	v := rebalancer.NewView(nodes, pods)
	counts := map[string]workloadtype.Counts{}
	for name, s := range v.States {
		counts[name] = s.Counts
	}
	return v.Mixing(), counts, nil
}
