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

// KWOK conventions, used by the local test cluster (pkg/localcluster). These are KWOK's keys.
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

// Classifier controller (likewise classifier): which pods it watches, how it reaches their
// PostgreSQL, and the marker that says whose the workload-type label is. docs/classifier.md has
// the rules; pkg/classifier/controller applies them.
const (
	// LabelClassify opts a pod into classification under the controller's default selector
	// (LabelClassify=ClassifyEnabled); operator presets select their own pods instead.
	LabelClassify = Prefix + "classify"
	// ClassifyEnabled is the value of LabelClassify that opts a pod in.
	ClassifyEnabled = "true"

	// AnnotationWorkloadTypeSource says who set LabelWorkloadType: WorkloadTypeSourceClassifier
	// or WorkloadTypeSourceManual. The classifier writes the label only when the pod has none and
	// is not marked manual, or when this annotation says classifier and the label still holds the
	// value the classifier measured (AnnotationWorkloadMeasured). Any other label is a person's
	// and is never overwritten.
	AnnotationWorkloadTypeSource = Prefix + "workload-type-source"
	// WorkloadTypeSourceClassifier marks a label the classifier wrote.
	WorkloadTypeSourceClassifier = "classifier"
	// WorkloadTypeSourceManual marks a type declared by a person: the classifier never writes
	// the label of such a pod, even to add one.
	WorkloadTypeSourceManual = "manual"

	// AnnotationWorkloadMeasured holds the type the classifier last measured: oltp, olap or
	// mixed (WorkloadMixed). It is written on every classified pod, declared ones included.
	AnnotationWorkloadMeasured = Prefix + "workload-measured"
	// WorkloadMixed is the measured type of a database running both kinds of work. It is never a
	// label value: the scheduler knows only oltp and olap, and a mixed database is labelled
	// WorkloadOLAP so that its analytic work stays off OLTP nodes (docs/classifier.md).
	WorkloadMixed = "mixed"

	// AnnotationPostgresPort overrides the port the classifier connects to on the pod's IP
	// (default 5432, or the controller's --default-port).
	AnnotationPostgresPort = Prefix + "postgres-port"
	// AnnotationPostgresDatabase names the database to sample (default: the credentials
	// Secret's dbname key, else the controller's --default-database, postgres).
	AnnotationPostgresDatabase = Prefix + "postgres-database"
	// AnnotationPostgresCredentials names the Secret, in the pod's namespace, holding the
	// monitoring role's username (or user) and password (default: --default-credentials-secret).
	AnnotationPostgresCredentials = Prefix + "postgres-credentials-secret"
	// AnnotationPostgresCASecret names a Secret, in the pod's namespace, whose ca.crt is the CA
	// of the server's certificate (default: the credentials Secret's ca.crt, if it has one). With
	// a CA the connection uses TLS with sslmode=verify-full.
	AnnotationPostgresCASecret = Prefix + "postgres-ca-secret"
	// AnnotationPostgresSSLMode is a pod's opt-in to a connection weaker than verify-full, which
	// the classifier uses otherwise and which needs a CA: SSLModeRequire or SSLModeDisable
	// (SSLModeVerifyFull says the default). Each opt-in is logged, made an Event and counted.
	AnnotationPostgresSSLMode = Prefix + "postgres-sslmode"
	// SSLModeVerifyFull: TLS, the server's chain and name verified against the CA (the default).
	SSLModeVerifyFull = "verify-full"
	// SSLModeRequire: TLS, the server not verified.
	SSLModeRequire = "require"
	// SSLModeDisable: plaintext.
	SSLModeDisable = "disable"
	// AnnotationPostgresServerName is the name the server's certificate must carry (operators'
	// certificates name their services, e.g. "<cluster>-rw", not pod IPs); default the pod IP.
	AnnotationPostgresServerName = Prefix + "postgres-server-name"
)

// The type follows the workload: a pod's type recorded on what outlives the pod (its
// StatefulSet, its ReplicaSet and that ReplicaSet's Deployment, or its PersistentVolumeClaims), so
// that a replacement pod is placed by type on its first scheduling attempt. pkg/workloadtype
// resolves a pod's type from its label first, then from these records.
const (
	// AnnotationWorkloadTypeRecord holds the recorded type (WorkloadOLTP or WorkloadOLAP) on a
	// pod's owner or PersistentVolumeClaim. It is an annotation, not a label, so that recording
	// it never changes a pod template and never rolls a workload. Its source is recorded beside
	// it in AnnotationWorkloadTypeSource (WorkloadTypeSourceClassifier, or
	// WorkloadTypeSourceManual for a person's record, which no component overwrites).
	AnnotationWorkloadTypeRecord = Prefix + "workload-type"
)

// Rebalancer (likewise rebalancer): opt-outs and what it writes.
const (
	// AnnotationRebalance set to RebalanceDisabled on a pod, or LabelRebalance set to
	// RebalanceDisabled on a namespace, keeps the rebalancer from ever evicting the pod (or any
	// pod of the namespace).
	AnnotationRebalance = Prefix + "rebalance"
	// LabelRebalance is the namespace label of the same key and meaning as AnnotationRebalance.
	LabelRebalance = AnnotationRebalance
	// RebalanceDisabled is the opt-out value.
	RebalanceDisabled = "false"
	// WorkloadTypeSourceRebalancer is the AnnotationWorkloadTypeSource of a record the rebalancer
	// wrote on a pod's owner before evicting the pod.
	WorkloadTypeSourceRebalancer = "rebalancer"
)

// Operators' role labels on PostgreSQL pods: the rebalancer never evicts a primary.
const (
	// LabelCNPGInstanceRole is CloudNativePG's instance role label; CNPGRolePrimary its primary.
	LabelCNPGInstanceRole = "cnpg.io/instanceRole"
	CNPGRolePrimary       = "primary"
	// LabelCNPGCluster names a CloudNativePG pod's cluster.
	LabelCNPGCluster = "cnpg.io/cluster"
	// LabelSpiloRole is Zalando's (Spilo) role label; SpiloRoleMaster its primary.
	LabelSpiloRole  = "spilo-role"
	SpiloRoleMaster = "master"
	// LabelZalandoCluster names a Zalando pod's cluster.
	LabelZalandoCluster = "cluster-name"
	// LabelCrunchyRole is Crunchy PGO's role label; CrunchyRoleMaster its primary.
	LabelCrunchyRole  = "postgres-operator.crunchydata.com/role"
	CrunchyRoleMaster = "master"
	// LabelCrunchyCluster names a Crunchy pod's cluster.
	LabelCrunchyCluster = "postgres-operator.crunchydata.com/cluster"
)
