package notebookspread

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/util"
)

// EventsToRegister lists the cluster changes that can turn a node this plugin rejected (at the
// maxUsersPerNode cap) into one it accepts, each with a hint that requeues the pod only when the
// change can matter to it. Without a cap the plugin never rejects a pod, so it registers nothing.
//
// A resident server that starts terminating, or finishes, stops counting at once, but that is a
// generic Pod/Update, which would run a hint on every status change of every pod; the waiting
// pod is requeued when the pod is deleted instead (JupyterHub deletes a stopped server's pod).
func (pl *NotebookSpread) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	if pl.maxUsers == 0 {
		return nil, nil
	}
	return []fwk.ClusterEventWithHint{
		// Another user's server left a node: a user logged out, and a slot under the cap is free.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: pl.isSchedulableAfterPodDelete},
		// The labels that say which pods are servers, and of which user and hub, changed: the
		// pending pod's own, or a resident's.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.UpdatePodLabel}, QueueingHintFn: pl.isSchedulableAfterPodLabelChange},
		// One of the user's servers landed on a full node: the user counts there already.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Add}, QueueingHintFn: pl.isSchedulableAfterPodAdd},
		// A new node serves no user yet. (With queueing hints, always on since 1.34, Node/Add is
		// not missed for a node added tainted, so UpdateNodeTaint is not needed.)
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add}, QueueingHintFn: pl.isSchedulableAfterNodeAdd},
	}, nil
}

func (pl *NotebookSpread) isSchedulableAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	deleted, _, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	o, _, ok, _ := pl.ownerOf(pod)
	if !ok {
		// The pod was rejected as a server of a known user; if it no longer is one, let the
		// scheduler look again.
		return fwk.Queue, nil
	}
	if deleted.Spec.NodeName == "" || deleted.Status.Phase == v1.PodSucceeded || deleted.Status.Phase == v1.PodFailed {
		return fwk.QueueSkip, nil
	}
	// Not counted: the deleted object carries its deletionTimestamp, and the pod counted on its
	// node until it began terminating, which requeued nothing.
	r, _, rok, _ := pl.ownerOf(deleted)
	if rok && r.hub == o.hub && r.user != o.user {
		logger.V(5).Info("Another user's notebook server left its node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted), "node", deleted.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

func (pl *NotebookSpread) isSchedulableAfterPodLabelChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldPod, newPod, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if newPod.UID == pod.UID {
		oldOwner, oldIsNotebook, oldOK, _ := pl.ownerOf(oldPod)
		newOwner, newIsNotebook, newOK, _ := pl.ownerOf(newPod)
		if oldOwner == newOwner && oldIsNotebook == newIsNotebook && oldOK == newOK {
			return fwk.QueueSkip, nil
		}
		logger.V(5).Info("The pod's own notebook user, hub or selection changed", "pod", klog.KObj(pod))
		return fwk.Queue, nil
	}
	if newPod.Spec.NodeName == "" {
		return fwk.QueueSkip, nil
	}
	o, _, ok, _ := pl.ownerOf(pod)
	if !ok {
		return fwk.Queue, nil
	}
	oldOwner, oldCounted := pl.counted(oldPod)
	newOwner, newCounted := pl.counted(newPod)
	if oldCounted == newCounted && oldOwner == newOwner {
		return fwk.QueueSkip, nil
	}
	// Another user's server no longer counts as that user's, or the node now runs one of this
	// user's servers.
	if (oldCounted && oldOwner.hub == o.hub && oldOwner.user != o.user) || (newCounted && newOwner == o) {
		logger.V(5).Info("A resident notebook server's labels changed in the pod's favour", "pod", klog.KObj(pod), "resident", klog.KObj(newPod), "node", newPod.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

func (pl *NotebookSpread) isSchedulableAfterPodAdd(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	_, added, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	o, _, ok, _ := pl.ownerOf(pod)
	if !ok {
		return fwk.Queue, nil
	}
	if added.Spec.NodeName == "" {
		return fwk.QueueSkip, nil
	}
	if r, counted := pl.counted(added); counted && r == o {
		logger.V(5).Info("One of the user's notebook servers landed on a node", "pod", klog.KObj(pod), "added", klog.KObj(added), "node", added.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

func (pl *NotebookSpread) isSchedulableAfterNodeAdd(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	_, node, err := util.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	logger.V(5).Info("A node was added; it serves no notebook user yet", "pod", klog.KObj(pod), "node", klog.KObj(node))
	return fwk.Queue, nil
}
