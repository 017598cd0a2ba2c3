package study

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Names of the capacity settings Validate accepts. (The phase names,
// PhaseAlone and the others, are declared beside the driver.)
const (
	// settingSpare is the setting where the analytic node keeps CPU to spare after separation.
	settingSpare = "spare"
	// settingSaturated is the setting where consolidation would saturate the analytic node.
	settingSaturated = "saturated"
)

// phaseOrder is the order in which phases are reported, whatever order a report lists them in.
var phaseOrder = []string{PhaseAlone, PhaseMixed, PhaseAfter, PhaseForced}

// Report is one run of the study.
//
// Its JSON form (WriteJSON, ReadJSON) uses the field names of the json tags;
// every time.Duration is an integer count of nanoseconds (encoding/json's
// encoding of time.Duration) and Started is RFC 3339.
type Report struct {
	Started  time.Time     `json:"started"`
	Machine  Machine       `json:"machine"`
	Options  ReportOptions `json:"options"`
	Settings []Setting     `json:"settings"`
}

// Machine describes the host the study ran on.
type Machine struct {
	Hostname    string `json:"hostname"`
	Kernel      string `json:"kernel"`
	CPUModel    string `json:"cpuModel"`
	CPUs        int    `json:"cpus"`
	MemoryBytes int64  `json:"memoryBytes"`
	// Cgroups is the cgroup version that bounds the nodes: "v1" or "v2".
	Cgroups string `json:"cgroups"`
	// PostgreSQL is the version of the PostgreSQL servers.
	PostgreSQL string `json:"postgreSQL"`
}

// ReportOptions are the options the study ran with.
type ReportOptions struct {
	Nodes int `json:"nodes"`
	// NodeCPUMilli is each node's CPU when every setting has the same; zero when
	// the settings differ (each Setting says its own).
	NodeCPUMilli int64 `json:"nodeCPUMilli,omitempty"`
	// Phase is each measurement's length.
	Phase  time.Duration `json:"phase"`
	Warmup time.Duration `json:"warmup"`
	// OLTPClients and OLTPWarehouses size the TPC-C-like load of the measured OLTP database.
	OLTPClients    int `json:"oltpClients"`
	OLTPWarehouses int `json:"oltpWarehouses"`
	// TPCHScaleFactor is the scale factor of the TPC-H-style data; QueryRuns the runs of each query.
	TPCHScaleFactor float64 `json:"tpchScaleFactor"`
	QueryRuns       int     `json:"queryRuns"`
	// Background is the stated background load of the databases not under measurement, in words.
	Background string `json:"background"`
	// Short is set when the run was the short mode of the tests.
	Short bool `json:"short"`
}

// Setting is one capacity setting of the study and its phases.
type Setting struct {
	// Name is "spare" or "saturated".
	Name        string `json:"name"`
	Description string `json:"description"`
	// NodeCPUMilli is each node's allocatable CPU in this setting, and so its
	// cgroup's quota; it overrides ReportOptions.NodeCPUMilli.
	NodeCPUMilli int64 `json:"nodeCPUMilli"`
	// OLTPRequestMilli and OLAPRequestMilli are the pods' CPU requests.
	OLTPRequestMilli int64   `json:"oltpRequestMilli"`
	OLAPRequestMilli int64   `json:"olapRequestMilli"`
	Phases           []Phase `json:"phases"`
	// Labels is the workload type the classifier gave each database (database → type),
	// from which the rebalancer chose the moves to "after".
	Labels map[string]string `json:"labels"`
	// Moves counts the rebalancer evictions that led to the "after" placement.
	Moves int `json:"moves"`
	// Waiting lists the pods the rebalancer left in place with WaitingForCapacity.
	Waiting []string `json:"waiting,omitempty"`
}

// Phase is one measurement of a setting.
type Phase struct {
	// Name is "alone", "mixed", "after" or "forced".
	Name string `json:"name"`
	// Placement maps each pod to its node.
	Placement map[string]string `json:"placement"`
	// OLTP is the result of the measured OLTP database.
	OLTP OLTPResult `json:"oltp"`
	// OLAP holds each TPC-H query of the measured OLAP database, in query order.
	OLAP  []QueryResult `json:"olap"`
	Nodes []NodeUse     `json:"nodes"`
	// Pods is each database's CPU use during the measurement, beside its request: what shows
	// whether the requests reflect use.
	Pods []PodUse `json:"pods,omitempty"`
}

// PodUse is one database's CPU use during a measurement.
type PodUse struct {
	Pod  string `json:"pod"`
	Kind string `json:"kind"` // "oltp" or "olap"
	// Measured says it carried the measured load, not the background one.
	Measured     bool    `json:"measured"`
	RequestMilli int64   `json:"requestMilli"`
	Used         float64 `json:"used"` // CPUs used on average (its cgroup's CPU time / wall time)
}

// OLTPResult is the TPC-C-like load's result on the measured OLTP database.
type OLTPResult struct {
	Pod          string  `json:"pod"`
	Node         string  `json:"node"`
	Transactions int     `json:"transactions"`
	Failed       int     `json:"failed"`
	TPS          float64 `json:"tps"`
	// NewOrderPerMinute is the tpmC-like figure: new-order transactions per minute.
	NewOrderPerMinute float64       `json:"newOrderPerMinute"`
	P50               time.Duration `json:"p50"`
	P95               time.Duration `json:"p95"`
	P99               time.Duration `json:"p99"`
}

// QueryResult is one TPC-H-style query's runs on the measured OLAP database.
type QueryResult struct {
	Pod    string          `json:"pod"`
	Node   string          `json:"node"`
	Query  string          `json:"query"`
	Runs   []time.Duration `json:"runs"`
	Median time.Duration   `json:"median"`
}

// NodeUse is a node's CPU use during a measurement.
type NodeUse struct {
	Node       string `json:"node"`
	QuotaMilli int64  `json:"quotaMilli"`
	// Used is the CPUs used on average during the measurement (cgroup CPU time / wall time).
	Used float64 `json:"used"`
	// OLTP and OLAP count the database pods on the node.
	OLTP int `json:"oltp"`
	OLAP int `json:"olap"`
}

// Median returns the median of runs (the mean of the middle two for an even
// count), or 0 when there are none. It does not modify runs.
func Median(runs []time.Duration) time.Duration {
	if len(runs) == 0 {
		return 0
	}
	s := slices.Clone(runs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return s[m-1] + (s[m]-s[m-1])/2
}

// FieldError is one missing or invalid field of a Report.
type FieldError struct {
	// Path names the field, as in "settings[1].phases[2].olap[3].median".
	Path string
	// Problem says what is wrong with it, as in "missing".
	Problem string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Problem }

// ValidationError lists every missing or invalid field Validate found.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "study report: %d missing or invalid field(s):", len(e.Fields))
	for _, f := range e.Fields {
		b.WriteString("\n  ")
		b.WriteString(f.Error())
	}
	return b.String()
}

// validator collects FieldErrors.
type validator struct{ errs []FieldError }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
}

func (v *validator) str(path, s string) {
	if s == "" {
		v.add(path, "missing")
	}
}

// positive reports a zero as missing and a negative value as invalid.
func positive[T int | int64 | float64 | time.Duration](v *validator, path string, x T) {
	switch {
	case x == 0:
		v.add(path, "missing")
	case x < 0:
		v.add(path, "negative (%v)", x)
	}
}

func nonNegative[T int | int64 | float64 | time.Duration](v *validator, path string, x T) {
	if x < 0 {
		v.add(path, "negative (%v)", x)
	}
}

// Validate checks that r has every field a full run must have: the machine,
// the options, and for each setting its phases alone, mixed and after (and
// forced, which only the saturated setting may have), each with a placement,
// an OLTP result with transactions and ordered percentiles, every query with
// its runs and median, and a NodeUse for every node the phase placed a pod on.
// It returns nil or a *ValidationError listing every problem by its path.
func (r *Report) Validate() error {
	if r == nil {
		return &ValidationError{Fields: []FieldError{{Path: "report", Problem: "missing"}}}
	}
	v := &validator{}
	if r.Started.IsZero() {
		v.add("started", "missing")
	}

	m := r.Machine
	v.str("machine.hostname", m.Hostname)
	v.str("machine.kernel", m.Kernel)
	v.str("machine.cpuModel", m.CPUModel)
	positive(v, "machine.cpus", m.CPUs)
	positive(v, "machine.memoryBytes", m.MemoryBytes)
	switch m.Cgroups {
	case "v1", "v2":
	case "":
		v.add("machine.cgroups", "missing")
	default:
		v.add("machine.cgroups", "%q is not v1 or v2", m.Cgroups)
	}
	v.str("machine.postgreSQL", m.PostgreSQL)

	o := r.Options
	positive(v, "options.nodes", o.Nodes)
	nonNegative(v, "options.nodeCPUMilli", o.NodeCPUMilli)
	positive(v, "options.phase", o.Phase)
	nonNegative(v, "options.warmup", o.Warmup)
	positive(v, "options.oltpClients", o.OLTPClients)
	positive(v, "options.oltpWarehouses", o.OLTPWarehouses)
	positive(v, "options.tpchScaleFactor", o.TPCHScaleFactor)
	positive(v, "options.queryRuns", o.QueryRuns)
	v.str("options.background", o.Background)

	if len(r.Settings) == 0 {
		v.add("settings", "missing")
	}
	seen := map[string]bool{}
	for i := range r.Settings {
		s := &r.Settings[i]
		p := fmt.Sprintf("settings[%d]", i)
		switch s.Name {
		case settingSpare, settingSaturated:
			if seen[s.Name] {
				v.add(p+".name", "duplicate %q", s.Name)
			}
			seen[s.Name] = true
		case "":
			v.add(p+".name", "missing")
		default:
			v.add(p+".name", "%q is not %s or %s", s.Name, settingSpare, settingSaturated)
		}
		v.setting(p, s)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return &ValidationError{Fields: v.errs}
}

func (v *validator) setting(p string, s *Setting) {
	v.str(p+".description", s.Description)
	positive(v, p+".nodeCPUMilli", s.NodeCPUMilli)
	positive(v, p+".oltpRequestMilli", s.OLTPRequestMilli)
	positive(v, p+".olapRequestMilli", s.OLAPRequestMilli)
	nonNegative(v, p+".moves", s.Moves)
	for i, w := range s.Waiting {
		v.str(fmt.Sprintf("%s.waiting[%d]", p, i), w)
	}
	if len(s.Labels) == 0 {
		v.add(p+".labels", "missing")
	}
	for _, db := range sortedKeys(s.Labels) {
		if s.Labels[db] == "" {
			v.add(fmt.Sprintf("%s.labels[%s]", p, db), "missing")
		}
	}

	found := map[string]int{}
	for i := range s.Phases {
		ph := &s.Phases[i]
		pp := fmt.Sprintf("%s.phases[%d]", p, i)
		switch ph.Name {
		case PhaseAlone, PhaseMixed, PhaseAfter:
		case PhaseForced:
			if s.Name != settingSaturated {
				v.add(pp+".name", "%q belongs to the %s setting only", ph.Name, settingSaturated)
			}
		case "":
			v.add(pp+".name", "missing")
		default:
			v.add(pp+".name", "%q is not one of %s", ph.Name, strings.Join(phaseOrder, ", "))
		}
		if _, dup := found[ph.Name]; dup && ph.Name != "" {
			v.add(pp+".name", "duplicate %q", ph.Name)
		} else {
			found[ph.Name] = i
		}
		v.phase(pp, ph)
	}
	for _, want := range []string{PhaseAlone, PhaseMixed, PhaseAfter} {
		if _, ok := found[want]; !ok {
			v.add(p+".phases", "missing %q", want)
		}
	}

	// Comparisons need the same queries in every phase.
	if ai, ok := found[PhaseAlone]; ok {
		ref := queryNames(s.Phases[ai].OLAP)
		for i := range s.Phases {
			if i == ai {
				continue
			}
			if got := queryNames(s.Phases[i].OLAP); len(got) > 0 && !slices.Equal(got, ref) {
				v.add(fmt.Sprintf("%s.phases[%d].olap", p, i), "queries [%s] differ from alone's [%s]",
					strings.Join(got, " "), strings.Join(ref, " "))
			}
		}
	}
}

func queryNames(q []QueryResult) []string {
	names := make([]string, len(q))
	for i := range q {
		names[i] = q[i].Query
	}
	return names
}

func (v *validator) phase(p string, ph *Phase) {
	if len(ph.Placement) == 0 {
		v.add(p+".placement", "missing")
	}
	for _, pod := range sortedKeys(ph.Placement) {
		if pod == "" {
			v.add(p+".placement", "a pod without a name")
		}
		if ph.Placement[pod] == "" {
			v.add(fmt.Sprintf("%s.placement[%s]", p, pod), "missing node")
		}
	}

	o := &ph.OLTP
	op := p + ".oltp"
	v.str(op+".pod", o.Pod)
	v.str(op+".node", o.Node)
	v.placed(p, op, o.Pod, o.Node, ph.Placement)
	positive(v, op+".transactions", o.Transactions)
	nonNegative(v, op+".failed", o.Failed)
	positive(v, op+".tps", o.TPS)
	positive(v, op+".newOrderPerMinute", o.NewOrderPerMinute)
	positive(v, op+".p50", o.P50)
	positive(v, op+".p95", o.P95)
	positive(v, op+".p99", o.P99)
	if o.P50 > 0 && o.P95 > 0 && o.P95 < o.P50 {
		v.add(op+".p95", "%v is below p50 (%v)", o.P95, o.P50)
	}
	if o.P95 > 0 && o.P99 > 0 && o.P99 < o.P95 {
		v.add(op+".p99", "%v is below p95 (%v)", o.P99, o.P95)
	}

	if len(ph.OLAP) == 0 {
		v.add(p+".olap", "missing")
	}
	queries := map[string]bool{}
	for i := range ph.OLAP {
		q := &ph.OLAP[i]
		qp := fmt.Sprintf("%s.olap[%d]", p, i)
		v.str(qp+".pod", q.Pod)
		v.str(qp+".node", q.Node)
		v.placed(p, qp, q.Pod, q.Node, ph.Placement)
		v.str(qp+".query", q.Query)
		if q.Query != "" && queries[q.Query] {
			v.add(qp+".query", "duplicate %q", q.Query)
		}
		queries[q.Query] = true
		if len(q.Runs) == 0 {
			v.add(qp+".runs", "missing")
		}
		for j, d := range q.Runs {
			positive(v, fmt.Sprintf("%s.runs[%d]", qp, j), d)
		}
		positive(v, qp+".median", q.Median)
		if q.Median > 0 && len(q.Runs) > 0 {
			lo, hi := slices.Min(q.Runs), slices.Max(q.Runs)
			if q.Median < lo || q.Median > hi {
				v.add(qp+".median", "%v is outside the runs' range [%v, %v]", q.Median, lo, hi)
			}
		}
	}

	if len(ph.Nodes) == 0 {
		v.add(p+".nodes", "missing")
	}
	nodes := map[string]bool{}
	for i := range ph.Nodes {
		n := &ph.Nodes[i]
		np := fmt.Sprintf("%s.nodes[%d]", p, i)
		v.str(np+".node", n.Node)
		if n.Node != "" && nodes[n.Node] {
			v.add(np+".node", "duplicate %q", n.Node)
		}
		nodes[n.Node] = true
		positive(v, np+".quotaMilli", n.QuotaMilli)
		nonNegative(v, np+".used", n.Used)
		nonNegative(v, np+".oltp", n.OLTP)
		nonNegative(v, np+".olap", n.OLAP)
	}
	if len(ph.Nodes) > 0 {
		var want []string
		for _, pod := range sortedKeys(ph.Placement) {
			if n := ph.Placement[pod]; n != "" && !nodes[n] && !slices.Contains(want, n) {
				want = append(want, n)
			}
		}
		sort.Strings(want)
		for _, n := range want {
			v.add(p+".nodes", "missing %q (the placement puts pods on it)", n)
		}
	}
}

// placed checks that a measured pod's node agrees with the phase's placement.
func (v *validator) placed(phasePath, path, pod, node string, placement map[string]string) {
	if pod == "" || node == "" || len(placement) == 0 {
		return
	}
	got, ok := placement[pod]
	switch {
	case !ok:
		v.add(phasePath+".placement", "missing the measured pod %q", pod)
	case got != node:
		v.add(path+".node", "%q but the placement puts pod %q on %q", node, pod, got)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteJSON writes r as indented JSON, which ReadJSON reads back.
func (r *Report) WriteJSON(w io.Writer) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("study report: encoding JSON: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("study report: writing JSON: %w", err)
	}
	return nil
}

// ReadJSON reads a report that WriteJSON wrote. An unknown field or trailing
// data is an error; it does not validate the report (call Validate for that).
func ReadJSON(rd io.Reader) (*Report, error) {
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	r := &Report{}
	if err := dec.Decode(r); err != nil {
		return nil, fmt.Errorf("study report: decoding JSON: %w", err)
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("study report: decoding JSON: data after the report")
	}
	return r, nil
}

// table is one table of the report, rendered by WriteTable and WriteMarkdown.
type table struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

// section is a setting's heading, its summary lines and its tables.
type section struct {
	heading string
	lines   []string
	tables  []table
}

const none = "-"

// orderedPhases returns s's phases in report order: alone, mixed, after,
// forced, then any other name as listed.
func orderedPhases(s *Setting) []*Phase {
	var out []*Phase
	for _, name := range phaseOrder {
		for i := range s.Phases {
			if s.Phases[i].Name == name {
				out = append(out, &s.Phases[i])
				break
			}
		}
	}
	for i := range s.Phases {
		if !slices.Contains(phaseOrder, s.Phases[i].Name) {
			out = append(out, &s.Phases[i])
		}
	}
	return out
}

// settingQueries returns the queries of s's phases, in the order of the first
// phase (in report order) that lists them.
func settingQueries(phases []*Phase) []string {
	var out []string
	for _, ph := range phases {
		for _, q := range ph.OLAP {
			if !slices.Contains(out, q.Query) {
				out = append(out, q.Query)
			}
		}
	}
	return out
}

func findQuery(ph *Phase, query string) (time.Duration, bool) {
	for _, q := range ph.OLAP {
		if q.Query == query {
			return q.Median, q.Median > 0
		}
	}
	return 0, false
}

// totalQueries is the sum of a phase's query medians.
func totalQueries(ph *Phase) (time.Duration, bool) {
	var t time.Duration
	for _, q := range ph.OLAP {
		t += q.Median
	}
	return t, t > 0
}

func ms(d time.Duration) string {
	if d <= 0 {
		return none
	}
	return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond))
}

func milliCPU(m int64) string { return fmt.Sprintf("%.2f", float64(m)/1000) }

func num(x float64, prec int) string {
	if x <= 0 {
		return none
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// change formats the relative change from a to b as a signed percentage.
func change(a, b float64) string {
	if a <= 0 || b <= 0 {
		return none
	}
	return fmt.Sprintf("%+.1f%%", (b-a)/a*100)
}

// header returns the report's heading lines: the machine and the options.
func (r *Report) header() (string, []string) {
	m, o := r.Machine, r.Options
	mode := "full run"
	if o.Short {
		mode = "short mode"
	}
	nodeCPU := "CPU per setting"
	if o.NodeCPUMilli > 0 {
		nodeCPU = milliCPU(o.NodeCPUMilli) + " CPU each"
	}
	lines := []string{
		fmt.Sprintf("Started %s (%s)", r.Started.UTC().Format(time.RFC3339), mode),
		fmt.Sprintf("Machine: %s, %s, %s, %d CPUs, %.1f GiB memory, cgroups %s, PostgreSQL %s",
			m.Hostname, m.Kernel, m.CPUModel, m.CPUs, float64(m.MemoryBytes)/(1<<30), m.Cgroups, m.PostgreSQL),
		fmt.Sprintf("Nodes: %d, %s; each measurement %v after %v warm-up", o.Nodes, nodeCPU, o.Phase, o.Warmup),
		fmt.Sprintf("OLTP: TPC-C-like mix, %d clients, %d warehouses; OLAP: TPC-H-style queries at scale factor %g, %d runs each",
			o.OLTPClients, o.OLTPWarehouses, o.TPCHScaleFactor, o.QueryRuns),
		"Background load: " + o.Background,
	}
	return "likewise study", lines
}

// sections builds every setting's tables.
func (r *Report) sections() []section {
	var out []section
	for i := range r.Settings {
		out = append(out, settingSection(&r.Settings[i]))
	}
	return out
}

func settingSection(s *Setting) section {
	phases := orderedPhases(s)
	waiting := none
	if len(s.Waiting) > 0 {
		waiting = strings.Join(s.Waiting, ", ")
	}
	sec := section{
		heading: fmt.Sprintf("Setting %s: %s", s.Name, s.Description),
		lines: []string{
			fmt.Sprintf("Nodes of %s CPU; CPU requests: OLTP %dm, OLAP %dm; rebalancer evictions before \"after\": %d; left waiting for capacity: %s",
				milliCPU(s.NodeCPUMilli), s.OLTPRequestMilli, s.OLAPRequestMilli, s.Moves, waiting),
		},
	}
	if len(s.Labels) > 0 {
		labels := make([]string, 0, len(s.Labels))
		for _, db := range sortedKeys(s.Labels) {
			labels = append(labels, db+"="+s.Labels[db])
		}
		sec.lines = append(sec.lines, "Classifier labels: "+strings.Join(labels, ", "))
	}

	oltp := table{
		title:  "OLTP (measured database)",
		header: []string{"phase", "pod", "node", "transactions", "failed", "TPS", "new-order/min (tpmC-like)", "p50 ms", "p95 ms", "p99 ms"},
	}
	for _, ph := range phases {
		o := ph.OLTP
		oltp.rows = append(oltp.rows, []string{ph.Name, o.Pod, o.Node, fmt.Sprint(o.Transactions), fmt.Sprint(o.Failed),
			num(o.TPS, 1), num(o.NewOrderPerMinute, 1), ms(o.P50), ms(o.P95), ms(o.P99)})
	}

	queries := settingQueries(phases)
	olap := table{title: "OLAP query median, ms (measured database)", header: []string{"query"}}
	for _, ph := range phases {
		olap.header = append(olap.header, ph.Name)
	}
	for _, q := range queries {
		row := []string{q}
		for _, ph := range phases {
			d, _ := findQuery(ph, q)
			row = append(row, ms(d))
		}
		olap.rows = append(olap.rows, row)
	}
	total := []string{"all queries (sum)"}
	for _, ph := range phases {
		d, _ := totalQueries(ph)
		total = append(total, ms(d))
	}
	olap.rows = append(olap.rows, total)

	cpu := table{
		title:  "CPU per node",
		header: []string{"phase", "node", "used CPUs", "quota CPUs", "used/quota", "oltp pods", "olap pods"},
	}
	for _, ph := range phases {
		nodes := slices.Clone(ph.Nodes)
		slices.SortFunc(nodes, func(a, b NodeUse) int { return strings.Compare(a.Node, b.Node) })
		for _, n := range nodes {
			share := none
			if n.QuotaMilli > 0 {
				share = fmt.Sprintf("%.0f%%", n.Used/(float64(n.QuotaMilli)/1000)*100)
			}
			cpu.rows = append(cpu.rows, []string{ph.Name, n.Node, fmt.Sprintf("%.2f", n.Used), milliCPU(n.QuotaMilli),
				share, fmt.Sprint(n.OLTP), fmt.Sprint(n.OLAP)})
		}
	}

	pods := table{
		title:  "CPU per database, millicores used (the background ones: their mean), beside the requests",
		header: []string{"phase", "OLTP request", "background OLTP", "measured OLTP", "OLAP request", "background OLAP", "measured OLAP"},
	}
	for _, ph := range phases {
		if len(ph.Pods) == 0 {
			continue
		}
		row := []string{ph.Name}
		for _, kind := range []string{"oltp", "olap"} {
			var req int64
			var bg, measured []float64
			for _, u := range ph.Pods {
				if u.Kind != kind {
					continue
				}
				req = u.RequestMilli
				if u.Measured {
					measured = append(measured, u.Used)
				} else {
					bg = append(bg, u.Used)
				}
			}
			row = append(row, fmt.Sprintf("%dm", req), meanMilli(bg), meanMilli(measured))
		}
		pods.rows = append(pods.rows, row)
	}

	rel := table{
		title:  "Relative change",
		header: []string{"measure"},
		notes: []string{
			"TPS and new-order/min: + is more throughput. Latencies and query times: + is slower, - is faster.",
		},
	}
	byName := map[string]*Phase{}
	for _, ph := range phases {
		byName[ph.Name] = ph
	}
	var pairs [][2]*Phase
	for _, pr := range [][2]string{
		{PhaseAlone, PhaseMixed}, {PhaseAlone, PhaseAfter}, {PhaseMixed, PhaseAfter},
		{PhaseAlone, PhaseForced}, {PhaseMixed, PhaseForced}, {PhaseAfter, PhaseForced},
	} {
		if a, b := byName[pr[0]], byName[pr[1]]; a != nil && b != nil {
			pairs = append(pairs, [2]*Phase{a, b})
			rel.header = append(rel.header, pr[1]+" vs "+pr[0])
		}
	}
	measures := []struct {
		name string
		of   func(*Phase) float64
	}{
		{"OLTP TPS", func(ph *Phase) float64 { return ph.OLTP.TPS }},
		{"new-order/min", func(ph *Phase) float64 { return ph.OLTP.NewOrderPerMinute }},
		{"p50", func(ph *Phase) float64 { return float64(ph.OLTP.P50) }},
		{"p95", func(ph *Phase) float64 { return float64(ph.OLTP.P95) }},
		{"p99", func(ph *Phase) float64 { return float64(ph.OLTP.P99) }},
	}
	for _, q := range queries {
		measures = append(measures, struct {
			name string
			of   func(*Phase) float64
		}{q + " median", func(ph *Phase) float64 { d, _ := findQuery(ph, q); return float64(d) }})
	}
	measures = append(measures, struct {
		name string
		of   func(*Phase) float64
	}{"all queries (sum)", func(ph *Phase) float64 { d, _ := totalQueries(ph); return float64(d) }})
	for _, m := range measures {
		row := []string{m.name}
		for _, pr := range pairs {
			row = append(row, change(m.of(pr[0]), m.of(pr[1])))
		}
		rel.rows = append(rel.rows, row)
	}

	sec.tables = []table{oltp, olap, cpu}
	if len(pods.rows) > 0 {
		sec.tables = append(sec.tables, pods)
	}
	if len(pairs) > 0 {
		sec.tables = append(sec.tables, rel)
	}
	return sec
}

// WriteTable writes r's tables for a terminal: the machine and options, then
// per setting the OLTP result, each query's median, the CPU per node of every
// phase, and each measure's change between phases.
func WriteTable(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("study report: no report to write")
	}
	var b bytes.Buffer
	title, lines := r.header()
	fmt.Fprintf(&b, "%s\n%s\n", title, strings.Repeat("=", len(title)))
	for _, l := range lines {
		fmt.Fprintln(&b, l)
	}
	for _, sec := range r.sections() {
		fmt.Fprintf(&b, "\n%s\n%s\n", sec.heading, strings.Repeat("-", len([]rune(sec.heading))))
		for _, l := range sec.lines {
			fmt.Fprintln(&b, l)
		}
		for _, t := range sec.tables {
			fmt.Fprintf(&b, "\n%s\n", t.title)
			tw := newTabWriter(&b)
			fmt.Fprintln(tw, strings.Join(t.header, "\t"))
			for _, row := range t.rows {
				fmt.Fprintln(tw, strings.Join(row, "\t"))
			}
			if err := tw.Flush(); err != nil {
				return fmt.Errorf("study report: table %q: %w", t.title, err)
			}
			for _, n := range t.notes {
				fmt.Fprintln(&b, n)
			}
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("study report: writing table: %w", err)
	}
	return nil
}

// WriteMarkdown writes the tables of WriteTable in Markdown, for docs/study.md.
func WriteMarkdown(w io.Writer, r *Report) error {
	if r == nil {
		return errors.New("study report: no report to write")
	}
	var b bytes.Buffer
	_, lines := r.header()
	for _, l := range lines {
		fmt.Fprintf(&b, "- %s\n", mdEscape(l))
	}
	for _, sec := range r.sections() {
		fmt.Fprintf(&b, "\n### %s\n\n", mdEscape(sec.heading))
		for _, l := range sec.lines {
			fmt.Fprintf(&b, "%s\n", mdEscape(l))
		}
		for _, t := range sec.tables {
			fmt.Fprintf(&b, "\n**%s**\n\n", mdEscape(t.title))
			writeMDRow(&b, t.header)
			sep := make([]string, len(t.header))
			for i := range sep {
				sep[i] = "---:"
				if i == 0 {
					sep[i] = "---"
				}
			}
			writeMDRow(&b, sep)
			for _, row := range t.rows {
				esc := make([]string, len(row))
				for i, c := range row {
					esc[i] = mdEscape(c)
				}
				writeMDRow(&b, esc)
			}
			for _, n := range t.notes {
				fmt.Fprintf(&b, "\n%s\n", mdEscape(n))
			}
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("study report: writing Markdown: %w", err)
	}
	return nil
}

func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

func writeMDRow(b *bytes.Buffer, cells []string) {
	fmt.Fprintf(b, "| %s |\n", strings.Join(cells, " | "))
}

// mdEscape keeps a cell's text from breaking the table or turning into markup.
var mdReplacer = strings.NewReplacer(`\`, `\\`, "|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", "\n", " ")

func mdEscape(s string) string { return mdReplacer.Replace(s) }

// meanMilli renders the mean of CPU uses in millicores, "-" for none.
func meanMilli(used []float64) string {
	if len(used) == 0 {
		return none
	}
	sum := 0.0
	for _, u := range used {
		sum += u
	}
	return fmt.Sprintf("%.0fm", sum/float64(len(used))*1000)
}
