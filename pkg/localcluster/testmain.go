package localcluster

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// Main runs the tests of a package against one cluster, started before the first test and
// stopped after the last. Call it from TestMain; it does not return.
//
//	var cluster *localcluster.Cluster
//
//	func TestMain(m *testing.M) {
//		localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
//			cluster = c
//			return nil // or install CRDs, RBAC, ... for every test of the package
//		})
//	}
//
// Tests then share the cluster and keep out of each other's way by creating their own nodes
// (AddNodes with unique names) and namespaces (CreateNamespace). If the cluster cannot start,
// or setup fails, every test fails: Main prints why and exits 1. When a test fails the
// cluster's state and logs are kept and their directory printed. SIGINT and SIGTERM stop the
// cluster before exiting.
func Main(m *testing.M, opts Options, setup func(*Cluster) error) {
	os.Exit(runMain(m, opts, setup))
}

func runMain(m *testing.M, opts Options, setup func(*Cluster) error) int {
	c, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		return 1
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "localcluster: %v: stopping the cluster\n", sig)
		_ = c.Stop()
		os.Exit(1)
	}()
	defer func() {
		signal.Stop(signals)
		close(signals)
	}()

	code := 1
	if setup == nil {
		code = m.Run()
	} else if err := setup(c); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: setting up the cluster: %v\n", err)
	} else {
		code = m.Run()
	}
	if code != 0 {
		c.mu.Lock()
		c.opts.KeepState = true
		c.mu.Unlock()
		fmt.Fprintf(os.Stderr, "localcluster: kept the cluster's state and logs in %s\n", c.StateDir())
	}
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: stopping the cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
