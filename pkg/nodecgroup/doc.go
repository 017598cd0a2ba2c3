// Package nodecgroup gives each node of a local cluster a real CPU bound: a cgroup whose CFS
// quota is the node's allocatable CPU and whose cpuset pins it to host CPUs of its own.
//
// The local cluster's nodes are KWOK nodes with no kubelet, so nothing would otherwise stop the
// PostgreSQL servers "on" a 2-CPU node from using the whole host. The study compares nodes whose
// CPU is saturated by misplaced workloads with nodes that are not; that comparison only means
// something if a node's allocatable CPU is what its servers can actually use. The pod runtime
// starts each database pod's server inside its node's group, and inside a child group with the
// pod's own CPU limit when it has one, the way a kubelet nests pod cgroups under its node.
//
// Layout, in every controller the package uses (cpu, cpuacct and cpuset on cgroup v1; the one
// cgroup2 hierarchy with cpu and cpuset enabled on v2):
//
//	<hierarchy>/likewise/<manager name>/<node>/<pod UID>
//
// A node's quota is cpuMilli/1000 CPUs per 100ms period. Its cpuset holds ceil(cpuMilli/1000)
// host CPUs, distinct from the other nodes' of the same manager while the host has CPUs left and
// shared round-robin after that, so two 1-CPU nodes on a 2-CPU host do not compete for one core.
// A node keeps its cpuset across a restarted manager: the assignment is read back from the group.
//
// The groups live in the cgroup filesystem, not in the Manager: a second New with the same name
// adopts them, which is how a restarted runtime finds its servers. Nothing here kills a process;
// Remove waits for the processes to leave and reports the ones that stay.
//
// There is no fallback: where cgroups cannot be created (not root, a controller missing, a
// read-only mount) New and Node return an error naming what is missing.
package nodecgroup
