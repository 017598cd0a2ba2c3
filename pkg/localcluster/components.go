package localcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"sigs.k8s.io/yaml"
)

// EnvBinDir overrides where likewise's own binaries (make build) are looked for.
const EnvBinDir = "LIKEWISE_BIN_DIR"

// Component is one of likewise's own programs, run with the cluster as its control plane runs:
// logged to LogsDir()/<Name>.log, recorded in the state so Stop and StopDetached stop it, and
// detached when the cluster is.
type Component struct {
	// Name names the process and its log; starting a component of a name that runs already
	// replaces it.
	Name string
	// Binary is the program's path (see Binary).
	Binary string
	// Args returns the program's arguments, given a free port on 127.0.0.1 for it to serve on.
	Args func(port int) []string
	// Ready returns nil once the program serves on port.
	Ready func(ctx context.Context, port int) error
}

// Binary returns the path of a likewise binary built by `make build`: $LIKEWISE_BIN_DIR/<name>,
// else <repository root>/bin/<name>. A missing binary is an error saying how to build it.
func Binary(name string) (string, error) {
	dir := os.Getenv(EnvBinDir)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", fmt.Errorf("finding %s: %w; set %s", name, err, EnvBinDir)
		}
		dir = filepath.Join(root, "bin")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s: %w: run `make build` (or set %s)", path, err, EnvBinDir)
	}
	return path, nil
}

// StartComponent starts comp and waits until it is ready; a failure quotes the end of its log.
func (c *Cluster) StartComponent(ctx context.Context, comp Component) error {
	if comp.Name == "" || comp.Binary == "" || comp.Args == nil || comp.Ready == nil {
		return fmt.Errorf("component %q: Name, Binary, Args and Ready are all required", comp.Name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("the cluster is stopped")
	}
	if err := c.stopComponent(comp.Name); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	return c.launch(ctx, component{
		name:   comp.Name,
		binary: comp.Binary,
		nPorts: 1,
		args:   func(p []int) []string { return comp.Args(p[0]) },
		ready:  func(ctx context.Context, p []int) error { return comp.Ready(ctx, p[0]) },
	})
}

// StopComponent stops the component of that name, if one runs.
func (c *Cluster) StopComponent(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopComponent(name)
}

func (c *Cluster) stopComponent(name string) error {
	for i, p := range c.procs {
		if p.Name != name {
			continue
		}
		if isControlPlane(name) {
			return fmt.Errorf("%s is part of the control plane, not a component", name)
		}
		err := p.stop(stopGrace)
		c.procs = append(c.procs[:i], c.procs[i+1:]...)
		return errors.Join(err, c.saveState())
	}
	return nil
}

func isControlPlane(name string) bool {
	switch name {
	case binEtcd, binKubeAPIServer, binKubeControllerManager, binKWOK:
		return true
	}
	return false
}

// SchedulerName is the component name StartScheduler gives likewise-scheduler.
const SchedulerName = "likewise-scheduler"

// StartScheduler runs bin/likewise-scheduler with the KubeSchedulerConfiguration in config,
// authenticating with kubeconfig, or, when it is "", as system:kube-scheduler (so it has exactly
// kube-scheduler's rights). The config's clientConnection.kubeconfig is set to it; everything
// else is used as given. flags are added to the command line (say, a deprecated flag with no
// config field). It returns once the scheduler reports ready.
func (c *Cluster) StartScheduler(ctx context.Context, config []byte, kubeconfig string, flags ...string) error {
	bin, err := Binary(SchedulerName)
	if err != nil {
		return err
	}
	if kubeconfig == "" {
		if kubeconfig, err = c.KubeconfigFor(KubeScheduler); err != nil {
			return err
		}
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(config, &cfg); err != nil {
		return fmt.Errorf("scheduler config: %w", err)
	}
	cc, _ := cfg["clientConnection"].(map[string]any)
	if cc == nil {
		cc = map[string]any{}
	}
	cc["kubeconfig"] = kubeconfig
	cfg["clientConnection"] = cc
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	path := filepath.Join(c.stateDir, SchedulerName+"-config.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return c.StartComponent(ctx, Component{
		Name:   SchedulerName,
		Binary: bin,
		Args: func(port int) []string {
			return append([]string{
				"--config=" + path,
				"--authentication-kubeconfig=" + kubeconfig,
				"--authorization-kubeconfig=" + kubeconfig,
				"--bind-address=" + bindAddress,
				"--secure-port=" + strconv.Itoa(port),
				"--v=3",
			}, flags...)
		},
		Ready: func(ctx context.Context, port int) error {
			return httpsReady(ctx, port)
		},
	})
}

// httpsReady checks /readyz of a component serving its own self-signed certificate on
// loopback: the check is about readiness, not identity.
func httpsReady(ctx context.Context, port int) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback readiness probe of a self-signed server
	body, err := httpGet(ctx, client, "https://"+hostPort(port)+"/readyz")
	if err != nil {
		return err
	}
	if body != "ok" {
		return fmt.Errorf("readyz: %s", body)
	}
	return nil
}

// RestartAPIServer kills kube-apiserver (SIGKILL, as a crash does: a graceful stop drains for
// longer than a scheduler's lease renewal allows) and starts it again on the same address, so
// clients keep their kubeconfigs and reconnect. It returns once the new one is ready.
func (c *Cluster) RestartAPIServer(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("the cluster is stopped")
	}
	for i, p := range c.procs {
		if p.Name != binKubeAPIServer {
			continue
		}
		if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing %s (pid %d): %w", binKubeAPIServer, p.PID, err)
		}
		if !p.waitGone(stopGrace) {
			return fmt.Errorf("%s (pid %d) survived SIGKILL for %v", binKubeAPIServer, p.PID, stopGrace)
		}
		c.procs = append(c.procs[:i], c.procs[i+1:]...)
		break
	}
	comp := c.apiServer()
	comp.fixedPorts = []int{c.ports.APIServer}
	ctx, cancel := context.WithTimeout(ctx, DefaultStartTimeout)
	defer cancel()
	return c.launch(ctx, comp)
}

// KillComponent kills the component of that name with SIGKILL, as a crash or an OOM kill does:
// no shutdown code of its runs. Nothing to do if none runs.
func (c *Cluster) KillComponent(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if isControlPlane(name) {
		return fmt.Errorf("%s is part of the control plane, not a component", name)
	}
	for i, p := range c.procs {
		if p.Name != name {
			continue
		}
		if err := syscall.Kill(-p.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing %s (pid %d): %w", name, p.PID, err)
		}
		if !p.waitGone(stopGrace) {
			return fmt.Errorf("%s (pid %d) survived SIGKILL for %v", name, p.PID, stopGrace)
		}
		c.procs = append(c.procs[:i], c.procs[i+1:]...)
		return c.saveState()
	}
	return nil
}
