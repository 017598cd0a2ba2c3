// Command demo is `make demo`: on the local cluster (started, or reused, in _output/local) it
// runs likewise-scheduler and shows, as before/after tables, where kube-scheduler's default
// profile and likewise put the same pods: database pods by workload type, notebook servers by
// users per node. It leaves the cluster and the scheduler running for a
// closer look; `make local-down` stops them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/test/localcluster"
	"github.com/likewise-dev/likewise/test/scenario"
)

// casePrefix names the demo's namespaces and node cases, so a new run can clear the last one.
const casePrefix = "demo"

const placeTimeout = 2 * time.Minute

func main() {
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	klog.InitFlags(fs)
	dir := fs.String("dir", filepath.Join("_output", "local"), "state directory of the local cluster")
	tools := fs.String("tools", "", "directory of the cluster binaries (default $"+localcluster.EnvToolsDir+", else <repo>/_output/bin)")
	_ = fs.Parse(os.Args[1:])

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := run(ctx, *dir, *tools); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir, tools string) error {
	c, _, err := localcluster.AttachOrStart(ctx, localcluster.Options{StateDir: dir, ToolsDir: tools})
	if err != nil {
		return err
	}
	if err := clearPreviousRun(ctx, c); err != nil {
		return err
	}
	config, err := scenario.SchedulerConfig()
	if err != nil {
		return err
	}
	fmt.Printf("Starting likewise-scheduler (profiles %s, %s, %s, %s, %s)...\n", scenario.ProfileLikewise, scenario.ProfileNotebook,
		scenario.ProfileDefault, scenario.ProfileRequired, scenario.ProfileNotebookCap)
	if err := c.StartScheduler(ctx, config, ""); err != nil {
		return err
	}

	fmt.Printf("\nDatabase pods: the study's 6 OLTP and 6 OLAP pods (1 CPU, 2Gi each), created interleaved,\n" +
		"on 2 nodes with room for 6 each; once with kube-scheduler's default profile, once with likewise.\n\n")
	pods := scenario.StudyPods()
	var runs []scenario.Run
	for _, r := range []struct{ label, profile string }{
		{"before (default)", scenario.ProfileDefault},
		{"after (likewise)", scenario.ProfileLikewise},
	} {
		placement, err := placeStudy(ctx, c, r.profile, pods)
		if err != nil {
			return err
		}
		runs = append(runs, scenario.Run{Label: r.label, Placement: placement, Types: scenario.TypesOf(pods)})
	}
	if err := scenario.WriteTable(os.Stdout, runs); err != nil {
		return err
	}

	fmt.Printf("\nNotebook servers: 30 JupyterHub users log in within seconds (40 servers of 10m-50m CPU; ten\n" +
		"users start a second, named server) on 3 nodes of 8 CPU and 32Gi, where other workloads already\n" +
		"take 6, 4 and 0 CPU; once with kube-scheduler's default profile, once with NotebookSpread's.\n\n")
	servers := scenario.NotebookLogins(30)
	var userRuns []scenario.UsersRun
	for _, r := range []struct{ label, profile string }{
		{"before (default)", scenario.ProfileDefault},
		{"after (notebook)", scenario.ProfileNotebook},
	} {
		run, err := placeNotebooks(ctx, c, r.profile, servers)
		if err != nil {
			return err
		}
		run.Label = r.label
		userRuns = append(userRuns, run)
	}
	if err := scenario.WriteUsersTable(os.Stdout, userRuns); err != nil {
		return err
	}

	fmt.Printf(`
The cluster and likewise-scheduler keep running:
  export KUBECONFIG=%s
  kubectl get pods -A -o wide -l %s
Scheduler log: %s
Stop everything with: make local-down
`, c.KubeconfigPath(), scenario.LabelCase, filepath.Join(c.LogsDir(), localcluster.SchedulerName+".log"))
	return nil
}

// placeStudy runs the study's pods on two fresh nodes under profile and returns where they went.
func placeStudy(ctx context.Context, c *localcluster.Cluster, profile string, pods []scenario.Pod) (scenario.Placement, error) {
	k, err := scenario.NewCase(ctx, c, casePrefix, []localcluster.NodeSpec{{}, {}}, corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("6"),
		corev1.ResourceMemory: resource.MustParse("24Gi"),
	})
	if err != nil {
		return nil, err
	}
	if _, err := k.Create(ctx, c, profile, pods); err != nil {
		return nil, err
	}
	return k.WaitPlaced(ctx, c, len(pods), placeTimeout)
}

// placeNotebooks logs the users in on the notebook scene's fresh nodes under profile and returns
// where their servers went.
func placeNotebooks(ctx context.Context, c *localcluster.Cluster, profile string, servers []scenario.NotebookServer) (scenario.UsersRun, error) {
	scene := scenario.DefaultNotebookScene()
	k, err := scenario.NewNotebookCase(ctx, c, casePrefix, scene)
	if err != nil {
		return scenario.UsersRun{}, err
	}
	pods := scenario.NotebookPods(servers)
	if _, err := k.Create(ctx, c, profile, pods); err != nil {
		return scenario.UsersRun{}, err
	}
	placement, err := k.WaitPlaced(ctx, c, scene.OtherPods()+len(pods), placeTimeout)
	if err != nil {
		return scenario.UsersRun{}, err
	}
	return scenario.UsersRun{
		Nodes:     k.Nodes,
		Placement: placement,
		Users:     scenario.UsersOf(servers),
		Others:    scene.DescribeOthers(k.Nodes),
	}, nil
}

// clearPreviousRun deletes the namespaces and nodes an earlier demo left.
func clearPreviousRun(ctx context.Context, c *localcluster.Cluster) error {
	var errs []error
	namespaces, err := c.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, ns := range namespaces.Items {
		if strings.HasPrefix(ns.Name, casePrefix+"-") {
			errs = append(errs, c.Client().CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}))
		}
	}
	nodes, err := c.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: scenario.LabelCase})
	if err != nil {
		return err
	}
	var old []string
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Labels[scenario.LabelCase], casePrefix+"-") {
			old = append(old, n.Name)
		}
	}
	errs = append(errs, c.DeleteNodes(ctx, old...))
	return errors.Join(errs...)
}
