package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
	"github.com/likewise-dev/likewise/pkg/workloadtype/record"
)

type rebalancerOptions struct {
	kubeconfig      string
	schedulerConfig string
	schedulerLease  string
	cfg             rebalancer.Config
	leader          leaderFlags
	serving         servingFlags

	// Set by validate.
	sched *rebalancer.SchedulerConfig
}

func newRebalancerOptions() *rebalancerOptions {
	return &rebalancerOptions{
		cfg:     rebalancer.DefaultConfig(),
		leader:  newLeaderFlags(rebalancer.Name),
		serving: newServingFlags(rebalancer.Name, DefaultRebalancerSecurePort),
	}
}

func newRebalancerCommand() *cobra.Command { return newRebalancerCommandFor(newRebalancerOptions()) }

func newRebalancerCommandFor(o *rebalancerOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rebalancer --scheduler-config FILE [flags]",
		Short: "Run the rebalancer: move database pods off nodes of the other type, where the scheduler would put them",
		Long: `Run the rebalancer. Every --interval it looks for typed database pods that add to their node's
mixing (an OLTP pod among OLAP ones, or on an olap pool, and the reverse), and evicts one only when
likewise-scheduler itself would place its replacement on a node where it lowers the mixing: the
rebalancer builds the scheduler's profile (--profile of --scheduler-config, the same file the
scheduler runs) in process from kube-scheduler's in-tree plugins and likewise's, and asks it.
When no node of the pod's type has room, the pod waits (Event WaitingForCapacity).

It never evicts bare, DaemonSet, mirror, terminating or system-critical pods, pods with node-local
data, an operator's primary or the only instance of a cluster, or pods and namespaces that opted
out (likewise.dev/rebalance=false); at most one pod of a workload is away at a time; limits per
cycle, node, namespace and minute, a cooldown per workload and a back-off bound the rest. Nothing
is evicted unless the scheduler's lease (--scheduler-lease, default the config's leaderElection)
was renewed in time. Evictions go through the policy/v1 Eviction API, so PodDisruptionBudgets hold.
Before evicting it records the pod's type on its owner, so that the replacement is placed by type.

With --dry-run it decides, logs and records Events exactly the same, and changes nothing.
It serves /metrics, /healthz, /livez and /readyz over HTTPS on --bind-address and --secure-port,
/metrics only to a client the API server authenticates and allows to get it (ClusterRole
likewise-metrics-reader). docs/rebalancer.md has the rules.`,
		Example: `  likewise rebalancer --scheduler-config /etc/likewise/scheduler-config.yaml
  likewise rebalancer --scheduler-config manifests/scheduler/base/scheduler-config.yaml --kubeconfig ~/.kube/config \
    --leader-elect=false --dry-run --v=4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(klog.FromContext(cmd.Context()), cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx)
		},
	}
	f := cmd.Flags()
	c := &o.cfg
	f.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "kubeconfig file; in-cluster configuration when empty")
	f.StringVar(&o.schedulerConfig, "scheduler-config", o.schedulerConfig, "the KubeSchedulerConfiguration file likewise-scheduler runs with (required)")
	f.StringVar(&c.Profile, "profile", c.Profile, "the profile of --scheduler-config to simulate; only pods with this spec.schedulerName are moved")
	f.StringVar(&o.schedulerLease, "scheduler-lease", o.schedulerLease, "NAMESPACE/NAME of the scheduler's leader-election Lease (default: the leaderElection of --scheduler-config)")
	f.DurationVar(&c.Interval, "interval", c.Interval, "time between two cycles")
	f.DurationVar(&c.MinPodAge, "min-pod-age", c.MinPodAge, "a pod, and the type the classifier gave it, must be at least this old to move")
	f.BoolVar(&c.DryRun, "dry-run", c.DryRun, "decide, log and record Events, but evict nothing and write nothing")
	f.IntVar(&c.MaxEvictionsPerCycle, "max-evictions-per-cycle", c.MaxEvictionsPerCycle, "evictions per cycle at most")
	f.IntVar(&c.MaxEvictionsPerNode, "max-evictions-per-node", c.MaxEvictionsPerNode, "evictions from one node per cycle at most")
	f.IntVar(&c.MaxEvictionsPerNamespace, "max-evictions-per-namespace", c.MaxEvictionsPerNamespace, "evictions in one namespace per cycle at most")
	f.IntVar(&c.MaxEvictionsPerMinute, "max-evictions-per-minute", c.MaxEvictionsPerMinute, "evictions in any minute at most")
	f.IntVar(&c.MaxSimulationsPerCycle, "max-simulations-per-cycle", c.MaxSimulationsPerCycle, "scheduler simulations per cycle at most (each runs every filter on every node); the next cycle goes on where one stopped")
	f.DurationVar(&c.WorkloadCooldown, "workload-cooldown", c.WorkloadCooldown, "least time between two moves of one workload's pods; also the first back-off")
	f.IntVar(&c.MaxMovesPerWorkload, "max-moves-per-workload", c.MaxMovesPerWorkload, "moves of one workload's pods within --move-window at most")
	f.DurationVar(&c.MoveWindow, "move-window", c.MoveWindow, "the window of --max-moves-per-workload")
	f.DurationVar(&c.MoveTimeout, "move-timeout", c.MoveTimeout, "a move whose replacement is not ready by then failed, and its workload backs off")
	f.DurationVar(&c.MaxBackoff, "max-backoff", c.MaxBackoff, "longest back-off of a workload whose eviction was refused or whose move did not stick")
	f.StringSliceVar(&c.ExcludedNamespaces, "excluded-namespaces", c.ExcludedNamespaces, "namespaces whose pods are never evicted")
	f.StringSliceVar(&c.MovableEmptyDirs, "movable-emptydir-volumes", c.MovableEmptyDirs, "emptyDir volume names whose loss is harmless (an operator's scratch space); any other emptyDir keeps its pod in place")
	o.leader.add(f, "evicts")
	o.serving.add(f)
	return cmd
}

// validate checks every flag and loads the scheduler config; every error names its flag.
func (o *rebalancerOptions) validate(logger klog.Logger, cmd *cobra.Command) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.schedulerConfig == "" {
		bad("--scheduler-config: required: the KubeSchedulerConfiguration likewise-scheduler runs with")
	} else if sc, err := rebalancer.LoadSchedulerConfig(logger, o.schedulerConfig, o.cfg.Profile); err != nil {
		bad("--scheduler-config: %v", err)
	} else {
		o.sched = sc
		o.cfg.SchedulerLeaseNamespace, o.cfg.SchedulerLeaseName = sc.LeaseNamespace, sc.LeaseName
	}
	if o.schedulerLease != "" {
		ns, name, ok := strings.Cut(o.schedulerLease, "/")
		if !ok || len(validateName(ns)) > 0 || len(validateName(name)) > 0 {
			bad("--scheduler-lease %q: must be NAMESPACE/NAME of a Lease", o.schedulerLease)
		} else {
			o.cfg.SchedulerLeaseNamespace, o.cfg.SchedulerLeaseName = ns, name
		}
	} else if o.sched != nil && o.sched.LeaseName == "" {
		bad("--scheduler-lease: required, since --scheduler-config %s turns leader election off: without a lease the rebalancer cannot tell that the scheduler runs", o.schedulerConfig)
	}
	for _, ns := range o.cfg.ExcludedNamespaces {
		if ns != "" && len(validateName(ns)) > 0 {
			bad("--excluded-namespaces: %q is not a namespace name", ns)
		}
	}
	if err := o.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	o.leader.validate(bad)
	o.serving.validate(cmd.Flags(), bad)
	return errors.Join(errs...)
}

func (o *rebalancerOptions) run(ctx context.Context) error {
	return runComponent(ctx, o.kubeconfig, rebalancer.Name, o.leader, &o.serving, "informer caches not synced yet", func(ctx context.Context, run componentRun) error {
		client := run.client
		// The scheduler's own informer factory: it drops finished pods and trims managed fields.
		factory := scheduler.NewInformerFactory(client, 0)
		sim, err := rebalancer.NewSimulator(ctx, o.sched.Profile, client, factory)
		if err != nil {
			return err
		}
		leases := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(o.cfg.SchedulerLeaseNamespace),
			informers.WithTweakListOptions(func(opts *metav1.ListOptions) {
				opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.cfg.SchedulerLeaseName).String()
			}))
		r, err := rebalancer.New(o.cfg, o.sched, client, factory, leases, sim, recordType(client), run.recorder, clock.RealClock{})
		if err != nil {
			return err
		}
		factory.Start(ctx.Done())
		leases.Start(ctx.Done())
		defer factory.Shutdown()
		defer leases.Shutdown()
		run.ready.Store(true)
		return r.Run(ctx)
	})
}

// recordType records a pod's type on its owner (or claims) before the rebalancer evicts it. A
// type the classifier measured is recorded as the classifier's, so that the classifier stays
// the record's one owner (it clears its own record when it finds the database mixed); any other
// type (a person's label on the pod) is recorded as the rebalancer's.
func recordType(client kubernetes.Interface) rebalancer.RecordFunc {
	return func(ctx context.Context, pod *corev1.Pod, t workloadtype.Type) error {
		source := apis.WorkloadTypeSourceRebalancer
		if pod.Annotations[apis.AnnotationWorkloadTypeSource] == apis.WorkloadTypeSourceClassifier {
			source = apis.WorkloadTypeSourceClassifier
		}
		written, err := record.Record(ctx, client, pod, t, source)
		if len(written) > 0 {
			klog.FromContext(ctx).V(2).Info("Recorded the type for the replacement", "pod", klog.KObj(pod), "type", t, "source", source, "on", written)
		}
		return err
	}
}
