// Package study is `make study`: the experiment likewise exists for, reproduced on real
// PostgreSQL servers on CPU-bounded nodes.
//
// The study behind likewise ran TPC-C on one OLTP container and TPC-H on one OLAP container, on
// two nodes of three OLTP and three OLAP containers each, then again after separating them, and
// compared both with each database running alone. Run does the same on the local cluster:
// KWOK nodes each backed by a cgroup whose CPU quota is the node's allocatable CPU
// (pkg/nodecgroup), and pkg/podruntime running a real PostgreSQL server for every database pod,
// inside its node's cgroup, on the pod's loopback IP, with its data kept by the pod's identity.
//
// Each capacity setting (Setting) runs these phases, each with the same loads:
//   - alone: one OLTP and one OLAP database, each on a node by itself: the reference;
//   - mixed: twelve databases created without a type, three OLTP and three OLAP per node, as
//     kube-scheduler's default profile leaves them;
//   - after: the classifier labels every database from its own statistics, the rebalancer moves
//     the misplaced ones, and likewise-scheduler places the replacements: likewise's own doing;
//   - forced (a setting with Forced): where the rebalancer waited for capacity, the databases are
//     consolidated anyway, bound by hand, to show what the wait protected.
//
// In every phase one OLTP database runs the TPC-C-like mix (pgserver.WriteTPCCScripts) as fast
// as its clients go, one OLAP database runs each TPC-H-style query in turn, and the other ten carry
// a light, stated background load (Options.Background).
package study
