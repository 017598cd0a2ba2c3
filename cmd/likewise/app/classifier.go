package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/informers"
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go's workqueue, REST client and leader election metrics
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/controller"
)

// Defaults of the classifier command's own flags (the controller's are in package controller).
const (
	defaultLeaseName            = "likewise-classifier"
	defaultLeaseNamespace       = "likewise-system"
	defaultLeaseDuration        = 15 * time.Second
	defaultRenewDeadline        = 10 * time.Second
	defaultRetryPeriod          = 2 * time.Second
	defaultClassifierWindow     = classifier.DefaultWindow
	defaultClassifierMinDwell   = classifier.DefaultMinDwell
	defaultClassifierSwitchWins = classifier.DefaultWindowsToSwitch
)

type classifierOptions struct {
	kubeconfig string
	namespace  string
	selector   string
	preset     string

	defaultSecret   string
	defaultDatabase string
	defaultPort     int

	interval           time.Duration
	window             time.Duration
	windowsToSwitch    int
	minDwell           time.Duration
	workers            int
	queryTimeout       time.Duration
	maxBackoff         time.Duration
	credentialsRefresh time.Duration

	leader  leaderFlags
	serving servingFlags

	// Set by validate.
	config controller.Config
}

func newClassifierOptions() *classifierOptions {
	return &classifierOptions{
		selector:           controller.DefaultSelector,
		defaultSecret:      controller.DefaultCredentialsSecret,
		defaultDatabase:    controller.DefaultDatabase,
		defaultPort:        controller.DefaultPort,
		interval:           controller.DefaultInterval,
		window:             defaultClassifierWindow,
		windowsToSwitch:    defaultClassifierSwitchWins,
		minDwell:           defaultClassifierMinDwell,
		workers:            controller.DefaultWorkers,
		queryTimeout:       controller.DefaultQueryTimeout,
		credentialsRefresh: controller.DefaultCredentialsRefresh,
		maxBackoff:         controller.DefaultMaxBackoff,
		leader:             newLeaderFlags(defaultLeaseName),
		serving:            newServingFlags(controller.Name, DefaultClassifierSecurePort),
	}
}

func newClassifierCommand() *cobra.Command { return newClassifierCommandFor(newClassifierOptions()) }

func newClassifierCommandFor(o *classifierOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "classifier [--preset cnpg|zalando|crunchy | --selector SELECTOR] [flags]",
		Short: "Run the classifier controller: label database pods oltp or olap from their PostgreSQL statistics",
		Long: `Run the classifier controller. It watches database pods (those of a PostgreSQL operator with
--preset, or those --selector selects; by default pods labelled ` + controller.DefaultSelector + `),
samples each one's PostgreSQL statistics every --interval over one connection to the pod's IP,
and classifies the database as oltp, olap or mixed (docs/classifier.md says how).

It writes the pod label likewise.dev/workload-type (oltp or olap; a mixed database gets no label)
with annotations likewise.dev/workload-measured, -confidence, -reasons and -classified-at, and
records an Event when the type changes. A label it did not write is a person's and is never
changed (see the annotation likewise.dev/workload-type-source). A database it cannot sample keeps
its labels; a Warning Event and the metric likewise_classifier_samples_total{result} say why.

Credentials come from a Secret in the pod's namespace (keys username or user, password, and
optionally dbname and ca.crt), named by the pod's annotation likewise.dev/postgres-credentials-secret
or --default-credentials-secret, and read again every --credentials-refresh: a database whose
Secret changed connects again. The role needs pg_read_all_stats and CONNECT on the database.

Connections verify the server (sslmode=verify-full) against the CA of the Secret's ca.crt, or of
the Secret the annotation likewise.dev/postgres-ca-secret names. A database without a CA is not
sampled (TLSNotConfigured) unless its pod opts into a weaker mode with the annotation
likewise.dev/postgres-sslmode: require (encrypted, not verified) or disable (plaintext); an opt-in
is logged, recorded as an InsecureConnection Event and counted in likewise_classifier_connections.
There is never a fallback from one mode to another.

It serves /metrics, /healthz, /livez and /readyz over HTTPS on --bind-address and --secure-port,
/metrics only to a client the API server authenticates and allows to get it (ClusterRole
likewise-metrics-reader).`,
		Example: `  likewise classifier --preset cnpg
  likewise classifier --selector app.kubernetes.io/name=postgresql --default-credentials-secret pg-monitor
  likewise classifier --kubeconfig ~/.kube/config --leader-elect=false --interval 5s --window 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(cmd); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return o.run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", o.kubeconfig, "kubeconfig file; in-cluster configuration when empty")
	f.StringVar(&o.namespace, "namespace", o.namespace, "watch database pods in this namespace only (default: all namespaces)")
	f.StringVar(&o.selector, "selector", o.selector, "label selector of the database pods (not with --preset)")
	f.StringVar(&o.preset, "preset", o.preset, "select an operator's PostgreSQL instance pods: "+strings.Join(controller.PresetNames(), ", ")+" (not with --selector)")
	f.StringVar(&o.defaultSecret, "default-credentials-secret", o.defaultSecret, "Secret in the pod's namespace with the monitoring role's credentials, unless the pod's annotation likewise.dev/postgres-credentials-secret names another")
	f.StringVar(&o.defaultDatabase, "default-database", o.defaultDatabase, "database to sample unless the pod's annotation likewise.dev/postgres-database or the Secret's dbname names one")
	f.IntVar(&o.defaultPort, "default-port", o.defaultPort, "PostgreSQL's port on the pod's IP unless the pod's annotation likewise.dev/postgres-port says otherwise")
	f.DurationVar(&o.interval, "interval", o.interval, "time between two samples of one database")
	f.DurationVar(&o.window, "window", o.window, "length of one classification window; at least two intervals")
	f.IntVar(&o.windowsToSwitch, "windows-to-switch", o.windowsToSwitch, "windows in a row that must agree before the type changes")
	f.DurationVar(&o.minDwell, "min-dwell", o.minDwell, "least time a type is kept before it may change again")
	f.IntVar(&o.workers, "workers", o.workers, "databases sampled at once")
	f.DurationVar(&o.queryTimeout, "query-timeout", o.queryTimeout, "bound on connecting and on every query (also the session's statement_timeout); a whole attempt at a database gets twice it")
	f.DurationVar(&o.maxBackoff, "max-backoff", o.maxBackoff, "longest wait before sampling a failing database again (waits double from --interval)")
	f.DurationVar(&o.credentialsRefresh, "credentials-refresh", o.credentialsRefresh, "how often each credentials or CA Secret is read again (one GET per Secret, shared by its pods); a database whose Secret changed connects again")
	o.leader.add(f, "samples and labels")
	o.serving.add(f)
	return cmd
}

// validate checks the flags and builds the controller's Config; every error names its flag.
func (o *classifierOptions) validate(cmd *cobra.Command) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	cfg := controller.Config{
		Namespace:                o.namespace,
		DefaultCredentialsSecret: o.defaultSecret,
		DefaultDatabase:          o.defaultDatabase,
		DefaultPort:              int32(o.defaultPort),
		Interval:                 o.interval,
		QueryTimeout:             o.queryTimeout,
		MaxBackoff:               o.maxBackoff,
		Workers:                  o.workers,
		CredentialsRefresh:       o.credentialsRefresh,
		Classifier:               classifier.Config{Window: o.window, WindowsToSwitch: o.windowsToSwitch, MinDwell: o.minDwell},
	}
	selector, selectorKnown := o.selector, true
	if o.preset != "" {
		if cmd.Flags().Changed("selector") {
			bad("--selector and --preset: give one, not both")
		}
		if p, err := controller.LookupPreset(o.preset); err != nil {
			bad("--preset: %v", err)
			selectorKnown = false
		} else {
			selector, cfg.DefaultServerName = p.Selector, p.ServerName
		}
	}
	if selectorKnown {
		if sel, err := labels.Parse(selector); err != nil {
			bad("--selector %q: %v", selector, err)
		} else if sel.Empty() {
			bad("--selector %q: selects every pod; name the database pods", selector)
		} else {
			cfg.Selector = sel
		}
	}
	if o.namespace != "" && len(validateName(o.namespace)) > 0 {
		bad("--namespace %q: %s", o.namespace, strings.Join(validateName(o.namespace), "; "))
	}
	if errs := validateName(o.defaultSecret); len(errs) > 0 {
		bad("--default-credentials-secret %q: %s", o.defaultSecret, strings.Join(errs, "; "))
	}
	if strings.TrimSpace(o.defaultDatabase) == "" {
		bad("--default-database: must not be empty")
	}
	if o.defaultPort < 1 || o.defaultPort > 65535 {
		bad("--default-port %d: must be from 1 to 65535", o.defaultPort)
	}
	if o.interval <= 0 {
		bad("--interval %v: must be positive", o.interval)
	}
	if o.window < 2*o.interval || o.window < time.Second || o.window > time.Hour {
		bad("--window %v: must be from 1s to 1h and at least two --interval (%v)", o.window, 2*o.interval)
	}
	if o.windowsToSwitch < 1 || o.windowsToSwitch > 100 {
		bad("--windows-to-switch %d: must be from 1 to 100", o.windowsToSwitch)
	}
	if o.minDwell <= 0 || o.minDwell > 24*time.Hour {
		bad("--min-dwell %v: must be positive and at most 24h", o.minDwell)
	}
	if o.workers < 1 || o.workers > controller.MaxWorkers {
		bad("--workers %d: must be from 1 to %d", o.workers, controller.MaxWorkers)
	}
	if o.queryTimeout <= 0 {
		bad("--query-timeout %v: must be positive", o.queryTimeout)
	}
	if o.maxBackoff < o.interval {
		bad("--max-backoff %v: must be at least --interval (%v)", o.maxBackoff, o.interval)
	}
	if o.credentialsRefresh < controller.MinCredentialsRefresh || o.credentialsRefresh > controller.MaxCredentialsRefresh {
		bad("--credentials-refresh %v: must be from %v to %v", o.credentialsRefresh, controller.MinCredentialsRefresh, controller.MaxCredentialsRefresh)
	}
	o.leader.validate(bad)
	o.serving.validate(cmd.Flags(), bad)
	if len(errs) == 0 {
		// Everything above maps onto the Config; this catches what only the whole can tell.
		if err := cfg.Validate(); err != nil {
			bad("%v", err)
		}
	}
	o.config = cfg
	return errors.Join(errs...)
}

// validateName checks a namespace or object name.
func validateName(name string) []string {
	if name == "" {
		return []string{"must not be empty"}
	}
	return validation.IsDNS1123Subdomain(name)
}

func (o *classifierOptions) run(ctx context.Context) error {
	return runComponent(ctx, o.kubeconfig, controller.Name, o.leader, &o.serving, "pod cache not synced yet", func(ctx context.Context, run componentRun) error {
		client := run.client
		factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(o.config.Namespace),
			informers.WithTweakListOptions(func(opts *metav1.ListOptions) { opts.LabelSelector = o.config.Selector.String() }))
		// What outlives the pods, where their types are recorded: all of them, not only selected.
		workloadFactory := informers.NewSharedInformerFactoryWithOptions(client, 0,
			informers.WithNamespace(o.config.Namespace), informers.WithTransform(controller.TrimToRecord))
		workloads := controller.Workloads{
			ReplicaSets:  workloadFactory.Apps().V1().ReplicaSets(),
			StatefulSets: workloadFactory.Apps().V1().StatefulSets(),
			Deployments:  workloadFactory.Apps().V1().Deployments(),
			Claims:       workloadFactory.Core().V1().PersistentVolumeClaims(),
		}
		c, err := controller.New(o.config, client, factory.Core().V1().Pods(), workloads, run.recorder, clock.RealClock{})
		if err != nil {
			return err
		}
		factory.Start(ctx.Done())
		defer factory.Shutdown()
		workloadFactory.Start(ctx.Done())
		defer workloadFactory.Shutdown()
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		// Ready once the cache has synced and the workers run.
		go func() {
			for !c.Ready() {
				select {
				case <-ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			run.ready.Store(true)
		}()
		return <-done
	})
}
