package classifier

import (
	"fmt"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// Measured is what the classifier concludes about a database, in pkg/workloadtype's terms: one
// of its types (OLTP or OLAP), or Mixed (both kinds of work, placed as OLAP: see Placement), or
// Unknown (not enough windows yet). It is comparable, and reads and writes as the
// metric label and annotation values unknown, oltp, olap and mixed.
type Measured struct {
	// Type is OLTP or OLAP; None when mixed or unknown.
	Type workloadtype.Type
	// Mixed: the database runs both kinds of work. Type is then None.
	Mixed bool
}

// The four conclusions.
var (
	Unknown = Measured{}
	OLTP    = Measured{Type: workloadtype.OLTP}
	OLAP    = Measured{Type: workloadtype.OLAP}
	Mixed   = Measured{Mixed: true}
)

// unknownValue is Unknown's value in metrics and JSON; it is never an annotation value.
const unknownValue = "unknown"

// String returns unknown, oltp, olap or mixed.
func (m Measured) String() string {
	switch {
	case m.Mixed:
		return apis.WorkloadMixed
	case m.Type == workloadtype.None:
		return unknownValue
	default:
		return m.Type.String()
	}
}

// Placement is the type a database of m is placed as, the value of its label: OLTP and OLAP
// themselves; OLAP for Mixed, since its analytic work is what slows transactional neighbours and
// an analytic node's scans are little hurt by its short transactions (docs/classifier.md, "A
// mixed database is placed as olap"); None for Unknown.
func (m Measured) Placement() workloadtype.Type {
	if m.Mixed {
		return workloadtype.OLAP
	}
	return m.Type
}

// MarshalText writes String.
func (m Measured) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText reads what MarshalText writes ("" is Unknown).
func (m *Measured) UnmarshalText(b []byte) error {
	v, err := ParseMeasured(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMeasured reads unknown (or ""), oltp, olap or mixed.
func ParseMeasured(s string) (Measured, error) {
	switch s {
	case "", unknownValue:
		return Unknown, nil
	case apis.WorkloadMixed:
		return Mixed, nil
	}
	t, err := workloadtype.Parse(s)
	if err != nil || t == workloadtype.None {
		return Unknown, fmt.Errorf("measured type %q: supported values: %q, %q, %q, %q", s, unknownValue, apis.WorkloadOLTP, apis.WorkloadOLAP, apis.WorkloadMixed)
	}
	return Measured{Type: t}, nil
}
