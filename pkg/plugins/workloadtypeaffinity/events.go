package workloadtypeaffinity

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/util"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// EventsToRegister lists the cluster changes that can turn a node this plugin rejected (Required
// mode: a node of the other type) into one it accepts, each with a hint that requeues the pod
// only when the change can matter to it. In Preferred mode the plugin never rejects a pod, so
// no hint of its would ever be asked: it registers nothing.
func (pl *WorkloadTypeAffinity) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	if pl.mode != config.ModeRequired {
		return nil, nil
	}
	return []fwk.ClusterEventWithHint{
		// A new node, or a node whose pool label changed. No UpdateNodeTaint: a taint never
		// changes this plugin's answer, and with queueing hints (always on since 1.34) a node
		// added tainted is not missed, so the in-tree reason to register it is gone.
		{Event: fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel}, QueueingHintFn: pl.isSchedulableAfterNodeChange},
		// A resident typed pod left its node (deleted, or evicted by the rebalancer).
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Delete}, QueueingHintFn: pl.isSchedulableAfterPodDelete},
		// A pod's type label changed: the pending pod's own, or a resident pod's.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.UpdatePodLabel}, QueueingHintFn: pl.isSchedulableAfterPodLabelChange},
		// A pod of the pending pod's type landed on a node and may have taken its majority back.
		{Event: fwk.ClusterEvent{Resource: fwk.Pod, ActionType: fwk.Add}, QueueingHintFn: pl.isSchedulableAfterPodAdd},
	}, nil
}

// pendingType is the type of the pod waiting in the queue; a pod that is not typed (any more)
// was not rejected by this plugin for its type.
func pendingType(pod *v1.Pod) workloadtype.Type {
	t, _ := workloadtype.OfPod(pod)
	return t
}

func (pl *WorkloadTypeAffinity) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldNode, newNode, err := util.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	t := pendingType(pod)
	if t == workloadtype.None {
		return fwk.Queue, nil
	}
	newLabel, _ := workloadtype.OfNodeLabel(newNode)
	if newLabel == t.Other() {
		logger.V(5).Info("Node is labelled with the other workload type; it does not help", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	if oldNode != nil {
		// An invalid label is read as none, as nodeType reads it.
		oldLabel, _ := workloadtype.OfNodeLabel(oldNode)
		switch {
		case oldLabel == newLabel:
			// Another label changed; the node's type did not.
			return fwk.QueueSkip, nil
		case oldLabel == t:
			// A pool of the pod's type never rejected it; unlabelled, it can only get worse.
			return fwk.QueueSkip, nil
		}
		// The label left the other type, or a node typed by its residents (which may have
		// rejected the pod) was declared a pool of the pod's type.
	}
	logger.V(5).Info("Node added or relabelled, and it may accept the pod's workload type", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return fwk.Queue, nil
}

func (pl *WorkloadTypeAffinity) isSchedulableAfterPodDelete(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	deleted, _, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	t := pendingType(pod)
	if t == workloadtype.None {
		return fwk.Queue, nil
	}
	// The deleted object carries its deletionTimestamp, so ask for its type, not Resident: it
	// counted on its node until now.
	if typ, _ := workloadtype.OfPod(deleted); deleted.Spec.NodeName != "" && typ == t.Other() {
		logger.V(5).Info("A pod of the other workload type left its node", "pod", klog.KObj(pod), "deletedPod", klog.KObj(deleted), "node", deleted.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

func (pl *WorkloadTypeAffinity) isSchedulableAfterPodLabelChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldPod, newPod, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	oldType, _ := workloadtype.OfPod(oldPod)
	newType, _ := workloadtype.OfPod(newPod)
	if oldType == newType {
		return fwk.QueueSkip, nil
	}
	if newPod.UID == pod.UID {
		logger.V(5).Info("The pod's own workload type changed", "pod", klog.KObj(pod), "old", oldType, "new", newType)
		return fwk.Queue, nil
	}
	t := pendingType(pod)
	if newPod.Spec.NodeName != "" && (oldType == t.Other() || newType == t) {
		logger.V(5).Info("A resident pod's workload type changed in the pod's favour", "pod", klog.KObj(pod), "resident", klog.KObj(newPod), "node", newPod.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}

func (pl *WorkloadTypeAffinity) isSchedulableAfterPodAdd(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	_, added, err := util.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	t := pendingType(pod)
	if t != workloadtype.None && added.Spec.NodeName != "" && workloadtype.Resident(added) == t {
		logger.V(5).Info("A pod of the same workload type landed on a node", "pod", klog.KObj(pod), "added", klog.KObj(added), "node", added.Spec.NodeName)
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}
