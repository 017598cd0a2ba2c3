// Package explain is `likewise explain`: why a database pod sits where it does, and what the
// rebalancer would do with it, answered by the code the components decide with
// (pkg/workloadtype's Resolver, node type, mixing and Misplaced; pkg/rebalancer's View, safety
// checks, planner and the scheduler's own profile in its Simulator). It reads; it never writes.
package explain

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Cluster is what explain read. Pods and Nodes are the whole cluster's; a nil lister is a kind
// that could not be read, named in Unreadable.
type Cluster struct {
	Nodes []*v1.Node
	Pods  []*v1.Pod

	Namespaces     corelisters.NamespaceLister
	Claims         corelisters.PersistentVolumeClaimLister
	Volumes        corelisters.PersistentVolumeLister
	ReplicaSets    appslisters.ReplicaSetLister
	StatefulSets   appslisters.StatefulSetLister
	Deployments    appslisters.DeploymentLister
	Disruptions    policylisters.PodDisruptionBudgetLister
	SchedulerLease *coordinationv1.Lease
	// LeaseErr is the error reading SchedulerLease (NotFound included).
	LeaseErr error

	// Unreadable names, one line each, what could not be read and why (RBAC, mostly).
	Unreadable map[string]string
}

// Kinds of Cluster.Unreadable, as the API names their resources.
const (
	KindNamespaces             = "namespaces"
	KindPersistentVolumeClaims = "persistentvolumeclaims"
	KindPersistentVolumes      = "persistentvolumes"
	KindReplicaSets            = "replicasets"
	KindStatefulSets           = "statefulsets"
	KindDeployments            = "deployments"
	KindPodDisruptionBudgets   = "poddisruptionbudgets"
	KindLeases                 = "leases"
	KindSimulation             = "simulation"
)

// Config is what explain decides with: the rebalancer's configuration (its --profile,
// --min-pod-age, --excluded-namespaces, --movable-emptydir-volumes, --scheduler-lease) and the
// scheduler config's majorityPercent.
type Config struct {
	Rebalancer      rebalancer.Config
	MajorityPercent int32
}

// Explainer answers for one pod or node of a Cluster at one time.
type Explainer struct {
	cluster  *Cluster
	cfg      Config
	view     *rebalancer.View
	resolver *workloadtype.Resolver
	reb      *rebalancer.Explainer
	now      time.Time
	alive    bool
	leaseMsg string
}

// New returns an Explainer of c at now; place is the scheduler's simulation
// (rebalancer.Simulator.Place).
func New(c *Cluster, cfg Config, place rebalancer.PlaceFunc, now time.Time) (*Explainer, error) {
	c.fillEmpty()
	reb, err := rebalancer.NewExplainer(cfg.Rebalancer, cfg.MajorityPercent, rebalancer.Listers{
		Namespaces: c.Namespaces, Claims: c.Claims, Volumes: c.Volumes,
		ReplicaSets: c.ReplicaSets, StatefulSets: c.StatefulSets,
	}, place)
	if err != nil {
		return nil, err
	}
	e := &Explainer{
		cluster:  c,
		cfg:      cfg,
		view:     rebalancer.NewView(c.Nodes, c.Pods),
		resolver: workloadtype.NewResolver(c.ReplicaSets, c.StatefulSets, c.Deployments, c.Claims),
		reb:      reb,
		now:      now,
	}
	rc := cfg.Rebalancer
	e.alive, e.leaseMsg = rebalancer.SchedulerAlive(rc.SchedulerLeaseNamespace, rc.SchedulerLeaseName, c.SchedulerLease, c.LeaseErr, now)
	return e, nil
}

// fillEmpty gives every kind that could not be read an empty lister: the checks then fail
// closed as the rebalancer's do, and explain says it was its own reading that failed.
func (c *Cluster) fillEmpty() {
	empty := func() cache.Indexer {
		return cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	}
	if c.Unreadable == nil {
		c.Unreadable = map[string]string{}
	}
	if c.Namespaces == nil {
		c.Namespaces = corelisters.NewNamespaceLister(empty())
	}
	if c.Claims == nil {
		c.Claims = corelisters.NewPersistentVolumeClaimLister(empty())
	}
	if c.Volumes == nil {
		c.Volumes = corelisters.NewPersistentVolumeLister(empty())
	}
	if c.ReplicaSets == nil {
		c.ReplicaSets = appslisters.NewReplicaSetLister(empty())
	}
	if c.StatefulSets == nil {
		c.StatefulSets = appslisters.NewStatefulSetLister(empty())
	}
	if c.Deployments == nil {
		c.Deployments = appslisters.NewDeploymentLister(empty())
	}
	if c.Disruptions == nil {
		c.Disruptions = policylisters.NewPodDisruptionBudgetLister(empty())
	}
}

// Unknowable is what no Explainer can know: it is in the running rebalancer's memory.
const Unknowable = "the running rebalancer's memory: cooldowns, back-offs, moves in flight, moves per workload, " +
	"this cycle's and this minute's eviction limits and its simulation budget (Cooldown, BackingOff, TooManyMoves, " +
	"AlreadyEvicted, NodeBusy, LimitReached)"

// PodReport is `likewise explain pod -o json`. Field names are stable.
type PodReport struct {
	Kind      string `json:"kind"` // "Pod"
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Verdict is one line: what happens to the pod and why.
	Verdict string `json:"verdict"`
	// Type is the pod's workload type and where it came from.
	Type TypeReport `json:"type"`
	// Node is the pod's node ("" name while pending).
	Node *NodeSummary `json:"node,omitempty"`
	// Misplaced: the pod adds to its node's mixing (workloadtype.Misplaced).
	Misplaced bool `json:"misplaced"`
	// Rebalancer is what a cycle of the rebalancer would decide.
	Rebalancer RebalancerReport `json:"rebalancer"`
	// Warnings are what explain could not read, and what follows from it.
	Warnings []string `json:"warnings,omitempty"`
}

// TypeReport is a pod's type.
type TypeReport struct {
	// Type is oltp, olap, or "" for none.
	Type string `json:"type"`
	// Source is label, workload (the record on its StatefulSet, ReplicaSet or Deployment),
	// volume (on a PersistentVolumeClaim) or none: workloadtype.Resolver's answer.
	Source string `json:"source"`
	// From is the object that holds the type: "Pod ns/name" for a label, "<Kind> ns/name" for a
	// record.
	From string `json:"from,omitempty"`
	// SetBy is who wrote it: the pod's likewise.dev/workload-type-source for a label, the
	// record's for a record (classifier, manual, rebalancer); "" when unsaid (a person).
	SetBy string `json:"setBy,omitempty"`
	// Counted: the pod counts for its node's type and mixing (a resident pod with a valid label).
	// A pod typed only by a record does not count until the classifier labels it.
	Counted bool `json:"counted"`
	// Record is the type recorded for the pod's workload, whichever source decides.
	Record *RecordReport `json:"record,omitempty"`
	// Classifier is the classifier's evidence on the pod, when it classified it.
	Classifier *Evidence `json:"classifier,omitempty"`
	// Error is an invalid label or record.
	Error string `json:"error,omitempty"`
}

// RecordReport is a type recorded on what outlives the pod.
type RecordReport struct {
	Type       string `json:"type"`
	From       string `json:"from"`
	RecordedBy string `json:"recordedBy,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Evidence is what the classifier wrote on the pod (likewise.dev/workload-* annotations).
type Evidence struct {
	Measured     string `json:"measured,omitempty"`
	Confidence   string `json:"confidence,omitempty"`
	Reasons      string `json:"reasons,omitempty"`
	ClassifiedAt string `json:"classifiedAt,omitempty"`
}

// NodeSummary is a node's type and the counts behind it.
type NodeSummary struct {
	Name string `json:"name"`
	// Type is free, oltp, olap or mixed (workloadtype.ClassifyNode).
	Type string `json:"type"`
	// Pool is the node's likewise.dev/workload-type label ("" for none): it decides the type.
	Pool string `json:"pool,omitempty"`
	// OLTP and OLAP count the resident labelled database pods.
	OLTP int `json:"oltp"`
	OLAP int `json:"olap"`
	// Mixing is how many of them do not match the node (workloadtype.Mixing).
	Mixing int `json:"mixing"`
	// MajorityPercent is WorkloadTypeAffinity's majorityPercent of the profile.
	MajorityPercent int32 `json:"majorityPercent"`
}

// RebalancerReport is what the rebalancer would do with a pod.
type RebalancerReport struct {
	// Considered: a cycle decides for the pod (a misplaced pod of the profile).
	Considered bool `json:"considered"`
	// Action is Evict, Wait or Keep ("" when not considered); Reason the decision's Event reason
	// (the check that stops it, or Evicting).
	Action  string `json:"action,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message"`
	// Workload is Kind/namespace/name of what recreates the pod.
	Workload string `json:"workload,omitempty"`
	// Targets are the nodes the scheduler's profile would choose for the replacement.
	Targets []string `json:"targets,omitempty"`
	// Disruptions are the PodDisruptionBudgets that select the pod; an eviction needs each to
	// allow one.
	Disruptions []DisruptionReport `json:"podDisruptionBudgets,omitempty"`
	// EvictionBlocked: it would be evicted, and the Eviction API would refuse it now (a budget
	// allows no disruption): the rebalancer's Event would be EvictionBlocked.
	EvictionBlocked bool `json:"evictionBlocked,omitempty"`
	// CannotKnow is what explain cannot know (Unknowable).
	CannotKnow string `json:"cannotKnow,omitempty"`
}

// DisruptionReport is one PodDisruptionBudget selecting a pod.
type DisruptionReport struct {
	Name               string `json:"name"`
	DisruptionsAllowed int32  `json:"disruptionsAllowed"`
	// Blocks: it allows no disruption now (or the disruption controller has not processed it).
	Blocks bool `json:"blocks"`
}

// NodeReport is `likewise explain node -o json`.
type NodeReport struct {
	Kind    string      `json:"kind"` // "Node"
	Name    string      `json:"name"`
	Verdict string      `json:"verdict"`
	Node    NodeSummary `json:"node"`
	// Misplaced are the node's misplaced pods, each with its verdict, by namespace/name.
	Misplaced []PodVerdict `json:"misplaced"`
	// Untyped counts resident pods without a type label (not database pods, or not labelled yet).
	Untyped  int      `json:"untyped"`
	Warnings []string `json:"warnings,omitempty"`
}

// PodVerdict is one pod's line in a NodeReport.
type PodVerdict struct {
	Namespace       string   `json:"namespace"`
	Name            string   `json:"name"`
	Type            string   `json:"type"`
	Verdict         string   `json:"verdict"`
	Action          string   `json:"action,omitempty"`
	Reason          string   `json:"reason,omitempty"`
	Message         string   `json:"message"`
	Targets         []string `json:"targets,omitempty"`
	EvictionBlocked bool     `json:"evictionBlocked,omitempty"`
}

// Pod explains pod namespace/name.
func (e *Explainer) Pod(ctx context.Context, namespace, name string) (*PodReport, error) {
	pod := e.findPod(namespace, name)
	if pod == nil {
		return nil, fmt.Errorf("pod %s/%s: not found", namespace, name)
	}
	r := &PodReport{Kind: "Pod", Namespace: namespace, Name: name, Type: e.typeOf(pod), Warnings: e.warnings()}
	if n := pod.Spec.NodeName; n != "" {
		if _, ok := e.view.Nodes[n]; ok {
			s := e.summary(n)
			r.Node = &s
			st := e.view.States[n]
			r.Misplaced = workloadtype.Misplaced(workloadtype.Resident(pod), st.Label, st.Counts)
		} else {
			r.Node = &NodeSummary{Name: n, Type: "unknown", MajorityPercent: e.cfg.MajorityPercent}
		}
	}
	r.Rebalancer = e.decide(ctx, pod)
	r.Verdict = verdict(pod, r.Type, r.Node, r.Rebalancer)
	return r, nil
}

// Node explains node name.
func (e *Explainer) Node(ctx context.Context, name string) (*NodeReport, error) {
	if _, ok := e.view.Nodes[name]; !ok {
		return nil, fmt.Errorf("node %s: not found", name)
	}
	r := &NodeReport{Kind: "Node", Name: name, Node: e.summary(name), Misplaced: []PodVerdict{}, Warnings: e.warnings()}
	st := e.view.States[name]
	for _, p := range e.view.Pods {
		if p.Spec.NodeName != name || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
			continue
		}
		t := workloadtype.Resident(p)
		if t == workloadtype.None {
			if p.DeletionTimestamp == nil {
				r.Untyped++
			}
			continue
		}
		if !workloadtype.Misplaced(t, st.Label, st.Counts) {
			continue
		}
		d := e.decide(ctx, p)
		s := r.Node
		r.Misplaced = append(r.Misplaced, PodVerdict{
			Namespace: p.Namespace, Name: p.Name, Type: t.String(),
			Verdict: verdict(p, TypeReport{Type: t.String(), Counted: true}, &s, d),
			Action:  d.Action, Reason: d.Reason, Message: d.Message, Targets: d.Targets, EvictionBlocked: d.EvictionBlocked,
		})
	}
	r.Verdict = nodeVerdict(r)
	return r, nil
}

func (e *Explainer) findPod(namespace, name string) *v1.Pod {
	for _, p := range e.cluster.Pods {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

func (e *Explainer) warnings() []string {
	var out []string
	for _, kind := range sortedKeys(e.cluster.Unreadable) {
		out = append(out, fmt.Sprintf("could not read %s: %s", kind, e.cluster.Unreadable[kind]))
	}
	return out
}

func (e *Explainer) summary(node string) NodeSummary {
	s := e.view.States[node]
	return NodeSummary{
		Name: node, Type: s.Type(e.cfg.MajorityPercent).String(), Pool: s.Label.String(),
		OLTP: s.Counts.OLTP, OLAP: s.Counts.OLAP, Mixing: s.Mixing(), MajorityPercent: e.cfg.MajorityPercent,
	}
}

func (e *Explainer) typeOf(pod *v1.Pod) TypeReport {
	var r TypeReport
	res, err := e.resolver.Resolve(pod)
	if err != nil {
		r.Error = err.Error()
	}
	r.Type, r.Source, r.From = res.Type.String(), res.Source.String(), res.From
	if res.Source == workloadtype.SourceLabel {
		r.SetBy = pod.Annotations[apis.AnnotationWorkloadTypeSource]
	} else {
		r.SetBy = res.RecordedBy
	}
	r.Counted = workloadtype.Resident(pod) != workloadtype.None && pod.Spec.NodeName != ""
	if rec, err := e.resolver.Recorded(pod); err != nil {
		r.Record = &RecordReport{Error: err.Error()}
	} else if rec.Type != workloadtype.None {
		r.Record = &RecordReport{Type: rec.Type.String(), From: rec.From, RecordedBy: rec.RecordedBy}
	}
	a := pod.Annotations
	ev := Evidence{
		Measured: a[apis.AnnotationWorkloadMeasured], Confidence: a[apis.AnnotationWorkloadConfidence],
		Reasons: a[apis.AnnotationWorkloadReasons], ClassifiedAt: a[apis.AnnotationWorkloadClassifiedAt],
	}
	if ev != (Evidence{}) {
		r.Classifier = &ev
	}
	return r
}

// decide asks the rebalancer's Explainer, and adds what the Eviction API would say.
func (e *Explainer) decide(ctx context.Context, pod *v1.Pod) RebalancerReport {
	var r RebalancerReport
	ok, why := e.reb.Candidate(e.view, pod)
	if !ok {
		r.Message = why
		return r
	}
	d := e.reb.Explain(ctx, e.view, pod, e.now, e.alive, e.leaseMsg)
	r = RebalancerReport{Considered: true, Action: string(d.Action), Reason: d.Reason, Message: d.Message,
		Workload: d.Workload, Targets: d.Targets, CannotKnow: Unknowable}
	// Keep and Wait reasons that mean "could not read": say when it was explain that could not.
	for reason, kinds := range map[string][]string{
		rebalancer.ReasonNamespaceUnknown: {KindNamespaces},
		rebalancer.ReasonVolumeUnknown:    {KindPersistentVolumeClaims, KindPersistentVolumes},
		rebalancer.ReasonSimulationFailed: {KindSimulation},
	} {
		if d.Reason != reason {
			continue
		}
		for _, k := range kinds {
			if why, ok := e.cluster.Unreadable[k]; ok {
				r.Message += fmt.Sprintf(" (explain could not read %s: %s; the rebalancer, with its own rights, may decide otherwise)", k, why)
			}
		}
	}
	r.Disruptions = e.disruptions(pod)
	for _, b := range r.Disruptions {
		if b.Blocks && d.Action == rebalancer.Evict {
			r.EvictionBlocked = true
		}
	}
	return r
}

func (e *Explainer) disruptions(pod *v1.Pod) []DisruptionReport {
	pdbs, err := e.cluster.Disruptions.PodDisruptionBudgets(pod.Namespace).List(everything)
	if err != nil {
		return nil
	}
	var out []DisruptionReport
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || !sel.Matches(labelsOf(pod)) {
			continue
		}
		out = append(out, DisruptionReport{
			Name: pdb.Name, DisruptionsAllowed: pdb.Status.DisruptionsAllowed,
			Blocks: pdb.Status.DisruptionsAllowed < 1 || pdb.Status.ObservedGeneration < pdb.Generation,
		})
	}
	slices.SortFunc(out, func(a, b DisruptionReport) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// verdict is a pod's one line.
func verdict(pod *v1.Pod, t TypeReport, node *NodeSummary, r RebalancerReport) string {
	switch {
	case pod.Spec.NodeName == "":
		return "pending: not on a node yet; the scheduler places it" + placedAs(t)
	case r.EvictionBlocked:
		var names []string
		for _, b := range r.Disruptions {
			if b.Blocks {
				names = append(names, b.Name)
			}
		}
		return fmt.Sprintf("stays: it would be evicted to %s, but PodDisruptionBudget %s allows no disruption now (%s)",
			strings.Join(r.Targets, " or "), strings.Join(names, ", "), rebalancer.ReasonEvictionBlocked)
	case r.Action == string(rebalancer.Evict):
		return fmt.Sprintf("moves: the rebalancer would evict it and the scheduler would place its replacement on %s (%s)",
			strings.Join(r.Targets, " or "), r.Reason)
	case r.Action == string(rebalancer.Keep):
		return fmt.Sprintf("stays: misplaced, and never moved as it is (%s: %s)", r.Reason, r.Message)
	case r.Action == string(rebalancer.Wait):
		return fmt.Sprintf("waits: misplaced, and not moved now (%s: %s)", r.Reason, r.Message)
	case t.Type == "":
		return "stays: not a typed database pod; likewise places it by resources alone"
	case !t.Counted:
		return fmt.Sprintf("stays: typed %s by %s, but not labelled, so neither its node's type nor the rebalancer counts it yet (the classifier labels it from the record)", t.Type, t.From)
	default:
		return fmt.Sprintf("stays: %s pod on %s node %s; %s", t.Type, node.Type, node.Name, r.Message)
	}
}

func placedAs(t TypeReport) string {
	if t.Type == "" {
		return ""
	}
	return " as " + t.Type
}

func nodeVerdict(r *NodeReport) string {
	n := r.Node
	moves, stays := 0, 0
	for _, p := range r.Misplaced {
		if p.Action == string(rebalancer.Evict) && !p.EvictionBlocked {
			moves++
		} else {
			stays++
		}
	}
	kind := n.Type
	if n.Pool != "" {
		kind += " pool"
	}
	if len(r.Misplaced) == 0 {
		return fmt.Sprintf("%s node, mixing %d: no misplaced pod", kind, n.Mixing)
	}
	return fmt.Sprintf("%s node, mixing %d: %d misplaced pod(s), %d would move, %d stay or wait", kind, n.Mixing, len(r.Misplaced), moves, stays)
}
