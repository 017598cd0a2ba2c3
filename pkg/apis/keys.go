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

// JupyterHub named servers: KubeSpawner's key for a server's name. NotebookSpread does not read
// it (a user counts once, whichever servers run); the notebook scenarios set it as KubeSpawner does.
const (
	// AnnotationHubServername holds a named server's name; a user's default server has none.
	AnnotationHubServername = "hub.jupyter.org/servername"
)

// KWOK conventions, used by the local test cluster (test/localcluster). These are KWOK's keys.
const (
	// AnnotationKWOKNode marks a node that KWOK simulates. The local cluster's KWOK manages
	// exactly the nodes whose annotation has the value KWOKNodeFake, and their pods.
	AnnotationKWOKNode = "kwok.x-k8s.io/node"
	// KWOKNodeFake is the value of AnnotationKWOKNode on simulated nodes.
	KWOKNodeFake = "fake"
)

// Classifier annotations on database pods, beside LabelWorkloadType: what the classifier
// (pkg/classifier) last concluded and why. The classifier controller writes them; people read them.
const (
	// AnnotationWorkloadConfidence holds the share of the latest voting windows that agreed with
	// the type, e.g. "0.90" (classifier.Result.Confidence).
	AnnotationWorkloadConfidence = Prefix + "workload-confidence"
	// AnnotationWorkloadReasons holds the measurements of the latest window
	// (classifier.Result.Reasons), e.g. "window 42 oltp: ...; longShare=0.000 shortPerS=700.1 ...".
	AnnotationWorkloadReasons = Prefix + "workload-reasons"
	// AnnotationWorkloadClassifiedAt holds when the type was adopted, RFC 3339
	// (classifier.Result.Since).
	AnnotationWorkloadClassifiedAt = Prefix + "workload-classified-at"
)
