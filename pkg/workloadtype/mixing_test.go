package workloadtype

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMixing(t *testing.T) {
	tests := []struct {
		name  string
		label Type
		c     Counts
		want  int
	}{
		{name: "unlabelled empty", label: None, c: Counts{}, want: 0},
		{name: "unlabelled pure oltp", label: None, c: Counts{OLTP: 4}, want: 0},
		{name: "unlabelled pure olap", label: None, c: Counts{OLAP: 4}, want: 0},
		{name: "unlabelled oltp majority", label: None, c: Counts{OLTP: 5, OLAP: 2}, want: 2},
		{name: "unlabelled olap majority", label: None, c: Counts{OLTP: 1, OLAP: 3}, want: 1},
		{name: "unlabelled tie counts one side", label: None, c: Counts{OLTP: 3, OLAP: 3}, want: 3},
		{name: "oltp pool counts every olap pod", label: OLTP, c: Counts{OLTP: 1, OLAP: 5}, want: 5},
		{name: "oltp pool of oltp pods", label: OLTP, c: Counts{OLTP: 6}, want: 0},
		{name: "olap pool counts every oltp pod", label: OLAP, c: Counts{OLTP: 5, OLAP: 1}, want: 5},
		{name: "olap pool tie", label: OLAP, c: Counts{OLTP: 2, OLAP: 2}, want: 2},
		{name: "olap pool empty", label: OLAP, c: Counts{}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Mixing(tt.label, tt.c); got != tt.want {
				t.Errorf("Mixing(%v, %+v) = %d, want %d", tt.label, tt.c, got, tt.want)
			}
		})
	}
}

func TestWithWithout(t *testing.T) {
	c := Counts{OLTP: 1, OLAP: 0}
	if diff := cmp.Diff(Counts{OLTP: 2}, c.With(OLTP)); diff != "" {
		t.Errorf("With(OLTP) (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{OLTP: 1, OLAP: 1}, c.With(OLAP)); diff != "" {
		t.Errorf("With(OLAP) (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{OLTP: 1}, c.With(None)); diff != "" {
		t.Errorf("With(None) (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{}, c.Without(OLTP)); diff != "" {
		t.Errorf("Without(OLTP) (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{OLTP: 1}, c.Without(OLAP)); diff != "" {
		t.Errorf("Without(OLAP) never goes below zero (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(Counts{OLTP: 1}, c); diff != "" {
		t.Errorf("With/Without changed the receiver (-want,+got):\n%s", diff)
	}
}

func TestMisplaced(t *testing.T) {
	tests := []struct {
		name  string
		t     Type
		label Type
		c     Counts
		want  bool
	}{
		{name: "untyped never", t: None, label: None, c: Counts{OLTP: 1, OLAP: 1}, want: false},
		{name: "untyped on a pool never", t: None, label: OLTP, c: Counts{OLAP: 3}, want: false},
		{name: "alone on a free node", t: OLTP, label: None, c: Counts{OLTP: 1}, want: false},
		{name: "majority type stays", t: OLTP, label: None, c: Counts{OLTP: 3, OLAP: 1}, want: false},
		{name: "minority type is misplaced", t: OLAP, label: None, c: Counts{OLTP: 3, OLAP: 1}, want: true},
		{name: "tie: oltp is misplaced", t: OLTP, label: None, c: Counts{OLTP: 2, OLAP: 2}, want: true},
		{name: "tie: olap is misplaced", t: OLAP, label: None, c: Counts{OLTP: 2, OLAP: 2}, want: true},
		{name: "one short of a tie: majority stays", t: OLAP, label: None, c: Counts{OLTP: 2, OLAP: 3}, want: false},
		{name: "own pool", t: OLTP, label: OLTP, c: Counts{OLTP: 1, OLAP: 4}, want: false},
		{name: "other pool, even as the majority", t: OLAP, label: OLTP, c: Counts{OLTP: 1, OLAP: 4}, want: true},
		{name: "other pool, alone", t: OLTP, label: OLAP, c: Counts{OLTP: 1}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Misplaced(tt.t, tt.label, tt.c); got != tt.want {
				t.Errorf("Misplaced(%v, %v, %+v) = %v, want %v", tt.t, tt.label, tt.c, got, tt.want)
			}
		})
	}
}

func TestMoveDelta(t *testing.T) {
	tests := []struct {
		name      string
		t         Type
		from      Type
		cFrom     Counts
		to        Type
		cTo       Counts
		wantDelta int
	}{
		{name: "minority to a free node", t: OLAP, cFrom: Counts{OLTP: 3, OLAP: 1}, cTo: Counts{}, wantDelta: -1},
		{name: "minority to a node of its type", t: OLAP, cFrom: Counts{OLTP: 3, OLAP: 1}, cTo: Counts{OLAP: 2}, wantDelta: -1},
		{name: "minority to a node of the other type", t: OLAP, cFrom: Counts{OLTP: 3, OLAP: 1}, cTo: Counts{OLTP: 2}, wantDelta: 0},
		{name: "majority to a free node", t: OLTP, cFrom: Counts{OLTP: 3, OLAP: 1}, cTo: Counts{}, wantDelta: 0},
		{name: "tie to a tie", t: OLTP, cFrom: Counts{OLTP: 3, OLAP: 3}, cTo: Counts{OLTP: 3, OLAP: 3}, wantDelta: -1},
		{name: "tie to a node it would tie", t: OLTP, cFrom: Counts{OLTP: 3, OLAP: 3}, cTo: Counts{OLTP: 1, OLAP: 2}, wantDelta: 0},
		{name: "into a mixed node's minority raises", t: OLTP, cFrom: Counts{OLTP: 1}, cTo: Counts{OLTP: 1, OLAP: 3}, wantDelta: 1},
		{name: "off the other pool onto its own", t: OLTP, from: OLAP, cFrom: Counts{OLTP: 2, OLAP: 1}, to: OLTP, cTo: Counts{OLAP: 1}, wantDelta: -1},
		{name: "off its own pool onto the other", t: OLTP, from: OLTP, cFrom: Counts{OLTP: 2}, to: OLAP, cTo: Counts{}, wantDelta: 1},
		{name: "off the other pool to a mixed node", t: OLAP, from: OLTP, cFrom: Counts{OLAP: 1}, cTo: Counts{OLTP: 2, OLAP: 2}, wantDelta: -1},
		{name: "untyped changes nothing", t: None, cFrom: Counts{OLTP: 1, OLAP: 1}, cTo: Counts{OLTP: 1}, wantDelta: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MoveDelta(tt.t, tt.from, tt.cFrom, tt.to, tt.cTo)
			if got != tt.wantDelta {
				t.Errorf("MoveDelta(%v, %v %+v -> %v %+v) = %d, want %d", tt.t, tt.from, tt.cFrom, tt.to, tt.cTo, got, tt.wantDelta)
			}
			// The delta is exactly the change of the two nodes' mixing.
			before := Mixing(tt.from, tt.cFrom) + Mixing(tt.to, tt.cTo)
			after := Mixing(tt.from, tt.cFrom.Without(tt.t)) + Mixing(tt.to, tt.cTo.With(tt.t))
			if after-before != got {
				t.Errorf("MoveDelta = %d, but mixing went from %d to %d", got, before, after)
			}
		})
	}
}

// A pod that is not misplaced can never lower mixing by moving: the rebalancer looks only at
// misplaced pods, and this is why that loses nothing.
func TestMisplacedIsNecessaryForAGain(t *testing.T) {
	types := []Type{OLTP, OLAP}
	labels := []Type{None, OLTP, OLAP}
	for _, pt := range types {
		for _, from := range labels {
			for _, to := range labels {
				for a := 0; a <= 3; a++ {
					for b := 0; b <= 3; b++ {
						cFrom := Counts{OLTP: a, OLAP: b}
						if (pt == OLTP && a == 0) || (pt == OLAP && b == 0) {
							continue // the pod must be on its node
						}
						for x := 0; x <= 3; x++ {
							for y := 0; y <= 3; y++ {
								cTo := Counts{OLTP: x, OLAP: y}
								d := MoveDelta(pt, from, cFrom, to, cTo)
								if d < 0 && !Misplaced(pt, from, cFrom) {
									t.Errorf("%v pod on %v %+v: not misplaced, but moving to %v %+v has delta %d",
										pt, from, cFrom, to, cTo, d)
								}
								if d < -1 || d > 1 {
									t.Errorf("%s: delta %d out of [-1,1]", fmt.Sprint(pt, from, cFrom, to, cTo), d)
								}
							}
						}
					}
				}
			}
		}
	}
}
