package localcluster

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// EnvToolsDir overrides where the cluster binaries are looked for.
const EnvToolsDir = "LIKEWISE_TOOLS_DIR"

// modulePath identifies the repository root while walking up from the working directory.
const modulePath = "github.com/likewise-dev/likewise"

// missingHint ends every "binary not found" error so the reader knows how to fix it.
const missingHint = "run `make cluster-binaries` (or set " + EnvToolsDir + " to a directory holding them)"

// Binary names inside ToolsDir, and the directory of KWOK's Stage configs that
// hack/build-kwok.sh copies from the KWOK module.
const (
	binEtcd                  = "etcd"
	binKubeAPIServer         = "kube-apiserver"
	binKubeControllerManager = "kube-controller-manager"
	binKWOK                  = "kwok"
	dirKWOKStages            = "kwok-stages"
)

// DefaultStartTimeout bounds Start when Options.StartTimeout is zero.
const DefaultStartTimeout = 3 * time.Minute

// Options configure Start. The zero value is a valid configuration.
type Options struct {
	// ToolsDir holds etcd, kube-apiserver, kube-controller-manager, kwok and kwok-stages/.
	// Default: $LIKEWISE_TOOLS_DIR, else <repository root>/_output/bin, where the repository
	// root is the nearest parent of the working directory whose go.mod is this module's.
	ToolsDir string

	// StateDir receives certificates, kubeconfigs, etcd's data and the logs. Default: a new
	// temporary directory. Start wipes a StateDir that holds an earlier cluster (stopping its
	// processes first) and refuses a non-empty directory that holds none.
	StateDir string

	// Nodes is how many KWOK nodes Start creates (named node-1, node-2, ...) with NodeCapacity.
	Nodes int

	// NodeCapacity is the capacity (and allocatable) of nodes whose NodeSpec sets none.
	// Default: DefaultNodeCapacity(). Missing resources are taken from the default.
	NodeCapacity corev1.ResourceList

	// Detach starts the processes in their own sessions without a parent-death signal, so they
	// outlive the caller (make local-up). Stop them with StopDetached(StateDir).
	Detach bool

	// KeepState makes Stop leave StateDir (logs, etcd data) in place.
	KeepState bool

	// StartTimeout bounds how long Start waits for every process to become ready.
	// Default: DefaultStartTimeout.
	StartTimeout time.Duration

	// Verbosity is the --v level of kube-apiserver and kube-controller-manager. Default 0.
	Verbosity int
}

// DefaultNodeCapacity is the capacity of a node that states none: 8 CPUs, 32Gi memory, 110 pods
// (the kubelet's default pod limit), 100Gi ephemeral storage.
func DefaultNodeCapacity() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("8"),
		corev1.ResourceMemory:           resource.MustParse("32Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// withDefaults returns a copy of o with every unset field defaulted and the directories made
// absolute. It creates no directory.
func (o Options) withDefaults() (Options, error) {
	if o.Nodes < 0 {
		return o, fmt.Errorf("options.Nodes: %d is negative", o.Nodes)
	}
	if o.Nodes > maxNodes {
		return o, fmt.Errorf("options.Nodes: %d is more than the %d nodes a cluster can hold", o.Nodes, maxNodes)
	}
	if o.StartTimeout < 0 {
		return o, fmt.Errorf("options.StartTimeout: %v is negative", o.StartTimeout)
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	capacity := DefaultNodeCapacity()
	for name, q := range o.NodeCapacity {
		capacity[name] = q.DeepCopy()
	}
	o.NodeCapacity = capacity

	if o.ToolsDir == "" {
		dir, err := ToolsDir()
		if err != nil {
			return o, err
		}
		o.ToolsDir = dir
	}
	dir, err := filepath.Abs(o.ToolsDir)
	if err != nil {
		return o, fmt.Errorf("options.ToolsDir %q: %w", o.ToolsDir, err)
	}
	o.ToolsDir = dir
	if o.StateDir != "" {
		dir, err := filepath.Abs(o.StateDir)
		if err != nil {
			return o, fmt.Errorf("options.StateDir %q: %w", o.StateDir, err)
		}
		o.StateDir = dir
	}
	return o, nil
}

// ToolsDir is where make puts the binaries tests run: $LIKEWISE_TOOLS_DIR, else
// <repository root>/_output/bin.
func ToolsDir() (string, error) {
	if dir := os.Getenv(EnvToolsDir); dir != "" {
		return dir, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", fmt.Errorf("finding the cluster binaries: %w; set %s or Options.ToolsDir", err, EnvToolsDir)
	}
	return filepath.Join(root, "_output", "bin"), nil
}

// RepoRoot returns the nearest parent of the working directory (itself included) whose go.mod
// declares this module.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isModuleRoot(dir) {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("no parent of %s holds the go.mod of %s", wd, modulePath)
		}
	}
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == modulePath
		}
	}
	return false
}

// tools are the absolute paths of the programs and files Start runs.
type tools struct {
	etcd, apiServer, controllerManager, kwok string
	kwokStages                               []string
}

// findTools checks that ToolsDir holds everything, and names all that is missing at once.
func findTools(dir string) (tools, error) {
	t := tools{
		etcd:              filepath.Join(dir, binEtcd),
		apiServer:         filepath.Join(dir, binKubeAPIServer),
		controllerManager: filepath.Join(dir, binKubeControllerManager),
		kwok:              filepath.Join(dir, binKWOK),
	}
	var missing []string
	for _, p := range []string{t.etcd, t.apiServer, t.controllerManager, t.kwok} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, filepath.Base(p))
		}
	}
	stages, _ := filepath.Glob(filepath.Join(dir, dirKWOKStages, "*.yaml"))
	if len(stages) == 0 {
		missing = append(missing, dirKWOKStages+"/*.yaml")
	}
	t.kwokStages = stages
	if len(missing) > 0 {
		return t, fmt.Errorf("%s lacks %s: %s", dir, strings.Join(missing, ", "), missingHint)
	}
	return t, nil
}
