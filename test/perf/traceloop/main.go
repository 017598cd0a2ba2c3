// Command traceloop reads an execution trace of a scheduler_perf run (BENCH_TRACE=1
// hack/bench-scheduler.sh) and prints, per setting, where kube-scheduler's scheduling loop (the
// goroutine running Scheduler.ScheduleOne) spent its time: running, runnable (waiting for a
// CPU), waiting for the parallelizer's workers of one caller (Filter's findNodesThatPassFilters,
// Score's RunScorePlugins), waiting for a pod, and the rest. A setting is the span from its first
// pod bound to the next setting's (the trace.Log of category likewise-setting that the placement
// observer writes), so it includes the deletion of its pods and the creation of the next
// setting's, which the loop spends waiting for a pod.
//
//	cd test/perf/traceloop && go run . ../../../_output/bench/scheduler_perf/profile/<run>.trace
//
// A module of its own, for the trace parser (golang.org/x/exp/trace), which test/perf's
// scheduler_perf dependencies need not build against.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"golang.org/x/exp/trace"
)

// loopFunc is the function whose goroutine is the scheduling loop.
const loopFunc = "k8s.io/kubernetes/pkg/scheduler.(*Scheduler).ScheduleOne"

// category is the trace.Log category that starts a setting (test/perf's placement observer).
const category = "likewise-setting"

// phase is one setting's span and the loop's time in it, by what it did (nanoseconds), and how
// many times it waited on each thing.
type phase struct {
	name     string
	start    trace.Time
	duration int64
	time     map[string]int64
	waits    map[string]int64
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: traceloop <trace file>")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	phases, err := analyze(f, loopFunc)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	write(os.Stdout, phases)
}

// goroutine is what analyze tracks of one goroutine.
type goroutine struct {
	state trace.GoState
	since trace.Time
	loop  bool
	what  string // the current wait's
}

// analyze reads the trace and accounts the time of the goroutine(s) running loop, per phase.
func analyze(r io.Reader, loop string) ([]*phase, error) {
	tr, err := trace.NewReader(r)
	if err != nil {
		return nil, err
	}
	gs := map[trace.GoID]*goroutine{}
	cur := &phase{name: "(before the first setting)", time: map[string]int64{}, waits: map[string]int64{}}
	phases := []*phase{cur}
	account := func(g *goroutine, now trace.Time) {
		if d := int64(now - g.since); d > 0 && g.loop {
			k := g.state.String()
			if g.state == trace.GoWaiting {
				k = g.what
			}
			cur.time[k] += d
		}
		g.since = now
	}
	var last trace.Time
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		last = ev.Time()
		switch ev.Kind() {
		case trace.EventLog:
			if l := ev.Log(); l.Category == category {
				for _, g := range gs {
					account(g, ev.Time())
				}
				cur.duration = int64(ev.Time() - cur.start)
				cur = &phase{name: l.Message, start: ev.Time(), time: map[string]int64{}, waits: map[string]int64{}}
				phases = append(phases, cur)
			}
		case trace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != trace.ResourceGoroutine {
				continue
			}
			id := st.Resource.Goroutine()
			from, to := st.Goroutine()
			g := gs[id]
			if g == nil {
				g = &goroutine{state: from, since: ev.Time()}
				gs[id] = g
			}
			account(g, ev.Time())
			// The goroutine's own stack: the transition's, or the event's when it runs on it
			// (an unblocking event's stack is the unblocker's).
			stk := st.Stack
			if stk == trace.NoStack && ev.Goroutine() == id {
				stk = ev.Stack()
			}
			var frames []string
			for fr := range stk.Frames() {
				frames = append(frames, fr.Func)
			}
			if from != trace.GoNotExist && to != trace.GoRunnable && slices.Contains(frames, loop) {
				g.loop = true
			}
			if to == trace.GoWaiting {
				g.what = waitingFor(frames)
				if g.loop {
					cur.waits[g.what]++
				}
			}
			g.state = to
		}
	}
	for _, g := range gs {
		account(g, last)
	}
	cur.duration = int64(last - cur.start)
	return phases, nil
}

// waitingFor names a wait by the first frame outside the runtime, sync and the parallelizer,
// prefixed with "workers of" when the goroutine waits for the parallelizer's.
func waitingFor(frames []string) string {
	parallel := false
	for _, fn := range frames {
		switch {
		case strings.Contains(fn, "ParallelizeUntil") || strings.Contains(fn, "/parallelize."):
			parallel = true
		case strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "sync.") || strings.HasPrefix(fn, "internal/"):
		default:
			name := fn[strings.LastIndex(fn, "/")+1:]
			if parallel {
				return "workers of " + name
			}
			return "waiting in " + name
		}
	}
	return "waiting"
}

// write prints one table per phase that the loop was busy in.
func write(w io.Writer, phases []*phase) {
	for _, p := range phases {
		if len(p.time) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s: %.3f s\n\n| the loop | s | waits |\n|---|---|---|\n", p.name, float64(p.duration)/1e9)
		keys := make([]string, 0, len(p.time))
		for k := range p.time {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return p.time[keys[i]] > p.time[keys[j]] })
		for _, k := range keys {
			if p.time[k] < 1e7 { // under 10 ms
				continue
			}
			waits := ""
			if n := p.waits[k]; n > 0 {
				waits = fmt.Sprint(n)
			}
			fmt.Fprintf(w, "| %s | %.3f | %s |\n", k, float64(p.time[k])/1e9, waits)
		}
		fmt.Fprintln(w)
	}
}
