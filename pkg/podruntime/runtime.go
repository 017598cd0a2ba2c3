package podruntime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// ReportingController is the events' reporting controller.
const ReportingController = "likewise.dev/local-runtime"

// Event reasons.
const (
	// ReasonStarted: a pod's server started (or started again after it ended by itself).
	ReasonStarted = "Started"
	// ReasonStopped: a pod's server stopped because its pod was deleted, stopped running, moved,
	// or the runtime stopped everything (StopAll).
	ReasonStopped = "Stopped"
	// ReasonRuntimeFailed: a pod's server could not run (bad IP, identity, node, initdb, start,
	// Setup); the runtime retries with backoff.
	ReasonRuntimeFailed = "RuntimeFailed"
)

// Defaults of Options.
const (
	DefaultPort        = 5432
	DefaultWorkers     = 2
	DefaultStopTimeout = 10 * time.Second
	DefaultMaxBackoff  = 30 * time.Second
	DefaultSyncTimeout = 3 * time.Minute
)

const (
	// resyncPeriod makes every pod come round again, so that a server that ended by itself is
	// started again.
	resyncPeriod = 30 * time.Second
	// groupRemoveTimeout bounds the wait for a pod group's processes to leave once killed.
	groupRemoveTimeout = 10 * time.Second
)

// Files the runtime keeps in a data directory, beside pgserver's.
const (
	recordFile    = "pod.json"
	setupDoneFile = "setup-done"
)

// Options configure New.
type Options struct {
	// Client watches pods and nodes and records events. Required.
	Client kubernetes.Interface
	// StateDir holds the data directories, <StateDir>/<namespace>/<identity>. Required; the
	// postgres account must be able to reach it (no private parent such as a test's TempDir).
	StateDir string
	// Cgroups holds the node and pod groups the servers run in. Required: the runtime never runs
	// a server unbounded.
	Cgroups *nodecgroup.Manager
	// Namespace limits the runtime to one namespace's pods; "" is every namespace.
	Namespace string
	// Port is the port of every server, on its pod's IP. Default DefaultPort.
	Port int
	// SuperuserPassword and MonitorPassword are every server's passwords, so that one
	// credentials Secret serves them all; an empty one is random per server (and kept in its
	// directory).
	SuperuserPassword, MonitorPassword string
	// Setup, when set, runs once per data directory, after its first initdb (to create a
	// database, say), and again on later syncs until it succeeds; never once it has.
	Setup func(ctx context.Context, pod *corev1.Pod, s *pgserver.Server) error
	// ServerOptions are passed to pgserver.Start and pgserver.Adopt before the runtime's own
	// (directory, address, port, passwords, cgroup), e.g. WithStatStatements or WithSetting.
	ServerOptions []pgserver.Option
	// Workers is how many pods are synced at once. Default DefaultWorkers.
	Workers int
	// StopTimeout is how long a fast shutdown may take before an immediate one. Default
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// MaxBackoff bounds the wait before a failed pod is retried. Default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// SyncTimeout bounds one pod's sync: initdb, start and Setup (raise it for a Setup that
	// loads much data), or a stop. Default DefaultSyncTimeout.
	SyncTimeout time.Duration
}

// Runtime runs the servers of the PostgreSQL pods bound to the local cluster's nodes. Its
// methods are safe for concurrent use.
type Runtime struct {
	opts  Options
	queue workqueue.TypedRateLimitingInterface[key]

	mu       sync.Mutex
	byPod    map[string]*instance // "<namespace>/<name>"
	byDir    map[string]*instance // data directory: one server each, ever
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	recorder events.EventRecorder // while Run runs
	ran      bool
	closed   bool // StopAll: start nothing any more
	workers  sync.WaitGroup
}

// key is a pod (namespace/name) or a node (node).
type key struct {
	namespace, name string
	node            string
}

func (k key) pod() string { return k.namespace + "/" + k.name }

// instance is one pod's server, from the reservation of its data directory until it stopped.
type instance struct {
	key       key
	dir       string
	ephemeral bool
	pod       *corev1.Pod // as last seen
	uid       types.UID
	node, ip  string
	server    *pgserver.Server  // nil while starting
	group     *nodecgroup.Group // the pod's group
	ready     bool              // started and set up: Server, PodGroup and WaitServing show it
}

func (in *instance) matches(pod *corev1.Pod) bool {
	return pod.UID == in.uid && pod.Spec.NodeName == in.node && pod.Status.PodIP == in.ip
}

// New validates opts and returns a runtime; Run starts it.
func New(opts Options) (*Runtime, error) {
	if opts.Client == nil {
		return nil, errors.New("podruntime: Options.Client is nil")
	}
	if opts.Cgroups == nil {
		return nil, errors.New("podruntime: Options.Cgroups is nil: the runtime runs servers only inside node cgroups, never unbounded")
	}
	if opts.StateDir == "" {
		return nil, errors.New("podruntime: Options.StateDir is empty")
	}
	dir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("podruntime: Options.StateDir %q: %w", opts.StateDir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("podruntime: Options.StateDir: %w", err)
	}
	opts.StateDir = dir
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.Port < 1 || opts.Port > 65535 {
		return nil, fmt.Errorf("podruntime: Options.Port %d: must be in 1..65535", opts.Port)
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultWorkers
	}
	if opts.Workers < 1 {
		return nil, fmt.Errorf("podruntime: Options.Workers %d: must be at least 1", opts.Workers)
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = DefaultStopTimeout
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = DefaultSyncTimeout
	}
	if opts.StopTimeout < 0 || opts.MaxBackoff < 0 || opts.SyncTimeout < 0 {
		return nil, fmt.Errorf("podruntime: Options.StopTimeout %v, MaxBackoff %v and SyncTimeout %v must not be negative",
			opts.StopTimeout, opts.MaxBackoff, opts.SyncTimeout)
	}
	return &Runtime{
		opts: opts,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[key](500*time.Millisecond, opts.MaxBackoff),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "podruntime"}),
		byPod: map[string]*instance{},
		byDir: map[string]*instance{},
	}, nil
}

// Run watches pods and nodes and keeps the servers in line with them until ctx ends. It first
// adopts the servers an earlier runtime left in StateDir whose pods still run on the same IP, and
// stops the others. When it returns the servers keep running (StopAll stops them). A Runtime
// runs once.
func (r *Runtime) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.ran {
		r.mu.Unlock()
		return errors.New("podruntime: Run called twice; make a new Runtime with New")
	}
	r.ran = true
	r.mu.Unlock()
	logger := klog.FromContext(ctx).WithName("podruntime")
	ctx = klog.NewContext(ctx, logger)

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: r.opts.Client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return fmt.Errorf("podruntime: starting the event recorder: %w", err)
	}
	defer broadcaster.Shutdown()

	podFactory := informers.NewSharedInformerFactoryWithOptions(r.opts.Client, resyncPeriod, informers.WithNamespace(r.opts.Namespace))
	nodeFactory := informers.NewSharedInformerFactory(r.opts.Client, 0)
	podInformer := podFactory.Core().V1().Pods()
	nodeInformer := nodeFactory.Core().V1().Nodes()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.enqueuePod(obj) },
		UpdateFunc: func(old, obj any) { r.enqueuePod(old, obj) },
		DeleteFunc: func(obj any) { r.enqueuePod(obj) },
	}); err != nil {
		return fmt.Errorf("podruntime: pod informer: %w", err)
	}
	if _, err := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, obj any) {
			o, ok1 := old.(*corev1.Node)
			n, ok2 := obj.(*corev1.Node)
			if ok1 && ok2 && !o.Status.Allocatable.Cpu().Equal(*n.Status.Allocatable.Cpu()) {
				r.queue.Add(key{node: n.Name})
			}
		},
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				r.queue.Add(key{node: n.Name})
			}
		},
	}); err != nil {
		return fmt.Errorf("podruntime: node informer: %w", err)
	}
	podFactory.Start(ctx.Done())
	nodeFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer nodeFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced) {
		return fmt.Errorf("podruntime: pod and node caches did not sync: %w", context.Cause(ctx))
	}

	r.mu.Lock()
	r.pods, r.nodes = podInformer.Lister(), nodeInformer.Lister()
	r.recorder = broadcaster.NewRecorder(scheme.Scheme, ReportingController)
	closed := r.closed
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.recorder = nil
		r.mu.Unlock()
	}()
	if closed {
		return errors.New("podruntime: Run after StopAll")
	}

	recoverCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.SyncTimeout)
	r.recoverServers(recoverCtx)
	cancel()

	r.mu.Lock()
	if !r.closed {
		for range r.opts.Workers {
			r.workers.Go(func() {
				for r.processNext(ctx) {
				}
			})
		}
	}
	r.mu.Unlock()
	logger.Info("Pod runtime running", "stateDir", r.opts.StateDir, "cgroups", r.opts.Cgroups.Name(),
		"namespace", r.opts.Namespace, "workers", r.opts.Workers)
	<-ctx.Done()
	r.queue.ShutDown()
	r.workers.Wait()
	logger.Info("Pod runtime stopped; its servers keep running")
	return nil
}

func (r *Runtime) enqueuePod(objs ...any) {
	for _, obj := range objs {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		k := key{namespace: pod.Namespace, name: pod.Name}
		r.mu.Lock()
		_, ours := r.byPod[k.pod()]
		r.mu.Unlock()
		if ours || isPostgresPod(pod) {
			r.queue.Add(k)
			return
		}
	}
}

func (r *Runtime) processNext(ctx context.Context) bool {
	k, shutdown := r.queue.Get()
	if shutdown {
		return false
	}
	defer r.queue.Done(k)
	// A sync runs to its end even when Run is cancelled: a half-started server would be neither
	// adopted nor stopped.
	syncCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.SyncTimeout)
	defer cancel()
	var err error
	if k.node != "" {
		err = r.syncNode(syncCtx, k.node)
	} else {
		err = r.syncPod(syncCtx, k)
	}
	if err != nil {
		klog.FromContext(ctx).V(2).Info("Will retry", "key", k, "err", err)
		r.queue.AddRateLimited(k)
		return true
	}
	r.queue.Forget(k)
	return true
}

// syncPod makes pod k's server what the pod asks for: stopped when it is gone, not running, or
// not the instance's pod any more; started when it runs with a loopback IP.
func (r *Runtime) syncPod(ctx context.Context, k key) error {
	logger := klog.FromContext(ctx)
	pod, err := r.pods.Pods(k.namespace).Get(k.name)
	if apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		return err
	}
	ok, failure := want(pod)
	r.mu.Lock()
	in := r.byPod[k.pod()]
	closed := r.closed
	r.mu.Unlock()
	if in != nil && (!ok || closed || !in.matches(pod)) {
		if err := r.stop(ctx, in, stopReason(in, pod)); err != nil {
			return err
		}
		in = nil
	}
	if failure != "" {
		logger.Error(nil, "Pod cannot get a server", "pod", klog.KObj(pod), "reason", failure)
		r.event(pod, corev1.EventTypeWarning, ReasonRuntimeFailed, "Start", "%s", failure)
		return nil // nothing to retry until the pod changes
	}
	if !ok || closed {
		return nil
	}
	if in != nil {
		return r.check(ctx, in, pod)
	}
	return r.start(ctx, k, pod)
}

// stopReason says why in's server stops, given its pod as it is now (nil when deleted).
func stopReason(in *instance, pod *corev1.Pod) string {
	switch {
	case pod == nil || pod.UID != in.uid:
		return "its pod was deleted"
	case pod.DeletionTimestamp != nil:
		return "its pod is being deleted"
	case pod.Status.Phase != corev1.PodRunning:
		return fmt.Sprintf("its pod's phase is %s", pod.Status.Phase)
	case pod.Spec.NodeName != in.node:
		return fmt.Sprintf("its pod moved to node %s", pod.Spec.NodeName)
	case pod.Status.PodIP != in.ip:
		return fmt.Sprintf("its pod's IP changed to %q", pod.Status.PodIP)
	}
	return "the runtime stops"
}

// start reserves pod's data directory and starts its server there.
func (r *Runtime) start(ctx context.Context, k key, pod *corev1.Pod) error {
	id, ephemeral, err := identity(pod)
	if err != nil {
		r.fail(ctx, pod, err)
		return err
	}
	in := &instance{key: k, dir: filepath.Join(r.opts.StateDir, pod.Namespace, id), ephemeral: ephemeral,
		pod: pod, uid: pod.UID, node: pod.Spec.NodeName, ip: pod.Status.PodIP}
	r.mu.Lock()
	if other := r.byDir[in.dir]; other != nil {
		r.mu.Unlock()
		// Its pod's sync stops it, if its pod is gone; this one waits for that.
		r.queue.Add(other.key)
		err := fmt.Errorf("data directory %s is the server's of pod %s: waiting for it to stop", in.dir, other.key.pod())
		r.fail(ctx, pod, err)
		return err
	}
	r.byDir[in.dir], r.byPod[k.pod()] = in, in
	r.mu.Unlock()
	if err := r.launch(ctx, in); err != nil {
		r.mu.Lock()
		delete(r.byDir, in.dir)
		delete(r.byPod, k.pod())
		r.mu.Unlock()
		r.fail(ctx, pod, err)
		return err
	}
	return r.setup(ctx, in)
}

// launch starts in's server in its pod's group under its node's.
func (r *Runtime) launch(ctx context.Context, in *instance) error {
	logger := klog.FromContext(ctx)
	pod := in.pod
	node, err := r.nodes.Get(in.node)
	if err != nil {
		return fmt.Errorf("node %s of the pod: %w", in.node, err)
	}
	quota, err := allocatableMilli(node)
	if err != nil {
		return err
	}
	nodeGroup, err := r.opts.Cgroups.Node(node.Name, quota)
	if err != nil {
		return err
	}
	limit := cpuLimitMilli(pod)
	group, err := nodeGroup.Pod(string(pod.UID), limit)
	if err != nil {
		return err
	}
	in.group = group
	if err := os.MkdirAll(in.dir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if err := writeRecord(in); err != nil {
		return err
	}
	opts := append(append([]pgserver.Option(nil), r.opts.ServerOptions...),
		pgserver.WithDir(in.dir), pgserver.WithListenAddress(in.ip), pgserver.WithPort(r.opts.Port),
		pgserver.WithPasswords(r.opts.SuperuserPassword, r.opts.MonitorPassword), pgserver.WithCommandPrefix(group.Prefix()))
	s, err := pgserver.Start(ctx, opts...)
	if err != nil {
		if rmErr := group.Remove(ctx, groupRemoveTimeout); rmErr != nil {
			logger.Error(rmErr, "Removing the group of a server that did not start", "pod", klog.KObj(pod))
		}
		return err
	}
	r.mu.Lock()
	in.server = s
	r.mu.Unlock()
	logger.Info("Started PostgreSQL", "pod", klog.KObj(pod), "node", in.node, "address", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		"dataDir", in.dir, "created", s.Created, "ephemeral", in.ephemeral, "cgroup", group.Path(),
		"cpuLimitMilli", group.QuotaMilli(), "nodeQuotaMilli", nodeGroup.QuotaMilli(), "postmaster", s.PID())
	r.event(pod, corev1.EventTypeNormal, ReasonStarted, "Start",
		"PostgreSQL serves on %s:%d from %s (new: %t) in cgroup %s (CPU limit %s, node quota %dm)",
		s.Host, s.Port, in.dir, s.Created, group.Path(), milliString(group.QuotaMilli()), nodeGroup.QuotaMilli())
	return nil
}

func milliString(m int64) string {
	if m == 0 {
		return "none"
	}
	return strconv.FormatInt(m, 10) + "m"
}

// check keeps a started server running: it starts one that ended by itself again, and runs
// Setup if it has not succeeded yet.
func (r *Runtime) check(ctx context.Context, in *instance, pod *corev1.Pod) error {
	r.mu.Lock()
	in.pod = pod
	s := in.server
	r.mu.Unlock()
	if s.PID() == 0 {
		klog.FromContext(ctx).Info("Server ended by itself; starting it again", "pod", klog.KObj(pod), "dataDir", in.dir)
		if err := s.StartAgain(ctx); err != nil {
			r.fail(ctx, pod, err)
			return err
		}
		r.event(pod, corev1.EventTypeNormal, ReasonStarted, "Start", "PostgreSQL had ended by itself; serves again on %s:%d", s.Host, s.Port)
	}
	return r.setup(ctx, in)
}

// setup runs Options.Setup on a data directory that has not had it.
func (r *Runtime) setup(ctx context.Context, in *instance) error {
	marker := filepath.Join(in.dir, setupDoneFile)
	if r.opts.Setup == nil {
		r.setReady(in)
		return nil
	}
	if _, err := os.Stat(marker); err == nil {
		r.setReady(in)
		return nil
	}
	if err := r.opts.Setup(ctx, in.pod, in.server); err != nil {
		err = fmt.Errorf("setup: %w", err)
		r.fail(ctx, in.pod, err)
		return err
	}
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return fmt.Errorf("recording the setup of %s: %w", in.dir, err)
	}
	r.setReady(in)
	return nil
}

func (r *Runtime) setReady(in *instance) {
	r.mu.Lock()
	in.ready = true
	r.mu.Unlock()
}

// stop stops in's server (fast, immediate after StopTimeout), kills what is left in its pod's
// group, removes the group and, for an ephemeral identity, the data directory. Only then is the
// data directory free for another server.
func (r *Runtime) stop(ctx context.Context, in *instance, why string) error {
	logger := klog.FromContext(ctx)
	var errs []error
	if in.server != nil {
		if err := in.server.Shutdown(ctx, r.opts.StopTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if in.group != nil {
		// What is left in the pod's group is the server's: a kubelet kills it too.
		if err := killAll(in.group); err != nil {
			errs = append(errs, err)
		}
		if err := in.group.Remove(ctx, groupRemoveTimeout); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		err = fmt.Errorf("stopping the server in %s: %w", in.dir, err)
		r.fail(ctx, in.pod, err)
		return err
	}
	if in.ephemeral {
		if in.server != nil {
			in.server.Close() // stopped: removes the directory and its socket directory
		}
		if err := os.RemoveAll(in.dir); err != nil {
			return fmt.Errorf("removing the ephemeral data directory %s: %w", in.dir, err)
		}
	}
	r.mu.Lock()
	if r.byDir[in.dir] == in {
		delete(r.byDir, in.dir)
	}
	if r.byPod[in.key.pod()] == in {
		delete(r.byPod, in.key.pod())
	}
	nodes := r.nodes
	r.mu.Unlock()
	if nodes != nil {
		if _, err := nodes.Get(in.node); apierrors.IsNotFound(err) {
			r.queue.Add(key{node: in.node}) // its group may go now
		}
	}
	logger.Info("Stopped PostgreSQL", "pod", klog.KObj(in.pod), "node", in.node, "dataDir", in.dir, "why", why,
		"dataDirRemoved", in.ephemeral)
	r.event(in.pod, corev1.EventTypeNormal, ReasonStopped, "Stop", "PostgreSQL on %s stopped: %s%s", in.ip, why,
		map[bool]string{true: "; its ephemeral data directory is removed", false: ""}[in.ephemeral])
	return nil
}

// killAll sends SIGKILL to every process in g.
func killAll(g *nodecgroup.Group) error {
	pids, err := g.PIDs()
	if err != nil {
		return err
	}
	for _, pid := range pids {
		if p, err := os.FindProcess(pid); err == nil {
			_ = p.Kill()
		}
	}
	return nil
}

// syncNode keeps a node's group quota at its allocatable CPU while it has servers, and removes
// the group of a deleted node that has none.
func (r *Runtime) syncNode(ctx context.Context, name string) error {
	node, err := r.nodes.Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	r.mu.Lock()
	servers := 0
	for _, in := range r.byPod {
		if in.node == name {
			servers++
		}
	}
	r.mu.Unlock()
	if node != nil {
		if servers == 0 {
			return nil // its group gets the new quota when a server starts there
		}
		quota, err := allocatableMilli(node)
		if err != nil {
			return err
		}
		_, err = r.opts.Cgroups.Node(name, quota)
		return err
	}
	if servers > 0 {
		return nil // their pods' syncs stop them first, and come back here
	}
	groups, err := r.opts.Cgroups.Nodes()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if g.Node() == name {
			return g.Remove(ctx, groupRemoveTimeout)
		}
	}
	return nil
}

func (r *Runtime) fail(ctx context.Context, pod *corev1.Pod, err error) {
	klog.FromContext(ctx).Error(err, "Pod's server failed", "pod", klog.KObj(pod))
	r.event(pod, corev1.EventTypeWarning, ReasonRuntimeFailed, "Start", "%v", err)
}

func (r *Runtime) event(pod *corev1.Pod, eventType, reason, action, note string, args ...any) {
	r.mu.Lock()
	rec := r.recorder
	r.mu.Unlock()
	if rec == nil || pod == nil {
		return
	}
	// A note is at most 1 kB.
	msg := fmt.Sprintf(note, args...)
	if len(msg) > 1000 {
		msg = msg[:997] + "..."
	}
	rec.Eventf(pod, nil, eventType, reason, action, "%s", msg)
}

// Server returns the running server of pod namespace/name, once Options.Setup has succeeded on
// its data directory.
func (r *Runtime) Server(namespace, name string) (*pgserver.Server, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.byPod[namespace+"/"+name]
	if in == nil || !in.ready {
		return nil, false
	}
	return in.server, true
}

// PodGroup returns the cgroup the server of pod namespace/name runs in.
func (r *Runtime) PodGroup(namespace, name string) (*nodecgroup.Group, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.byPod[namespace+"/"+name]
	if in == nil || !in.ready || in.group == nil {
		return nil, false
	}
	return in.group, true
}

// WaitServing waits until pod namespace/name's server accepts connections on the pod's current
// IP (as the API server has it: a moved pod's new one), Options.Setup having succeeded, and
// returns it. ctx bounds the wait.
func (r *Runtime) WaitServing(ctx context.Context, namespace, name string) (*pgserver.Server, error) {
	var s *pgserver.Server
	var last string
	err := wait.PollUntilContextCancel(ctx, 200*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		pod, err := r.opts.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		r.mu.Lock()
		in := r.byPod[namespace+"/"+name]
		var server *pgserver.Server
		if in != nil && in.ready && in.matches(pod) {
			server = in.server
		}
		r.mu.Unlock()
		if server == nil {
			last = fmt.Sprintf("no server for pod UID %s on %s (IP %q, phase %s)", pod.UID, pod.Spec.NodeName, pod.Status.PodIP, pod.Status.Phase)
			return false, nil
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort(server.Host, strconv.Itoa(server.Port)), 2*time.Second)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		c.Close()
		s = server
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: no server accepting connections on its IP: %s: %w", namespace, name, last, err)
	}
	return s, nil
}

// StopAll stops every server (those of a runtime that is no longer running too) and removes
// every group of Options.Cgroups and the ephemeral data directories; the others stay. Nothing is
// started afterwards: the end of a study or demo. Events are recorded only while Run runs.
func (r *Runtime) StopAll(ctx context.Context) error {
	logger := klog.FromContext(ctx).WithName("podruntime")
	ctx = klog.NewContext(ctx, logger)
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.queue.ShutDown()
	r.workers.Wait()

	r.mu.Lock()
	var all []*instance
	for _, in := range r.byPod {
		all = append(all, in)
	}
	r.mu.Unlock()
	var errs []error
	for _, in := range all {
		if err := r.stop(ctx, in, "the runtime stops every server"); err != nil {
			errs = append(errs, err)
		}
	}
	// Servers of an earlier runtime that this one never adopted.
	recs, err := r.records()
	errs = append(errs, err)
	for _, rec := range recs {
		s, err := pgserver.Adopt(ctx, rec.dir, r.opts.ServerOptions...)
		if errors.Is(err, pgserver.ErrNotRunning) {
			if rec.Ephemeral {
				errs = append(errs, os.RemoveAll(rec.dir))
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, r.stop(ctx, rec.instance(s, r.findPodGroup(rec.Node, rec.UID)), "the runtime stops every server"))
	}
	errs = append(errs, r.opts.Cgroups.Remove(ctx, groupRemoveTimeout))
	return errors.Join(errs...)
}
