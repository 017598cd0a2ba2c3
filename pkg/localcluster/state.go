package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/klog/v2"
)

// stateFile, in StateDir, records what a cluster runs so that another process (make local-down,
// a later Start after a crash) can find and stop it.
const stateFile = "cluster.json"

// stateVersion changes when the format of stateFile does.
const stateVersion = 1

// errNotACluster marks a StateDir that holds something other than a cluster's state.
var errNotACluster = errors.New("not a local cluster's state directory")

// state is the content of stateFile.
type state struct {
	Version  int        `json:"version"`
	Slot     int        `json:"slot"`
	Server   string     `json:"server,omitempty"`
	Detached bool       `json:"detached"`
	Ports    ports      `json:"ports"`
	Procs    []*process `json:"processes"`
}

// ports are the TCP ports on 127.0.0.1 the cluster listens on.
type ports struct {
	EtcdClient        int `json:"etcdClient,omitempty"`
	EtcdPeer          int `json:"etcdPeer,omitempty"`
	APIServer         int `json:"apiServer,omitempty"`
	ControllerManager int `json:"controllerManager,omitempty"`
	KWOK              int `json:"kwok,omitempty"`
}

// save writes the state atomically.
func (s *state) save(stateDir string) error {
	s.Version = stateVersion
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(stateDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(stateDir, stateFile))
}

// loadState reads stateDir's state; the error wraps os.ErrNotExist when there is none.
func loadState(stateDir string) (*state, error) {
	data, err := os.ReadFile(filepath.Join(stateDir, stateFile))
	if err != nil {
		return nil, err
	}
	s := &state{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, stateFile), err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%s: format version %d, want %d", filepath.Join(stateDir, stateFile), s.Version, stateVersion)
	}
	return s, nil
}

// stopRecorded stops every live process stateDir's state records, newest first. Processes
// that already exited, and pids since reused by other programs, are left alone.
func stopRecorded(ctx context.Context, stateDir string) error {
	s, err := loadState(stateDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for i := len(s.Procs) - 1; i >= 0; i-- {
		p := s.Procs[i]
		p.done = nil // not our child (or, if it is, alive() still tells the truth)
		if !p.alive() {
			continue
		}
		klog.FromContext(ctx).V(1).Info("Stopping", "process", p.Name, "pid", p.PID)
		errs = append(errs, p.stop(stopGrace))
	}
	return errors.Join(errs...)
}

// prepareStateDir makes dir an empty directory for a new cluster. An earlier cluster's
// directory (it has a stateFile) is emptied after its processes are stopped; any other
// non-empty directory is refused, so a mistyped path cannot wipe unrelated files.
func prepareStateDir(ctx context.Context, dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("options.StateDir %s: not empty and %w (no %s); refusing to remove its contents", dir, errNotACluster, stateFile)
	}
	if err := stopRecorded(ctx, dir); err != nil {
		return fmt.Errorf("stopping the cluster left in %s: %w", dir, err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
