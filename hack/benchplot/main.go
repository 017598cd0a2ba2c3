// Command benchplot draws `make bench`'s picture: scheduling throughput by cluster size, from the
// DataItems files hack/bench-scheduler.sh writes (scheduler_perf's JSON), one panel per workload,
// one line per scheduler and percentageOfNodesToScore (likewise beside kube-scheduler's default
// profile and the in-tree alternative). It writes a self-contained SVG.
//
//	go run ./hack/benchplot -in _output/bench/scheduler_perf/full -out docs/throughput.svg
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", filepath.Join("_output", "bench", "scheduler_perf", "full"), "directory of the DataItems JSON files")
	out := flag.String("out", "", "SVG file to write (default: <in>/throughput.svg)")
	flag.Parse()
	if *out == "" {
		*out = filepath.Join(*in, "throughput.svg")
	}
	points, err := readDir(*in)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchplot: %v\n", err)
		os.Exit(1)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchplot: %v\n", err)
		os.Exit(1)
	}
	if err := writeSVG(f, points); err != nil {
		fmt.Fprintf(os.Stderr, "benchplot: %v\n", err)
		os.Exit(1)
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "benchplot: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("benchplot: %d points from %s in %s\n", len(points), *in, *out)
}

// point is one setting's average throughput at one cluster size.
type point struct {
	Workload string
	Series   string // scheduler and percentageOfNodesToScore, e.g. "likewise, 100 %"
	Nodes    int
	PodsPerS float64
}

type dataItems struct {
	DataItems []struct {
		Data   map[string]float64 `json:"data"`
		Labels map[string]string  `json:"labels"`
	} `json:"dataItems"`
}

// readDir reads the SchedulingThroughput averages of every *.json file in dir.
func readDir(dir string) ([]point, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no DataItems files (*.json) in %s: run hack/bench-scheduler.sh first", dir)
	}
	var points []point
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		ps, err := parse(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		points = append(points, ps...)
	}
	if len(points) == 0 {
		return nil, fmt.Errorf("no SchedulingThroughput items in %s", dir)
	}
	return merge(points), nil
}

// merge averages the points of one series at one size (a setting's rounds, a control setting,
// two runs of a size), so that a line has one point per size; the order is kept.
func merge(points []point) []point {
	type key struct {
		workload, series string
		nodes            int
	}
	sum := map[key]float64{}
	n := map[key]int{}
	var out []point
	for _, p := range points {
		k := key{p.Workload, p.Series, p.Nodes}
		if n[k] == 0 {
			out = append(out, p)
		}
		sum[k] += p.PodsPerS
		n[k]++
	}
	for i, p := range out {
		k := key{p.Workload, p.Series, p.Nodes}
		out[i].PodsPerS = sum[k] / float64(n[k])
	}
	return out
}

// parse returns the SchedulingThroughput averages of one DataItems file.
func parse(r io.Reader) ([]point, error) {
	var d dataItems
	if err := json.NewDecoder(r).Decode(&d); err != nil {
		return nil, fmt.Errorf("not scheduler_perf DataItems: %w", err)
	}
	var out []point
	for i, it := range d.DataItems {
		if it.Labels["Metric"] != "SchedulingThroughput" {
			continue
		}
		nodes, err := strconv.Atoi(it.Labels["Nodes"])
		if err != nil {
			return nil, fmt.Errorf("dataItems[%d]: label Nodes %q: %v", i, it.Labels["Nodes"], err)
		}
		avg, ok := it.Data["Average"]
		if !ok {
			return nil, fmt.Errorf("dataItems[%d]: SchedulingThroughput without Average", i)
		}
		for _, l := range []string{"Workload", "Scheduler", "PercentageOfNodesToScore"} {
			if it.Labels[l] == "" {
				return nil, fmt.Errorf("dataItems[%d]: no label %s", i, l)
			}
		}
		pct := it.Labels["PercentageOfNodesToScore"]
		if pct != "adaptive" {
			pct += " %"
		}
		out = append(out, point{Workload: it.Labels["Workload"], Series: it.Labels["Scheduler"] + ", " + pct, Nodes: nodes, PodsPerS: avg})
	}
	return out, nil
}

// Layout of the picture.
const (
	panelW, panelH = 420, 300
	marginL        = 60
	marginT        = 50
	plotW, plotH   = panelW - marginL - 20, panelH - marginT - 50
	legendW        = 200
)

var colors = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"}

// writeSVG draws one panel per workload: pods/s (y) by nodes (x, one tick per size measured),
// a line per series, the same colour for a series in every panel.
func writeSVG(w io.Writer, points []point) error {
	workloads, series, sizes := keys(points)
	color := map[string]string{}
	for i, s := range series {
		color[s] = colors[i%len(colors)]
	}
	width := panelW*len(workloads) + legendW
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, panelH+20)
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="15">Scheduling throughput by cluster size (scheduler_perf, pods/s, average)</text>`+"\n")
	for wi, wl := range workloads {
		x0 := wi * panelW
		maxY := 0.0
		for _, p := range points {
			if p.Workload == wl && p.PodsPerS > maxY {
				maxY = p.PodsPerS
			}
		}
		maxY = niceCeil(maxY)
		fmt.Fprintf(&b, `<g transform="translate(%d,0)">`+"\n", x0)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, marginT-12, esc(wl))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", marginL, marginT, plotW, plotH)
		for t := 0; t <= 4; t++ {
			v := maxY * float64(t) / 4
			y := marginT + plotH - int(float64(plotH)*float64(t)/4)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#eee"/><text x="%d" y="%d" text-anchor="end">%.0f</text>`+"\n",
				marginL, y, marginL+plotW, y, marginL-5, y+4, v)
		}
		xOf := func(nodes int) int {
			i := sort.SearchInts(sizes, nodes)
			if len(sizes) == 1 {
				return marginL + plotW/2
			}
			return marginL + 20 + (plotW-40)*i/(len(sizes)-1)
		}
		yOf := func(v float64) int {
			if maxY == 0 {
				return marginT + plotH
			}
			return marginT + plotH - int(float64(plotH)*v/maxY)
		}
		for _, n := range sizes {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%d</text>`+"\n", xOf(n), marginT+plotH+16, n)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">nodes</text>`+"\n", marginL+plotW/2, marginT+plotH+34)
		for _, s := range series {
			var ps []point
			for _, p := range points {
				if p.Workload == wl && p.Series == s {
					ps = append(ps, p)
				}
			}
			sort.Slice(ps, func(i, j int) bool { return ps[i].Nodes < ps[j].Nodes })
			var path []string
			for _, p := range ps {
				path = append(path, fmt.Sprintf("%d,%d", xOf(p.Nodes), yOf(p.PodsPerS)))
				fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="3" fill="%s"><title>%s, %s, %d nodes: %.1f pods/s</title></circle>`+"\n",
					xOf(p.Nodes), yOf(p.PodsPerS), color[s], esc(wl), esc(s), p.Nodes, p.PodsPerS)
			}
			if len(path) > 1 {
				fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(path, " "), color[s])
			}
		}
		b.WriteString("</g>\n")
	}
	lx := panelW * len(workloads)
	for i, s := range series {
		y := marginT + 10 + i*18
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, y-10, color[s], lx+18, y, esc(s))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// keys returns the workloads, series and sizes of points, each sorted.
func keys(points []point) (workloads, series []string, sizes []int) {
	ws, ss, ns := map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, p := range points {
		ws[p.Workload], ss[p.Series], ns[p.Nodes] = true, true, true
	}
	for k := range ws {
		workloads = append(workloads, k)
	}
	for k := range ss {
		series = append(series, k)
	}
	for k := range ns {
		sizes = append(sizes, k)
	}
	sort.Strings(workloads)
	sort.Strings(series)
	sort.Ints(sizes)
	return workloads, series, sizes
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return escaper.Replace(s) }
