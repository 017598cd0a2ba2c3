package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
)

const (
	// kwokLeaseDurationSeconds is the node Lease duration KWOK keeps renewed (every quarter of
	// it), as a kubelet does. The renewed Lease is what keeps kube-controller-manager's node
	// lifecycle controller from marking a node NotReady; the heartbeat Stage refreshes the
	// node's conditions only every 10 to 20 minutes.
	kwokLeaseDurationSeconds = 40

	// nodeReadyTimeout bounds AddNodes' wait for KWOK to make the nodes Ready.
	nodeReadyTimeout = 2 * time.Minute
)

// kwok runs KWOK with the Stage configs hack/build-kwok.sh copied from its module. It manages
// only nodes annotated kwok.x-k8s.io/node=fake and the pods bound to them.
func (c *Cluster) kwok() component {
	return component{
		name:   binKWOK,
		binary: c.tools.kwok,
		nPorts: 1,
		args: func(p []int) []string {
			args := []string{
				"--kubeconfig=" + kubeconfigPath(c.stateDir, KWOK),
				"--manage-all-nodes=false",
				"--manage-nodes-with-annotation-selector=" + apis.AnnotationKWOKNode + "=" + apis.KWOKNodeFake,
				"--node-lease-duration-seconds=" + strconv.Itoa(kwokLeaseDurationSeconds),
				"--cidr=" + kwokFallbackCIDR(c.slot).String(),
				"--node-ip=" + kwokFallbackNodeIP(c.slot).String(),
				"--server-address=" + hostPort(p[0]),
			}
			for _, stage := range c.tools.kwokStages {
				args = append(args, "--config="+stage)
			}
			return args
		},
		// KWOK otherwise also reads ~/.kwok/kwok.yaml, which could change its behaviour.
		env: []string{"KWOK_WORKDIR=" + filepath.Join(c.stateDir, "kwok")},
		prepare: func(p []int) error {
			c.ports.KWOK = p[0]
			return nil
		},
		ready: func(ctx context.Context, p []int) error {
			_, err := httpGet(ctx, http.DefaultClient, "http://"+hostPort(p[0])+"/healthz")
			return err
		},
	}
}

// NodeSpec describes a node for AddNodes. The zero value is a valid node.
type NodeSpec struct {
	// Name defaults to node-<index>, index being the node's place in the cluster's loopback
	// block (see LoopbackBlock).
	Name string
	// Labels are added to kubernetes.io/hostname=<name>, kubernetes.io/os=linux and
	// kubernetes.io/arch=amd64, and win over them.
	Labels map[string]string
	// Annotations are added to kwok.x-k8s.io/node=fake, which cannot be overridden.
	Annotations map[string]string
	// Capacity is the node's capacity and allocatable. Resources it leaves out come from
	// Options.NodeCapacity.
	Capacity corev1.ResourceList
	// Taints are set on the node as given.
	Taints []corev1.Taint
}

// AddNodes creates KWOK nodes and waits until every one is Ready and free of the not-ready
// taint, so a scheduler considers it. Each node gets the next free index i of the cluster's
// block: InternalIP 127.<slot>.0.<i>, spec.podCIDR(s) 127.<slot>.<i>.0/24, from which KWOK
// hands out the IPs of pods bound to it. It returns the nodes as they are when Ready.
func (c *Cluster) AddNodes(ctx context.Context, specs []NodeSpec) ([]*corev1.Node, error) {
	nodes, err := c.buildNodes(ctx, specs)
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if _, err := c.client.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating node %s: %w", n.Name, err)
		}
	}
	ready := make([]*corev1.Node, len(nodes))
	var notReady string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, nodeReadyTimeout, true, func(ctx context.Context) (bool, error) {
		for i, n := range nodes {
			if ready[i] != nil {
				continue
			}
			got, err := c.client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Errorf("node %s: %w", n.Name, err)
			}
			if !NodeReady(got) {
				notReady = n.Name
				return false, nil
			}
			ready[i] = got
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("node %s did not become Ready without the not-ready taint (is KWOK running? see %s): %w",
			notReady, c.logPath(binKWOK), err)
	}
	return ready, nil
}

// buildNodes validates specs and turns them into Node objects with fresh indices.
func (c *Cluster) buildNodes(ctx context.Context, specs []NodeSpec) ([]*corev1.Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	existing, err := c.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	used := map[int]bool{}
	names := map[string]bool{}
	for _, n := range existing.Items {
		names[n.Name] = true
		used[nodeIndexOf(c.slot, n.Spec.PodCIDR)] = true
	}

	nodes := make([]*corev1.Node, 0, len(specs))
	for i, spec := range specs {
		index, err := c.nextNodeIndex(used)
		if err != nil {
			return nil, err
		}
		used[index] = true
		name := spec.Name
		if name == "" {
			name = "node-" + strconv.Itoa(index)
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return nil, fmt.Errorf("specs[%d].Name %q: %v", i, name, errs)
		}
		if names[name] {
			return nil, fmt.Errorf("specs[%d].Name: node %q already exists", i, name)
		}
		names[name] = true
		nodes = append(nodes, c.node(name, index, spec))
	}
	return nodes, nil
}

// nextNodeIndex picks the index after the last one handed out that no node uses. Indices are
// not reused while others are free, so a new node does not inherit the pod IPs of a node
// deleted a moment ago.
func (c *Cluster) nextNodeIndex(used map[int]bool) (int, error) {
	for range maxNodes {
		c.lastNodeIndex = c.lastNodeIndex%maxNodes + 1
		if !used[c.lastNodeIndex] {
			return c.lastNodeIndex, nil
		}
	}
	return 0, fmt.Errorf("the cluster already has %d nodes, as many as its loopback block %s holds", maxNodes, c.LoopbackBlock())
}

// node builds the Node for spec at index.
func (c *Cluster) node(name string, index int, spec NodeSpec) *corev1.Node {
	capacity := corev1.ResourceList{}
	for k, q := range c.opts.NodeCapacity {
		capacity[k] = q.DeepCopy()
	}
	for k, q := range spec.Capacity {
		capacity[k] = q.DeepCopy()
	}
	labels := map[string]string{
		corev1.LabelHostname: name,
		corev1.LabelOSStable: "linux",
		// KWOK's node Stage reports amd64 too; what matters is that they agree.
		corev1.LabelArchStable: "amd64",
	}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	annotations := map[string]string{}
	for k, v := range spec.Annotations {
		annotations[k] = v
	}
	annotations[apis.AnnotationKWOKNode] = apis.KWOKNodeFake
	podCIDR := nodePodCIDR(c.slot, index).String()
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.NodeSpec{
			PodCIDR:  podCIDR,
			PodCIDRs: []string{podCIDR},
			Taints:   spec.Taints,
		},
		// A node may be created with its status. KWOK's node-initialize Stage keeps the
		// addresses, capacity and allocatable it finds and fills in the rest.
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: nodeIP(c.slot, index).String()},
				{Type: corev1.NodeHostName, Address: name},
			},
		},
	}
}

// NodeReady reports whether a node is Ready and carries neither the not-ready nor the
// unreachable taint, so a scheduler will consider it.
func NodeReady(n *corev1.Node) bool {
	ready := false
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = cond.Status == corev1.ConditionTrue
		}
	}
	for _, t := range n.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	return ready
}

// DeleteNodes deletes the named nodes and waits until they are gone. Pods bound to them are
// left to the pod garbage collector, as in a real cluster; delete them first to be quick.
func (c *Cluster) DeleteNodes(ctx context.Context, names ...string) error {
	var errs []error
	for _, name := range names {
		err := c.client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting node %s: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, nodeReadyTimeout, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				return false, nil
			}
			if !apierrors.IsNotFound(err) {
				return false, err
			}
		}
		return true, nil
	})
}
