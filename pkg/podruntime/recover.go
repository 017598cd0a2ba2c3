package podruntime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
)

// record is what a data directory's last server ran for, so that a restarted runtime can tell
// whether that server still belongs.
type record struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid"`
	Node      string    `json:"node"`
	IP        string    `json:"ip"`
	Ephemeral bool      `json:"ephemeral"`

	dir string
}

func writeRecord(in *instance) error {
	b, err := json.Marshal(record{Namespace: in.pod.Namespace, Name: in.pod.Name, UID: in.uid, Node: in.node, IP: in.ip, Ephemeral: in.ephemeral})
	if err != nil {
		return err
	}
	path := filepath.Join(in.dir, recordFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("recording the pod of %s: %w", in.dir, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("recording the pod of %s: %w", in.dir, err)
	}
	return nil
}

// records reads the record of every data directory under StateDir (Options.Namespace's only,
// when set).
func (r *Runtime) records() ([]record, error) {
	pattern := filepath.Join(r.opts.StateDir, "*", "*", recordFile)
	if r.opts.Namespace != "" {
		pattern = filepath.Join(r.opts.StateDir, r.opts.Namespace, "*", recordFile)
	}
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, err
	}
	var recs []record
	var errs []error
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil || rec.Name == "" || rec.UID == "" {
			errs = append(errs, fmt.Errorf("%s: not a pod record (%v)", p, err))
			continue
		}
		rec.dir = filepath.Dir(p)
		recs = append(recs, rec)
	}
	return recs, errors.Join(errs...)
}

// pod is a stand-in for the record's pod, for events and logs once the pod is gone.
func (rec record) pod() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: rec.Namespace, Name: rec.Name, UID: rec.UID}}
}

func (rec record) instance(s *pgserver.Server, group *nodecgroup.Group) *instance {
	return &instance{key: key{namespace: rec.Namespace, name: rec.Name}, dir: rec.dir, ephemeral: rec.Ephemeral,
		pod: rec.pod(), uid: rec.UID, node: rec.Node, ip: rec.IP, server: s, group: group}
}

// findPodGroup returns the existing group of pod uid on node, or nil.
func (r *Runtime) findPodGroup(node string, uid types.UID) *nodecgroup.Group {
	nodes, err := r.opts.Cgroups.Nodes()
	if err != nil {
		return nil
	}
	for _, n := range nodes {
		if n.Node() != node {
			continue
		}
		pods, err := n.Pods()
		if err != nil {
			return nil
		}
		for _, p := range pods {
			if p.PodUID() == string(uid) {
				return p
			}
		}
	}
	return nil
}

// recoverServers looks at the servers an earlier runtime left running in StateDir: it adopts
// those whose pods still run on the same node and IP, inside their pod's group, and stops the
// others. An ephemeral directory whose pod is gone is removed, running or not.
func (r *Runtime) recoverServers(ctx context.Context) {
	logger := klog.FromContext(ctx)
	recs, err := r.records()
	if err != nil {
		logger.Error(err, "Reading the records of the data directories")
	}
	for _, rec := range recs {
		pod, err := r.pods.Pods(rec.Namespace).Get(rec.Name)
		if err != nil && !apierrors.IsNotFound(err) {
			logger.Error(err, "Looking up a data directory's pod", "dataDir", rec.dir)
			continue
		}
		if err != nil || pod.UID != rec.UID {
			pod = nil // the record's pod is gone
		}
		s, err := pgserver.Adopt(ctx, rec.dir, r.opts.ServerOptions...)
		if errors.Is(err, pgserver.ErrNotRunning) {
			if rec.Ephemeral && pod == nil {
				if err := os.RemoveAll(rec.dir); err != nil {
					logger.Error(err, "Removing an ephemeral data directory whose pod is gone", "dataDir", rec.dir)
				}
			}
			continue
		}
		if err != nil {
			logger.Error(err, "Adopting a server", "dataDir", rec.dir)
			continue
		}
		in, why := r.adoptable(rec, pod, s)
		if in != nil {
			// Setup, if it has not succeeded yet, is left to the pod's sync.
			_, err := os.Stat(filepath.Join(in.dir, setupDoneFile))
			in.ready = r.opts.Setup == nil || err == nil
			r.mu.Lock()
			r.byPod[in.key.pod()], r.byDir[in.dir] = in, in
			r.mu.Unlock()
			logger.Info("Adopted PostgreSQL", "pod", klog.KObj(pod), "node", in.node, "address", s.Host,
				"dataDir", in.dir, "postmaster", s.PID(), "cgroup", in.group.Path())
			continue
		}
		in = rec.instance(s, r.findPodGroup(rec.Node, rec.UID))
		if pod != nil {
			in.pod = pod
		}
		if err := r.stop(ctx, in, why); err != nil {
			logger.Error(err, "Stopping a server whose pod no longer wants it", "dataDir", rec.dir)
		}
	}
	if r.opts.Namespace == "" {
		r.removeStrayGroups(ctx)
	}
}

// adoptable returns the instance of a running server if its pod still wants it as it runs, or
// why not.
func (r *Runtime) adoptable(rec record, pod *corev1.Pod, s *pgserver.Server) (*instance, string) {
	if pod == nil {
		return nil, "its pod was deleted while the runtime was down"
	}
	if ok, _ := want(pod); !ok {
		return nil, "its pod no longer runs"
	}
	if pod.Spec.NodeName != rec.Node || pod.Status.PodIP != rec.IP || s.Host != rec.IP || s.Port != r.opts.Port {
		return nil, fmt.Sprintf("its pod runs on %s, %s now", pod.Spec.NodeName, pod.Status.PodIP)
	}
	id, ephemeral, err := identity(pod)
	if err != nil || filepath.Join(r.opts.StateDir, pod.Namespace, id) != rec.dir || ephemeral != rec.Ephemeral {
		return nil, "its pod's identity names another data directory"
	}
	node, err := r.nodes.Get(rec.Node)
	if err != nil {
		return nil, fmt.Sprintf("its node %s: %v", rec.Node, err)
	}
	quota, err := allocatableMilli(node)
	if err != nil {
		return nil, err.Error()
	}
	nodeGroup, err := r.opts.Cgroups.Node(rec.Node, quota)
	if err != nil {
		return nil, err.Error()
	}
	group, err := nodeGroup.Pod(string(pod.UID), cpuLimitMilli(pod))
	if err != nil {
		return nil, err.Error()
	}
	if in, err := group.Contains(s.PID()); err != nil || !in {
		return nil, fmt.Sprintf("its postmaster %d is not in the pod's group %s", s.PID(), group.Path())
	}
	in := rec.instance(s, group)
	in.pod = pod
	return in, ""
}

// removeStrayGroups removes the empty pod groups no server of this runtime uses (a runtime that
// crashed between creating a group and starting its server leaves one).
func (r *Runtime) removeStrayGroups(ctx context.Context) {
	logger := klog.FromContext(ctx)
	nodes, err := r.opts.Cgroups.Nodes()
	if err != nil {
		logger.Error(err, "Listing the node groups")
		return
	}
	r.mu.Lock()
	used := map[string]bool{}
	for _, in := range r.byPod {
		used[string(in.uid)] = true
	}
	r.mu.Unlock()
	for _, n := range nodes {
		pods, err := n.Pods()
		if err != nil {
			logger.Error(err, "Listing the pod groups", "node", n.Node())
			continue
		}
		for _, p := range pods {
			if used[p.PodUID()] {
				continue
			}
			if pids, err := p.PIDs(); err != nil || len(pids) > 0 {
				logger.Info("Leaving a pod group that holds processes of no server of the runtime", "cgroup", p.Path(), "pids", pids)
				continue
			}
			if err := p.Remove(ctx, groupRemoveTimeout); err != nil {
				logger.Error(err, "Removing a stray pod group", "cgroup", p.Path())
			}
		}
	}
}
