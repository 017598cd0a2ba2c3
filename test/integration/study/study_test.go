// Package study runs `make study` in its short mode (study.ShortOptions: tiny data, phases of
// seconds) and checks its mechanism, never its numbers: every server's processes sit in its
// node's cgroup, a moved database keeps a row written before its move, the runtime stops the
// servers of pods that are gone, and the report has every field.
package study

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/scenario"
	"github.com/likewise-dev/likewise/pkg/study"
)

func TestStudyShort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	// Not t.TempDir: its parent is private to root, and the servers run as postgres.
	dir, err := os.MkdirTemp("", "likewise-study-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(dir)
		}
	})

	var progress bytes.Buffer
	o := study.ShortOptions()
	o.StateDir = dir
	o.Progress = &progress
	var (
		checkedCgroups = map[string]int{} // phase → servers checked
		markers        = map[string]types.UID{}
		moved          = map[string]int{} // setting → moved databases that kept their marker
		stopped        []string
	)
	o.Hooks = study.Hooks{
		Serving: func(ctx context.Context, env *study.Env, phase string) error {
			n, err := checkCgroups(ctx, env)
			checkedCgroups[env.Setting.Name+"/"+phase] += n
			if err != nil || phase != study.PhaseAfter {
				return err
			}
			// The moved databases (new pod UID) still hold the row written before the moves.
			for _, db := range env.Databases {
				pod := db + "-0"
				p, err := env.Cluster.Client().CoreV1().Pods(env.Case.Namespace).Get(ctx, pod, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if p.UID == markers[pod] {
					continue
				}
				srv, ok := env.Runtime.Server(env.Case.Namespace, pod)
				if !ok {
					return fmt.Errorf("%s: no server after its move", pod)
				}
				out, err := srv.Psql(ctx, scenario.DatabaseName, "SELECT v FROM moved_marker")
				if err != nil || out != string(markers[pod]) {
					return fmt.Errorf("%s moved (UID %s to %s) and lost its data: marker %q, %v", pod, markers[pod], p.UID, out, err)
				}
				moved[env.Setting.Name]++
			}
			return nil
		},
		BeforeMoves: func(ctx context.Context, env *study.Env) error {
			for _, db := range env.Databases {
				pod := db + "-0"
				p, err := env.Cluster.Client().CoreV1().Pods(env.Case.Namespace).Get(ctx, pod, metav1.GetOptions{})
				if err != nil {
					return err
				}
				srv, ok := env.Runtime.Server(env.Case.Namespace, pod)
				if !ok {
					return fmt.Errorf("%s: no server", pod)
				}
				sql := fmt.Sprintf("CREATE TABLE moved_marker (v text); INSERT INTO moved_marker VALUES ('%s')", p.UID)
				if _, err := srv.Psql(ctx, scenario.DatabaseName, sql); err != nil {
					return err
				}
				markers[pod] = p.UID
			}
			return nil
		},
		SettingDone: func(ctx context.Context, env *study.Env) error {
			// The namespace is gone: no postgres process may still serve a data directory of it.
			if pids := pgserver.PostmastersUnder(filepath.Join(dir, "data", env.Case.Namespace)); len(pids) > 0 {
				return fmt.Errorf("servers of deleted namespace %s still run: %v", env.Case.Namespace, pids)
			}
			stopped = append(stopped, env.Case.Namespace)
			return nil
		},
	}
	r, err := study.Run(ctx, o)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("study: %v", err)
	}
	if err := r.Validate(); err != nil {
		t.Errorf("the report misses fields: %v", err)
	}
	for _, s := range o.Settings {
		for _, phase := range []string{study.PhaseAlone, study.PhaseMixed, study.PhaseAfter} {
			if checkedCgroups[s.Name+"/"+phase] == 0 {
				t.Errorf("setting %s, phase %s: no server's cgroup was checked", s.Name, phase)
			}
		}
	}
	if moved["spare"] == 0 {
		t.Errorf("no database moved in the spare setting: nothing showed that a move keeps the data")
	}
	if len(stopped) != len(o.Settings) {
		t.Errorf("settings ended with their servers stopped: %v, want %d", stopped, len(o.Settings))
	}
	for _, s := range r.Settings {
		if s.Name == "saturated" && len(s.Waiting) == 0 {
			t.Errorf("saturated: the rebalancer did not wait for capacity (%d moves)", s.Moves)
		}
	}
	var table bytes.Buffer
	if err := study.WriteTable(&table, r); err != nil {
		t.Fatal(err)
	}
	if err := study.WriteFiles(filepath.Join(dir, "report"), r); err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", table.String())
	// The runtime stopped every server and removed the node cgroups at the end.
	if pids := pgserver.PostmastersUnder(filepath.Join(dir, "data")); len(pids) > 0 {
		t.Errorf("servers still run after the study: %v", pids)
	}
}

// checkCgroups checks that each database's postmaster and every backend it forked sit in the
// cgroup of the node its pod is on, and returns how many servers it checked.
func checkCgroups(ctx context.Context, env *study.Env) (int, error) {
	n := 0
	for _, db := range env.Databases {
		pod := db + "-0"
		p, err := env.Cluster.Client().CoreV1().Pods(env.Case.Namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return n, err
		}
		srv, ok := env.Runtime.Server(env.Case.Namespace, pod)
		if !ok {
			return n, fmt.Errorf("%s: no server", pod)
		}
		g, err := env.Cgroups.Node(p.Spec.NodeName, env.Setting.NodeCPUMilli)
		if err != nil {
			return n, err
		}
		pm := srv.PID()
		if pm == 0 {
			return n, fmt.Errorf("%s: no running postmaster in %s", pod, srv.Dir)
		}
		procs := pgserver.ServerProcesses(pm)
		if len(procs) < 3 {
			return n, fmt.Errorf("%s: postmaster %d has %d processes; a running server has its background processes", pod, pm, len(procs))
		}
		for _, pid := range procs {
			in, err := g.Contains(pid)
			if !pgserver.Alive(pid) {
				// A backend that began to exit since it was listed: the kernel moved it out of
				// its cgroups as it entered its exit, before /proc shows it as a zombie.
				continue
			}
			if err != nil {
				return n, err
			}
			if !in {
				return n, fmt.Errorf("%s: process %d of its server is not in node %s's cgroup %s", pod, pid, p.Spec.NodeName, g.Path())
			}
		}
		n++
	}
	return n, nil
}
