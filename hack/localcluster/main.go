// Command localcluster starts and stops the detached local cluster behind make local-up and
// make local-down (see docs/local-cluster.md).
//
//	localcluster up   [-dir _output/local] [-tools _output/bin] [-nodes 2]
//	localcluster down [-dir _output/local]
//
// Both are idempotent. up reuses a cluster that is already running in -dir (adding nodes if it
// has fewer than -nodes) and otherwise starts a new one, clearing what a crashed one left.
// down stops the cluster and removes -dir; with nothing running it only removes leftovers.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	klog.InitFlags(fs)
	dir := fs.String("dir", filepath.Join("_output", "local"), "state directory of the cluster")
	tools := fs.String("tools", "", "directory of the cluster binaries (default $"+localcluster.EnvToolsDir+", else <repo>/_output/bin)")
	nodes := fs.Int("nodes", 2, "number of KWOK nodes (up)")
	_ = fs.Parse(os.Args[2:])

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	var err error
	switch os.Args[1] {
	case "up":
		err = up(ctx, *dir, *tools, *nodes)
	case "down":
		err = down(ctx, *dir)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: localcluster up [-dir DIR] [-tools DIR] [-nodes N] | down [-dir DIR]")
	os.Exit(2)
}

func up(ctx context.Context, dir, tools string, nodes int) error {
	if nodes < 0 {
		return fmt.Errorf("-nodes: %d is negative", nodes)
	}
	c, reused, err := localcluster.AttachOrStart(ctx, localcluster.Options{StateDir: dir, ToolsDir: tools, Nodes: nodes})
	if err != nil {
		return err
	}
	if reused {
		have, err := kwokNodes(ctx, c)
		if err != nil {
			return err
		}
		if missing := nodes - have; missing > 0 {
			if _, err := c.AddNodes(ctx, make([]localcluster.NodeSpec, missing)); err != nil {
				return err
			}
		}
		fmt.Printf("The local cluster was already up.\n")
	}
	have, err := kwokNodes(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf(`Local cluster: %s, %d KWOK node(s), node and pod IPs in %s.
Use it with:
  export KUBECONFIG=%s
  kubectl get nodes   # kubectl is not built here; any recent kubectl will do
Logs: %s
Stop it with: make local-down
`, c.Server(), have, c.LoopbackBlock(), c.KubeconfigPath(), c.LogsDir())
	return nil
}

// kwokNodes counts the nodes KWOK manages.
func kwokNodes(ctx context.Context, c *localcluster.Cluster) (int, error) {
	list, err := c.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("listing nodes: %w", err)
	}
	n := 0
	for _, node := range list.Items {
		if node.Annotations[apis.AnnotationKWOKNode] == apis.KWOKNodeFake {
			n++
		}
	}
	return n, nil
}

func down(ctx context.Context, dir string) error {
	if _, err := os.Stat(dir); os.IsNotExist(err) {
		fmt.Printf("No local cluster in %s.\n", dir)
		return nil
	}
	if err := localcluster.StopDetached(ctx, dir); err != nil {
		return err
	}
	fmt.Printf("Local cluster in %s stopped and removed.\n", dir)
	return nil
}
