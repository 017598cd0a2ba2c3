// Package workloadtypeaffinity implements WorkloadTypeAffinity, a scheduler plugin that keeps each
// node to one database workload type: a typed database pod (OLTP or OLAP) prefers nodes of its own
// type, then free nodes, then mixed ones, and avoids nodes of the other type (or, in Required mode,
// never lands on them). Untyped pods are skipped and cost nothing.
package workloadtypeaffinity

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/apis/config/validation"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

const (
	// Name is the plugin's name in the registry and in KubeSchedulerConfiguration.
	Name = "WorkloadTypeAffinity"

	preFilterStateKey = "PreFilter" + Name
	preScoreStateKey  = "PreScore" + Name

	// ErrReasonOtherType is the Filter reason (Required mode); the scheduler prefixes it with the
	// number of nodes, and the %s is the node's type.
	ErrReasonOtherType = "node(s) had the other database workload type (%s)"

	// ErrReasonNotSignable is why SignPod refuses typed pods with a spreading intent.
	ErrReasonNotSignable = "not signable: the spreading rule scores a node against the other candidate nodes' counts of the pod's siblings"

	// signFragmentKey names the part of a pod's signature this plugin depends on: its resolved
	// type (label, else the record on its owner or claims).
	signFragmentKey = Name + "/" + apis.LabelWorkloadType

	// reasonInvalidType is the Event reason when a pod's workload-type label, or the record its
	// type is resolved from, is not a known value.
	reasonInvalidType = "InvalidWorkloadType"
)

// WorkloadTypeAffinity is the plugin. Everything on it is immutable after New but the per-node
// caches (nodes, pools, terms), which only PreFilter and PreScore update.
type WorkloadTypeAffinity struct {
	handle   fwk.Handle
	resolver *workloadtype.Resolver
	// nsLister resolves the namespaceSelector of the pod's anti-affinity terms; nil without
	// informers.
	nsLister        listersv1.NamespaceLister
	mode            config.WorkloadTypeAffinityMode
	majorityPercent int32
	scores          [workloadtype.NumRelations]int64
	// reasons holds the prebuilt Filter reason per node type, so Filter neither formats strings
	// nor allocates the reasons of the Status it returns (len == cap: an append copies).
	reasons [workloadtype.NodeMixed + 1][]string

	// nodes is each node's state (nodeState) at its NodeInfo's generation.
	nodes *pluginutil.NodeCache[nodeState]
	// pools are the PreFilter results of Required mode, rebuilt when a node's pool changes.
	pools pools
	// terms are the per-node sibling counts of the last workloads spread by declared terms.
	terms termCounts
}

var _ fwk.PreFilterPlugin = &WorkloadTypeAffinity{}
var _ fwk.FilterPlugin = &WorkloadTypeAffinity{}
var _ fwk.PreScorePlugin = &WorkloadTypeAffinity{}
var _ fwk.ScorePlugin = &WorkloadTypeAffinity{}
var _ fwk.ScoreExtensions = &WorkloadTypeAffinity{}
var _ fwk.EnqueueExtensions = &WorkloadTypeAffinity{}
var _ fwk.SignPlugin = &WorkloadTypeAffinity{}

// New builds the plugin from its (defaulted) args and validates them: a bad value makes the
// scheduler refuse to start, with the field's path in the profile.
func New(_ context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, ok := obj.(*config.WorkloadTypeAffinityArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type WorkloadTypeAffinityArgs, got %T", Name, obj)
	}
	path := pluginutil.ArgsPath(h, Name)
	if err := validation.ValidateWorkloadTypeAffinityArgs(path, args); err != nil {
		return nil, err
	}
	pl := &WorkloadTypeAffinity{
		handle:          h,
		resolver:        newResolver(h),
		nsLister:        newNamespaceLister(h),
		mode:            args.Mode,
		majorityPercent: args.MajorityPercent,
	}
	pl.nodes = pluginutil.NewNodeCache(pl.newNodeState, poolChanged)
	pl.scores[workloadtype.SameType] = int64(args.Scores.SameType)
	pl.scores[workloadtype.Free] = int64(args.Scores.Free)
	pl.scores[workloadtype.Mixed] = int64(args.Scores.Mixed)
	pl.scores[workloadtype.OtherType] = int64(args.Scores.OtherType)
	for _, n := range []workloadtype.NodeType{workloadtype.NodeOLTP, workloadtype.NodeOLAP} {
		pl.reasons[n] = []string{fmt.Sprintf(ErrReasonOtherType, n)}
	}
	return pl, nil
}

// Name returns the plugin's name.
func (pl *WorkloadTypeAffinity) Name() string { return Name }

// newResolver reads records from the informers kube-scheduler already runs for its in-tree
// plugins (PodTopologySpread reads ReplicaSets and StatefulSets, VolumeBinding PVCs), which
// system:kube-scheduler may list and watch. Deployments are not among them, nor in that role:
// the record on the ReplicaSet is what a replacement pod finds.
func newResolver(h fwk.Handle) *workloadtype.Resolver {
	f := h.SharedInformerFactory()
	if f == nil {
		return workloadtype.NewResolver(nil, nil, nil, nil)
	}
	return workloadtype.NewResolver(f.Apps().V1().ReplicaSets().Lister(), f.Apps().V1().StatefulSets().Lister(), nil,
		f.Core().V1().PersistentVolumeClaims().Lister())
}

// newNamespaceLister reads namespaces from the informer kube-scheduler runs for InterPodAffinity,
// which system:kube-scheduler may list and watch.
func newNamespaceLister(h fwk.Handle) listersv1.NamespaceLister {
	f := h.SharedInformerFactory()
	if f == nil {
		return nil
	}
	return f.Core().V1().Namespaces().Lister()
}

// podType resolves the pod's type: its label, else the type recorded for its workload. An invalid
// label or record is reported on the pod (an Event) and the pod is scheduled as untyped rather
// than blocked.
func (pl *WorkloadTypeAffinity) podType(ctx context.Context, pod *v1.Pod, report bool) workloadtype.Type {
	logger := klog.FromContext(ctx)
	res, err := pl.resolver.Resolve(pod)
	if err != nil {
		logger.V(2).Info("Ignoring invalid workload type; scheduling the pod as untyped", "pod", klog.KObj(pod), "err", err)
		if report && pl.handle.EventRecorder() != nil {
			pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeWarning, reasonInvalidType, "Scheduling",
				"%v; scheduling the pod as untyped", err)
		}
		return workloadtype.None
	}
	if res.Type != workloadtype.None && res.Source != workloadtype.SourceLabel {
		logger.V(4).Info("Pod typed by its workload's record", "pod", klog.KObj(pod), "type", res.Type, "from", res.From)
	}
	return res.Type
}

// poolLabel is the node's pool: its workload-type label, or None. An invalid pool label is
// ignored; the node is typed by its pods instead.
func poolLabel(node *v1.Node) workloadtype.Type {
	label, err := workloadtype.OfNodeLabel(node)
	if err != nil {
		return workloadtype.None
	}
	return label
}

// nodeType classifies a node from its label and the pods in nodeInfo, O(pods on the node). It
// reads only nodeInfo, so it is right for the snapshot and for the what-if NodeInfos of
// preemption alike; it is what the cache holds (newNodeState) and what is used where the
// cache cannot serve.
func (pl *WorkloadTypeAffinity) nodeType(nodeInfo fwk.NodeInfo) workloadtype.NodeType {
	if label := poolLabel(nodeInfo.Node()); label != workloadtype.None {
		return workloadtype.ClassifyNode(label, workloadtype.Counts{}, pl.majorityPercent)
	}
	var c workloadtype.Counts
	for _, p := range nodeInfo.GetPods() {
		c.Add(workloadtype.Resident(p.GetPod()))
	}
	return workloadtype.ClassifyNode(workloadtype.None, c, pl.majorityPercent)
}

// SignPod makes typed pods of no workload batchable by their resolved type: the score of a node
// then depends only on the pod's type and on that node, so results for one pod hold for the next
// pod of the same type on every node but the one just chosen (which opportunistic batching
// re-checks anyway). A typed pod with a spreading intent (declared terms, or a controller) is
// not signable: the spreading rule scores a node against the fewest siblings over all the
// candidates, so placing one replica can change every other node's score (PodTopologySpread,
// with its system-default constraints, refuses such pods too). Untyped pods add nothing to the
// signature.
func (pl *WorkloadTypeAffinity) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	res, err := pl.resolver.Resolve(pod)
	if err != nil || res.Type == workloadtype.None {
		return nil, nil
	}
	if hasSpreading(pod) {
		return nil, fwk.NewStatus(fwk.Unschedulable, ErrReasonNotSignable)
	}
	t := res.Type
	return []fwk.SignFragment{{Key: signFragmentKey, Value: t.String()}}, nil
}
