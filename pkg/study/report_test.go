package study

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata from the hand-built report")

var testQueries = []string{"Q1", "Q3", "Q6"}

// testPhase builds a complete phase whose OLTP numbers derive from base and
// whose query times derive from qbase, so that every phase and setting has
// numbers of its own.
func testPhase(name string, base, qbase float64, quotaMilli int64, nodes []string) Phase {
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	placement := map[string]string{"oltp-1-0": nodes[0], "olap-1-0": nodes[len(nodes)-1]}
	if name != PhaseAlone {
		placement["oltp-2-0"] = nodes[len(nodes)-1]
		placement["olap-2-0"] = nodes[0]
	}
	ph := Phase{
		Name:      name,
		Placement: placement,
		OLTP: OLTPResult{
			Pod: "oltp-1-0", Node: nodes[0], Transactions: int(base * 100), Failed: 2,
			TPS: base + 0.25, NewOrderPerMinute: base*27 + 0.5,
			P50: ms(base / 100), P95: ms(base / 40), P99: ms(base / 20),
		},
	}
	for i, q := range testQueries {
		m := ms(qbase * float64(i+1) * 3.5)
		ph.OLAP = append(ph.OLAP, QueryResult{
			Pod: "olap-1-0", Node: nodes[len(nodes)-1], Query: q,
			Runs: []time.Duration{m - ms(1), m, m + ms(2)}, Median: m,
		})
	}
	for i, n := range nodes {
		ph.Nodes = append(ph.Nodes, NodeUse{Node: n, QuotaMilli: quotaMilli, Used: base/200 + float64(i)/10, OLTP: 1 + i, OLAP: 2 - i})
	}
	return ph
}

// testReport is a complete report of both settings.
func testReport() *Report {
	nodes := []string{"node-b", "node-a"} // not sorted: the outputs sort them
	return &Report{
		Started: time.Date(2026, 12, 1, 15, 4, 5, 0, time.UTC),
		Machine: Machine{Hostname: "study-host", Kernel: "6.8.0", CPUModel: "Test CPU <v2> & co", CPUs: 2,
			MemoryBytes: 8 << 30, Cgroups: "v1", PostgreSQL: "15.10"},
		Options: ReportOptions{Nodes: 2, Phase: time.Minute, Warmup: 10 * time.Second, OLTPClients: 2,
			OLTPWarehouses: 1, TPCHScaleFactor: 0.1, QueryRuns: 3, Background: "one client per database, 5 transactions/s"},
		Settings: []Setting{
			{
				Name: "spare", Description: "nodes of 1 CPU; OLAP has room", NodeCPUMilli: 1000,
				OLTPRequestMilli: 100, OLAPRequestMilli: 100, Moves: 4,
				Labels: map[string]string{"oltp-1": "oltp", "oltp-2": "oltp", "olap-1": "olap", "olap-2": "olap"},
				Phases: []Phase{
					testPhase(PhaseAlone, 100, 100, 1000, nodes),
					testPhase(PhaseMixed, 80, 160, 1000, nodes),
					testPhase(PhaseAfter, 90, 120, 1000, nodes),
				},
			},
			{
				Name: "saturated", Description: "nodes of 500m: requests < use & consolidation saturates", NodeCPUMilli: 500,
				OLTPRequestMilli: 40, OLAPRequestMilli: 120, Waiting: []string{"olap-2-0", "olap-3-0"},
				Labels: map[string]string{"oltp-1": "oltp", "olap-1": "olap", "olap-2": "olap"},
				Phases: []Phase{
					testPhase(PhaseAlone, 60, 60, 500, nodes),
					testPhase(PhaseMixed, 40, 80, 500, nodes),
					testPhase(PhaseAfter, 44, 76, 500, nodes),
					testPhase(PhaseForced, 30, 200, 500, nodes),
				},
			},
		},
	}
}

func TestValidateReport(t *testing.T) {
	tests := []struct {
		name   string
		report *Report
		mutate func(r *Report)
		want   []string
	}{
		{name: "complete", mutate: func(*Report) {}},
		{name: "no report", report: nil, want: []string{"report: missing"}},
		{
			name: "empty report", report: &Report{},
			want: []string{
				"started: missing",
				"machine.hostname: missing", "machine.kernel: missing", "machine.cpuModel: missing",
				"machine.cpus: missing", "machine.memoryBytes: missing", "machine.cgroups: missing",
				"machine.postgreSQL: missing",
				"options.nodes: missing", "options.phase: missing", "options.oltpClients: missing",
				"options.oltpWarehouses: missing", "options.tpchScaleFactor: missing", "options.queryRuns: missing",
				"options.background: missing",
				"settings: missing",
			},
		},
		{
			name:   "a query's median",
			mutate: func(r *Report) { r.Settings[1].Phases[2].OLAP[1].Median = 0 },
			want:   []string{"settings[1].phases[2].olap[1].median: missing"},
		},
		{
			name:   "a median outside its runs",
			mutate: func(r *Report) { r.Settings[0].Phases[0].OLAP[2].Median = time.Hour },
			want:   []string{"settings[0].phases[0].olap[2].median: 1h0m0s is outside the runs' range [1.049s, 1.052s]"},
		},
		{
			name: "a query's runs and name",
			mutate: func(r *Report) {
				r.Settings[0].Phases[1].OLAP[0].Runs = nil
				r.Settings[0].Phases[1].OLAP[2].Runs[1] = 0
			},
			want: []string{"settings[0].phases[1].olap[0].runs: missing", "settings[0].phases[1].olap[2].runs[1]: missing"},
		},
		{
			name:   "no queries",
			mutate: func(r *Report) { r.Settings[1].Phases[3].OLAP = nil },
			want:   []string{"settings[1].phases[3].olap: missing"},
		},
		{
			name: "other queries than alone's",
			mutate: func(r *Report) {
				r.Settings[0].Phases[2].OLAP[1].Query = "Q1"
			},
			want: []string{
				`settings[0].phases[2].olap[1].query: duplicate "Q1"`,
				"settings[0].phases[2].olap: queries [Q1 Q1 Q6] differ from alone's [Q1 Q3 Q6]",
			},
		},
		{
			name: "the OLTP result",
			mutate: func(r *Report) {
				o := &r.Settings[0].Phases[1].OLTP
				o.Transactions, o.TPS, o.NewOrderPerMinute, o.Failed = 0, 0, 0, -1
				o.P95 = o.P50 / 2
				r.Settings[1].Phases[0].OLTP.P99 = 0
			},
			want: []string{
				"settings[0].phases[1].oltp.transactions: missing",
				"settings[0].phases[1].oltp.failed: negative (-1)",
				"settings[0].phases[1].oltp.tps: missing",
				"settings[0].phases[1].oltp.newOrderPerMinute: missing",
				"settings[0].phases[1].oltp.p95: 400µs is below p50 (800µs)",
				"settings[1].phases[0].oltp.p99: missing",
			},
		},
		{
			name: "p99 below p95",
			mutate: func(r *Report) {
				o := &r.Settings[1].Phases[1].OLTP
				o.P99 = o.P95 - 1
			},
			want: []string{"settings[1].phases[1].oltp.p99: 999.999µs is below p95 (1ms)"},
		},
		{
			name:   "a missing phase",
			mutate: func(r *Report) { r.Settings[0].Phases = r.Settings[0].Phases[:2] },
			want:   []string{`settings[0].phases: missing "after"`},
		},
		{
			name: "forced in the spare setting, a duplicate and an unknown phase",
			mutate: func(r *Report) {
				s := &r.Settings[0]
				s.Phases = append(s.Phases, s.Phases[0], s.Phases[0])
				s.Phases[3].Name = PhaseForced
				s.Phases[4].Name = "later"
				s.Phases[1].Name = PhaseAlone
			},
			want: []string{
				`settings[0].phases[1].name: duplicate "alone"`,
				`settings[0].phases[3].name: "forced" belongs to the saturated setting only`,
				`settings[0].phases[4].name: "later" is not one of alone, mixed, after, forced`,
				`settings[0].phases: missing "mixed"`,
			},
		},
		{
			name: "placement",
			mutate: func(r *Report) {
				r.Settings[0].Phases[0].Placement = nil
				r.Settings[0].Phases[1].Placement["oltp-2-0"] = ""
				delete(r.Settings[0].Phases[2].Placement, "olap-1-0")
				r.Settings[1].Phases[1].OLTP.Node = "node-a"
			},
			want: []string{
				"settings[0].phases[0].placement: missing",
				"settings[0].phases[1].placement[oltp-2-0]: missing node",
				`settings[0].phases[2].placement: missing the measured pod "olap-1-0"`,
				`settings[0].phases[2].placement: missing the measured pod "olap-1-0"`,
				`settings[0].phases[2].placement: missing the measured pod "olap-1-0"`,
				`settings[1].phases[1].oltp.node: "node-a" but the placement puts pod "oltp-1-0" on "node-b"`,
			},
		},
		{
			name: "node use",
			mutate: func(r *Report) {
				r.Settings[0].Phases[0].Nodes = nil
				r.Settings[0].Phases[1].Nodes = r.Settings[0].Phases[1].Nodes[:1]
				r.Settings[1].Phases[2].Nodes[0].QuotaMilli = 0
				r.Settings[1].Phases[2].Nodes[1].Node = "node-b"
			},
			want: []string{
				"settings[0].phases[0].nodes: missing",
				`settings[0].phases[1].nodes: missing "node-a" (the placement puts pods on it)`,
				"settings[1].phases[2].nodes[0].quotaMilli: missing",
				`settings[1].phases[2].nodes[1].node: duplicate "node-b"`,
				`settings[1].phases[2].nodes: missing "node-a" (the placement puts pods on it)`,
			},
		},
		{
			name: "settings",
			mutate: func(r *Report) {
				r.Settings[1].Name = "spare"
				r.Settings[0].Description = ""
				r.Settings[0].NodeCPUMilli = 0
				r.Settings[0].OLAPRequestMilli = -5
				r.Settings[0].Waiting = []string{""}
				r.Settings[1].Labels["olap-2"] = ""
				r.Settings = append(r.Settings, Setting{Name: "huge"})
				r.Settings[2].Phases = []Phase{}
			},
			want: []string{
				"settings[0].description: missing",
				"settings[0].nodeCPUMilli: missing",
				"settings[0].olapRequestMilli: negative (-5)",
				"settings[0].waiting[0]: missing",
				`settings[1].name: duplicate "spare"`,
				"settings[1].labels[olap-2]: missing",
				`settings[1].phases[3].name: "forced" belongs to the saturated setting only`,
				`settings[2].name: "huge" is not spare or saturated`,
				"settings[2].description: missing",
				"settings[2].nodeCPUMilli: missing",
				"settings[2].oltpRequestMilli: missing",
				"settings[2].olapRequestMilli: missing",
				"settings[2].labels: missing",
				`settings[2].phases: missing "alone"`,
				`settings[2].phases: missing "mixed"`,
				`settings[2].phases: missing "after"`,
			},
		},
		{
			name: "machine and options",
			mutate: func(r *Report) {
				r.Machine.Cgroups = "v3"
				r.Machine.CPUs = -1
				r.Options.Warmup = -time.Second
				r.Options.NodeCPUMilli = -1
			},
			want: []string{
				"machine.cpus: negative (-1)",
				`machine.cgroups: "v3" is not v1 or v2`,
				"options.nodeCPUMilli: negative (-1)",
				"options.warmup: negative (-1s)",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.report
			if tc.mutate != nil {
				r = testReport()
				tc.mutate(r)
			}
			err := r.Validate()
			var got []string
			if err != nil {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("Validate returned %T (%v), want a *ValidationError", err, err)
				}
				for _, f := range ve.Fields {
					got = append(got, f.Error())
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("%d missing or invalid", len(got))) {
					t.Errorf("error %q does not count its %d fields", err, len(got))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate problems (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		runs []time.Duration
		want time.Duration
	}{
		{nil, 0},
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{9, 1, 5, 3}, 4},
	} {
		if got := Median(tc.runs); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.runs, got, tc.want)
		}
	}
}

// reportNumbers are strings each table must contain: every measured number of r.
func reportNumbers(r *Report) []string {
	var want []string
	for _, s := range r.Settings {
		want = append(want, "Setting "+s.Name, s.Description)
		for _, w := range s.Waiting {
			want = append(want, w)
		}
		for _, ph := range s.Phases {
			o := ph.OLTP
			want = append(want, num(o.TPS, 1), num(o.NewOrderPerMinute, 1), ms(o.P50), ms(o.P95), ms(o.P99))
			for _, q := range ph.OLAP {
				want = append(want, q.Query, ms(q.Median))
			}
			for _, n := range ph.Nodes {
				want = append(want, fmt.Sprintf("%.2f", n.Used))
			}
		}
	}
	return want
}

func TestWriteTable(t *testing.T) {
	r := testReport()
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatalf("WriteTable: %v", err)
	}
	out := b.String()
	want := append(reportNumbers(r),
		// Literal values of the hand-built report, so that a formatter's change shows.
		"100.2", "2700.5", // spare alone: TPS, new-order/min
		"1.00", "2.50", "5.00", // spare alone: p50, p95, p99 in ms
		"1050.00",            // spare alone Q6 median, ms
		"2100.00",            // spare alone: all queries (sum), ms
		"+12.5%",             // spare: Q1 median after vs mixed (315 ms after 280)
		"-20.0%",             // spare: p50 mixed vs alone
		"-25.0%",             // saturated: forced vs mixed, query time
		"forced vs after",    // the counterfactual's column
		"Nodes of 0.50 CPU",  // saturated nodes
		"olap-2-0, olap-3-0", // saturated: waiting
		"new-order/min (tpmC-like)",
		"Test CPU <v2> & co",
		"Classifier labels: olap-1=olap, olap-2=olap, oltp-1=oltp, oltp-2=oltp",
	)
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q", s)
		}
	}
	golden(t, "report.txt", b.Bytes())
}

func TestWriteMarkdown(t *testing.T) {
	r := testReport()
	r.Settings[0].Description = "a | b"
	var b bytes.Buffer
	if err := WriteMarkdown(&b, r); err != nil {
		t.Fatalf("WriteMarkdown: %v", err)
	}
	out := b.String()
	want := []string{"+12.5%", "### Setting spare: a \\| b", "| phase | pod | node |", "| --- | ---: |",
		"nodes of 500m: requests &lt; use & consolidation saturates", "Test CPU &lt;v2> & co", "olap-2=olap"}
	for _, s := range reportNumbers(r) {
		want = append(want, mdEscape(s))
	}
	for _, s := range want {
		if !strings.Contains(out, s) {
			t.Errorf("Markdown lacks %q", s)
		}
	}
	// Every row of a table has its header's number of cells.
	cells := 0
	for i, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			cells = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|")
		if cells == 0 {
			cells = n
		} else if n != cells {
			t.Errorf("line %d has %d cell separators, its table's header %d: %q", i+1, n, cells, line)
		}
	}
	golden(t, "report.md", b.Bytes())
}

func TestWriteSVG(t *testing.T) {
	r := testReport()
	var b1, b2 bytes.Buffer
	if err := WriteSVG(&b1, r); err != nil {
		t.Fatalf("WriteSVG: %v", err)
	}
	if err := WriteSVG(&b2, testReport()); err != nil {
		t.Fatalf("WriteSVG, second call: %v", err)
	}
	if !bytes.Equal(b1.Bytes(), b2.Bytes()) {
		t.Errorf("two calls on the same report gave different SVG")
	}

	// The whole document is well-formed XML; collect each setting's bars and labels.
	type settingSeen struct {
		tips   map[string]bool
		labels map[string]bool
	}
	seen := map[string]*settingSeen{}
	var cur *settingSeen
	var stack []string
	inBar, inLabel, root := false, false, ""
	dec := xml.NewDecoder(bytes.NewReader(b1.Bytes()))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			stack = append(stack, tok.Name.Local)
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch {
			case tok.Name.Local == "g" && strings.HasPrefix(attr["id"], "setting-"):
				cur = &settingSeen{tips: map[string]bool{}, labels: map[string]bool{}}
				seen[strings.TrimPrefix(attr["id"], "setting-")] = cur
			case tok.Name.Local == "rect" && attr["class"] == "bar":
				inBar = true
			case tok.Name.Local == "text" && attr["class"] == "group-label":
				inLabel = true
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
			switch tok.Name.Local {
			case "rect":
				inBar = false
			case "text":
				inLabel = false
			}
		case xml.CharData:
			switch {
			case cur != nil && inBar && stack[len(stack)-1] == "title":
				cur.tips[string(tok)] = true
			case cur != nil && inLabel:
				cur.labels[string(tok)] = true
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element %q, want svg", root)
	}
	for _, s := range r.Settings {
		ss := seen[s.Name]
		if ss == nil {
			t.Errorf("no panel for setting %s", s.Name)
			continue
		}
		for _, ph := range s.Phases {
			if !hasPrefix(ss.tips, ph.Name+": ") {
				t.Errorf("setting %s: no TPS bar for phase %s", s.Name, ph.Name)
			}
			if !ss.labels[ph.Name] {
				t.Errorf("setting %s: no label for phase %s", s.Name, ph.Name)
			}
			for _, q := range testQueries {
				if !hasPrefix(ss.tips, q+", "+ph.Name+": ") {
					t.Errorf("setting %s: no bar for query %s in phase %s", s.Name, q, ph.Name)
				}
			}
			for _, n := range []string{"node-a", "node-b"} {
				if !hasPrefix(ss.tips, n+", "+ph.Name+": ") {
					t.Errorf("setting %s: no CPU bar for node %s in phase %s", s.Name, n, ph.Name)
				}
			}
		}
		for _, q := range append(testQueries, "node-a", "node-b") {
			if !ss.labels[q] {
				t.Errorf("setting %s: no label %q", s.Name, q)
			}
		}
	}
	for _, s := range []string{"study-host", "Test CPU &lt;v2&gt; &amp; co", "transactions per second", "median time, ms", "CPUs (cgroup CPU time / wall time)"} {
		if !strings.Contains(b1.String(), s) {
			t.Errorf("SVG lacks %q", s)
		}
	}
	golden(t, "report.svg", b1.Bytes())
}

// TestWriteSVGPartial draws a report with missing numbers and phases without failing.
func TestWriteSVGPartial(t *testing.T) {
	r := testReport()
	r.Settings[0].Phases = r.Settings[0].Phases[:1]
	r.Settings[0].Phases[0].OLAP = nil
	r.Settings[0].Phases[0].Nodes = nil
	r.Settings[0].Phases[0].OLTP = OLTPResult{}
	r.Settings = append(r.Settings, Setting{Name: "empty"})
	for name, write := range map[string]func(io.Writer, *Report) error{"svg": WriteSVG, "table": WriteTable, "markdown": WriteMarkdown} {
		var b bytes.Buffer
		if err := write(&b, r); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "svg" {
			dec := xml.NewDecoder(&b)
			for {
				if _, err := dec.Token(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatalf("partial SVG is not well-formed XML: %v", err)
				}
			}
		}
	}
	for name, write := range map[string]func(io.Writer, *Report) error{"svg": WriteSVG, "table": WriteTable, "markdown": WriteMarkdown} {
		if err := write(io.Discard, nil); err == nil {
			t.Errorf("%s of a nil report: no error", name)
		}
	}
}

// TestWriteSVGLogScale draws query times of different orders of magnitude on
// a log axis, and many or long query names turned.
func TestWriteSVGLogScale(t *testing.T) {
	r := testReport()
	s := &r.Settings[0]
	for i := range s.Phases {
		ph := &s.Phases[i]
		for j := 0; j < 22; j++ {
			d := time.Duration(j+1) * time.Duration(j+1) * 10 * time.Millisecond
			ph.OLAP = append(ph.OLAP, QueryResult{Pod: "olap-1-0", Node: ph.OLAP[0].Node,
				Query: fmt.Sprintf("Q%d long name", j+1), Runs: []time.Duration{d}, Median: d})
		}
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("the report is not complete: %v", err)
	}
	var b bytes.Buffer
	if err := WriteSVG(&b, r); err != nil {
		t.Fatalf("WriteSVG: %v", err)
	}
	for _, want := range []string{"median time, ms (log scale)", `rotate(-40`, ">Q22 long name</text>", `>1000</text>`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	golden(t, "report-log.svg", b.Bytes())
	dec := xml.NewDecoder(&b)
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
	}
}

func hasPrefix(set map[string]bool, prefix string) bool {
	for s := range set {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

func TestReportJSON(t *testing.T) {
	r := testReport()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	// Durations are nanoseconds: spare alone's p50 is 1 ms.
	for _, s := range []string{`"p50": 1000000,`, `"phase": 60000000000,`, `"started": "2026-12-01T15:04:05Z"`} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("JSON lacks %s", s)
		}
	}
	got, err := ReadJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatalf("ReadJSON: %v", err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("JSON round trip (-want,+got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate after the round trip: %v", err)
	}

	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", `{"started":"2026-12-01T15:04:05Z","tpmc":1}`, `unknown field "tpmc"`},
		{"trailing data", `{"started":"2026-12-01T15:04:05Z"} {}`, "data after the report"},
		{"not JSON", `settings:`, "decoding JSON"},
		{"a duration as a string", `{"options":{"phase":"1m"}}`, "decoding JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadJSON(strings.NewReader(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadJSON(%s) = %v, want an error containing %q", tc.doc, err, tc.want)
			}
		})
	}
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file %s: %v (run the test with -update to write it)", path, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs from the output (-want,+got); run with -update if the change is meant:\n%s", path, diff)
	}
}
