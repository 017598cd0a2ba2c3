// Command summary prints hack/bench-scheduler.sh's DataItems files as Markdown tables: per
// workload and size, each setting's throughput, attempt latency and placement quality (averaged
// over a run's rounds, BENCH_ROUNDS), then the ratios the targets are about, each from one run.
//
//	cd test/perf && go run ./summary ../../_output/bench/scheduler_perf/full
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

type dataItems struct {
	DataItems []struct {
		Data   map[string]float64 `json:"data"`
		Labels map[string]string  `json:"labels"`
	} `json:"dataItems"`
}

// row is one setting of one run, over its rounds.
type row struct {
	setting, scheduler, pct string
	shipped                 bool
	rounds                  map[int]*sample
	// pods is the SettingPods label: the pods the setting measured ("" in older files).
	pods string
}

// sample is one round of a setting.
type sample struct {
	avg, p50, p90 float64
	// durationS is scheduler_perf's SchedulingDuration: from the first pod's creation until the
	// last is scheduled, in seconds.
	durationS float64
	p99ms     float64 // scheduling attempt latency, scheduled pods
	// Average time of the extension points that run over the nodes, ms per pod.
	filterMs, scoreMs float64
	mixing            string
	users             string
}

// mean averages f over the row's rounds.
func (r *row) mean(f func(*sample) float64) float64 {
	if len(r.rounds) == 0 {
		return 0
	}
	sum := 0.0
	for _, s := range r.rounds {
		sum += f(s)
	}
	return sum / float64(len(r.rounds))
}

// inOrder is the row's rounds by number.
func (r *row) inOrder() []*sample {
	keys := make([]int, 0, len(r.rounds))
	for k := range r.rounds {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	out := make([]*sample, len(keys))
	for i, k := range keys {
		out[i] = r.rounds[k]
	}
	return out
}

// joined lists a text of each round, once if every round has the same.
func (r *row) joined(f func(*sample) string) string {
	var parts []string
	for _, s := range r.inOrder() {
		if v := f(s); v != "" && !slices.Contains(parts, v) {
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, " / ")
}

// run is one file: one workload at one size.
type run struct {
	workload string
	nodes    int
	pods     string
	rows     map[string]*row
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: summary <directory of DataItems files>")
		os.Exit(2)
	}
	runs, err := read(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "summary: %v\n", err)
		os.Exit(1)
	}
	print(os.Stdout, runs)
}

func read(dir string) ([]*run, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var runs []*run
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d dataItems
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		r := &run{rows: map[string]*row{}}
		for _, it := range d.DataItems {
			l := it.Labels
			if l["Setting"] == "" || l["Setting"] == "not applicable" {
				continue
			}
			r.workload, r.pods = l["Workload"], l["MeasuredPods"]
			r.nodes, _ = strconv.Atoi(l["Nodes"])
			x := r.rows[l["Setting"]]
			if x == nil {
				x = &row{setting: l["Setting"], scheduler: l["Scheduler"], pct: l["PercentageOfNodesToScore"],
					shipped: l["Shipped"] == "true", rounds: map[int]*sample{}}
				if l["SettingPods"] != "not applicable" {
					x.pods = l["SettingPods"]
				}
				r.rows[l["Setting"]] = x
			}
			round, err := strconv.Atoi(l["Round"])
			if err != nil {
				round = 1 // files written before rounds
			}
			s := x.rounds[round]
			if s == nil {
				s = &sample{}
				x.rounds[round] = s
			}
			switch l["Metric"] {
			case "SchedulingThroughput":
				s.avg, s.p50, s.p90 = it.Data["Average"], it.Data["Perc50"], it.Data["Perc90"]
			case "SchedulingDuration":
				s.durationS = it.Data["Duration"]
			case "scheduler_scheduling_attempt_duration_seconds":
				if l["result"] == "scheduled" {
					s.p99ms = it.Data["Perc99"]
				}
			case "scheduler_framework_extension_point_duration_seconds":
				switch l["extension_point"] {
				case "Filter":
					s.filterMs = it.Data["Average"]
				case "Score":
					s.scoreMs = it.Data["Average"]
				}
			case "Mixing":
				s.mixing = fmt.Sprintf("%.0f (initial %.0f)", it.Data["Mixing"], it.Data["Initial"])
			case "UserSpread":
				s.users = fmt.Sprintf("%.0f-%.0f (sd %.2f)", it.Data["Min"], it.Data["Max"], it.Data["Stddev"])
			}
		}
		if len(r.rows) > 0 {
			runs = append(runs, r)
		}
	}
	order := map[string]int{"Plain": 0, "Typed": 1, "TypedPools": 2, "Notebook": 3, "Mixed": 4}
	sort.Slice(runs, func(i, j int) bool {
		if runs[i].nodes != runs[j].nodes {
			return runs[i].nodes < runs[j].nodes
		}
		return order[runs[i].workload] < order[runs[j].workload]
	})
	return runs, nil
}

var settingOrder = []string{"likewise-100", "default-100", "likewise-adaptive", "default-adaptive", "intree-adaptive", "default-100-control"}

func print(w io.Writer, runs []*run) {
	for _, r := range runs {
		n := 1
		for _, x := range r.rows {
			n = max(n, len(x.rounds))
		}
		fmt.Fprintf(w, "\n%s, %d nodes, %s measured pods", r.workload, r.nodes, r.pods)
		if n > 1 {
			fmt.Fprintf(w, ", %d rounds (every even one in reverse order; the columns are their means)", n)
		}
		fmt.Fprint(w, "\n\n")
		fmt.Fprint(w, "| Setting | pods/s avg | p50 | p90 | pods ÷ duration | attempt p99 ms | Filter ms | Score ms | mixing | users per node |")
		if n > 1 {
			fmt.Fprint(w, " pods/s by round |")
		}
		fmt.Fprint(w, "\n|---|---|---|---|---|---|---|---|---|---|")
		if n > 1 {
			fmt.Fprint(w, "---|")
		}
		fmt.Fprintln(w)
		for _, name := range settingOrder {
			x := r.rows[name]
			if x == nil {
				continue
			}
			label := x.setting
			if x.shipped {
				label += " (shipped)"
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %s | %.0f | %.2f | %.2f | %s | %s |", label,
				x.mean(func(s *sample) float64 { return s.avg }), x.mean(func(s *sample) float64 { return s.p50 }),
				x.mean(func(s *sample) float64 { return s.p90 }), rate(r.pods, x), x.mean(func(s *sample) float64 { return s.p99ms }),
				x.mean(func(s *sample) float64 { return s.filterMs }), x.mean(func(s *sample) float64 { return s.scoreMs }),
				dash(x.joined(func(s *sample) string { return s.mixing })), dash(x.joined(func(s *sample) string { return s.users })))
			if n > 1 {
				var avgs []string
				for _, s := range x.inOrder() {
					avgs = append(avgs, fmt.Sprintf("%.1f", s.avg))
				}
				fmt.Fprintf(w, " %s |", strings.Join(avgs, ", "))
			}
			fmt.Fprintln(w)
		}
		var shipped *row
		for _, x := range r.rows {
			if x.shipped {
				shipped = x
			}
		}
		avg := func(s *sample) float64 { return s.avg }
		p99 := func(s *sample) float64 { return s.p99ms }
		ratio := func(a, b string) string {
			x, y := r.rows[a], r.rows[b]
			if x == nil || y == nil || y.mean(avg) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", x.mean(avg)/y.mean(avg))
		}
		latency := func(a, b *row) string {
			if a == nil || b == nil || b.mean(p99) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f", a.mean(p99)/b.mean(p99))
		}
		fmt.Fprintf(w, "\nThroughput likewise/default at 100 %%: %s, at adaptive: %s", ratio("likewise-100", "default-100"), ratio("likewise-adaptive", "default-adaptive"))
		if shipped != nil {
			fmt.Fprintf(w, "; shipped (%s) / default-adaptive: %s", shipped.setting, ratio(shipped.setting, "default-adaptive"))
			fmt.Fprintf(w, "; p99 latency shipped / default-adaptive: %s, likewise-100 / default-100: %s",
				latency(shipped, r.rows["default-adaptive"]), latency(r.rows["likewise-100"], r.rows["default-100"]))
			if r.rows["intree-adaptive"] != nil {
				fmt.Fprintf(w, "; shipped / in-tree: %s", ratio(shipped.setting, "intree-adaptive"))
			}
		}
		if r.rows["default-100-control"] != nil {
			fmt.Fprintf(w, "; control (default-100 again, last) / default-100: %s", ratio("default-100-control", "default-100"))
		}
		fmt.Fprintln(w, ".")
	}
}

// rate is the measured pods over the rounds' total SchedulingDuration: a throughput that, unlike
// the average of one-second samples, weighs every pod alike. pods is the workload's; a setting
// that measured another number says so (SettingPods), and an in-tree setting of a file written
// before that label has no rate (it may have measured fewer).
func rate(pods string, x *row) string {
	switch {
	case x.pods != "":
		pods = x.pods
	case x.scheduler == "intree":
		return "-"
	}
	n, err := strconv.Atoi(pods)
	total := 0.0
	for _, s := range x.rounds {
		total += s.durationS
	}
	if err != nil || total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(n*len(x.rounds))/total)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
