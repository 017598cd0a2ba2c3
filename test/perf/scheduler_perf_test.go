// Package perf measures likewise-scheduler's throughput with Kubernetes' own scheduler benchmark,
// test/integration/scheduler_perf: an in-process kube-apiserver on a fresh etcd per workload, the
// scheduler with likewise's plugins registered as the scheduler binary registers them, and
// scheduler_perf's collectors (throughput, attempt latency, extension points, plugins). It is a
// module of its own so that the main module never builds scheduler_perf's test dependencies.
//
// hack/bench-scheduler.sh runs it and says where the results go.
package perf

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/kubernetes/pkg/scheduler"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	perf "k8s.io/kubernetes/test/integration/scheduler_perf"
	"k8s.io/kubernetes/test/utils/ktesting"

	_ "k8s.io/component-base/logs/json/register"

	"github.com/likewise-dev/likewise/pkg/plugins"
)

// topic names the JSON file scheduler_perf writes: BenchmarkPerfScheduling_benchmark_<topic>_<time>.json.
const topic = "likewise"

func TestMain(m *testing.M) {
	if err := perf.InitTests(); err != nil {
		fmt.Fprintf(os.Stderr, "%v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// registry is the out-of-tree registry of the scheduler binary (cmd/scheduler), from the same
// list of plugins.
func registry() (frameworkruntime.Registry, error) {
	r := frameworkruntime.Registry{}
	for _, opt := range plugins.RegistryOptions() {
		if err := opt(r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// results holds each workload's placement quality until the JSON file is written, by workload
// name (BenchmarkPerfScheduling/<workload>/<size>).
var results = struct {
	sync.Mutex
	byWorkload map[string][]quality
}{byWorkload: map[string][]quality{}}

// observe is scheduler_perf's NodeUpdateFn: once the nodes exist (before any pod), it starts
// recording where pods are bound, and judges the placements when the workload ends.
func observe(tCtx ktesting.TContext, sched *scheduler.Scheduler, _ *perf.Workload, nodes *v1.NodeList) error {
	// The profiles share one informer factory; any profile's handle reaches it.
	for _, p := range sched.Profiles {
		informer := p.SharedInformerFactory().Core().V1().Pods().Informer()
		o := newObserver(nodes.Items)
		handle, err := informer.AddEventHandler(o.handler())
		if err != nil {
			return err
		}
		name := tCtx.Name()
		tCtx.TB().Cleanup(func() {
			if err := informer.RemoveEventHandler(handle); err != nil {
				tCtx.Errorf("remove the placement observer: %v", err)
			}
			q := o.qualities()
			results.Lock()
			results.byWorkload[name] = q
			results.Unlock()
			if b, ok := tCtx.TB().(*testing.B); ok {
				for _, s := range q {
					if s.mixing != nil {
						b.ReportMetric(float64(s.mixing.Mixing), s.namespace+"/mixing")
					}
					if s.users != nil {
						b.ReportMetric(float64(s.users.Max-s.users.Min), s.namespace+"/user-spread")
					}
				}
			}
		})
		return nil
	}
	return fmt.Errorf("the scheduler has no profile")
}

func BenchmarkPerfScheduling(b *testing.B) {
	r, err := registry()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	config, settings, err := writeConfig(dir)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	perf.RunBenchmarkPerfScheduling(b, config, topic, r, perf.WithNodeUpdateFn(observe))
	if err := addToDataItems(start, settings); err != nil {
		b.Fatal(err)
	}
}

// addToDataItems adds the placement quality to the JSON file that scheduler_perf wrote for this
// run, and labels every data item with what it measured, so that one file holds the run:
//
//	Workload  Plain, Typed, TypedPools, Notebook, Mixed
//	Nodes, MeasuredPods
//	Setting   likewise-100, default-100, likewise-adaptive, default-adaptive, intree-adaptive,
//	          default-100-control
//	Round     1, or 1 to -rounds (the Name of round k > 1 ends in <setting>-r<k>)
//	SettingPods  the pods this setting measured (the in-tree setting measures fewer at 5000 nodes)
//	Scheduler likewise, default, intree
//	PercentageOfNodesToScore  100, adaptive
//	Shipped   true on the likewise setting at the manifest's percentageOfNodesToScore
//
// The quality items are Metric Mixing (unit pods: Mixing, Initial, TypedPods, Share) and
// UserSpread (unit users: Spread, Min, Max, Stddev, Users, NodesWith<n>Users).
func addToDataItems(start time.Time, settings map[string]setting) error {
	dir := "."
	if f := flag.Lookup("data-items-dir"); f != nil && f.Value.String() != "" {
		dir = f.Value.String()
	}
	files, err := filepath.Glob(filepath.Join(dir, "BenchmarkPerfScheduling_benchmark_"+topic+"_*.json"))
	if err != nil {
		return err
	}
	var newest string
	var newestTime time.Time
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return err
		}
		if st.ModTime().After(start.Add(-time.Second)) && st.ModTime().After(newestTime) {
			newest, newestTime = f, st.ModTime()
		}
	}
	if newest == "" {
		return fmt.Errorf("no data items file of this run in %s", dir)
	}
	data, err := os.ReadFile(newest)
	if err != nil {
		return err
	}
	var items perf.DataItems
	if err := json.Unmarshal(data, &items); err != nil {
		return fmt.Errorf("%s: %w", newest, err)
	}
	results.Lock()
	for workload, qs := range results.byWorkload {
		for _, q := range qs {
			name := workload + "/" + q.namespace
			if m := q.mixing; m != nil {
				share := 0.0
				if m.TypedPods > 0 {
					share = float64(m.Mixing) / float64(m.TypedPods)
				}
				items.DataItems = append(items.DataItems, perf.DataItem{
					Labels: map[string]string{"Name": name, "Metric": "Mixing"},
					Unit:   "pods",
					Data: map[string]float64{"Mixing": float64(m.Mixing), "Initial": float64(m.Initial),
						"TypedPods": float64(m.TypedPods), "Share": share},
				})
			}
			if u := q.users; u != nil {
				data := map[string]float64{"Spread": float64(u.Max - u.Min), "Min": float64(u.Min),
					"Max": float64(u.Max), "Stddev": u.Stddev, "Users": float64(u.Users)}
				for n, nodes := range u.Nodes {
					data[fmt.Sprintf("NodesWith%dUsers", n)] = float64(nodes)
				}
				items.DataItems = append(items.DataItems, perf.DataItem{
					Labels: map[string]string{"Name": name, "Metric": "UserSpread"},
					Unit:   "users",
					Data:   data,
				})
			}
		}
	}
	results.Unlock()
	for i := range items.DataItems {
		labelItem(&items.DataItems[i], settings)
	}
	// As scheduler_perf does for perfdash: every item has every label.
	keys := map[string]bool{}
	for _, it := range items.DataItems {
		for k := range it.Labels {
			keys[k] = true
		}
	}
	for _, it := range items.DataItems {
		for k := range keys {
			if _, ok := it.Labels[k]; !ok {
				it.Labels[k] = "not applicable"
			}
		}
	}
	sort.SliceStable(items.DataItems, func(i, j int) bool {
		return items.DataItems[i].Labels["Name"] < items.DataItems[j].Labels["Name"]
	})
	out, err := json.MarshalIndent(items, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(newest, append(out, '\n'), 0o644)
}

// labelItem reads the data item's Name, BenchmarkPerfScheduling/<workload>/<N>Nodes_<P>Pods/<setting>,
// into labels of their own.
func labelItem(it *perf.DataItem, settings map[string]setting) {
	parts := strings.Split(it.Labels["Name"], "/")
	if len(parts) != 4 {
		return
	}
	workload, size, name := parts[1], parts[2], parts[3]
	it.Labels["Workload"] = workload
	var nodes, pods int
	if _, err := fmt.Sscanf(size, "%dNodes_%dPods", &nodes, &pods); err == nil {
		it.Labels["Nodes"] = fmt.Sprint(nodes)
		it.Labels["MeasuredPods"] = fmt.Sprint(pods)
	}
	it.Labels["Setting"] = name
	if s, ok := settings[workload+"/"+name]; ok {
		it.Labels["Setting"] = s.base
		it.Labels["Round"] = fmt.Sprint(s.round)
		it.Labels["SettingPods"] = fmt.Sprint(podsOf(s, nodes, pods))
		it.Labels["Scheduler"] = s.scheduler
		it.Labels["PercentageOfNodesToScore"] = s.percentage
		it.Labels["Shipped"] = fmt.Sprint(s.shipped)
	}
}

// podsOf is how many pods setting s measures at a size of nodes and pods.
func podsOf(s setting, nodes, pods int) int {
	if s.scheduler != "intree" {
		return pods
	}
	for _, sz := range sizes {
		if sz.nodes == nodes && sz.pods == pods && sz.intreePods != 0 {
			return sz.intreePods
		}
	}
	return pods
}
