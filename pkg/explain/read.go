package explain

import (
	"context"
	"fmt"
	"maps"
	"slices"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
)

var everything = labels.Everything()

func labelsOf(pod *v1.Pod) labels.Set { return labels.Set(pod.Labels) }

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// Read lists what explain needs, once each (list and get only: no watch), cluster-wide. Pods and
// nodes are required: without them no node's type is known. Any other kind that cannot be read
// is named in Cluster.Unreadable and left out, and explain says what follows from it. The
// scheduler's lease (leaseNamespace/leaseName, none when leaseName is "") is read with a get.
func Read(ctx context.Context, client kubernetes.Interface, leaseNamespace, leaseName string) (*Cluster, error) {
	c := &Cluster{Unreadable: map[string]string{}}
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes (explain needs list on nodes): %w", err)
	}
	for i := range nodes.Items {
		c.Nodes = append(c.Nodes, &nodes.Items[i])
	}
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing pods in all namespaces (explain needs list on pods cluster-wide: a node's type counts every pod on it): %w", err)
	}
	for i := range pods.Items {
		c.Pods = append(c.Pods, &pods.Items[i])
	}

	index := func(kind string, list func() ([]runtime.Object, error)) cache.Indexer {
		objs, err := list()
		if err != nil {
			c.Unreadable[kind] = err.Error()
			return nil
		}
		idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
		for _, o := range objs {
			_ = idx.Add(o) // a key error needs an object without metadata
		}
		return idx
	}
	all := metav1.ListOptions{}
	if idx := index(KindNamespaces, func() ([]runtime.Object, error) {
		l, err := client.CoreV1().Namespaces().List(ctx, all)
		return objects(l, err, func(l *v1.NamespaceList) []v1.Namespace { return l.Items })
	}); idx != nil {
		c.Namespaces = corelisters.NewNamespaceLister(idx)
	}
	if idx := index(KindPersistentVolumeClaims, func() ([]runtime.Object, error) {
		l, err := client.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, all)
		return objects(l, err, func(l *v1.PersistentVolumeClaimList) []v1.PersistentVolumeClaim { return l.Items })
	}); idx != nil {
		c.Claims = corelisters.NewPersistentVolumeClaimLister(idx)
	}
	if idx := index(KindPersistentVolumes, func() ([]runtime.Object, error) {
		l, err := client.CoreV1().PersistentVolumes().List(ctx, all)
		return objects(l, err, func(l *v1.PersistentVolumeList) []v1.PersistentVolume { return l.Items })
	}); idx != nil {
		c.Volumes = corelisters.NewPersistentVolumeLister(idx)
	}
	if idx := index(KindReplicaSets, func() ([]runtime.Object, error) {
		l, err := client.AppsV1().ReplicaSets(metav1.NamespaceAll).List(ctx, all)
		return objectsOf(l, err, func() []runtime.Object { return ptrs(l.Items) })
	}); idx != nil {
		c.ReplicaSets = appslisters.NewReplicaSetLister(idx)
	}
	if idx := index(KindStatefulSets, func() ([]runtime.Object, error) {
		l, err := client.AppsV1().StatefulSets(metav1.NamespaceAll).List(ctx, all)
		return objectsOf(l, err, func() []runtime.Object { return ptrs(l.Items) })
	}); idx != nil {
		c.StatefulSets = appslisters.NewStatefulSetLister(idx)
	}
	if idx := index(KindDeployments, func() ([]runtime.Object, error) {
		l, err := client.AppsV1().Deployments(metav1.NamespaceAll).List(ctx, all)
		return objectsOf(l, err, func() []runtime.Object { return ptrs(l.Items) })
	}); idx != nil {
		c.Deployments = appslisters.NewDeploymentLister(idx)
	}
	if idx := index(KindPodDisruptionBudgets, func() ([]runtime.Object, error) {
		l, err := client.PolicyV1().PodDisruptionBudgets(metav1.NamespaceAll).List(ctx, all)
		return objectsOf(l, err, func() []runtime.Object { return ptrs(l.Items) })
	}); idx != nil {
		c.Disruptions = policylisters.NewPodDisruptionBudgetLister(idx)
	}
	if leaseName != "" {
		c.SchedulerLease, c.LeaseErr = client.CoordinationV1().Leases(leaseNamespace).Get(ctx, leaseName, metav1.GetOptions{})
		if c.LeaseErr != nil {
			c.SchedulerLease = nil
			if !apierrors.IsNotFound(c.LeaseErr) {
				c.Unreadable[KindLeases] = c.LeaseErr.Error()
			}
		}
	}
	return c, nil
}

func objects[L any, T any](l *L, err error, items func(*L) []T) ([]runtime.Object, error) {
	if err != nil {
		return nil, err
	}
	return ptrs(items(l)), nil
}

func objectsOf[L any](_ *L, err error, items func() []runtime.Object) ([]runtime.Object, error) {
	if err != nil {
		return nil, err
	}
	return items(), nil
}

// ptrs returns pointers to the items, as runtime.Objects.
func ptrs[T any](items []T) []runtime.Object {
	out := make([]runtime.Object, 0, len(items))
	for i := range items {
		if o, ok := any(&items[i]).(runtime.Object); ok {
			out = append(out, o)
		}
	}
	return out
}
