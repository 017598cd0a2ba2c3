// Package rebalancer is `likewise rebalancer`: a descheduler that moves database pods sitting on
// a node of the other type, only where likewise-scheduler itself would put their replacements,
// and only when a node of their type has room; otherwise they wait.
//
// Roles are apart: View (what the informer caches hold, the mixing measure), movability (may the
// pod move at all: the safety checks), Simulator (where would the scheduler's own profile put the
// replacement), planner (decide, within limits), and Rebalancer (act: re-read, record the type,
// evict through policy/v1; Events, metrics, logs). docs/rebalancer.md has the rules.
package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/metrics"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Name is the rebalancer's name: its Events' reporting controller and its field manager.
const Name = "likewise-rebalancer"

// Reasons of the Events about acting and about moves that ended.
const (
	ReasonEvictionBlocked = "EvictionBlocked" // 429: a PodDisruptionBudget, or throttling
	ReasonEvictionFailed  = "EvictionFailed"  // any other error
	ReasonRecordFailed    = "RecordFailed"    // the type could not be recorded on the owner: not evicted
	ReasonMoved           = "Moved"           // the replacement is ready where it belongs
	ReasonMoveDidNotStick = "MoveDidNotStick" // the replacement is misplaced again
	ReasonMoveTimedOut    = "MoveTimedOut"    // no ready replacement within --move-timeout
)

// Event actions.
const (
	actionRebalance = "Rebalance"
	actionEvict     = "Evict"
)

// RecordFunc records pod's type on what outlives it (its owner, or its claims) before the pod is
// evicted, so that the replacement is placed by type at once.
type RecordFunc func(ctx context.Context, pod *v1.Pod, t workloadtype.Type) error

// Rebalancer runs the cycles.
type Rebalancer struct {
	cfg      Config
	client   kubernetes.Interface
	recorder events.EventRecorder
	clock    clock.WithTicker
	record   RecordFunc

	pods   corelisters.PodLister
	nodes  corelisters.NodeLister
	leases coordinationlisters.LeaseLister
	synced []cache.InformerSynced

	planner *planner
	// podInfos are the PodInfos of the last cycle's pods (view).
	podInfos *podInfos
	// lastEvent is the latest Event reason and note per pod, so a decision repeated every cycle
	// is reported once.
	lastEvent map[types.UID]string
}

// New wires a rebalancer over factory, whose informers the simulator's plugins also use (build
// the Simulator from the same factory first). leases lists the scheduler's lease namespace;
// it may be nil when Config names no lease (then the scheduler is never taken as alive).
func New(cfg Config, sched *SchedulerConfig, client kubernetes.Interface, factory informers.SharedInformerFactory,
	leases informers.SharedInformerFactory, sim *Simulator, record RecordFunc, recorder events.EventRecorder, clk clock.WithTicker) (*Rebalancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	core := factory.Core().V1()
	r := &Rebalancer{
		cfg:       cfg,
		client:    client,
		recorder:  recorder,
		clock:     clk,
		record:    record,
		pods:      core.Pods().Lister(),
		nodes:     core.Nodes().Lister(),
		lastEvent: map[types.UID]string{},
	}
	r.synced = append(r.synced, core.Pods().Informer().HasSynced, core.Nodes().Informer().HasSynced,
		core.Namespaces().Informer().HasSynced, core.PersistentVolumeClaims().Informer().HasSynced,
		core.PersistentVolumes().Informer().HasSynced, factory.Apps().V1().ReplicaSets().Informer().HasSynced,
		factory.Apps().V1().StatefulSets().Informer().HasSynced)
	if leases != nil {
		li := leases.Coordination().V1().Leases()
		r.leases = li.Lister()
		r.synced = append(r.synced, li.Informer().HasSynced)
	}
	r.planner = newPlanner(&r.cfg, sched.MajorityPercent, Listers{
		Namespaces:   core.Namespaces().Lister(),
		Claims:       core.PersistentVolumeClaims().Lister(),
		Volumes:      core.PersistentVolumes().Lister(),
		ReplicaSets:  factory.Apps().V1().ReplicaSets().Lister(),
		StatefulSets: factory.Apps().V1().StatefulSets().Lister(),
	}, sim.Place)
	return r, nil
}

// Run waits for the caches, then runs a cycle every Config.Interval until ctx ends.
func (r *Rebalancer) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	logger.Info("Starting rebalancer", "profile", r.cfg.Profile, "interval", r.cfg.Interval, "dryRun", r.cfg.DryRun,
		"schedulerLease", klog.KRef(r.cfg.SchedulerLeaseNamespace, r.cfg.SchedulerLeaseName))
	if !cache.WaitForNamedCacheSyncWithContext(ctx, r.synced...) {
		return errors.New("the informer caches did not sync")
	}
	ticker := r.clock.NewTicker(r.cfg.Interval)
	defer ticker.Stop()
	for {
		if err := r.Cycle(ctx); err != nil {
			utilruntime.HandleErrorWithContext(ctx, err, "Rebalancer cycle failed; nothing more is evicted in it")
		}
		select {
		case <-ctx.Done():
			logger.Info("Stopping rebalancer")
			return nil
		case <-ticker.C():
		}
	}
}

// Cycle takes a view of the cluster, ends moves whose replacements are ready, decides, and acts.
func (r *Rebalancer) Cycle(ctx context.Context) error {
	start := r.clock.Now()
	defer func() { metrics.RebalancerCycleDuration.Observe(r.clock.Since(start).Seconds()) }()
	logger := klog.FromContext(ctx)
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	pods, err := r.pods.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	view := r.view(nodes, pods)
	now := r.clock.Now()
	r.settle(ctx, view, now)
	r.planner.mem.forgetOld(now, &r.cfg)

	misplaced := view.Misplaced()
	metrics.RebalancerMisplaced.Set(float64(len(misplaced)))
	metrics.RebalancerMixing.Set(float64(view.Mixing()))
	alive, leaseMsg := r.schedulerAlive(now)
	decisions := r.planner.plan(ctx, view, now, alive, leaseMsg)

	waiting := 0
	seen := map[types.UID]bool{}
	for _, d := range decisions {
		seen[d.Pod.UID] = true
		metrics.RebalancerDecisions.WithLabelValues(d.Reason).Inc()
		if d.Reason == ReasonWaitingForCapacity {
			waiting++
		}
		if d.Action == Evict {
			if err := ctx.Err(); err != nil {
				return err // lost the lease or stopping: act no more
			}
			r.evict(ctx, d, now)
			continue
		}
		r.event(d.Pod, eventType(d), d.Reason, actionRebalance, d.Message)
	}
	for uid := range r.lastEvent {
		if !seen[uid] {
			delete(r.lastEvent, uid)
		}
	}
	metrics.RebalancerWaiting.Set(float64(waiting))
	logger.V(2).Info("Cycle done", "misplaced", len(misplaced), "mixing", view.Mixing(), "decisions", len(decisions),
		"waitingForCapacity", waiting, "schedulerAlive", alive, "duration", r.clock.Since(start))
	return nil
}

func eventType(d Decision) string {
	if d.Action == Keep || d.Reason == ReasonSchedulerUnavailable || d.Reason == ReasonSimulationFailed {
		return v1.EventTypeWarning
	}
	return v1.EventTypeNormal
}

// event records an Event on pod unless the same reason and note was the pod's latest.
func (r *Rebalancer) event(pod *v1.Pod, eventType, reason, action, note string) {
	key := reason + "\x00" + note
	if r.lastEvent[pod.UID] == key {
		return
	}
	r.lastEvent[pod.UID] = key
	r.recorder.Eventf(pod, nil, eventType, reason, action, "%s", note)
}

// schedulerAlive reads the scheduler's lease from the informer: held, and renewed within its
// duration.
func (r *Rebalancer) schedulerAlive(now time.Time) (bool, string) {
	ns, name := r.cfg.SchedulerLeaseNamespace, r.cfg.SchedulerLeaseName
	if r.leases == nil || name == "" {
		return SchedulerAlive(ns, name, nil, nil, now)
	}
	lease, err := r.leases.Leases(ns).Get(name)
	return SchedulerAlive(ns, name, lease, err, now)
}

// SchedulerAlive is the rebalancer's lease check: the scheduler's lease ns/name (none configured
// when name is ""), as read (lease, or the error reading it), must be held and renewed within its
// duration at now. The message says what was found when it is not.
func SchedulerAlive(ns, name string, lease *coordinationv1.Lease, err error, now time.Time) (bool, string) {
	switch {
	case name == "":
		return false, "no scheduler lease is configured (--scheduler-lease): the replacement's scheduler cannot be known to run"
	case err != nil:
		return false, fmt.Sprintf("the scheduler's lease %s/%s: %v", ns, name, err)
	case lease == nil:
		return false, fmt.Sprintf("the scheduler's lease %s/%s: not found", ns, name)
	}
	return leaseFresh(lease, now)
}

func leaseFresh(l *coordinationv1.Lease, now time.Time) (bool, string) {
	s := l.Spec
	if s.HolderIdentity == nil || *s.HolderIdentity == "" || s.RenewTime == nil || s.LeaseDurationSeconds == nil {
		return false, fmt.Sprintf("the scheduler's lease %s/%s is not held", l.Namespace, l.Name)
	}
	expires := s.RenewTime.Add(time.Duration(*s.LeaseDurationSeconds) * time.Second)
	if now.After(expires) {
		return false, fmt.Sprintf("the scheduler's lease %s/%s was last renewed at %s by %s and expired %s ago",
			l.Namespace, l.Name, s.RenewTime.UTC().Format(time.RFC3339), *s.HolderIdentity, now.Sub(expires).Round(time.Second))
	}
	return true, ""
}

// evict acts on one Evict decision: re-read the pod, record its type, evict it.
func (r *Rebalancer) evict(ctx context.Context, d Decision, now time.Time) {
	logger := klog.FromContext(ctx).WithValues("pod", klog.KObj(d.Pod), "node", d.Pod.Spec.NodeName, "workload", d.Workload)
	if r.cfg.DryRun {
		metrics.RebalancerEvictions.WithLabelValues("dry_run").Inc()
		logger.Info("Dry run: would evict", "targets", d.Targets)
		r.event(d.Pod, v1.EventTypeNormal, ReasonEvicting, actionEvict, d.Message+" (dry run: not evicted)")
		return
	}
	mem := r.planner.mem
	// The cache may be stale: act only on the pod as it is now.
	pod, err := r.client.CoreV1().Pods(d.Pod.Namespace).Get(ctx, d.Pod.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		metrics.RebalancerEvictions.WithLabelValues("gone").Inc()
		return
	case err != nil:
		metrics.RebalancerEvictions.WithLabelValues("failed").Inc()
		logger.Error(err, "Reading the pod before evicting it; not evicting")
		return
	case pod.UID != d.Pod.UID || pod.Spec.NodeName != d.Pod.Spec.NodeName || pod.DeletionTimestamp != nil:
		metrics.RebalancerEvictions.WithLabelValues("gone").Inc()
		logger.V(2).Info("Pod changed since the cycle began; not evicting", "uid", pod.UID, "nowOn", pod.Spec.NodeName)
		return
	}
	if t := workloadtype.Resident(pod); t != d.Type {
		metrics.RebalancerEvictions.WithLabelValues("gone").Inc()
		logger.V(2).Info("Pod's type changed since the cycle began; not evicting", "type", t)
		return
	}
	if r.record != nil {
		if err := r.record(ctx, pod, d.Type); err != nil {
			metrics.RebalancerEvictions.WithLabelValues("record_failed").Inc()
			backoff := mem.refused(d.Workload, now, r.cfg.WorkloadCooldown, r.cfg.MaxBackoff)
			logger.Error(err, "Recording the type on the pod's owner; not evicting", "backoff", backoff)
			r.event(pod, v1.EventTypeWarning, ReasonRecordFailed, actionEvict,
				fmt.Sprintf("not evicted: recording type %s for the replacement failed: %v; retrying in %v", d.Type, err, backoff))
			return
		}
	}
	uid := pod.UID
	err = r.client.PolicyV1().Evictions(pod.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
	})
	switch {
	case err == nil:
		metrics.RebalancerEvictions.WithLabelValues("evicted").Inc()
		mem.recordEviction(d.Workload, &move{podUID: uid, pod: pod.Namespace + "/" + pod.Name, typ: d.Type,
			from: pod.Spec.NodeName, targets: d.Targets, at: now})
		logger.Info("Evicted", "type", d.Type, "targets", d.Targets)
		r.event(pod, v1.EventTypeNormal, ReasonEvicting, actionEvict, d.Message)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		metrics.RebalancerEvictions.WithLabelValues("gone").Inc()
	case apierrors.IsTooManyRequests(err):
		metrics.RebalancerEvictions.WithLabelValues("blocked").Inc()
		backoff := mem.refused(d.Workload, now, r.cfg.WorkloadCooldown, r.cfg.MaxBackoff)
		logger.Info("Eviction refused", "err", err, "backoff", backoff)
		r.event(pod, v1.EventTypeWarning, ReasonEvictionBlocked, actionEvict,
			fmt.Sprintf("eviction refused (a PodDisruptionBudget allows no disruption now): %v; %s backs off %v", err, d.Workload, backoff))
	default:
		metrics.RebalancerEvictions.WithLabelValues("failed").Inc()
		backoff := mem.refused(d.Workload, now, r.cfg.WorkloadCooldown, r.cfg.MaxBackoff)
		logger.Error(err, "Eviction failed", "backoff", backoff)
		r.event(pod, v1.EventTypeWarning, ReasonEvictionFailed, actionEvict,
			fmt.Sprintf("eviction failed: %v; %s backs off %v", err, d.Workload, backoff))
	}
}

// settle ends the moves whose evicted pod is gone and whose workload is whole and ready again,
// and those past Config.MoveTimeout. A replacement that is misplaced again, or back on the node
// it left, did not stick: its workload backs off.
func (r *Rebalancer) settle(ctx context.Context, view *View, now time.Time) {
	logger := klog.FromContext(ctx)
	mem := r.planner.mem
	for key, w := range mem.workloads {
		mv := w.inFlight
		if mv == nil {
			continue
		}
		// replacement is the ready pod that replaces the evicted one; candidate the same, ready or
		// not, to report a move that timed out on.
		var replacement, candidate *v1.Pod
		evictedGone := true
		whole := true
		for _, p := range r.planner.podsOf(view, key) {
			if p.UID == mv.podUID && p.Status.Phase != v1.PodSucceeded && p.Status.Phase != v1.PodFailed {
				evictedGone = false
				continue
			}
			newer := p.CreationTimestamp.Time.After(mv.at.Add(-time.Second))
			if newer && (candidate == nil || p.Name == nameOf(mv.pod)) {
				candidate = p
			}
			if p.DeletionTimestamp != nil || !ready(p) {
				whole = false
				continue
			}
			if newer && (replacement == nil || p.Name == nameOf(mv.pod)) {
				replacement = p
			}
		}
		if evictedGone && whole && replacement != nil && r.planner.workloadAvailable(replacement, view) {
			s := view.States[replacement.Spec.NodeName]
			if workloadtype.Resident(replacement) == workloadtype.None {
				// Typed by its record, not labelled yet (the classifier labels it from the record
				// moments later): judge it as what it is.
				s.Counts = s.Counts.With(mv.typ)
			}
			stuck := replacement.Spec.NodeName != mv.from && !workloadtype.Misplaced(mv.typ, s.Label, s.Counts)
			backoff := mem.finished(key, now, stuck, r.cfg.WorkloadCooldown, r.cfg.MaxBackoff)
			if stuck {
				metrics.RebalancerMoves.WithLabelValues("stuck").Inc()
				logger.Info("Move done", "workload", key, "pod", klog.KObj(replacement), "from", mv.from, "to", replacement.Spec.NodeName)
				r.event(replacement, v1.EventTypeNormal, ReasonMoved, actionRebalance,
					fmt.Sprintf("replaces %s (%s), moved from %s to %s node %s", mv.pod, mv.typ, mv.from, s.Type(r.planner.majority), replacement.Spec.NodeName))
			} else {
				metrics.RebalancerMoves.WithLabelValues("not_stuck").Inc()
				logger.Info("Move did not stick", "workload", key, "pod", klog.KObj(replacement), "from", mv.from, "to", replacement.Spec.NodeName, "backoff", backoff)
				r.event(replacement, v1.EventTypeWarning, ReasonMoveDidNotStick, actionRebalance,
					fmt.Sprintf("replaces %s (evicted from %s) but landed on %s node %s; %s backs off %v", mv.pod, mv.from, s.Type(r.planner.majority), replacement.Spec.NodeName, key, backoff))
			}
			continue
		}
		if now.Sub(mv.at) > r.cfg.MoveTimeout {
			backoff := mem.finished(key, now, false, r.cfg.WorkloadCooldown, r.cfg.MaxBackoff)
			metrics.RebalancerMoves.WithLabelValues("timed_out").Inc()
			logger.Info("Move timed out", "workload", key, "pod", mv.pod, "backoff", backoff)
			// On the replacement if there is one, else on the evicted pod (an Event may name an
			// object that is gone).
			about := candidate
			if about == nil {
				ns, name, _ := strings.Cut(mv.pod, "/")
				about = &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: mv.podUID}}
			}
			r.event(about, v1.EventTypeWarning, ReasonMoveTimedOut, actionRebalance,
				fmt.Sprintf("no ready replacement of %s within --move-timeout (%v); %s backs off %v", mv.pod, r.cfg.MoveTimeout, key, backoff))
		}
	}
}

func nameOf(key string) string {
	if i := slices.Index([]byte(key), '/'); i >= 0 {
		return key[i+1:]
	}
	return key
}

// view is the cycle's View. The PodInfos of the pods that did not change since the last cycle
// are kept: summing a pod's requests is most of what a snapshot of the cluster costs.
func (r *Rebalancer) view(nodes []*v1.Node, pods []*v1.Pod) *View {
	if r.podInfos == nil {
		r.podInfos = newPodInfos()
	}
	return newView(nodes, pods, r.podInfos)
}

// forget drops what view keeps from cycle to cycle.
func (r *Rebalancer) forget() { r.podInfos = nil }
