package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Two rounds of a setting are one row, their mean, with each round's throughput beside it; the
// ratios are of the means.
func TestRoundsAveraged(t *testing.T) {
	dir := t.TempDir()
	item := func(setting, round string, avg float64) string {
		return fmt.Sprintf(`{"data":{"Average":%v,"Perc50":1,"Perc90":2},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput",`+
			`"Workload":"Typed","Nodes":"5000","MeasuredPods":"10000","Setting":%q,"Round":%q,"Scheduler":"x",`+
			`"PercentageOfNodesToScore":"adaptive","Shipped":"%v"}}`, avg, setting, round, setting == "likewise-adaptive")
	}
	data := `{"version":"v1","dataItems":[` + strings.Join([]string{
		item("likewise-adaptive", "1", 100), item("default-adaptive", "1", 110),
		item("default-adaptive", "2", 90), item("likewise-adaptive", "2", 120),
		`{"data":{"Duration":40},"unit":"s","labels":{"Metric":"SchedulingDuration","Workload":"Typed","Nodes":"5000","MeasuredPods":"10000","Setting":"likewise-adaptive","Round":"1"}}`,
		`{"data":{"Duration":60},"unit":"s","labels":{"Metric":"SchedulingDuration","Workload":"Typed","Nodes":"5000","MeasuredPods":"10000","Setting":"likewise-adaptive","Round":"2"}}`,
	}, ",") + `]}`
	if err := os.WriteFile(filepath.Join(dir, "Typed.json"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := read(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	print(&out, runs)
	for _, want := range []string{
		"2 rounds",
		"| likewise-adaptive (shipped) | 110.0 |",
		"| 200.0 |", // 20,000 pods in 100 s
		"| 100.0, 120.0 |",
		"| default-adaptive | 100.0 |",
		"at adaptive: 1.10",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
