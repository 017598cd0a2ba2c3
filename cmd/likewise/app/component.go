package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/metrics"
	"github.com/likewise-dev/likewise/pkg/version"
)

// leaderFlags are the leader-election flags of a likewise controller, as Kubernetes components
// name them.
type leaderFlags struct {
	leaderElect    bool
	leaseName      string
	leaseNamespace string
	leaseDuration  time.Duration
	renewDeadline  time.Duration
	retryPeriod    time.Duration
}

func newLeaderFlags(name string) leaderFlags {
	return leaderFlags{
		leaderElect:    true,
		leaseName:      name,
		leaseNamespace: defaultLeaseNamespace,
		leaseDuration:  defaultLeaseDuration,
		renewDeadline:  defaultRenewDeadline,
		retryPeriod:    defaultRetryPeriod,
	}
}

func (l *leaderFlags) add(f *pflag.FlagSet, what string) {
	f.BoolVar(&l.leaderElect, "leader-elect", l.leaderElect, "take a Lease before working, so that only one replica "+what)
	f.StringVar(&l.leaseName, "leader-elect-resource-name", l.leaseName, "name of the leader election Lease")
	f.StringVar(&l.leaseNamespace, "leader-elect-resource-namespace", l.leaseNamespace, "namespace of the leader election Lease")
	f.DurationVar(&l.leaseDuration, "leader-elect-lease-duration", l.leaseDuration, "how long a standby waits before taking over a lease that was not renewed")
	f.DurationVar(&l.renewDeadline, "leader-elect-renew-deadline", l.renewDeadline, "how long the leader tries to renew before giving up (and exiting)")
	f.DurationVar(&l.retryPeriod, "leader-elect-retry-period", l.retryPeriod, "time between attempts to take or renew the lease")
}

func (l *leaderFlags) validate(bad func(string, ...any)) {
	if !l.leaderElect {
		return
	}
	if errs := validateName(l.leaseName); len(errs) > 0 {
		bad("--leader-elect-resource-name %q: %s", l.leaseName, strings.Join(errs, "; "))
	}
	if errs := validateName(l.leaseNamespace); len(errs) > 0 {
		bad("--leader-elect-resource-namespace %q: %s", l.leaseNamespace, strings.Join(errs, "; "))
	}
	if l.retryPeriod <= 0 {
		bad("--leader-elect-retry-period %v: must be positive", l.retryPeriod)
	}
	if float64(l.renewDeadline) <= leaderelection.JitterFactor*float64(l.retryPeriod) {
		bad("--leader-elect-renew-deadline %v: must be more than %v times --leader-elect-retry-period (%v)",
			l.renewDeadline, leaderelection.JitterFactor, l.retryPeriod)
	}
	if l.leaseDuration <= l.renewDeadline {
		bad("--leader-elect-lease-duration %v: must be more than --leader-elect-renew-deadline (%v)", l.leaseDuration, l.renewDeadline)
	}
}

// componentRun is what a controller's run needs from its command: its client, an Event recorder
// reporting as the controller, and the readiness it reports on /readyz.
type componentRun struct {
	client   kubernetes.Interface
	recorder events.EventRecorder
	ready    *atomic.Bool
}

// runComponent is the body of a likewise controller's command: a client for --kubeconfig
// (in-cluster when empty), likewise's metrics, /metrics /healthz /livez /readyz served securely as
// s says, an Event recorder reporting as name, and work run under leader election as l says.
func runComponent(ctx context.Context, kubeconfig, name string, l leaderFlags, s *servingFlags, notReady string,
	work func(context.Context, componentRun) error) error {
	restConfig, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("--kubeconfig: %w", err)
	}
	restConfig = rest.CopyConfig(restConfig)
	restConfig.UserAgent = name + "/" + version.Version()
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	metrics.Register()

	var ready atomic.Bool
	var healthz *leaderelection.HealthzAdaptor
	if l.leaderElect {
		healthz = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	}
	stopServing, err := s.serve(ctx, name, kubeconfig, ready.Load, notReady, healthz)
	if err != nil {
		return err
	}
	defer stopServing()

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("starting the event recorder: %w", err)
	}
	defer broadcaster.Shutdown()
	run := componentRun{client: client, recorder: broadcaster.NewRecorder(scheme.Scheme, name), ready: &ready}
	return runElected(ctx, client, l, &ready, healthz, func(ctx context.Context) error { return work(ctx, run) })
}

// runElected runs work while holding the lease (or at once without leader election). ready is
// set for a standby (it serves probes and waits) and cleared while leading until work says it is
// ready itself. Losing the lease ends the process with an error, so that two replicas never work
// at once; work's context is cancelled first.
func runElected(ctx context.Context, client kubernetes.Interface, l leaderFlags, ready *atomic.Bool,
	healthz *leaderelection.HealthzAdaptor, work func(context.Context) error) error {
	if !l.leaderElect {
		return work(ctx)
	}
	logger := klog.FromContext(ctx)
	hostname, err := os.Hostname()
	if err != nil {
		return err
	}
	identity := hostname + "_" + string(uuid.NewUUID())
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, l.leaseNamespace, l.leaseName,
		client.CoreV1(), client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return err
	}
	ready.Store(true)
	leCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu     sync.Mutex
		runErr error
	)
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   l.leaseDuration,
		RenewDeadline:   l.renewDeadline,
		RetryPeriod:     l.retryPeriod,
		ReleaseOnCancel: true,
		WatchDog:        healthz,
		Name:            l.leaseName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				logger.Info("Leading", "lease", klog.KRef(l.leaseNamespace, l.leaseName), "identity", identity)
				ready.Store(false)
				if err := work(ctx); err != nil && ctx.Err() == nil {
					mu.Lock()
					runErr = err
					mu.Unlock()
					cancel() // give the lease up rather than hold it doing nothing
				}
			},
			OnStoppedLeading: func() { ready.Store(false) },
			OnNewLeader: func(id string) {
				if id != identity {
					logger.Info("Another replica leads", "leader", id)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	if healthz != nil {
		healthz.SetLeaderElection(elector)
	}
	elector.Run(leCtx)
	mu.Lock()
	defer mu.Unlock()
	if runErr != nil {
		return runErr
	}
	if ctx.Err() == nil {
		return errors.New("leader election lost")
	}
	return nil
}
