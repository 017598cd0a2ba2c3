// Package workloadtype is the one definition of a database pod's workload type and of a node's
// type. The WorkloadTypeAffinity scheduler plugin and the rebalancer both decide through it, so
// they can never disagree about where a pod belongs (disagreement between a scheduler and a
// descheduler is what causes eviction loops).
package workloadtype

import (
	"fmt"

	v1 "k8s.io/api/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// Type is a database pod's workload type, or None for a pod that is not a typed database.
type Type uint8

const (
	// None is the type of every pod without a (valid) workload-type label.
	None Type = iota
	// OLTP is a transactional database.
	OLTP
	// OLAP is an analytical database.
	OLAP
)

// String returns the label value of the type ("" for None).
func (t Type) String() string {
	switch t {
	case OLTP:
		return apis.WorkloadOLTP
	case OLAP:
		return apis.WorkloadOLAP
	default:
		return ""
	}
}

// Other returns the opposite type; None has none.
func (t Type) Other() Type {
	switch t {
	case OLTP:
		return OLAP
	case OLAP:
		return OLTP
	default:
		return None
	}
}

// Parse reads a workload-type label value. The empty string is None; anything other than the
// two known values is an error naming the valid ones, and the caller treats the object as untyped.
func Parse(value string) (Type, error) {
	switch value {
	case "":
		return None, nil
	case apis.WorkloadOLTP:
		return OLTP, nil
	case apis.WorkloadOLAP:
		return OLAP, nil
	default:
		return None, fmt.Errorf("label %s=%q: supported values: %q, %q",
			apis.LabelWorkloadType, value, apis.WorkloadOLTP, apis.WorkloadOLAP)
	}
}

// OfPod returns the pod's declared workload type. An invalid value yields None and an error.
func OfPod(pod *v1.Pod) (Type, error) {
	return Parse(pod.Labels[apis.LabelWorkloadType])
}

// OfNodeLabel returns the type an operator declared for a node (a node pool), or None.
func OfNodeLabel(node *v1.Node) (Type, error) {
	return Parse(node.Labels[apis.LabelWorkloadType])
}

// Resident returns the type a pod contributes to its node's type: its own type while it occupies
// the node. A terminating or finished pod contributes nothing: it is leaving, and counting it would
// make its replacement avoid the very node it is being moved to.
func Resident(pod *v1.Pod) Type {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return None
	}
	t, err := OfPod(pod)
	if err != nil {
		return None
	}
	return t
}

// Counts is the number of resident typed database pods of each type on a node.
type Counts struct {
	OLTP, OLAP int
}

// Add counts one resident pod of type t; None counts nothing.
func (c *Counts) Add(t Type) {
	switch t {
	case OLTP:
		c.OLTP++
	case OLAP:
		c.OLAP++
	}
}

// NodeType is what a node is, for placing database pods.
type NodeType uint8

const (
	// NodeFree has no type label and no resident typed pod.
	NodeFree NodeType = iota
	// NodeOLTP is labelled oltp, or most of its typed pods are OLTP.
	NodeOLTP
	// NodeOLAP is labelled olap, or most of its typed pods are OLAP.
	NodeOLAP
	// NodeMixed hosts both types with neither holding the majority.
	NodeMixed
)

// String names the node type as the plugin's messages and metrics do.
func (n NodeType) String() string {
	switch n {
	case NodeFree:
		return "free"
	case NodeOLTP:
		return apis.WorkloadOLTP
	case NodeOLAP:
		return apis.WorkloadOLAP
	default:
		return "mixed"
	}
}

func nodeTypeOf(t Type) NodeType {
	if t == OLTP {
		return NodeOLTP
	}
	return NodeOLAP
}

// ClassifyNode returns a node's type. A label (a node pool set by an operator) wins. Otherwise the
// node takes the type of its resident typed pods when one type holds at least majorityPercent of
// them (51-100); a tie is always mixed, and a node with none is free.
func ClassifyNode(label Type, c Counts, majorityPercent int32) NodeType {
	if label != None {
		return nodeTypeOf(label)
	}
	total := c.OLTP + c.OLAP
	switch {
	case total == 0:
		return NodeFree
	case c.OLTP > c.OLAP && int64(c.OLTP)*100 >= int64(majorityPercent)*int64(total):
		return NodeOLTP
	case c.OLAP > c.OLTP && int64(c.OLAP)*100 >= int64(majorityPercent)*int64(total):
		return NodeOLAP
	default:
		return NodeMixed
	}
}

// Relation is how a node stands to a typed pod, from best to worst.
type Relation uint8

const (
	// SameType: the node is of the pod's type.
	SameType Relation = iota
	// Free: the node has no type yet.
	Free
	// Mixed: the node hosts both types, neither in the majority.
	Mixed
	// OtherType: the node is of the other type.
	OtherType
	// NumRelations is the number of relations, for arrays indexed by Relation.
	NumRelations
)

// String names the relation as messages and metrics do.
func (r Relation) String() string {
	switch r {
	case SameType:
		return "SameType"
	case Free:
		return "Free"
	case Mixed:
		return "Mixed"
	default:
		return "OtherType"
	}
}

// RelationOf returns how a node of type n stands to a pod of type t (t must not be None).
func RelationOf(t Type, n NodeType) Relation {
	switch n {
	case NodeFree:
		return Free
	case NodeMixed:
		return Mixed
	case nodeTypeOf(t):
		return SameType
	default:
		return OtherType
	}
}
