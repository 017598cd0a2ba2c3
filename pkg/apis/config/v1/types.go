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
