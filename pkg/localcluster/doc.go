// Package localcluster runs a real Kubernetes control plane without Docker, for integration
// and end-to-end tests, make local-up and make demo: etcd, kube-apiserver and
// kube-controller-manager built from the versions go.mod pins, with KWOK standing in for the
// kubelets of simulated nodes. Everything listens on 127.0.0.1 only, and every node and pod IP
// it hands out is a loopback address in the cluster's own 127.<slot>.0.0/16 block.
//
// The cluster has no scheduler, by design: the scheduler is what the tests test. A pod stays
// Pending until something binds it, unless it is created with spec.nodeName; KWOK then makes it
// Running with an IP from its node's podCIDR, and removes it when it is deleted.
//
// Tests share one cluster per package through Main:
//
//	var cluster *localcluster.Cluster
//
//	func TestMain(m *testing.M) {
//		localcluster.Main(m, localcluster.Options{}, func(c *localcluster.Cluster) error {
//			cluster = c
//			return nil
//		})
//	}
//
//	func TestX(t *testing.T) {
//		_, ctx := ktesting.NewTestContext(t)
//		ns, err := cluster.CreateNamespace(ctx, "x-")
//		nodes, err := cluster.AddNodes(ctx, []localcluster.NodeSpec{{Name: "x-oltp-1"}, {Name: "x-olap-1"}})
//		t.Cleanup(func() { _ = cluster.DeleteNodes(context.Background(), "x-oltp-1", "x-olap-1") })
//		...
//	}
//
// A scheduler under test authenticates as system:kube-scheduler with RESTConfigFor(KubeScheduler)
// or KubeconfigFor(KubeScheduler).
//
// The binaries come from make cluster-binaries (into _output/bin, or $LIKEWISE_TOOLS_DIR). When
// one is missing, Start fails and says so. docs/local-cluster.md describes ports, paths,
// identities and troubleshooting.
package localcluster
