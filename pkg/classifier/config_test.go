package classifier

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestConfigDefault(t *testing.T) {
	want := Config{
		Window:               60 * time.Second,
		WindowsToSwitch:      3,
		MinDwell:             10 * time.Minute,
		MinCoverage:          0.5,
		ShortStatement:       10 * time.Millisecond,
		LongStatement:        500 * time.Millisecond,
		OLTPMaxLongShare:     0.2,
		AnalyticMinLongShare: 0.3,
		MixedMinShortRate:    10,
		MinShortRate:         1,
		MinAnalyticBusy:      0.05,
		BulkWALBytesPerMs:    1024,
		History:              10,
	}
	if diff := cmp.Diff(want, Config{}.Default()); diff != "" {
		t.Errorf("Default (-want,+got):\n%s", diff)
	}
	if err := want.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	// Set fields are kept; History follows a larger WindowsToSwitch.
	got := Config{Window: 5 * time.Second, WindowsToSwitch: 12}.Default()
	if got.Window != 5*time.Second || got.WindowsToSwitch != 12 || got.History != 12 {
		t.Errorf("Default changed set fields or History: %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Config)
		want   []string // fields named in the error
	}{
		{"window too short", func(c *Config) { c.Window = time.Millisecond }, []string{"window"}},
		{"window too long", func(c *Config) { c.Window = 2 * time.Hour }, []string{"window"}},
		{"windowsToSwitch negative", func(c *Config) { c.WindowsToSwitch = -1 }, []string{"windowsToSwitch"}},
		{"windowsToSwitch too many", func(c *Config) { c.WindowsToSwitch = 101; c.History = 200 }, []string{"windowsToSwitch"}},
		{"minDwell negative", func(c *Config) { c.MinDwell = -time.Second }, []string{"minDwell"}},
		{"minCoverage above 1", func(c *Config) { c.MinCoverage = 1.5 }, []string{"minCoverage"}},
		{"minCoverage NaN", func(c *Config) { c.MinCoverage = math.NaN() }, []string{"minCoverage"}},
		{"shortStatement negative", func(c *Config) { c.ShortStatement = -time.Millisecond }, []string{"shortStatement"}},
		{"longStatement not above shortStatement", func(c *Config) { c.LongStatement = c.ShortStatement }, []string{"longStatement"}},
		{"oltpMaxLongShare 1", func(c *Config) { c.OLTPMaxLongShare = 1 }, []string{"oltpMaxLongShare", "analyticMinLongShare"}},
		{"analyticMinLongShare below oltpMaxLongShare", func(c *Config) { c.AnalyticMinLongShare = 0.1 }, []string{"analyticMinLongShare"}},
		{"mixedMinShortRate negative", func(c *Config) { c.MixedMinShortRate = -1 }, []string{"mixedMinShortRate"}},
		{"minShortRate negative", func(c *Config) { c.MinShortRate = -1 }, []string{"minShortRate"}},
		{"minAnalyticBusy negative", func(c *Config) { c.MinAnalyticBusy = -0.1 }, []string{"minAnalyticBusy"}},
		{"bulkWALBytesPerMs negative", func(c *Config) { c.BulkWALBytesPerMs = -1 }, []string{"bulkWALBytesPerMs"}},
		{"history below windowsToSwitch", func(c *Config) { c.WindowsToSwitch = 5; c.History = 4 }, []string{"history"}},
		{"two bad fields", func(c *Config) { c.Window = 0; c.MinShortRate = -2 }, []string{"window", "minShortRate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{}.Default()
			tc.modify(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate accepted %+v", cfg)
			}
			var got []string
			for _, line := range strings.Split(err.Error(), "\n") {
				field, _, _ := strings.Cut(line, ":")
				got = append(got, field)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("fields in error %q (-want,+got):\n%s", err, diff)
			}
		})
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{MinCoverage: 2}, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "minCoverage:") {
		t.Errorf("New error = %v, want one naming minCoverage", err)
	}
}

func TestAnalyticWeight(t *testing.T) {
	for _, tc := range []struct {
		mean, want float64
	}{
		{0.01, 0}, {10, 0}, {500, 1}, {120000, 1},
		{math.Sqrt(10 * 500), 0.5}, // the geometric middle of the ramp
		{100, math.Log(10) / math.Log(50)},
	} {
		if got := analyticWeight(tc.mean, 10, 500); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("analyticWeight(%v) = %v, want %v", tc.mean, got, tc.want)
		}
	}
}
