// Package podruntime is the local cluster's stand-in for a kubelet's container runtime, for
// PostgreSQL pods only. KWOK marks the pods bound to its nodes Running and gives them loopback
// IPs, but runs nothing; the runtime follows those pods and, for each one whose first container's
// image is postgres, runs a real PostgreSQL server (pkg/pgserver) on the pod's IP, inside its
// node's cgroup and the pod's own group under it (pkg/nodecgroup), so that the node's allocatable
// CPU and the pod's CPU limit bound what the server can use.
//
// A server's data directory belongs to the pod's identity, as a volume would:
//
//	<StateDir>/<namespace>/<pod name>        a StatefulSet's pod
//	<StateDir>/<namespace>/pvc-<claim name>  a pod with a persistentVolumeClaim volume (the first)
//	<StateDir>/<namespace>/<pod UID>         any other pod: ephemeral, removed with the pod
//
// A pod that moves (its StatefulSet recreates it on another node, with a new UID and IP) gets its
// data back: the old server stops before the same directory starts on the new IP, in the new
// node's cgroup. Two servers never run on one data directory.
//
// The servers outlive the runtime: when Run returns they keep running, and a runtime started
// again on the same StateDir adopts those whose pods still run on the same IP and stops the
// others. StopAll stops everything, for the end of a study or demo.
//
// What the runtime does is reported as events (events/v1, reporting controller
// likewise.dev/local-runtime; reasons Started, Stopped, RuntimeFailed) and log lines. No
// password reaches either.
package podruntime
