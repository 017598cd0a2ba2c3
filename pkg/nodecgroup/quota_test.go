package nodecgroup

import (
	"strings"
	"testing"
)

func TestQuota(t *testing.T) {
	tests := []struct {
		milli      int64
		wantMicros int64
		wantMax    string
		backMilli  int64
	}{
		{500, 50_000, "50000 100000", 500},
		{250, 25_000, "25000 100000", 250},
		{2500, 250_000, "250000 100000", 2500},
		{1000, 100_000, "100000 100000", 1000},
		{1, 1_000, "1000 100000", 10}, // the kernel's 1ms minimum
		{0, -1, "max 100000", 0},
	}
	for _, tc := range tests {
		if got := quotaMicros(tc.milli); got != tc.wantMicros {
			t.Errorf("quotaMicros(%dm) = %d, want %d", tc.milli, got, tc.wantMicros)
		}
		if got := cpuMax(tc.milli); got != tc.wantMax {
			t.Errorf("cpuMax(%dm) = %q, want %q", tc.milli, got, tc.wantMax)
		}
		if got := quotaMilli(tc.wantMicros, periodMicros); got != tc.backMilli {
			t.Errorf("quotaMilli(%d, %d) = %d, want %d", tc.wantMicros, periodMicros, got, tc.backMilli)
		}
		got, err := parseCPUMax(tc.wantMax + "\n")
		if err != nil || got != tc.backMilli {
			t.Errorf("parseCPUMax(%q) = %d, %v, want %d", tc.wantMax, got, err, tc.backMilli)
		}
	}
}

func TestParseCPUMaxMalformed(t *testing.T) {
	for _, in := range []string{"", "max", "50000 0", "x 100000", "-5 100000"} {
		if _, err := parseCPUMax(in); err == nil || !strings.Contains(err.Error(), "cpu.max") {
			t.Errorf("parseCPUMax(%q): got %v, want an error naming cpu.max", in, err)
		}
	}
}

func TestParseCPUStatUsage(t *testing.T) {
	got, err := parseCPUStatUsage("usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\nnr_periods 0\n")
	if err != nil || got != 123456 {
		t.Errorf("parseCPUStatUsage = %d, %v, want 123456", got, err)
	}
	if _, err := parseCPUStatUsage("user_usec 1\n"); err == nil || !strings.Contains(err.Error(), "usage_usec") {
		t.Errorf("parseCPUStatUsage without usage_usec: got %v, want an error naming usage_usec", err)
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"node-1", "kwok-node-0", "a", "9e2b1c4a-0d6e-4f7e-9a3b-5c1d2e3f4a5b", "n.example.com"} {
		if err := validateName("node name", ok); err != nil {
			t.Errorf("validateName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "../etc", "a/b", "a..b", "Node-1", "-a", "a-", ".", "..", "a b", "a'b", strings.Repeat("a", 254)} {
		err := validateName("node name", bad)
		if err == nil || !strings.Contains(err.Error(), `node name "`+bad+`"`) {
			t.Errorf("validateName(%q): got %v, want an error naming the value", bad, err)
		}
	}
}
