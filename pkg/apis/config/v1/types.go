package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkloadTypeAffinityMode says whether a database pod's type is a preference or a requirement.
type WorkloadTypeAffinityMode string

const (
	// ModePreferred scores nodes by type and never rejects one.
	ModePreferred WorkloadTypeAffinityMode = "Preferred"
	// ModeRequired also rejects nodes of the other type (Filter).
	ModeRequired WorkloadTypeAffinityMode = "Required"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// WorkloadTypeAffinityArgs holds the arguments of the WorkloadTypeAffinity plugin.
type WorkloadTypeAffinityArgs struct {
	metav1.TypeMeta `json:",inline"`

	// Mode is "Preferred" (score nodes by type) or "Required" (also filter out nodes of the other
	// type, so a pod waits rather than mix). Default: "Preferred".
	// +optional
	Mode WorkloadTypeAffinityMode `json:"mode,omitempty"`
	// Scores are the scores, each 0-100, that a typed database pod gives each class of node.
	// They must not increase from sameType to free to mixed to otherType, and sameType must exceed
	// otherType. Default: sameType 100, free 50, mixed 20, otherType 0.
	// +optional
	Scores *NodeClassScores `json:"scores,omitempty"`
	// MajorityPercent is the share, in percent, of a node's typed database pods that must be of one
	// type for an unlabelled node to count as that type; below it the node is mixed. A tie is
	// always mixed. Valid: 51-100. Default: 51 (a strict majority).
	// +optional
	MajorityPercent *int32 `json:"majorityPercent,omitempty"`
}

// NodeClassScores is the score, 0-100, a typed database pod gives each class of node.
type NodeClassScores struct {
	// SameType scores a node of the pod's own type. Default: 100.
	// +optional
	SameType *int32 `json:"sameType,omitempty"`
	// Free scores a node with no type label and no typed database pod. Default: 50.
	// +optional
	Free *int32 `json:"free,omitempty"`
	// Mixed scores a node hosting both types with neither in the majority. Default: 20.
	// +optional
	Mixed *int32 `json:"mixed,omitempty"`
	// OtherType scores a node of the other type. Default: 0.
	// +optional
	OtherType *int32 `json:"otherType,omitempty"`
}

// NotebookSpreadMode says whether notebook servers are spread over nodes or packed onto few.
type NotebookSpreadMode string

const (
	// ModeSpread prefers the node with the fewest notebook users.
	ModeSpread NotebookSpreadMode = "Spread"
	// ModePack prefers the node with the most notebook users, so that emptied nodes can be
	// scaled down.
	ModePack NotebookSpreadMode = "Pack"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NotebookSpreadArgs holds the arguments of the NotebookSpread plugin.
type NotebookSpreadArgs struct {
	metav1.TypeMeta `json:",inline"`

	// Mode is "Spread" (prefer the nodes with the fewest notebook users) or "Pack" (prefer the
	// nodes with the most). Default: "Spread".
	// +optional
	Mode NotebookSpreadMode `json:"mode,omitempty"`
	// PodSelector selects the notebook server pods, both the pod being scheduled and the ones
	// counted on nodes. It must not be empty. Pods labelled component=user-placeholder never
	// count, whatever it selects. Default: matchLabels component=singleuser-server (KubeSpawner).
	// +optional
	PodSelector *metav1.LabelSelector `json:"podSelector,omitempty"`
	// UserAnnotation is the annotation whose value names a server's user; "" to read only
	// userLabel. Default: "hub.jupyter.org/username" (KubeSpawner's unescaped user name).
	// +optional
	UserAnnotation *string `json:"userAnnotation,omitempty"`
	// UserLabel is the label read when the annotation is absent; "" to read only
	// userAnnotation. At least one of the two must be set. Default: "hub.jupyter.org/username"
	// (KubeSpawner's escaped user name).
	// +optional
	UserLabel *string `json:"userLabel,omitempty"`
	// HubLabel is the label whose value says which hub a pod belongs to; users are counted per
	// hub. "" groups pods by namespace. Default: "".
	// +optional
	HubLabel *string `json:"hubLabel,omitempty"`
	// SameUserNodeAdjustment is how many points, out of 100, a node already running one of the
	// user's servers gains (positive: keep a user's servers together) or loses (negative: keep
	// them apart) against an otherwise equal node. Valid: -100 to 100. Default: 0.
	// +optional
	SameUserNodeAdjustment *int32 `json:"sameUserNodeAdjustment,omitempty"`
	// MaxUsersPerNode, when above 0, rejects nodes that already run servers of that many other
	// users (Filter). Valid: 0 to 10000. Default: 0 (no cap).
	// +optional
	MaxUsersPerNode *int32 `json:"maxUsersPerNode,omitempty"`
}
