package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/scheduler"
	"k8s.io/kubernetes/pkg/scheduler/backend/cache"

	"github.com/likewise-dev/likewise/pkg/explain"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/version"
)

// Where explain finds the scheduler config when no file is given: the ConfigMap
// manifests/scheduler/base generates (kustomize adds a hash to its name; see configMapFor).
const (
	defaultSchedulerConfigMap = "likewise-system/likewise-scheduler-config"
	defaultSchedulerConfigKey = "config.yaml"
)

type explainOptions struct {
	kubeconfig      string
	schedulerConfig string
	configMap       string
	configKey       string
	schedulerLease  string
	output          string
	timeout         time.Duration
	cfg             rebalancer.Config
}

func newExplainCommand() *cobra.Command {
	o := &explainOptions{
		configMap: defaultSchedulerConfigMap,
		configKey: defaultSchedulerConfigKey,
		output:    outputText,
		timeout:   time.Minute,
		cfg:       rebalancer.DefaultConfig(),
	}
	cmd := &cobra.Command{
		Use:   "explain (pod NAMESPACE/NAME | node NAME) [flags]",
		Short: "Say why a database pod sits where it does, and what the rebalancer would do with it",
		Long: `Say why a pod sits where it does: its workload type and where the type came from (its label,
the record on its workload, the classifier's evidence), its node's type and the counts behind it,
whether it is misplaced, and what the rebalancer would do with it: the check that keeps it, or
the node the scheduler would put its replacement on. For a node: its type, counts and mixing, and
each misplaced pod's verdict.

It decides with the code the components decide with: pkg/workloadtype, the rebalancer's view,
safety checks and planner, and the scheduler's own profile (--profile of the scheduler config,
from --scheduler-config or the ConfigMap --scheduler-config-configmap) simulated in process.
Give it the rebalancer's flags (--min-pod-age, --excluded-namespaces, --movable-emptydir-volumes)
if they are not the defaults. It cannot know what the running rebalancer holds in memory:
cooldowns, back-offs, moves in flight, this cycle's and this minute's limits.

It only reads (get and list; its client refuses anything else and never watches) and writes
nothing. What it may not read is named, and it goes on with the rest where that is honest.`,
		Example: `  likewise explain pod shop/orders-db-0
  likewise explain node worker-3 -o json
  likewise explain pod shop/orders-db-0 --scheduler-config manifests/scheduler/base/scheduler-config.yaml --min-pod-age 0s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	f := cmd.PersistentFlags()
	c := &o.cfg
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; in-cluster configuration when empty")
	f.StringVar(&o.schedulerConfig, "scheduler-config", "", "the KubeSchedulerConfiguration file likewise-scheduler runs with (default: read from --scheduler-config-configmap)")
	f.StringVar(&o.configMap, "scheduler-config-configmap", o.configMap, "NAMESPACE/NAME of the ConfigMap holding the scheduler config, when --scheduler-config is not given; a kustomize-generated NAME-<hash> is found too")
	f.StringVar(&o.configKey, "scheduler-config-key", o.configKey, "the key of --scheduler-config-configmap that holds the config")
	f.StringVar(&c.Profile, "profile", c.Profile, "the scheduler profile the rebalancer simulates (its --profile)")
	f.StringVar(&o.schedulerLease, "scheduler-lease", "", "NAMESPACE/NAME of the scheduler's Lease (default: the scheduler config's leaderElection)")
	f.DurationVar(&c.MinPodAge, "min-pod-age", c.MinPodAge, "the rebalancer's --min-pod-age")
	f.StringSliceVar(&c.ExcludedNamespaces, "excluded-namespaces", c.ExcludedNamespaces, "the rebalancer's --excluded-namespaces")
	f.StringSliceVar(&c.MovableEmptyDirs, "movable-emptydir-volumes", c.MovableEmptyDirs, "the rebalancer's --movable-emptydir-volumes")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: text or json")
	f.DurationVar(&o.timeout, "timeout", o.timeout, "how long to wait for what the scheduler's plugins read, for the simulation")

	cmd.AddCommand(&cobra.Command{
		Use:   "pod NAMESPACE/NAME",
		Short: "Explain one pod",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, name, ok := strings.Cut(args[0], "/")
			if !ok || len(validateName(ns)) > 0 || len(validateName(name)) > 0 {
				return fmt.Errorf("pod %q: must be NAMESPACE/NAME", args[0])
			}
			return o.run(cmd, func(ctx context.Context, e *explain.Explainer, out io.Writer) error {
				r, err := e.Pod(ctx, ns, name)
				if err != nil {
					return err
				}
				if o.output == outputJSON {
					return writeJSON(out, r)
				}
				return explain.WritePod(out, r)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "node NAME",
		Short: "Explain one node and its misplaced pods",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if errs := validateName(args[0]); len(errs) > 0 {
				return fmt.Errorf("node %q: %s", args[0], strings.Join(errs, "; "))
			}
			return o.run(cmd, func(ctx context.Context, e *explain.Explainer, out io.Writer) error {
				r, err := e.Node(ctx, args[0])
				if err != nil {
					return err
				}
				if o.output == outputJSON {
					return writeJSON(out, r)
				}
				return explain.WriteNode(out, r)
			})
		},
	})
	return cmd
}

// validate checks the flags; every error names its flag.
func (o *explainOptions) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.output != outputText && o.output != outputJSON {
		bad("--output %q: must be %s or %s", o.output, outputText, outputJSON)
	}
	if o.schedulerConfig == "" {
		if _, _, err := splitRef(o.configMap); err != nil {
			bad("--scheduler-config-configmap %q: %v", o.configMap, err)
		}
		if o.configKey == "" {
			bad("--scheduler-config-key: must not be empty")
		}
	}
	if o.schedulerLease != "" {
		if _, _, err := splitRef(o.schedulerLease); err != nil {
			bad("--scheduler-lease %q: %v", o.schedulerLease, err)
		}
	}
	if o.timeout <= 0 {
		bad("--timeout %v: must be positive", o.timeout)
	}
	if err := o.cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func splitRef(ref string) (string, string, error) {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || len(validateName(ns)) > 0 || len(validateName(name)) > 0 {
		return "", "", errors.New("must be NAMESPACE/NAME")
	}
	return ns, name, nil
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (o *explainOptions) run(cmd *cobra.Command, show func(context.Context, *explain.Explainer, io.Writer) error) error {
	if err := o.validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := klog.FromContext(ctx)
	// A file is checked before the cluster is contacted; a ConfigMap is read from it.
	var sched *rebalancer.SchedulerConfig
	var source string
	if o.schedulerConfig != "" {
		var err error
		if sched, source, err = o.loadSchedulerConfig(ctx, logger, nil); err != nil {
			return err
		}
	}

	restConfig, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	restConfig = rest.CopyConfig(restConfig)
	restConfig.UserAgent = "likewise-explain/" + version.Version()
	var guard *explain.ReadOnly
	restConfig.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		guard = explain.NewReadOnly(rt)
		return guard
	})
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}

	if sched == nil {
		if sched, source, err = o.loadSchedulerConfig(ctx, logger, client); err != nil {
			return err
		}
	}
	cfg := o.cfg
	cfg.SchedulerLeaseNamespace, cfg.SchedulerLeaseName = sched.LeaseNamespace, sched.LeaseName
	if o.schedulerLease != "" {
		cfg.SchedulerLeaseNamespace, cfg.SchedulerLeaseName, _ = splitRef(o.schedulerLease)
	}
	logger.V(2).Info("Scheduler config", "source", source, "profile", cfg.Profile, "majorityPercent", sched.MajorityPercent)

	cluster, err := explain.Read(ctx, client, cfg.SchedulerLeaseNamespace, cfg.SchedulerLeaseName)
	if err != nil {
		return err
	}
	// The simulation is built on first use: a pod that is not a candidate needs none.
	var sim *rebalancer.Simulator
	var simErr error
	place := func(ctx context.Context, snap *cache.Snapshot, pod *v1.Pod) (rebalancer.Placement, error) {
		if sim == nil && simErr == nil {
			sim, simErr = o.simulator(ctx, sched, client, guard)
			if simErr != nil {
				cluster.Unreadable[explain.KindSimulation] = simErr.Error()
			}
		}
		if simErr != nil {
			return rebalancer.Placement{}, simErr
		}
		return sim.Place(ctx, snap, pod)
	}
	e, err := explain.New(cluster, explain.Config{Rebalancer: cfg, MajorityPercent: sched.MajorityPercent}, place, time.Now())
	if err != nil {
		return err
	}
	return show(ctx, e, cmd.OutOrStdout())
}

// simulator builds the rebalancer's Simulator over informers that list once through the
// read-only client, and waits for them; what did not sync is named with what was refused.
func (o *explainOptions) simulator(ctx context.Context, sched *rebalancer.SchedulerConfig, client kubernetes.Interface, guard *explain.ReadOnly) (*rebalancer.Simulator, error) {
	// A plain list, then the guard's empty watch; a streaming list would be a watch.
	if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{"WatchListClient": false}); err != nil {
		klog.FromContext(ctx).V(2).Info("Could not turn off streaming lists; the informers fall back to lists", "err", err)
	}
	factory := scheduler.NewInformerFactory(client, 0)
	sim, err := rebalancer.NewSimulator(ctx, sched.Profile, client, factory)
	if err != nil {
		return nil, fmt.Errorf("building the scheduler's profile %q: %w", sched.Profile.SchedulerName, err)
	}
	factory.Start(ctx.Done())
	syncCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var missing []string
	for typ, ok := range factory.WaitForCacheSync(syncCtx.Done()) {
		if !ok {
			missing = append(missing, typeName(typ))
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		refused := "none refused"
		if guard != nil && len(guard.Refused()) > 0 {
			refused = "refused: " + strings.Join(guard.Refused(), ", ")
		}
		return nil, fmt.Errorf("the scheduler's plugins could not read %s within --timeout %v (%s)", strings.Join(missing, ", "), o.timeout, refused)
	}
	return sim, nil
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

// loadSchedulerConfig reads --scheduler-config, or the ConfigMap, and loads it as the
// rebalancer does. It returns where the config came from.
func (o *explainOptions) loadSchedulerConfig(ctx context.Context, logger klog.Logger, client kubernetes.Interface) (*rebalancer.SchedulerConfig, string, error) {
	if o.schedulerConfig != "" {
		sc, err := rebalancer.LoadSchedulerConfig(logger, o.schedulerConfig, o.cfg.Profile)
		if err != nil {
			return nil, "", fmt.Errorf("--scheduler-config: %w", err)
		}
		return sc, o.schedulerConfig, nil
	}
	ns, name, _ := splitRef(o.configMap)
	cm, err := configMapFor(ctx, client, ns, name)
	if err != nil {
		return nil, "", fmt.Errorf("--scheduler-config-configmap %s: %w (or give the file with --scheduler-config)", o.configMap, err)
	}
	source := fmt.Sprintf("ConfigMap %s/%s key %s", cm.Namespace, cm.Name, o.configKey)
	data, ok := cm.Data[o.configKey]
	if !ok {
		return nil, "", fmt.Errorf("--scheduler-config-key: %s has no key %q", source, o.configKey)
	}
	// kube-scheduler's loader reads a file; the file is local and removed at once.
	tmp, err := os.CreateTemp("", "likewise-explain-scheduler-config-*.yaml")
	if err != nil {
		return nil, "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		return nil, "", err
	}
	if err := tmp.Close(); err != nil {
		return nil, "", err
	}
	sc, err := rebalancer.LoadSchedulerConfig(logger, tmp.Name(), o.cfg.Profile)
	if err != nil {
		return nil, "", fmt.Errorf("--scheduler-config-configmap: %s", strings.ReplaceAll(err.Error(), tmp.Name(), source))
	}
	return sc, source, nil
}

// kustomizeHash is the suffix a kustomize configMapGenerator adds to a name.
var kustomizeHash = regexp.MustCompile(`^-[a-z0-9]{10}$`)

// configMapFor gets ConfigMap ns/name or, when there is none, the one kustomize generated from
// that name (name-<hash>), when exactly one exists.
func configMapFor(ctx context.Context, client kubernetes.Interface, ns, name string) (*v1.ConfigMap, error) {
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return cm, err
	}
	list, lerr := client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return nil, fmt.Errorf("%w; listing ConfigMaps to find %s-<hash>: %w", err, name, lerr)
	}
	var found []*v1.ConfigMap
	var names []string
	for i := range list.Items {
		c := &list.Items[i]
		if rest, ok := strings.CutPrefix(c.Name, name); ok && kustomizeHash.MatchString(rest) {
			found = append(found, c)
			names = append(names, c.Name)
		}
	}
	switch len(found) {
	case 0:
		return nil, err
	case 1:
		return found[0], nil
	}
	slices.Sort(names)
	return nil, fmt.Errorf("no ConfigMap %s, and several generated from it (%s): name the one the scheduler mounts", name, strings.Join(names, ", "))
}
