package study

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The picture's geometry, in SVG user units (pixels).
const (
	svgWidth     = 1240.0
	svgMargin    = 20.0
	svgLineH     = 16.0
	svgPlotH     = 230.0
	svgBelowFlat = 40.0 // room under a plot for its group labels
	svgBelowTurn = 95.0 // the same, when they are turned
	svgWrap      = 190  // characters per line of small text
)

// The three plots of a panel: OLTP TPS, each query's median, CPU per node.
var (
	tpsPlot   = plotBox{x: 75, w: 170}
	queryPlot = plotBox{x: 330, w: 560}
	cpuPlot   = plotBox{x: 975, w: 245}
)

// phaseColors colours each phase the same in every plot and the legend.
var phaseColors = map[string]string{
	PhaseAlone:  "#8c8c8c",
	PhaseMixed:  "#d95f02",
	PhaseAfter:  "#1b9e77",
	PhaseForced: "#7570b3",
}

// otherColors colour phases of other names, in the order they appear.
var otherColors = []string{"#e7298a", "#66a61e", "#e6ab02", "#a6761d"}

type plotBox struct{ x, w float64 }

// bar is one bar of a plot.
type bar struct {
	value float64 // ≤ 0: no bar
	color string
	tip   string  // the tooltip
	above string  // small text above the bar
	ref   float64 // > 0: a dashed mark at this value across the bar (a node's quota)
}

// group is the bars drawn side by side above one label.
type group struct {
	label string
	bars  []bar
}

// plot is one bar chart.
type plot struct {
	box           plotBox
	top           float64
	title, yLabel string
	groups        []group
	log           bool
	rotate        bool // the group labels, when they are long or many
}

// svgWriter accumulates the document; no method fails, as it writes to memory.
type svgWriter struct {
	b bytes.Buffer
}

func (s *svgWriter) printf(format string, args ...any) { fmt.Fprintf(&s.b, format, args...) }

// esc escapes s for text or an attribute value.
func esc(s string) string {
	var b strings.Builder
	// A strings.Builder does not fail, nor does EscapeText on it.
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func f1(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

func (s *svgWriter) text(x, y float64, size int, anchor, attrs, body string) {
	s.printf(`<text x="%s" y="%s" font-size="%d" text-anchor="%s"%s>%s</text>`+"\n", f1(x), f1(y), size, anchor, attrs, esc(body))
}

// WriteSVG writes a self-contained SVG picture of r: a title naming the
// machine and the options, a legend of the phases, and one panel per setting
// with the measured OLTP database's TPS, each query's median time and each
// node's CPU use, one bar per phase. The same report gives the same bytes.
func WriteSVG(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("study report: no report to draw")
	}
	colors := phaseColorsOf(r)

	var body svgWriter
	y := svgMargin + 18
	body.text(svgMargin, y, 18, "start", ` font-weight="bold"`, "likewise study: OLTP and OLAP PostgreSQL databases on CPU-bounded nodes")
	if r.Options.Short {
		y += svgLineH
		body.text(svgMargin, y, 12, "start", ` fill="#b00"`, "short mode: a check of the mechanism; its numbers mean nothing")
	}
	_, lines := r.header()
	for _, l := range lines {
		for _, part := range wrap(l, svgWrap) {
			y += svgLineH
			body.text(svgMargin, y, 11, "start", "", part)
		}
	}

	// The legend.
	y += svgLineH + 6
	x := svgMargin
	body.text(x, y, 12, "start", "", "phases:")
	x += 55
	for _, name := range phaseNamesOf(r) {
		body.printf(`<rect x="%s" y="%s" width="12" height="12" fill="%s"/>`+"\n", f1(x), f1(y-10), colors[name])
		body.text(x+16, y, 12, "start", "", name)
		x += 30 + 8*float64(len(name))
	}
	body.text(x+10, y, 11, "start", ` fill="#555"`, "dashed line: a node's CPU quota; n/m above a node's bar: its OLTP/OLAP database pods")
	y += 10

	for i := range r.Settings {
		y = drawSetting(&body, &r.Settings[i], colors, y+24)
	}
	height := y + svgMargin

	var doc svgWriter
	doc.printf(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	doc.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%s" height="%s" viewBox="0 0 %s %s" font-family="sans-serif">`+"\n",
		f1(svgWidth), f1(height), f1(svgWidth), f1(height))
	doc.printf(`<title>%s</title>`+"\n", esc("likewise study on "+r.Machine.Hostname))
	doc.printf(`<rect x="0" y="0" width="%s" height="%s" fill="white"/>`+"\n", f1(svgWidth), f1(height))
	doc.b.Write(body.b.Bytes())
	doc.printf("</svg>\n")
	if _, err := w.Write(doc.b.Bytes()); err != nil {
		return fmt.Errorf("study report: writing SVG: %w", err)
	}
	return nil
}

// drawSetting draws one setting's panel from y down and returns where it ends.
func drawSetting(s *svgWriter, st *Setting, colors map[string]string, y float64) float64 {
	top := y
	s.printf(`<g class="setting" id="%s">`+"\n", esc("setting-"+st.Name))
	s.text(svgMargin, y, 15, "start", ` font-weight="bold"`, "Setting "+st.Name)
	sec := settingSection(st)
	phases := orderedPhases(st)
	lines := append(wrap(st.Description, svgWrap), sec.lines...)
	lines = append(lines, fmt.Sprintf("measured: OLTP %s, OLAP %s", measuredPod(phases, true), measuredPod(phases, false)))
	for _, l := range lines {
		y += svgLineH
		s.text(svgMargin, y, 11, "start", "", l)
	}
	plotTop := y + 40

	tps := plot{box: tpsPlot, top: plotTop, title: "OLTP throughput", yLabel: "transactions per second"}
	for _, ph := range phases {
		tps.groups = append(tps.groups, group{label: ph.Name, bars: []bar{{
			value: ph.OLTP.TPS, color: colors[ph.Name], above: num(ph.OLTP.TPS, 1),
			tip: fmt.Sprintf("%s: %s TPS, %s new-order/min, p50 %s ms, p95 %s ms, p99 %s ms", ph.Name,
				num(ph.OLTP.TPS, 1), num(ph.OLTP.NewOrderPerMinute, 1), ms(ph.OLTP.P50), ms(ph.OLTP.P95), ms(ph.OLTP.P99)),
		}}})
	}

	queries := settingQueries(phases)
	qp := plot{box: queryPlot, top: plotTop, title: "TPC-H-style queries: median time", yLabel: "median time, ms"}
	var lo, hi float64
	for _, q := range queries {
		g := group{label: q}
		for _, ph := range phases {
			d, _ := findQuery(ph, q)
			v := float64(d) / float64(time.Millisecond)
			g.bars = append(g.bars, bar{value: v, color: colors[ph.Name], tip: fmt.Sprintf("%s, %s: %s ms", q, ph.Name, ms(d))})
			if v > 0 {
				if lo == 0 || v < lo {
					lo = v
				}
				hi = max(hi, v)
			}
		}
		qp.rotate = qp.rotate || len(q) > 4
		qp.groups = append(qp.groups, g)
	}
	qp.rotate = qp.rotate || len(queries) > 12
	// Queries differ in length by orders of magnitude; a linear axis would hide the short ones.
	if lo > 0 && hi/lo >= 20 {
		qp.log = true
		qp.yLabel = "median time, ms (log scale)"
	}

	cpu := plot{box: cpuPlot, top: plotTop, title: "CPU used per node", yLabel: "CPUs (cgroup CPU time / wall time)"}
	for _, node := range nodeNames(phases) {
		g := group{label: node}
		for _, ph := range phases {
			b := bar{color: colors[ph.Name]}
			for _, n := range ph.Nodes {
				if n.Node == node {
					b.value, b.ref = n.Used, float64(n.QuotaMilli)/1000
					b.above = fmt.Sprintf("%d/%d", n.OLTP, n.OLAP)
					b.tip = fmt.Sprintf("%s, %s: %.2f of %s CPUs; %d OLTP, %d OLAP pods", node, ph.Name, n.Used,
						milliCPU(n.QuotaMilli), n.OLTP, n.OLAP)
				}
			}
			g.bars = append(g.bars, b)
		}
		cpu.rotate = cpu.rotate || len(node) > 8
		cpu.groups = append(cpu.groups, g)
	}

	for _, p := range []*plot{&tps, &qp, &cpu} {
		drawPlot(s, p)
	}
	s.printf("</g>\n")
	end := plotTop + svgPlotH + svgBelowFlat
	if qp.rotate || cpu.rotate {
		end = plotTop + svgPlotH + svgBelowTurn
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#ccc"/>`+"\n", f1(svgMargin), f1(top-18), f1(svgWidth-svgMargin), f1(top-18))
	return end
}

func drawPlot(s *svgWriter, p *plot) {
	x0, w, top, h := p.box.x, p.box.w, p.top, svgPlotH
	bottom := top + h
	s.text(x0, top-14, 12, "start", ` font-weight="bold"`, p.title)

	var values []float64
	for _, g := range p.groups {
		for _, b := range g.bars {
			if b.value > 0 {
				values = append(values, b.value)
			}
			if b.ref > 0 {
				values = append(values, b.ref)
			}
		}
	}
	ax := newAxis(values, p.log)
	for _, t := range ax.ticks {
		ty := bottom - ax.frac(t)*h
		s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e5e5e5"/>`+"\n", f1(x0), f1(ty), f1(x0+w), f1(ty))
		s.text(x0-5, ty+4, 10, "end", "", ax.label(t))
	}
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", f1(x0), f1(top), f1(x0), f1(bottom))
	s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black"/>`+"\n", f1(x0), f1(bottom), f1(x0+w), f1(bottom))
	lx, ly := x0-45, top+h/2
	s.text(lx, ly, 11, "middle", fmt.Sprintf(` transform="rotate(-90 %s %s)"`, f1(lx), f1(ly)), p.yLabel)
	if len(values) == 0 {
		s.text(x0+w/2, top+h/2, 12, "middle", ` fill="#888"`, "no data")
	}
	if len(p.groups) == 0 {
		return
	}

	gw := w / float64(len(p.groups))
	for gi, g := range p.groups {
		gx := x0 + gw*float64(gi)
		inner := gw * 0.8
		bw := inner / float64(max(len(g.bars), 1))
		for i, b := range g.bars {
			bx := gx + gw*0.1 + bw*float64(i)
			if b.value > 0 {
				by := bottom - ax.frac(b.value)*h
				s.printf(`<rect class="bar" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`+"\n",
					f1(bx), f1(by), f1(math.Max(bw-1, 1)), f1(math.Max(bottom-by, 0.5)), b.color, esc(b.tip))
				if b.above != "" {
					s.text(bx+bw/2, by-3, 9, "middle", "", b.above)
				}
			}
			if b.ref > 0 {
				ry := bottom - ax.frac(b.ref)*h
				s.printf(`<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="black" stroke-dasharray="3,2"/>`+"\n",
					f1(bx), f1(ry), f1(bx+bw-1), f1(ry))
			}
		}
		cx := gx + gw/2
		if p.rotate {
			s.text(cx, bottom+12, 10, "end", fmt.Sprintf(` class="group-label" transform="rotate(-40 %s %s)"`, f1(cx), f1(bottom+12)), g.label)
		} else {
			s.text(cx, bottom+14, 11, "middle", ` class="group-label"`, g.label)
		}
	}
}

// axis maps values to [0, 1] of a plot's height, linearly from 0 or
// logarithmically between powers of ten.
type axis struct {
	log    bool
	lo, hi float64
	ticks  []float64
	dec    int // decimals of the linear ticks' labels
}

func newAxis(values []float64, log bool) axis {
	if len(values) == 0 {
		return axis{lo: 0, hi: 1, ticks: []float64{0, 1}}
	}
	lo, hi := slices.Min(values), slices.Max(values)
	if log && lo > 0 {
		// Below the least value, so that its bar shows even when it is a power of ten.
		a := axis{log: true, lo: math.Pow(10, math.Floor(math.Log10(lo*0.9))), hi: math.Pow(10, math.Ceil(math.Log10(hi)))}
		if a.hi <= a.lo {
			a.hi = a.lo * 10
		}
		for t := a.lo; t <= a.hi*1.0001; t *= 10 {
			a.ticks = append(a.ticks, t)
		}
		return a
	}
	step := niceStep(hi / 5)
	a := axis{hi: math.Ceil(hi/step) * step, dec: max(0, int(-math.Floor(math.Log10(step))))}
	for i := 0; float64(i)*step <= a.hi*1.0001; i++ {
		a.ticks = append(a.ticks, float64(i)*step)
	}
	return a
}

// niceStep is the smallest of 1, 2 or 5 times a power of ten not below raw.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func (a axis) frac(v float64) float64 {
	if a.log {
		if v <= 0 {
			return 0
		}
		return (math.Log10(v) - math.Log10(a.lo)) / (math.Log10(a.hi) - math.Log10(a.lo))
	}
	if a.hi <= a.lo {
		return 0
	}
	return (v - a.lo) / (a.hi - a.lo)
}

func (a axis) label(v float64) string {
	if a.log {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return strconv.FormatFloat(v, 'f', a.dec, 64)
}

// phaseNamesOf returns every phase name of r, in report order.
func phaseNamesOf(r *Report) []string {
	var names []string
	for i := range r.Settings {
		for _, ph := range orderedPhases(&r.Settings[i]) {
			if !slices.Contains(names, ph.Name) {
				names = append(names, ph.Name)
			}
		}
	}
	slices.SortStableFunc(names, func(a, b string) int { return phaseRank(a) - phaseRank(b) })
	return names
}

func phaseRank(name string) int {
	if i := slices.Index(phaseOrder, name); i >= 0 {
		return i
	}
	return len(phaseOrder)
}

func phaseColorsOf(r *Report) map[string]string {
	colors := map[string]string{}
	other := 0
	for _, name := range phaseNamesOf(r) {
		if c, ok := phaseColors[name]; ok {
			colors[name] = c
			continue
		}
		colors[name] = otherColors[other%len(otherColors)]
		other++
	}
	return colors
}

// measuredPod names the measured OLTP (or OLAP) database's pod of the phases.
func measuredPod(phases []*Phase, oltp bool) string {
	for _, ph := range phases {
		if oltp && ph.OLTP.Pod != "" {
			return ph.OLTP.Pod
		}
		if !oltp && len(ph.OLAP) > 0 && ph.OLAP[0].Pod != "" {
			return ph.OLAP[0].Pod
		}
	}
	return none
}

// nodeNames returns the sorted names of the nodes the phases measured.
func nodeNames(phases []*Phase) []string {
	var names []string
	for _, ph := range phases {
		for _, n := range ph.Nodes {
			if !slices.Contains(names, n.Node) {
				names = append(names, n.Node)
			}
		}
	}
	slices.Sort(names)
	return names
}

// wrap breaks s at spaces into lines of at most n characters (a longer word stays whole).
func wrap(s string, n int) []string {
	var lines []string
	var cur strings.Builder
	for _, word := range strings.Fields(s) {
		if cur.Len() > 0 && cur.Len()+1+len(word) > n {
			lines = append(lines, cur.String())
			cur.Reset()
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(word)
	}
	if cur.Len() > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
