// Package apis is the one home of every label and annotation key likewise reads or writes, and of
// the well-known values those keys take. Nothing else in the project spells a key out.
package apis

// Prefix is the domain that owns likewise's own keys.
const Prefix = "likewise.dev/"

// Database workload type.
const (
	// LabelWorkloadType holds a database pod's workload type (WorkloadOLTP or WorkloadOLAP). On a
	// node it declares a node pool: the node's type, whatever runs on it.
	LabelWorkloadType = Prefix + "workload-type"

	// WorkloadOLTP is the type of transactional databases: many short statements, latency-bound.
	WorkloadOLTP = "oltp"
	// WorkloadOLAP is the type of analytical databases: few long scans, joins and aggregations.
	WorkloadOLAP = "olap"
)

// JupyterHub / KubeSpawner conventions, read by NotebookSpread. These are JupyterHub's keys, not
// ours; they are defaults the plugin args can override.
const (
	// LabelComponent is the label KubeSpawner and the JupyterHub Helm chart set on their pods.
	LabelComponent = "component"
	// ComponentSingleUserServer marks a user's notebook server pod.
	ComponentSingleUserServer = "singleuser-server"
	// ComponentUserPlaceholder marks the chart's placeholder pods that reserve room for users.
	ComponentUserPlaceholder = "user-placeholder"
	// AnnotationHubUsername holds the user's unescaped name; the label of the same key holds an
	// escaped form and is the fallback.
	AnnotationHubUsername = "hub.jupyter.org/username"
)

// KWOK conventions, used by the local test cluster (test/localcluster). These are KWOK's keys.
const (
	// AnnotationKWOKNode marks a node that KWOK simulates. The local cluster's KWOK manages
	// exactly the nodes whose annotation has the value KWOKNodeFake, and their pods.
	AnnotationKWOKNode = "kwok.x-k8s.io/node"
	// KWOKNodeFake is the value of AnnotationKWOKNode on simulated nodes.
	KWOKNodeFake = "fake"
)
