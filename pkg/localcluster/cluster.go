package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// Directories inside StateDir.
const (
	logsDir = "logs"
	pkiDir  = "pki"
)

// Cluster is a running local cluster: etcd, kube-apiserver, kube-controller-manager and KWOK
// on 127.0.0.1. There is no scheduler: pods stay Pending until something binds them (the
// scheduler under test) or they are created with spec.nodeName. Its methods are safe for
// concurrent use.
type Cluster struct {
	opts         Options
	tools        tools
	stateDir     string
	ownsStateDir bool // Start made a temporary StateDir
	detached     bool
	slot         int
	slotLock     *os.File // nil when attached: the processes hold the lock
	pki          *pki
	ports        ports
	server       string
	procs        []*process
	restConfig   *rest.Config
	client       kubernetes.Interface
	httpsClient  *http.Client

	mu            sync.Mutex // guards lastNodeIndex and stopped
	lastNodeIndex int
	stopped       bool
}

// Start starts a new cluster and returns once it serves and its opts.Nodes nodes are Ready.
// A failure names the process that failed, quotes the end of its log, and leaves StateDir in
// place for a look at the logs.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	begin := time.Now()
	logger := klog.FromContext(ctx)
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	t, err := findTools(opts.ToolsDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, tools: t, detached: opts.Detach}
	if opts.StateDir == "" {
		if c.stateDir, err = os.MkdirTemp("", "likewise-cluster-"); err != nil {
			return nil, err
		}
		c.ownsStateDir = true
	} else {
		c.stateDir = opts.StateDir
		if err := prepareStateDir(ctx, c.stateDir); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		stopErr := c.stopProcesses()
		c.releaseSlot()
		return nil, errors.Join(fmt.Errorf("starting the local cluster (state and logs kept in %s): %w", c.stateDir, err), stopErr)
	}
	if c.detached {
		// The processes hold the slot now; it must not stay locked after StopDetached.
		c.releaseSlot()
	}
	logger.Info("Local cluster is up", "server", c.server, "stateDir", c.stateDir, "loopbackBlock", c.LoopbackBlock(),
		"nodes", opts.Nodes, "detached", c.detached, "duration", time.Since(begin).Round(time.Millisecond))
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	var err error
	if c.slot, c.slotLock, err = lockSlot(); err != nil {
		return err
	}
	if err := c.saveState(); err != nil { // marks StateDir as a cluster's from now on
		return err
	}
	if c.pki, err = newPKI(filepath.Join(c.stateDir, pkiDir)); err != nil {
		return err
	}
	if c.httpsClient, err = newHTTPSClient(c.pki.caPEM); err != nil {
		return err
	}
	for _, comp := range []component{c.etcd(), c.apiServer(), c.controllerManager(), c.kwok()} {
		if err := c.launch(ctx, comp); err != nil {
			return err
		}
	}
	if err := c.saveState(); err != nil {
		return err
	}
	if c.opts.Nodes > 0 {
		if _, err := c.AddNodes(ctx, make([]NodeSpec, c.opts.Nodes)); err != nil {
			return err
		}
	}
	return nil
}

// Attach returns the cluster running in stateDir (one started with Detach, typically by make
// local-up) if all its processes run and its API server is ready. Stop on the result stops it.
func Attach(ctx context.Context, stateDir string) (*Cluster, error) {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, err
	}
	s, err := loadState(dir)
	if err != nil {
		return nil, fmt.Errorf("no cluster in %s: %w", dir, err)
	}
	c := &Cluster{stateDir: dir, detached: s.Detached, slot: s.Slot, ports: s.Ports, server: s.Server, procs: s.Procs}
	c.opts = Options{StateDir: dir, Detach: s.Detached, NodeCapacity: DefaultNodeCapacity()}
	// The control plane must run in full; components (StartComponent) may have ended, and are
	// replaced when started again.
	controlPlane := 0
	for _, p := range c.procs {
		if !isControlPlane(p.Name) {
			continue
		}
		controlPlane++
		if !p.alive() {
			return nil, fmt.Errorf("the cluster in %s is not running: %s (pid %d) is gone; see %s", dir, p.Name, p.PID, p.Log)
		}
	}
	if want := 4; controlPlane != want {
		return nil, fmt.Errorf("the cluster in %s did not finish starting (%d of %d control-plane processes recorded)", dir, controlPlane, want)
	}
	if c.pki, err = loadPKI(filepath.Join(dir, pkiDir)); err != nil {
		return nil, err
	}
	if c.httpsClient, err = newHTTPSClient(c.pki.caPEM); err != nil {
		return nil, err
	}
	if err := c.loadAdminClient(); err != nil {
		return nil, err
	}
	body, err := c.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		return nil, fmt.Errorf("the API server of the cluster in %s is not ready: %s %v", dir, body, err)
	}
	return c, nil
}

// AttachOrStart returns the detached cluster running in opts.StateDir (see Attach), or starts a
// detached one there, clearing what a crashed one left. reused says which happened.
func AttachOrStart(ctx context.Context, opts Options) (c *Cluster, reused bool, err error) {
	if opts.StateDir == "" {
		return nil, false, errors.New("AttachOrStart needs Options.StateDir")
	}
	c, err = Attach(ctx, opts.StateDir)
	if err == nil {
		return c, true, nil
	}
	klog.FromContext(ctx).V(1).Info("No running cluster to reuse; starting one", "reason", err)
	opts.Detach = true
	c, err = Start(ctx, opts)
	return c, false, err
}

// Stop stops every process of the cluster (SIGTERM, SIGKILL after 10 s) and, unless
// Options.KeepState, removes StateDir. Calling it again does nothing.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	err := c.stopProcesses()
	c.releaseSlot()
	if err != nil || c.opts.KeepState {
		return err
	}
	if c.ownsStateDir {
		return os.RemoveAll(c.stateDir)
	}
	return removeContents(c.stateDir)
}

// StopDetached stops the cluster a detached Start left in stateDir and removes the state. It
// succeeds when there is nothing to stop, so it can always be run (make local-down); it
// refuses a non-empty directory that holds no cluster state.
func StopDetached(ctx context.Context, stateDir string) error {
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return os.Remove(dir)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("%s: %w (no %s); not removing it", dir, errNotACluster, stateFile)
	}
	if err := stopRecorded(ctx, dir); err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// stopProcesses stops the processes newest first: KWOK and the controllers before the API
// server, the API server before etcd.
func (c *Cluster) stopProcesses() error {
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		errs = append(errs, c.procs[i].stop(stopGrace))
	}
	return errors.Join(errs...)
}

func (c *Cluster) releaseSlot() {
	if c.slotLock != nil {
		c.slotLock.Close()
		c.slotLock = nil
	}
}

func (c *Cluster) saveState() error {
	return (&state{Slot: c.slot, Server: c.server, Detached: c.detached, Ports: c.ports, Procs: c.procs}).save(c.stateDir)
}

func (c *Cluster) loadAdminClient() error {
	cfg, err := restConfigFromKubeconfig(c.KubeconfigPath())
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c.restConfig, c.client = cfg, client
	return nil
}

func removeContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// Server is the API server's URL, https://127.0.0.1:<port>.
func (c *Cluster) Server() string { return c.server }

// StateDir is the directory holding the cluster's state (see docs/local-cluster.md).
func (c *Cluster) StateDir() string { return c.stateDir }

// LogsDir holds one <process>.log per process.
func (c *Cluster) LogsDir() string { return filepath.Join(c.stateDir, logsDir) }

// LoopbackBlock is the cluster's 127.<slot>.0.0/16, which holds every node and pod IP it hands
// out and no other cluster's.
func (c *Cluster) LoopbackBlock() netip.Prefix { return slotBlock(c.slot) }

// KubeconfigPath is the admin kubeconfig, <StateDir>/kubeconfig.
func (c *Cluster) KubeconfigPath() string { return kubeconfigPath(c.stateDir, Admin) }

// KubeconfigFor is the path of the kubeconfig of id.
func (c *Cluster) KubeconfigFor(id Identity) (string, error) {
	if _, ok := identities[id]; !ok {
		return "", fmt.Errorf("unknown identity %q", id)
	}
	return kubeconfigPath(c.stateDir, id), nil
}

// RESTConfig returns a new copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.restConfig) }

// Client is a clientset with admin rights.
func (c *Cluster) Client() kubernetes.Interface { return c.client }

// RESTConfigFor returns a new client configuration authenticating as id.
func (c *Cluster) RESTConfigFor(id Identity) (*rest.Config, error) {
	path, err := c.KubeconfigFor(id)
	if err != nil {
		return nil, err
	}
	return restConfigFromKubeconfig(path)
}

// RESTConfigForUser returns a client configuration with a new client certificate for user in
// groups, for tests of RBAC rules: the user has exactly the rights bound to it or its groups.
func (c *Cluster) RESTConfigForUser(user string, groups ...string) (*rest.Config, error) {
	certPEM, keyPEM, err := c.pki.issueClient(user, groups)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.NewDefaultClientConfig(*kubeconfig(c.server, c.pki.caPEM, certPEM, keyPEM), nil).ClientConfig()
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = c.restConfig.QPS, c.restConfig.Burst
	return cfg, nil
}

// CreateNamespace creates a namespace named generateName plus a random suffix and waits until
// its default ServiceAccount exists, without which the API server refuses pods.
func (c *Cluster) CreateNamespace(ctx context.Context, generateName string) (*corev1.Namespace, error) {
	ns, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: generateName},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating namespace %s*: %w", generateName, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		return defaultServiceAccountExists(ctx, c.client, ns.Name) == nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("namespace %s: no default ServiceAccount (see %s): %w", ns.Name, c.logPath(binKubeControllerManager), err)
	}
	return ns, nil
}
