package workloadtype

// Mixing is how many of a node's resident typed pods do not match it. On a node pool (a node
// labelled with a type) that is every resident pod of the other type; on an unlabelled node it is
// the minority type's count (a tie counts one side). A cluster's mixing is the sum over its nodes;
// the rebalancer moves a pod only when the move lowers it, so it can never oscillate.
func Mixing(label Type, c Counts) int {
	switch label {
	case OLTP:
		return c.OLAP
	case OLAP:
		return c.OLTP
	default:
		return min(c.OLTP, c.OLAP)
	}
}

// With returns the counts with one more resident pod of type t.
func (c Counts) With(t Type) Counts {
	c.Add(t)
	return c
}

// Without returns the counts with one resident pod of type t fewer (never below zero).
func (c Counts) Without(t Type) Counts {
	switch {
	case t == OLTP && c.OLTP > 0:
		c.OLTP--
	case t == OLAP && c.OLAP > 0:
		c.OLAP--
	}
	return c
}

// Misplaced reports whether a resident pod of type t adds to its node's mixing: removing it would
// lower the node's mixing. Untyped pods are never misplaced.
func Misplaced(t Type, label Type, c Counts) bool {
	if t == None {
		return false
	}
	return Mixing(label, c.Without(t)) < Mixing(label, c)
}

// MoveDelta is the change in the cluster's mixing when a pod of type t leaves a node (label from,
// resident counts cFrom, the pod included) for another (label to, counts cTo, the pod not yet
// included). Negative means the move lowers mixing.
func MoveDelta(t Type, from Type, cFrom Counts, to Type, cTo Counts) int {
	return Mixing(from, cFrom.Without(t)) - Mixing(from, cFrom) + Mixing(to, cTo.With(t)) - Mixing(to, cTo)
}
