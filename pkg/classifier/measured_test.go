package classifier

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

// TestMeasured: the classifier's conclusions are pkg/workloadtype's types plus mixed, and read
// and write as the values metrics and annotations have always used.
func TestMeasured(t *testing.T) {
	for _, tc := range []struct {
		m         Measured
		s         string
		workload  workloadtype.Type
		placement workloadtype.Type
	}{
		{Unknown, "unknown", workloadtype.None, workloadtype.None},
		{OLTP, "oltp", workloadtype.OLTP, workloadtype.OLTP},
		{OLAP, "olap", workloadtype.OLAP, workloadtype.OLAP},
		// Mixed stays mixed in metrics and annotations, and is placed as olap.
		{Mixed, "mixed", workloadtype.None, workloadtype.OLAP},
	} {
		t.Run(tc.s, func(t *testing.T) {
			if got := tc.m.String(); got != tc.s {
				t.Errorf("String = %q, want %q", got, tc.s)
			}
			if tc.m.Type != tc.workload {
				t.Errorf("Type = %v, want %v", tc.m.Type, tc.workload)
			}
			if got := tc.m.Placement(); got != tc.placement {
				t.Errorf("Placement = %v, want %v", got, tc.placement)
			}
			b, err := json.Marshal(Result{Type: tc.m, Pending: tc.m})
			if err != nil {
				t.Fatal(err)
			}
			var back Result
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			if diff := cmp.Diff(Result{Type: tc.m, Pending: tc.m}, back); diff != "" {
				t.Errorf("JSON round trip of %s (-want,+got):\n%s", b, diff)
			}
		})
	}
	if b, _ := json.Marshal(Result{Type: OLTP}); string(b) != `{"type":"oltp","confidence":0,"changed":false}` {
		t.Errorf("JSON = %s: Pending Unknown must be left out", b)
	}
	if _, err := ParseMeasured("OLTP"); err == nil || err.Error() != `measured type "OLTP": supported values: "unknown", "oltp", "olap", "mixed"` {
		t.Errorf("ParseMeasured(OLTP) error = %v", err)
	}
}
