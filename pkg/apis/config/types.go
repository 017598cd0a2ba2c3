package config

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
	metav1.TypeMeta

	// Mode is Preferred (score only) or Required (score, and filter out nodes of the other type).
	Mode WorkloadTypeAffinityMode
	// Scores are the scores, 0-100, of each class of node for a typed database pod.
	Scores NodeClassScores
	// MajorityPercent is the share, in percent, of a node's typed database pods that must be of one
	// type for the node to count as that type; below it the node is mixed.
	MajorityPercent int32
}

// NodeClassScores is the score a typed database pod gives each class of node.
type NodeClassScores struct {
	// SameType scores a node of the pod's own type.
	SameType int32
	// Free scores a node with no typed database pod and no type label.
	Free int32
	// Mixed scores a node hosting both types with neither in the majority.
	Mixed int32
	// OtherType scores a node of the other type.
	OtherType int32
}

// NotebookSpreadMode says whether notebook servers are spread over nodes or packed onto few.
type NotebookSpreadMode string

const (
	// ModeSpread prefers the node with the fewest notebook users.
	ModeSpread NotebookSpreadMode = "Spread"
	// ModePack prefers the node with the most notebook users.
	ModePack NotebookSpreadMode = "Pack"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NotebookSpreadArgs holds the arguments of the NotebookSpread plugin.
type NotebookSpreadArgs struct {
	metav1.TypeMeta

	// Mode is Spread (fewest users first) or Pack (most users first).
	Mode NotebookSpreadMode
	// PodSelector selects the notebook server pods; never nil once defaulted.
	PodSelector *metav1.LabelSelector
	// UserAnnotation is the annotation that names a server's user; "" to read only UserLabel.
	UserAnnotation string
	// UserLabel is the label that names a server's user when the annotation is absent; "" for none.
	UserLabel string
	// HubLabel is the label whose value groups pods into hubs; "" groups them by namespace.
	HubLabel string
	// SameUserNodeAdjustment is the points, -100 to 100, that a node running one of the user's
	// servers gains (positive) or loses (negative) against the other nodes.
	SameUserNodeAdjustment int32
	// MaxUsersPerNode caps the users per node (Filter); 0 means no cap.
	MaxUsersPerNode int32
}
