// Package notebookspread implements NotebookSpread, a scheduler plugin that balances JupyterHub
// notebook servers by the number of distinct running users per node, which resource-based
// scoring cannot do for pods that request almost nothing. Spread mode (the default) prefers the
// nodes with the fewest users, Pack mode the nodes with the most; an optional cap rejects nodes
// that already serve maxUsersPerNode users. Pods that are not notebook servers are skipped.
package notebookspread

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/apis/config/validation"
	"github.com/likewise-dev/likewise/pkg/plugins/pluginutil"
)

const (
	// Name is the plugin's name in the registry and in KubeSchedulerConfiguration.
	Name = "NotebookSpread"

	preFilterStateKey = "PreFilter" + Name
	preScoreStateKey  = "PreScore" + Name

	// ErrReasonTooManyUsers is the Filter reason when maxUsersPerNode is set; the scheduler
	// prefixes it with the number of nodes. The numbers are the node's users and the cap.
	ErrReasonTooManyUsers = "node(s) already had %d notebook users (maxUsersPerNode is %d)"

	// ErrReasonNotSignable is why SignPod refuses notebook pods: see SignPod.
	ErrReasonNotSignable = "not signable: a node's NotebookSpread score depends on the user counts of the other candidate nodes"

	// reasonUncountable is the Event reason when a pod matches the podSelector but names no user
	// or no hub, so the plugin cannot place it by users.
	reasonUncountable = "NotebookUserUnknown"
)

// NotebookSpread is the plugin. Everything on it is immutable after New but the per-node cache
// (nodes), which only PreFilter and PreScore update.
type NotebookSpread struct {
	handle         fwk.Handle
	mode           config.NotebookSpreadMode
	selector       labels.Selector
	userAnnotation string
	userLabel      string
	hubLabel       string
	adjustment     int64
	maxUsers       int
	// capReason is the Filter reason for a node exactly at the cap (the usual case), prebuilt so
	// that Filter neither formats it nor allocates the reasons of its Status for every full node
	// (len == cap: an append copies).
	capReason []string

	// nodes holds each node's users (nodeUsers) at its NodeInfo's generation.
	nodes *pluginutil.NodeCache[nodeUsers]
	// seed hashes owners into nodeUsers' Bloom filters; hubNames interns their hubs.
	seed     maphash.Seed
	hubNames hubNames
}

var _ fwk.PreFilterPlugin = &NotebookSpread{}
var _ fwk.FilterPlugin = &NotebookSpread{}
var _ fwk.PreScorePlugin = &NotebookSpread{}
var _ fwk.ScorePlugin = &NotebookSpread{}
var _ fwk.EnqueueExtensions = &NotebookSpread{}
var _ fwk.SignPlugin = &NotebookSpread{}

// New builds the plugin from its (defaulted) args and validates them: a bad value makes the
// scheduler refuse to start, with the field's path in the profile.
func New(_ context.Context, obj runtime.Object, h fwk.Handle) (fwk.Plugin, error) {
	args, ok := obj.(*config.NotebookSpreadArgs)
	if !ok {
		return nil, fmt.Errorf("%s: want args of type NotebookSpreadArgs, got %T", Name, obj)
	}
	path := pluginutil.ArgsPath(h, Name)
	if err := validation.ValidateNotebookSpreadArgs(path, args); err != nil {
		return nil, err
	}
	selector, err := metav1.LabelSelectorAsSelector(args.PodSelector)
	if err != nil {
		// Validation has parsed it already; this is only reached if the two disagree.
		return nil, field.Invalid(path.Child("podSelector"), metav1.FormatLabelSelector(args.PodSelector), err.Error())
	}
	pl := &NotebookSpread{
		handle:         h,
		mode:           args.Mode,
		selector:       selector,
		userAnnotation: args.UserAnnotation,
		userLabel:      args.UserLabel,
		hubLabel:       args.HubLabel,
		adjustment:     int64(args.SameUserNodeAdjustment),
		maxUsers:       int(args.MaxUsersPerNode),
		capReason:      []string{fmt.Sprintf(ErrReasonTooManyUsers, args.MaxUsersPerNode, args.MaxUsersPerNode)},
	}
	pl.seed = maphash.MakeSeed()
	pl.nodes = pluginutil.NewNodeCache(pl.newNodeUsers, nil)
	return pl, nil
}

// Name returns the plugin's name.
func (pl *NotebookSpread) Name() string { return Name }

// owner is whose notebook server a pod is: a user of a hub. Users are counted per hub.
type owner struct {
	hub, user string
}

// lack is what a notebook pod lacks to be counted: nothing, its hub or its user.
type lack uint8

const (
	lacksNothing lack = iota
	lacksHub
	lacksUser
)

// ownerOf returns the owner of a notebook server pod. isNotebook is false for a pod the
// podSelector does not select and for JupyterHub's placeholder pods; for a notebook pod without
// a user or hub, ok is false and missing says which (lacking names it). It allocates nothing:
// Score and Filter read the pods of a node through it.
func (pl *NotebookSpread) ownerOf(pod *v1.Pod) (o owner, isNotebook, ok bool, missing lack) {
	if !pl.selector.Matches(labels.Set(pod.Labels)) || pod.Labels[apis.LabelComponent] == apis.ComponentUserPlaceholder {
		return owner{}, false, false, lacksNothing
	}
	o.hub = pod.Namespace
	if pl.hubLabel != "" {
		if o.hub, ok = pod.Labels[pl.hubLabel]; !ok || o.hub == "" {
			return owner{}, true, false, lacksHub
		}
	}
	if pl.userAnnotation != "" {
		o.user = pod.Annotations[pl.userAnnotation]
	}
	if o.user == "" && pl.userLabel != "" {
		o.user = pod.Labels[pl.userLabel]
	}
	if o.user == "" {
		return owner{}, true, false, lacksUser
	}
	return o, true, true, lacksNothing
}

// lacking names where the plugin looks for what a pod lacks, for messages.
func (pl *NotebookSpread) lacking(m lack) string {
	if m == lacksHub {
		return "label " + pl.hubLabel
	}
	return pl.userKeys()
}

// userKeys describes where the plugin looks for a user, for messages.
func (pl *NotebookSpread) userKeys() string {
	switch {
	case pl.userAnnotation == "":
		return "label " + pl.userLabel
	case pl.userLabel == "":
		return "annotation " + pl.userAnnotation
	default:
		return "annotation " + pl.userAnnotation + " or label " + pl.userLabel
	}
}

// pendingOwner returns the owner of the pod being scheduled, or false when the plugin has nothing
// to do with it. A notebook pod without a user or hub is scheduled as any other pod; with report
// set, an Event on the pod says so.
func (pl *NotebookSpread) pendingOwner(ctx context.Context, pod *v1.Pod, report bool) (owner, bool) {
	o, isNotebook, ok, m := pl.ownerOf(pod)
	if isNotebook && !ok {
		missing := pl.lacking(m)
		klog.FromContext(ctx).V(2).Info("Notebook pod names no user or hub; scheduling it without NotebookSpread", "pod", klog.KObj(pod), "missing", missing)
		if report && pl.handle.EventRecorder() != nil {
			pl.handle.EventRecorder().Eventf(pod, nil, v1.EventTypeWarning, reasonUncountable, "Scheduling",
				"pod matches the notebook podSelector but has no %s; scheduling it without spreading by users", missing)
		}
	}
	return o, ok
}

// counted returns the owner of a pod that counts as a running user on its node: a notebook
// server of a known user and hub that is neither terminating nor finished (it is leaving, and
// counting it would keep its user's slot taken after logout).
func (pl *NotebookSpread) counted(pod *v1.Pod) (owner, bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return owner{}, false
	}
	o, _, ok, _ := pl.ownerOf(pod)
	return o, ok
}

// maxUsersBuffer is how many distinct users usersOn tracks without allocating.
const maxUsersBuffer = 64

// usersOn counts the distinct users of o's hub that run a counted notebook server on the node,
// o's own user left out, and reports whether o's user runs one there. One user with several
// named servers counts once. It reads only nodeInfo, O(pods on the node), so it is right for the
// snapshot and for preemption's what-if NodeInfos alike; it is what the cache holds
// (nodeUsers) and what is used where the cache cannot serve.
func (pl *NotebookSpread) usersOn(nodeInfo fwk.NodeInfo, o owner) (others int, hasUser bool) {
	var buf [maxUsersBuffer]string
	users := buf[:0]
	for _, pi := range nodeInfo.GetPods() {
		p := pi.GetPod()
		if pl.hubLabel == "" && p.Namespace != o.hub {
			continue // the cheap test first: most pods are in other namespaces
		}
		r, ok := pl.counted(p)
		if !ok || r.hub != o.hub {
			continue
		}
		if r.user == o.user {
			hasUser = true
			continue
		}
		users = append(users, r.user)
	}
	return countDistinct(users), hasUser
}

// countDistinct counts the distinct strings in s, reordering it. A node holds few users, and
// sorting a stack buffer costs no allocation, unlike a set.
func countDistinct(s []string) int {
	if len(s) < 2 {
		return len(s)
	}
	slices.Sort(s)
	n := 1
	for i := 1; i < len(s); i++ {
		if s[i] != s[i-1] {
			n++
		}
	}
	return n
}

// SignPod refuses to sign notebook pods, so the scheduler never reuses one pod's ranking for the
// next. Opportunistic batching hands the next pod with the same signature the runner-up nodes of
// the previous cycle once the node chosen then no longer fits. That is only right if placing
// the previous pod changed no other node's score, and here it can: scores are normalized over
// the candidate nodes (the node with the fewest users gets 100), so when the chosen node drops
// out of the candidates or gains a user, the minimum and maximum move and every other node's
// score is rescaled, which can reorder them against the other plugins' scores. A signature of
// user and hub would not help: it is the other nodes' counts that change. Pods that are not
// notebook servers, and notebook pods the plugin cannot count, are skipped by every extension
// point, so they add nothing and stay batchable.
func (pl *NotebookSpread) SignPod(_ context.Context, pod *v1.Pod) ([]fwk.SignFragment, *fwk.Status) {
	if _, _, ok, _ := pl.ownerOf(pod); !ok {
		return nil, nil
	}
	return nil, fwk.NewStatus(fwk.Unschedulable, ErrReasonNotSignable)
}
