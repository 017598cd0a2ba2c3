package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

const sample = `{"version":"v1","dataItems":[
 {"data":{"Average":200.5,"Perc50":190},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Workload":"Typed","Nodes":"500","Scheduler":"likewise","PercentageOfNodesToScore":"100"}},
 {"data":{"Average":210},"unit":"pods/s","labels":{"Metric":"SchedulingThroughput","Workload":"Typed","Nodes":"5000","Scheduler":"default","PercentageOfNodesToScore":"adaptive"}},
 {"data":{"Perc99":12},"unit":"ms","labels":{"Metric":"scheduler_scheduling_attempt_duration_seconds","Nodes":"500"}}
]}`

func TestParseAndDraw(t *testing.T) {
	points, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 || points[0].PodsPerS != 200.5 || points[0].Series != "likewise, 100 %" || points[1].Series != "default, adaptive" {
		t.Fatalf("points = %+v", points)
	}
	var a, b bytes.Buffer
	if err := writeSVG(&a, points); err != nil {
		t.Fatal(err)
	}
	if err := writeSVG(&b, points); err != nil || a.String() != b.String() {
		t.Fatalf("two drawings of the same points differ (%v)", err)
	}
	d := xml.NewDecoder(bytes.NewReader(a.Bytes()))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, a.String())
		}
	}
	for _, want := range []string{"Typed", "likewise, 100 %", "default, adaptive", ">500<", ">5000<", "200.5 pods/s"} {
		if !strings.Contains(a.String(), want) {
			t.Errorf("the SVG lacks %q", want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not JSON":   `nope`,
		"bad nodes":  `{"dataItems":[{"data":{"Average":1},"labels":{"Metric":"SchedulingThroughput","Workload":"W","Nodes":"x","Scheduler":"s","PercentageOfNodesToScore":"100"}}]}`,
		"no average": `{"dataItems":[{"data":{"Perc50":1},"labels":{"Metric":"SchedulingThroughput","Workload":"W","Nodes":"5","Scheduler":"s","PercentageOfNodesToScore":"100"}}]}`,
		"no label":   `{"dataItems":[{"data":{"Average":1},"labels":{"Metric":"SchedulingThroughput","Nodes":"5","Scheduler":"s","PercentageOfNodesToScore":"100"}}]}`,
	} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parse accepted it", name)
		}
	}
}

// Two rounds of a setting, or a control setting, are one point: their mean.
func TestMerge(t *testing.T) {
	got := merge([]point{
		{Workload: "Typed", Series: "likewise, adaptive", Nodes: 5000, PodsPerS: 100},
		{Workload: "Typed", Series: "default, adaptive", Nodes: 5000, PodsPerS: 90},
		{Workload: "Typed", Series: "likewise, adaptive", Nodes: 5000, PodsPerS: 120},
		{Workload: "Typed", Series: "likewise, adaptive", Nodes: 500, PodsPerS: 300},
		{Workload: "Plain", Series: "likewise, adaptive", Nodes: 5000, PodsPerS: 7},
	})
	want := []point{
		{Workload: "Typed", Series: "likewise, adaptive", Nodes: 5000, PodsPerS: 110},
		{Workload: "Typed", Series: "default, adaptive", Nodes: 5000, PodsPerS: 90},
		{Workload: "Typed", Series: "likewise, adaptive", Nodes: 500, PodsPerS: 300},
		{Workload: "Plain", Series: "likewise, adaptive", Nodes: 5000, PodsPerS: 7},
	}
	if len(got) != len(want) {
		t.Fatalf("merge = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("merge[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
