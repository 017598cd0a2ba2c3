// Command demo is `make demo`: on the local cluster (started, or reused, in _output/local) it
// runs likewise-scheduler and shows, as before/after tables, where pods land: the study's
// databases created without a type, then labelled by the classifier from what their real
// PostgreSQL servers run, and moved by the rebalancer, step by step, their StatefulSets
// recreating them where the scheduler places them by type; and notebook servers by users per
// node, kube-scheduler's default profile against NotebookSpread. It leaves the cluster and the
// scheduler running for a closer look; `make local-down` stops them. The PostgreSQL servers,
// their loads, the classifier and the rebalancer stop when the demo ends.
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

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/scenario"
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
	// The demo's own components (the local runtime) log to a file in the cluster's logs
	// directory (see run); errors still reach standard error.
	toStderr := false
	fs.Visit(func(f *flag.Flag) { toStderr = toStderr || f.Name == "logtostderr" })
	if !toStderr {
		_ = fs.Set("logtostderr", "false")
	}

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
	demoLog := filepath.Join(c.LogsDir(), "demo.log")
	logFile, err := os.Create(demoLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	klog.SetOutput(logFile)
	defer klog.Flush()
	if err := clearPreviousRun(ctx, c); err != nil {
		return err
	}
	// The manifests' namespace, ServiceAccounts and roles, as a user applies them (KWOK runs no
	// containers: the demo runs the binaries in place of their Deployments).
	for _, base := range []string{scenario.CommonBase, scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase} {
		if err := scenario.InstallBase(ctx, c, base); err != nil {
			return err
		}
	}
	config, err := scenario.SchedulerConfig(true)
	if err != nil {
		return err
	}
	fmt.Printf("Starting likewise-scheduler as its ServiceAccount (profiles %s, %s, %s, %s, %s)...\n", scenario.ProfileLikewise, scenario.ProfileNotebook,
		scenario.ProfileDefault, scenario.ProfileRequired, scenario.ProfileNotebookCap)
	if err := scenario.StartSchedulerAsServiceAccount(ctx, c, config); err != nil {
		return err
	}

	if err := demoDatabases(ctx, c); err != nil {
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
The cluster and likewise-scheduler keep running (the PostgreSQL servers, the classifier and the rebalancer have stopped):
  export KUBECONFIG=%s
  kubectl get pods -A -o wide -l %s -L %s
Scheduler log: %s
Classifier log: %s
Rebalancer log: %s
Local runtime's log (the PostgreSQL servers): %s
Stop everything with: make local-down
`, c.KubeconfigPath(), scenario.LabelCase, apis.LabelWorkloadType, filepath.Join(c.LogsDir(), localcluster.SchedulerName+".log"),
		filepath.Join(c.LogsDir(), scenario.ClassifierName+".log"), filepath.Join(c.LogsDir(), scenario.RebalancerName+".log"), demoLog)
	return nil
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

// clearPreviousRun deletes the namespaces and nodes an earlier demo left. The nodes go only
// once the namespaces (and so their pods) are gone: new nodes reuse the names, and a pod still
// bound to one would count on it, placing this run's pods around the last run's.
func clearPreviousRun(ctx context.Context, c *localcluster.Cluster) error {
	var errs []error
	namespaces, err := c.Client().CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var deleting []string
	for _, ns := range namespaces.Items {
		if strings.HasPrefix(ns.Name, casePrefix+"-") {
			deleting = append(deleting, ns.Name)
			if err := c.Client().CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
	}
	if len(deleting) > 0 {
		fmt.Printf("Clearing the previous run (%d namespaces)...\n", len(deleting))
	}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		for _, ns := range deleting {
			if _, err := c.Client().CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("waiting for the previous run's namespaces %v to go: %w", deleting, err))
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
