// Package controller is the classifier controller (`likewise classifier`): it watches database
// pods, samples each one's PostgreSQL statistics (pgstats) every interval, classifies them
// (pkg/classifier), and writes the pod's workload-type label and annotations.
//
// Roles are apart: ResolveTarget and CredentialsFrom say where and as whom to connect (pure),
// ClassifySampleError says why a sample failed (pure), Decide says what a result means for the
// pod (pure), and the Controller samples and patches. Every decision is visible: an Event on the
// pod, a metric, a log line at V(4).
package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/classifier"
	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
	"github.com/likewise-dev/likewise/pkg/metrics"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Name is the controller's name: its Events' reporting controller and its work queue's name.
const Name = "likewise-classifier"

// Event actions.
const (
	actionSample   = "Sample"
	actionClassify = "Classify"
)

// Controller samples and classifies the databases of the pods its informer sees.
type Controller struct {
	cfg      Config
	client   kubernetes.Interface
	pods     corelisters.PodLister
	resolver *workloadtype.Resolver
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder events.EventRecorder
	clock    clock.WithTicker
	secrets  *secretCache
	// failing holds a token for each worker attempting a database whose last attempt failed.
	failing chan struct{}

	ready atomic.Bool

	mu  sync.Mutex
	dbs map[string]*database // by pod key; a key is handled by one worker at a time
}

// database is what the controller keeps about one pod's database.
type database struct {
	uid    types.UID
	server string // user@host:port/database the classifier has learnt
	target Target // what the sampler connects to

	sampler    *pgstats.Sampler
	version    string          // the Secrets' resourceVersions the sampler was made from
	sslMode    pgstats.SSLMode // the connections gauge's label, "" when not counted
	announced  pgstats.SSLMode // the opt-in already logged and recorded as an Event
	classifier *classifier.Classifier
	result     classifier.Result
	gaugeType  classifier.Measured

	next     time.Time // no sample before this
	failure  Failure   // the current failure, zero while sampling works
	failures int       // failed attempts in a row
}

// New returns a controller for the pods of podInformer, which must list only the pods that
// cfg.Selector selects (in cfg.Namespace). Types are recorded on, and new pods labelled from,
// the objects of workloads (in cfg.Namespace). Events go to recorder.
func New(cfg Config, client kubernetes.Interface, podInformer coreinformers.PodInformer, workloads Workloads, recorder events.EventRecorder, clk clock.WithTicker) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	c := &Controller{
		cfg:      cfg,
		client:   client,
		pods:     podInformer.Lister(),
		resolver: workloads.resolver(),
		synced:   []cache.InformerSynced{podInformer.Informer().HasSynced},
		recorder: recorder,
		clock:    clk,
		dbs:      map[string]*database{},
		secrets:  newSecretCache(client, clk, cfg.credentialsRefresh()),
		failing:  make(chan struct{}, cfg.failingWorkers()),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](cfg.Interval, cfg.MaxBackoff),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: clk},
		),
	}
	_, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, obj any) { c.enqueue(obj) },
		DeleteFunc: c.enqueue,
	})
	if err != nil {
		return nil, fmt.Errorf("adding the pod event handler: %w", err)
	}
	for _, inf := range workloads.informers() {
		c.synced = append(c.synced, inf.HasSynced)
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.enqueueNamespaceOf(nil, obj) },
			UpdateFunc: c.enqueueNamespaceOf,
		})
		if err != nil {
			return nil, fmt.Errorf("adding a workload event handler: %w", err)
		}
	}
	return c, nil
}

func (c *Controller) enqueue(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		utilruntime.HandleError(err)
		return
	}
	c.queue.Add(key)
}

// Ready reports whether the informer's cache has synced and workers run.
func (c *Controller) Ready() bool { return c.ready.Load() }

// Run waits for the cache, runs the workers until ctx ends, then closes every connection.
func (c *Controller) Run(ctx context.Context) error {
	defer utilruntime.HandleCrashWithContext(ctx)
	logger := klog.FromContext(ctx)
	defer c.queue.ShutDown()

	logger.Info("Starting classifier controller", "selector", c.cfg.Selector.String(), "namespace", c.cfg.Namespace,
		"interval", c.cfg.Interval, "workers", c.cfg.Workers, "attemptTimeout", c.cfg.AttemptTimeout(),
		"credentialsRefresh", c.cfg.credentialsRefresh())
	if !cache.WaitForNamedCacheSyncWithContext(ctx, c.synced...) {
		return errors.New("the pod and workload caches did not sync")
	}
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() { wait.UntilWithContext(ctx, c.runWorker, time.Second) })
	}
	c.ready.Store(true)
	<-ctx.Done()
	c.ready.Store(false)
	logger.Info("Stopping classifier controller")
	c.queue.ShutDown()
	wg.Wait()
	c.closeAll(ctx)
	return nil
}

func (c *Controller) runWorker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		utilruntime.HandleErrorWithContext(ctx, err, "Syncing database pod", "pod", key)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// sync samples the database of the pod at key if its time has come, and acts on the result.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not ours to retry
	}
	logger := klog.FromContext(ctx).WithValues("pod", klog.KRef(namespace, name))
	ctx = klog.NewContext(ctx, logger)
	pod, err := c.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forget(ctx, key)
		return nil
	}
	if err != nil {
		return err
	}
	// A new pod of a workload whose type is recorded is labelled at once, without sampling, so
	// that the scheduler counts it on its node.
	if labelled, err := c.labelFromRecord(ctx, pod); labelled || err != nil {
		return err
	}
	if !sampleable(pod) {
		// An update brings it back when it runs (again); the classifier's state is kept.
		logger.V(4).Info("Not sampling: pod is not running and ready", "phase", pod.Status.Phase)
		return nil
	}
	db := c.database(ctx, key, pod)
	if now := c.clock.Now(); now.Before(db.next) {
		c.queue.AddAfter(key, db.next.Sub(now))
		return nil
	}

	if db.failures > 0 {
		// A failing database may hold a worker for a whole attempt: only some workers may, so
		// that the others keep sampling the databases that answer.
		select {
		case c.failing <- struct{}{}:
			defer func() { <-c.failing }()
		default:
			logger.V(4).Info("Deferring a failing database: the workers for failing databases are busy", "failures", db.failures)
			c.queue.AddAfter(key, c.cfg.Interval)
			return nil
		}
	}
	// The whole attempt, Secrets included, has a deadline: statement_timeout is the server's,
	// and a server that does not answer enforces nothing.
	attemptCtx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout())
	defer cancel()

	target, err := ResolveTarget(pod, c.cfg)
	if err != nil {
		c.failed(ctx, key, pod, db, FailureInvalidConfiguration, err)
		return nil
	}
	creds, err := c.credentials(attemptCtx, target)
	if err != nil {
		// The Secret is gone or withheld: stop using what it held.
		c.closeSampler(ctx, db)
		c.failed(ctx, key, pod, db, FailureCredentialsUnavailable, err)
		return nil
	}
	if db.sampler == nil || db.target != target || db.version != creds.Version {
		if db.sampler != nil && db.target == target {
			logger.V(2).Info("Credentials changed; connecting again", "pod", klog.KObj(pod), "from", db.version, "to", creds.Version)
		}
		if f, err := c.connect(attemptCtx, pod, db, target, creds); err != nil {
			c.failed(ctx, key, pod, db, f, err)
			return nil
		}
	}

	start := c.clock.Now()
	snap, err := db.sampler.Sample(attemptCtx)
	if err != nil && attemptCtx.Err() != nil {
		err = fmt.Errorf("%w (attempt deadline of %v passed)", err, c.cfg.AttemptTimeout())
	}
	if err != nil {
		f := ClassifySampleError(err)
		if f == FailureCredentialsInvalid || f == FailureTLS || f == FailureInsufficientPrivilege {
			// Read the Secrets and connect again next time: they may have been fixed or rotated,
			// or the role granted what it lacked.
			c.closeSampler(ctx, db)
		}
		c.failed(ctx, key, pod, db, f, err)
		return nil
	}
	if info := db.sampler.Info(); !info.ReadAllStats {
		// Without it, statements still running are invisible and a long analytic query looks
		// like an idle database: do not classify from half the picture. The privilege is read
		// when connecting: connect again next time to notice a GRANT.
		c.closeSampler(ctx, db)
		c.failed(ctx, key, pod, db, FailureInsufficientPrivilege,
			fmt.Errorf("role %s lacks pg_read_all_stats: statements still running are invisible (GRANT pg_read_all_stats TO %s)", info.User, info.User))
		return nil
	}
	metrics.ClassifierSamples.WithLabelValues(ResultOK).Inc()
	metrics.ClassifierSampleDuration.Observe(c.clock.Since(start).Seconds())
	if db.failure != (Failure{}) {
		c.recorder.Eventf(pod, nil, corev1.EventTypeNormal, ReasonSamplingResumed, actionSample,
			"sampling works again after %d failed attempts (%s)", db.failures, db.failure.Reason)
		db.failure, db.failures = Failure{}, 0
	}
	db.next = start.Add(c.cfg.Interval)
	c.queue.AddAfter(key, c.cfg.Interval)

	c.resume(ctx, pod, db)
	db.result = db.classifier.Observe(snap)
	c.setGauge(db, db.result.Type)
	if w := db.result.Window; w != nil {
		logger.V(4).Info("Window closed", "verdict", w.Verdict, "type", db.result.Type, "pending", db.result.Pending,
			"pendingWindows", db.result.PendingWindows, "features", w.Features.String())
	}
	if err := c.act(ctx, pod, db.result); err != nil {
		return err
	}
	c.keepRecord(ctx, pod, db.result)
	return nil
}

// act makes the decision for pod and result. A pod that changed under the patch (a person
// labelling it, say) is read again and decided again, once; the next sample tries again anyway.
func (c *Controller) act(ctx context.Context, pod *corev1.Pod, r classifier.Result) error {
	logger := klog.FromContext(ctx)
	for attempt := 0; ; attempt++ {
		d := Decide(pod, r)
		if d.IsZero() {
			logger.V(4).Info("Pod up to date", "type", r.Type, "ownership", OwnershipOf(pod))
			return nil
		}
		patched, err := PatchPod(ctx, c.client, pod, d)
		switch {
		case err == nil:
			metrics.ClassifierPodUpdates.WithLabelValues(d.Result).Inc()
			logger.V(2).Info("Updated pod", "result", d.Result, "setLabel", d.SetLabel, "removeLabel", d.RemoveLabel, "reason", d.EventReason)
			if d.EventReason != "" {
				c.recorder.Eventf(patched, nil, d.EventType, d.EventReason, actionClassify, "%s", d.EventNote)
			}
			return nil
		case apierrors.IsConflict(err) && attempt == 0:
			metrics.ClassifierPodUpdates.WithLabelValues(UpdateConflict).Inc()
			logger.V(2).Info("Pod changed under the patch; deciding again", "err", err)
			if pod, err = c.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil {
				if apierrors.IsNotFound(err) {
					return nil
				}
				return fmt.Errorf("reading pod %s/%s again: %w", pod.Namespace, pod.Name, err)
			}
		case apierrors.IsNotFound(err):
			return nil
		default:
			if apierrors.IsConflict(err) {
				metrics.ClassifierPodUpdates.WithLabelValues(UpdateConflict).Inc()
			} else {
				metrics.ClassifierPodUpdates.WithLabelValues(UpdateError).Inc()
			}
			return fmt.Errorf("patching pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
}

// failed records a failed attempt: the metric every time, a Warning Event when the failure
// starts or changes, and the next attempt after a backoff that doubles from the interval.
func (c *Controller) failed(ctx context.Context, key string, pod *corev1.Pod, db *database, f Failure, err error) {
	logger := klog.FromContext(ctx)
	metrics.ClassifierSamples.WithLabelValues(f.Result).Inc()
	db.failures++
	delay := c.cfg.Interval
	for i := 1; i < db.failures && delay < c.cfg.MaxBackoff; i++ {
		delay *= 2
	}
	delay = min(delay, c.cfg.MaxBackoff)
	logger.V(2).Info("Sampling failed", "reason", f.Reason, "failures", db.failures, "retryIn", delay, "err", err)
	if db.failure != f {
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, f.Reason, actionSample,
			"%s; labels unchanged, retrying with backoff", truncate(err.Error(), maxReasonsLength))
		db.failure = f
	}
	db.next = c.clock.Now().Add(delay)
	c.queue.AddAfter(key, delay)
}

// database returns the state of pod's database, starting afresh for a new pod of the same name.
func (c *Controller) database(ctx context.Context, key string, pod *corev1.Pod) *database {
	c.mu.Lock()
	db := c.dbs[key]
	c.mu.Unlock()
	if db != nil && db.uid == pod.UID {
		return db
	}
	if db != nil {
		c.close(ctx, db)
	}
	db = &database{uid: pod.UID, gaugeType: classifier.Unknown, result: classifier.Result{Type: classifier.Unknown}}
	metrics.ClassifierDatabases.WithLabelValues(classifier.Unknown.String()).Inc()
	c.mu.Lock()
	c.dbs[key] = db
	c.mu.Unlock()
	return db
}

// resume gives a classifier that holds no type yet (this process has adopted none for the pod)
// the type the pod's label shows a classifier adopted (ResumptionOf), so that the label does not
// change before MinDwell from that adoption: after a restart or a failover, after the database
// moved (a new classifier), or once the pod was labelled from its workload's record. Doubt (no
// or an unreadable classified-at) keeps the label and counts the dwell from now.
func (c *Controller) resume(ctx context.Context, pod *corev1.Pod, db *database) {
	if db.classifier.Result().Type != classifier.Unknown {
		return
	}
	r, ok := ResumptionOf(pod)
	if !ok || !db.classifier.Resume(r.Type, r.Since) {
		return
	}
	since := db.classifier.Result().Since
	klog.FromContext(ctx).V(2).Info("Resuming the type the pod's label shows", "type", r.Type,
		"since", since, "classifiedAt", r.Since, "doubt", r.Doubt)
	if r.Invalid {
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonInvalidClassifiedAt, actionClassify,
			"%s: label %s=%s kept, as measured %s since now (%s)", r.Doubt, apis.LabelWorkloadType,
			pod.Labels[apis.LabelWorkloadType], r.Type, since.UTC().Format(time.RFC3339))
	}
}

// connect makes a sampler from the target and its Secrets' credentials; a new server (IP, port,
// database) gets a new classifier, the same server with new credentials keeps what it learnt. Its
// error comes with the Failure it is.
func (c *Controller) connect(ctx context.Context, pod *corev1.Pod, db *database, t Target, creds Credentials) (Failure, error) {
	c.closeSampler(ctx, db)
	cc, err := ConnConfig(t, creds, c.cfg.DefaultDatabase, c.cfg.QueryTimeout)
	if errors.Is(err, ErrNoCA) {
		return FailureTLSNotConfigured, err
	}
	if err != nil {
		return FailureInvalidConfiguration, err
	}
	sampler, err := pgstats.NewSampler(cc, c.clock)
	if err != nil {
		return FailureCredentialsUnavailable, fmt.Errorf("secret %s/%s: %w", t.Namespace, t.CredentialsSecret, err)
	}
	if server := cc.String(); db.classifier == nil || server != db.server {
		cl, err := classifier.New(c.cfg.Classifier, c.clock)
		if err != nil {
			return FailureSampleFailed, err // Validate checked the same config
		}
		if db.classifier != nil {
			klog.FromContext(ctx).V(2).Info("Database moved; classifying afresh", "from", db.server, "to", server)
		}
		db.classifier, db.server = cl, server
		db.result = classifier.Result{Type: classifier.Unknown}
		c.setGauge(db, classifier.Unknown)
	}
	db.sampler, db.target, db.version = sampler, t, creds.Version
	c.setConnectionsGauge(db, t.SSLMode)
	klog.FromContext(ctx).V(2).Info("Sampling database", "target", cc.String(), "sslmode", t.SSLMode,
		"serverName", cc.ServerName, "secretVersion", creds.Version)
	if t.SSLModeOptIn() && db.announced != t.SSLMode {
		// Once per database and mode, not at every reconnection: the pod asked for it.
		note := fmt.Sprintf("sslmode=%s by annotation %s: encrypted, but the server is not verified", t.SSLMode, apis.AnnotationPostgresSSLMode)
		if t.SSLMode == pgstats.SSLModeDisable {
			note = fmt.Sprintf("sslmode=%s by annotation %s: not encrypted; the monitoring role's password and the statistics cross the network in plaintext", t.SSLMode, apis.AnnotationPostgresSSLMode)
		}
		klog.FromContext(ctx).Info("Connecting without verifying the server, as the pod's annotation asks", "pod", klog.KObj(pod), "sslmode", t.SSLMode, "target", cc.String())
		c.recorder.Eventf(pod, nil, corev1.EventTypeWarning, ReasonInsecureConnection, actionSample, "%s", note)
		db.announced = t.SSLMode
	}
	return Failure{}, nil
}

// credentials reads the target's Secrets, through the cache.
func (c *Controller) credentials(ctx context.Context, t Target) (Credentials, error) {
	creds, err := c.secrets.get(ctx, t.Namespace, t.CredentialsSecret)
	if err != nil {
		return Credentials{}, err
	}
	var ca *corev1.Secret
	if t.CASecret != "" {
		if ca, err = c.secrets.get(ctx, t.Namespace, t.CASecret); err != nil {
			return Credentials{}, err
		}
	}
	return CredentialsFrom(t, creds, ca)
}

// setConnectionsGauge counts db under mode ("" for none).
func (c *Controller) setConnectionsGauge(db *database, mode pgstats.SSLMode) {
	if db.sslMode == mode {
		return
	}
	if db.sslMode != "" {
		metrics.ClassifierConnections.WithLabelValues(string(db.sslMode)).Dec()
	}
	if mode != "" {
		metrics.ClassifierConnections.WithLabelValues(string(mode)).Inc()
	}
	db.sslMode = mode
}

func (c *Controller) setGauge(db *database, t classifier.Measured) {
	if db.gaugeType == t {
		return
	}
	metrics.ClassifierDatabases.WithLabelValues(db.gaugeType.String()).Dec()
	metrics.ClassifierDatabases.WithLabelValues(t.String()).Inc()
	db.gaugeType = t
}

// forget drops a deleted pod's database.
func (c *Controller) forget(ctx context.Context, key string) {
	c.mu.Lock()
	db := c.dbs[key]
	delete(c.dbs, key)
	c.mu.Unlock()
	if db != nil {
		klog.FromContext(ctx).V(2).Info("Pod gone; closing its connection")
		c.close(ctx, db)
	}
	c.queue.Forget(key)
}

func (c *Controller) close(ctx context.Context, db *database) {
	c.closeSampler(ctx, db)
	c.setConnectionsGauge(db, "")
	metrics.ClassifierDatabases.WithLabelValues(db.gaugeType.String()).Dec()
}

func (c *Controller) closeSampler(ctx context.Context, db *database) {
	if db.sampler == nil {
		return
	}
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.QueryTimeout)
	defer cancel()
	_ = db.sampler.Close(closeCtx)
	db.sampler = nil
}

func (c *Controller) closeAll(ctx context.Context) {
	c.mu.Lock()
	dbs := c.dbs
	c.dbs = map[string]*database{}
	c.mu.Unlock()
	for _, db := range dbs {
		c.close(ctx, db)
	}
}

// sampleable: running, ready, with an IP, not terminating.
func sampleable(pod *corev1.Pod) bool {
	if pod.DeletionTimestamp != nil || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" {
		return false
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
