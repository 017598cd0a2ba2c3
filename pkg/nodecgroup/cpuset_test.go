package nodecgroup

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "0-1,4", want: []int{0, 1, 4}},
		{in: "0\n", want: []int{0}},
		{in: "", want: nil},
		{in: "3,0-2,2", want: []int{0, 1, 2, 3}},
		{in: "a", wantErr: `"a" is not a CPU number`},
		{in: "3-1", wantErr: `"3-1" is not a range`},
		{in: "-1", wantErr: `"" is not a CPU number`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCPUList(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseCPUList(%q): got error %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmpEmptyNil); diff != "" {
				t.Errorf("parseCPUList(%q) (-want,+got):\n%s", tc.in, diff)
			}
		})
	}
}

var cmpEmptyNil = cmp.Transformer("nilIfEmpty", func(v []int) []int {
	if len(v) == 0 {
		return nil
	}
	return v
})

func TestFormatCPUList(t *testing.T) {
	tests := []struct {
		in   []int
		want string
	}{
		{[]int{0, 1, 4}, "0-1,4"},
		{[]int{1}, "1"},
		{nil, ""},
		{[]int{5, 3, 4, 0, 0}, "0,3-5"},
	}
	for _, tc := range tests {
		if got := formatCPUList(tc.in); got != tc.want {
			t.Errorf("formatCPUList(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCPUsFor(t *testing.T) {
	tests := []struct {
		milli int64
		host  int
		want  int
	}{
		{500, 2, 1},
		{1000, 2, 1},
		{1001, 2, 2},
		{2500, 8, 3},
		{8000, 2, 2},
		{1, 4, 1},
	}
	for _, tc := range tests {
		if got := cpusFor(tc.milli, tc.host); got != tc.want {
			t.Errorf("cpusFor(%dm, %d host CPUs) = %d, want %d", tc.milli, tc.host, got, tc.want)
		}
	}
}

func TestAssignCPUs(t *testing.T) {
	tests := []struct {
		name   string
		host   []int
		others [][]int
		keep   []int
		n      int
		want   []int
	}{
		{name: "first node", host: []int{0, 1}, n: 1, want: []int{0}},
		{name: "second node gets the free CPU", host: []int{0, 1}, others: [][]int{{0}}, n: 1, want: []int{1}},
		{name: "third node shares the lowest", host: []int{0, 1}, others: [][]int{{0}, {1}}, n: 1, want: []int{0}},
		{name: "fourth node: round-robin", host: []int{0, 1}, others: [][]int{{0}, {1}, {0}}, n: 1, want: []int{1}},
		{name: "free CPUs before shared ones", host: []int{0, 1, 2, 3}, others: [][]int{{0, 1}}, n: 2, want: []int{2, 3}},
		{name: "more than the host has", host: []int{0, 1}, others: [][]int{{0}}, n: 3, want: []int{0, 1}},
		{name: "kept across a restart even if shared", host: []int{0, 1}, others: [][]int{{0}}, keep: []int{0}, n: 1, want: []int{0}},
		{name: "grown keeps what it had", host: []int{0, 1, 2, 3}, others: [][]int{{2}}, keep: []int{1}, n: 2, want: []int{0, 1}},
		{name: "shrunk keeps the first", host: []int{0, 1, 2, 3}, keep: []int{2, 3}, n: 1, want: []int{2}},
		{name: "a kept CPU the host lost is replaced", host: []int{0, 1}, others: [][]int{{0}}, keep: []int{5}, n: 1, want: []int{1}},
		{name: "host with a hole", host: []int{0, 2, 3}, others: [][]int{{0}}, n: 1, want: []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := assignCPUs(tc.host, tc.others, tc.keep, tc.n)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("assignCPUs (-want,+got):\n%s", diff)
			}
		})
	}
}
