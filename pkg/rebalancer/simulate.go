package rebalancer

import (
	"context"
	"errors"
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/cmd/kube-scheduler/app"
	"k8s.io/kubernetes/cmd/kube-scheduler/app/options"
	schedconfig "k8s.io/kubernetes/pkg/scheduler/apis/config"
	schedvalidation "k8s.io/kubernetes/pkg/scheduler/apis/config/validation"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	frameworkplugins "k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/nodevolumelimits"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	schedmetrics "k8s.io/kubernetes/pkg/scheduler/metrics"

	"github.com/likewise-dev/likewise/pkg/apis/config"
	"github.com/likewise-dev/likewise/pkg/apis/config/validation"
	"github.com/likewise-dev/likewise/pkg/plugins"
	"github.com/likewise-dev/likewise/pkg/plugins/workloadtypeaffinity"
)

// SchedulerConfig is what the rebalancer takes from the KubeSchedulerConfiguration that
// likewise-scheduler runs with.
type SchedulerConfig struct {
	// Profile is the profile the rebalancer simulates: the one that places the replacements.
	Profile *schedconfig.KubeSchedulerProfile
	// MajorityPercent is WorkloadTypeAffinity's majorityPercent in that profile: nodes are typed
	// exactly as the plugin types them.
	MajorityPercent int32
	// Lease is the scheduler's leader-election lease (namespace, name), or empty when the file
	// turns leader election off.
	LeaseNamespace, LeaseName string
}

// LoadSchedulerConfig reads the KubeSchedulerConfiguration at path with kube-scheduler's own
// strict decoding, defaulting and validation, and returns the named profile. The profile must run
// WorkloadTypeAffinity: without it the rebalancer would evict pods that the scheduler then places
// by resources alone.
func LoadSchedulerConfig(logger klog.Logger, path, profile string) (*SchedulerConfig, error) {
	cfg, err := options.LoadConfigFromFile(logger, path)
	if err != nil {
		return nil, fmt.Errorf("scheduler config %s: %w", path, err)
	}
	if err := schedvalidation.ValidateKubeSchedulerConfiguration(cfg); err != nil {
		return nil, fmt.Errorf("scheduler config %s: %w", path, err)
	}
	var names []string
	for i := range cfg.Profiles {
		p := &cfg.Profiles[i]
		names = append(names, p.SchedulerName)
		if p.SchedulerName != profile {
			continue
		}
		out := &SchedulerConfig{Profile: p}
		if cfg.LeaderElection.LeaderElect {
			out.LeaseNamespace, out.LeaseName = cfg.LeaderElection.ResourceNamespace, cfg.LeaderElection.ResourceName
		}
		if !enabled(p.Plugins, workloadtypeaffinity.Name) {
			return nil, fmt.Errorf("scheduler config %s: profile %q does not enable %s: the rebalancer moves pods only where that plugin would place them",
				path, profile, workloadtypeaffinity.Name)
		}
		out.MajorityPercent = 51
		for _, pc := range p.PluginConfig {
			// kube-scheduler's validation knows only the in-tree args; ours are checked here as
			// the plugins' New checks them, so that bad args stop the rebalancer at start, with
			// their path, and not once it leads.
			argsPath := field.NewPath("profiles").Key(p.SchedulerName).Child("pluginConfig").Key(pc.Name).Child("args")
			var err error
			switch args := pc.Args.(type) {
			case *config.WorkloadTypeAffinityArgs:
				if err = validation.ValidateWorkloadTypeAffinityArgs(argsPath, args); err == nil && pc.Name == workloadtypeaffinity.Name {
					out.MajorityPercent = args.MajorityPercent
				}
			case *config.NotebookSpreadArgs:
				err = validation.ValidateNotebookSpreadArgs(argsPath, args)
			}
			if err != nil {
				return nil, fmt.Errorf("scheduler config %s: %w", path, err)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("scheduler config %s: no profile %q (profiles: %q)", path, profile, names)
}

func enabled(p *schedconfig.Plugins, name string) bool {
	if p == nil {
		return false
	}
	on := false
	for _, set := range []schedconfig.PluginSet{p.MultiPoint, p.Score, p.Filter, p.PreScore} {
		for _, e := range set.Enabled {
			if e.Name == name {
				on = true
			}
		}
	}
	for _, set := range []schedconfig.PluginSet{p.MultiPoint, p.Score} {
		for _, d := range set.Disabled {
			if d.Name == name || d.Name == "*" && !slices.ContainsFunc(set.Enabled, func(e schedconfig.Plugin) bool { return e.Name == name }) {
				return false
			}
		}
	}
	return on
}

// Simulator answers "where would the scheduler put this pod?" with the scheduler's own plugins:
// the profile's framework, built in process from kube-scheduler's in-tree registry plus likewise's
// plugins, over a snapshot the rebalancer takes from its informers. It runs PreFilter, Filter,
// PreScore and Score only, never Reserve, Permit or Bind, and it is given no client that writes.
// It is not safe for concurrent use: one simulation at a time.
type Simulator struct {
	fw     framework.Framework
	lister *switchLister
}

// NewSimulator builds the framework of profile. Plugins take their listers from factory in New,
// so call it before starting factory. client is for the DRA manager's reads only.
func NewSimulator(ctx context.Context, profile *schedconfig.KubeSchedulerProfile, client kubernetes.Interface, factory informers.SharedInformerFactory) (*Simulator, error) {
	registry := frameworkplugins.NewInTreeRegistry()
	for _, opt := range plugins.RegistryOptions() {
		if err := registry.Merge(optionRegistry(opt)); err != nil {
			return nil, err
		}
	}
	// The framework counts plugin evaluations in the scheduler's metrics: they must exist.
	schedmetrics.InitMetrics()
	lister := &switchLister{}
	lister.set(cache.NewEmptySnapshot())
	draManager, err := newDRAManager(ctx, client, factory)
	if err != nil {
		return nil, err
	}
	fw, err := frameworkruntime.NewFramework(ctx, registry, profile,
		frameworkruntime.WithInformerFactory(factory),
		frameworkruntime.WithSnapshotSharedLister(lister),
		frameworkruntime.WithSharedCSIManager(nodevolumelimits.NewCSIManager(factory.Storage().V1().CSINodes().Lister())),
		frameworkruntime.WithSharedDRAManager(draManager),
		frameworkruntime.WithLogger(klog.FromContext(ctx).WithName("simulation")),
	)
	if err != nil {
		return nil, fmt.Errorf("building the framework of profile %q: %w", profile.SchedulerName, err)
	}
	return &Simulator{fw: fw, lister: lister}, nil
}

// optionRegistry returns the plugins one app.Option adds to a registry.
func optionRegistry(opt app.Option) frameworkruntime.Registry {
	r := frameworkruntime.Registry{}
	_ = opt(r) // WithPlugin only registers, and the registry is empty: it cannot fail
	return r
}

// Placement is the simulated scheduler's answer for one pod.
type Placement struct {
	// Feasible are the nodes that pass every filter, sorted.
	Feasible []string
	// Best are the feasible nodes with the highest total score, sorted: the scheduler picks one
	// of them at random.
	Best []string
	// Scores are the total (weighted) scores of the feasible nodes; nil when only one is feasible
	// (the scheduler then does not score).
	Scores map[string]int64
	// Unschedulable is why no node fits, when none does (the statuses' reasons, summarized).
	Unschedulable string
}

// Place simulates scheduling pod on snap with its current node's copy of pod removed, as if it
// had just been evicted and recreated. pod must be bound (spec.nodeName set) in snap, or not in it.
func (s *Simulator) Place(ctx context.Context, snap *cache.Snapshot, pod *v1.Pod) (Placement, error) {
	view, err := without(snap, pod)
	if err != nil {
		return Placement{}, err
	}
	s.lister.set(view)
	defer s.lister.set(snap)

	replacement := pod.DeepCopy()
	replacement.Spec.NodeName = ""
	replacement.Status = v1.PodStatus{}
	replacement.ResourceVersion = ""

	state := framework.NewCycleState()
	nodes, err := view.NodeInfos().List()
	if err != nil {
		return Placement{}, err
	}
	preRes, st, _ := s.fw.RunPreFilterPlugins(ctx, state, replacement)
	if !st.IsSuccess() {
		if !st.IsRejected() {
			return Placement{}, fmt.Errorf("PreFilter: %w", st.AsError())
		}
		return Placement{Unschedulable: st.Message()}, nil
	}
	if !preRes.AllNodes() {
		nodes = slices.DeleteFunc(slices.Clone(nodes), func(n fwk.NodeInfo) bool { return !preRes.NodeNames.Has(n.Node().Name) })
	}
	statuses := make([]*fwk.Status, len(nodes))
	s.fw.Parallelizer().Until(ctx, len(nodes), func(i int) {
		statuses[i] = s.fw.RunFilterPlugins(ctx, state, replacement, nodes[i])
	}, "Filter")
	var feasible []fwk.NodeInfo
	reasons := map[string]int{}
	for i, st := range statuses {
		switch {
		case st.IsSuccess():
			feasible = append(feasible, nodes[i])
		case st.IsRejected():
			for _, r := range st.Reasons() {
				reasons[r]++
			}
		default:
			return Placement{}, fmt.Errorf("Filter on node %s: %w", nodes[i].Node().Name, st.AsError())
		}
	}
	var p Placement
	for _, n := range feasible {
		p.Feasible = append(p.Feasible, n.Node().Name)
	}
	slices.Sort(p.Feasible)
	switch len(feasible) {
	case 0:
		p.Unschedulable = summarize(len(nodes), reasons)
		return p, nil
	case 1:
		p.Best = p.Feasible
		return p, nil
	}
	if st := s.fw.RunPreScorePlugins(ctx, state, replacement, feasible); !st.IsSuccess() {
		return Placement{}, fmt.Errorf("PreScore: %w", st.AsError())
	}
	scores, st := s.fw.RunScorePlugins(ctx, state, replacement, feasible)
	if !st.IsSuccess() {
		return Placement{}, fmt.Errorf("Score: %w", st.AsError())
	}
	p.Scores = make(map[string]int64, len(scores))
	best := int64(-1 << 63)
	for _, ns := range scores {
		p.Scores[ns.Name] = ns.TotalScore
		best = max(best, ns.TotalScore)
	}
	for _, ns := range scores {
		if ns.TotalScore == best {
			p.Best = append(p.Best, ns.Name)
		}
	}
	slices.Sort(p.Best)
	return p, nil
}

// summarize renders filter reasons as the scheduler's FitError does: "0/3 nodes are available:
// 2 Insufficient cpu, 1 node(s) didn't match ...".
func summarize(n int, reasons map[string]int) string {
	keys := make([]string, 0, len(reasons))
	for r := range reasons {
		keys = append(keys, r)
	}
	slices.Sort(keys)
	msg := fmt.Sprintf("0/%d nodes are available", n)
	for i, r := range keys {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		msg += fmt.Sprintf("%s%d %s", sep, reasons[r], r)
	}
	return msg
}

// switchLister is the framework's snapshot lister: plugins keep it from New, and each
// simulation points it at its own view.
type switchLister struct {
	cur fwk.SharedLister
}

func (l *switchLister) set(s fwk.SharedLister)                  { l.cur = s }
func (l *switchLister) NodeInfos() fwk.NodeInfoLister           { return l.cur.NodeInfos() }
func (l *switchLister) StorageInfos() fwk.StorageInfoLister     { return l.cur.StorageInfos() }
func (l *switchLister) PodGroupStates() fwk.PodGroupStateLister { return l.cur.PodGroupStates() }

// podRemoved is a snapshot with one pod taken off its node: that node's NodeInfo is a copy without
// the pod; every other NodeInfo is the snapshot's own. The pod's claims no longer count as used,
// so ReadWriteOncePod volumes do not block their own pod's replacement.
type podRemoved struct {
	base     *cache.Snapshot
	node     string
	info     fwk.NodeInfo
	list     []fwk.NodeInfo
	affinity []fwk.NodeInfo
	anti     []fwk.NodeInfo
	claims   sets.Set[string]
}

func without(snap *cache.Snapshot, pod *v1.Pod) (fwk.SharedLister, error) {
	if pod.Spec.NodeName == "" {
		return snap, nil
	}
	got, err := snap.Get(pod.Spec.NodeName)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: its node %s is not in the snapshot", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	concrete, ok := got.(*framework.NodeInfo)
	if !ok {
		return nil, fmt.Errorf("node %s: unexpected NodeInfo type %T", pod.Spec.NodeName, got)
	}
	info := concrete.SnapshotConcrete()
	if err := info.RemovePod(klog.Background(), pod); err != nil {
		return nil, fmt.Errorf("removing pod %s/%s from node %s in the snapshot: %w", pod.Namespace, pod.Name, pod.Spec.NodeName, err)
	}
	v := &podRemoved{base: snap, node: pod.Spec.NodeName, info: info, claims: sets.New[string]()}
	for _, vol := range pod.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil {
			v.claims.Insert(pod.Namespace + "/" + vol.PersistentVolumeClaim.ClaimName)
		}
	}
	var errs []error
	v.list, err = v.swap(snap.List())
	errs = append(errs, err)
	v.affinity, err = v.swap(snap.HavePodsWithAffinityList())
	errs = append(errs, err)
	v.anti, err = v.swap(snap.HavePodsWithRequiredAntiAffinityList())
	errs = append(errs, err)
	return v, errors.Join(errs...)
}

func (v *podRemoved) swap(list []fwk.NodeInfo, err error) ([]fwk.NodeInfo, error) {
	if err != nil {
		return nil, err
	}
	out := slices.Clone(list)
	for i, n := range out {
		if n.Node() != nil && n.Node().Name == v.node {
			out[i] = v.info
		}
	}
	return out, nil
}

func (v *podRemoved) NodeInfos() fwk.NodeInfoLister                     { return v }
func (v *podRemoved) StorageInfos() fwk.StorageInfoLister               { return v }
func (v *podRemoved) PodGroupStates() fwk.PodGroupStateLister           { return v.base.PodGroupStates() }
func (v *podRemoved) List() ([]fwk.NodeInfo, error)                     { return v.list, nil }
func (v *podRemoved) HavePodsWithAffinityList() ([]fwk.NodeInfo, error) { return v.affinity, nil }
func (v *podRemoved) HavePodsWithRequiredAntiAffinityList() ([]fwk.NodeInfo, error) {
	return v.anti, nil
}

func (v *podRemoved) Get(name string) (fwk.NodeInfo, error) {
	if name == v.node {
		return v.info, nil
	}
	return v.base.Get(name)
}

func (v *podRemoved) IsPVCUsedByPods(key string) bool {
	if v.claims.Has(key) {
		return false
	}
	return v.base.IsPVCUsedByPods(key)
}
