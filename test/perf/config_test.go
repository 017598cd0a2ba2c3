package perf

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// The benchmark's scheduler_perf configuration is generated, not written by hand: every workload
// runs every setting, and a setting differs from the next only in the profiles its pods opt into
// (spec.schedulerName, which scheduler_perf's templates cannot take as a parameter). The pods and
// nodes themselves are the files in templates/.

// Profile names in the generated scheduler configuration.
const (
	// Likewise's shipped profiles (manifests/scheduler/replace/kube-scheduler-config.yaml), copied
	// with percentageOfNodesToScore 100 (suffix -100) and with it removed (-adaptive: the scheduler's
	// adaptive default). Plain and typed pods opt into the replace mode's default profile, as every
	// pod without a spec.schedulerName does there; notebook servers into notebook-scheduler.
	likewiseDefault  = "likewise-default"
	likewiseNotebook = "likewise-notebook"
	// kube-scheduler's default profile, at 100 % and at its adaptive default. The adaptive one
	// keeps the name default-scheduler: scheduler_perf's progress samples (.dat) read that profile.
	default100      = "default-100"
	defaultAdaptive = "default-scheduler"
)

// shippedConfig is the scheduler configuration likewise ships in replace mode. Its
// default-scheduler and notebook-scheduler profiles are what the likewise settings run.
const shippedConfig = "../../manifests/scheduler/replace/kube-scheduler-config.yaml"

// percentage is a profile's percentageOfNodesToScore as the data items label it.
const (
	percentage100      = "100"
	percentageAdaptive = "adaptive"
)

// setting is one measured createPods op of a workload: its pods, in a namespace of the setting's
// name, opt into these profiles. The data items of the op are named
// "<benchmark>/<workload>/<size>/<setting>".
type setting struct {
	// name is the setting's namespace and the last part of its data items' names: base in the
	// first round, base-r<k> in round k.
	name, base string
	round      int
	// scheduler is what places the pods: "likewise" (likewise's profiles), "default"
	// (kube-scheduler's default profile) or "intree" (the default profile, with the pods carrying
	// the in-tree approximation of likewise's plugins: templates/*-intree.yaml).
	scheduler  string
	percentage string
	// profile is the profile of plain and database pods, notebookProfile that of notebook servers.
	profile, notebookProfile string
	// shipped marks the likewise setting whose percentageOfNodesToScore is the one the manifest
	// ships.
	shipped bool
}

// workload is one scheduler_perf test case: a kind of measured pod, run at every size.
type workload struct {
	name string
	// nodeTemplate is in templates/; node-pools.yaml labels node pools.
	nodeTemplate string
	// pods is the measured pods' template, intreePods their in-tree approximation ("" when there
	// is none: plain pods have nothing to approximate).
	pods, intreePods string
	// control measures kube-scheduler's default profile at 100 % a second time at the end, after
	// every other setting, so that the drift of a run (the order of the ops, a noisy machine) is
	// seen beside the ratios.
	control bool
}

var workloads = []workload{
	{name: "Plain", nodeTemplate: "node.yaml", pods: "plain.yaml", control: true},
	{name: "Typed", nodeTemplate: "node.yaml", pods: "db.yaml", intreePods: "db-intree.yaml"},
	{name: "TypedPools", nodeTemplate: "node-pools.yaml", pods: "db.yaml", intreePods: "db-pools-intree.yaml"},
	{name: "Notebook", nodeTemplate: "node.yaml", pods: "notebook.yaml", intreePods: "notebook-intree.yaml"},
	{name: "Mixed", nodeTemplate: "node.yaml", pods: "mixed.yaml", intreePods: "mixed-intree.yaml"},
}

// size is one scheduler_perf workload of every test case.
type size struct {
	nodes, pods int
	// intreePods, when not zero, is how many pods the in-tree setting measures (it can be far
	// slower than the others; throughput is a rate, so fewer pods still measure it).
	intreePods int
}

func (s size) name() string { return fmt.Sprintf("%dNodes_%dPods", s.nodes, s.pods) }

// sizes: the short mode is 500Nodes_1000Pods (hack/bench-scheduler.sh selects by name).
var sizes = []size{
	{nodes: 500, pods: 1000},
	{nodes: 500, pods: 10000},
	{nodes: 1000, pods: 10000},
	{nodes: 5000, pods: 10000, intreePods: 2000},
	// To profile a setting at 5000 nodes (BENCH_SETTINGS, BENCH_CPUPROFILE) in less time.
	{nodes: 5000, pods: 2000},
}

// Initial population per node, created bound to its node (templates/init-*.yaml) so that it never
// goes through the scheduler: it sets the scene, it is not measured.
const (
	initPlainPerNode    = 10
	initNotebookPerNode = 3
	initDBPerNode       = 5
)

// onlySettings, when set, keeps these settings only (comma-separated names): to profile one
// setting alone (go test -cpuprofile profiles the whole process, apiserver included).
var onlySettings = flag.String("settings", "", "comma-separated settings to run (default: all), e.g. likewise-100")

// rounds, above 1, measures the settings again in later rounds, every even round in reverse
// order (ABBA...), so that the drift of a run over time (etcd's history grows, the machine's load
// changes) weighs on every setting alike; the summary averages a setting over its rounds.
var rounds = flag.Int("rounds", 1, "how many times to measure each setting, alternating the order")

// inRounds repeats the settings n times, every even round reversed; round k > 1 names a setting
// <base>-r<k>.
func inRounds(s []setting, n int) []setting {
	var out []setting
	for k := 1; k <= n; k++ {
		for i := range s {
			x := s[i]
			if k%2 == 0 {
				x = s[len(s)-1-i]
			}
			x.base, x.round = x.name, k
			if k > 1 {
				x.name = fmt.Sprintf("%s-r%d", x.base, k)
			}
			out = append(out, x)
		}
	}
	return out
}

// settingsOf lists the settings measured for a workload, in the order they run (in each round of
// -rounds): each likewise
// setting next to kube-scheduler's default profile at the same percentageOfNodesToScore, then the
// in-tree approximation at the default profile's adaptive default (what a user of kube-scheduler
// runs). The shipped setting is compared with the default profile's adaptive default too.
func settingsOf(w workload, shipped string) []setting {
	s := []setting{
		{name: "likewise-100", scheduler: "likewise", percentage: percentage100,
			profile: likewiseDefault + "-100", notebookProfile: likewiseNotebook + "-100"},
		{name: "default-100", scheduler: "default", percentage: percentage100,
			profile: default100, notebookProfile: default100},
		{name: "likewise-adaptive", scheduler: "likewise", percentage: percentageAdaptive,
			profile: likewiseDefault + "-adaptive", notebookProfile: likewiseNotebook + "-adaptive"},
		{name: "default-adaptive", scheduler: "default", percentage: percentageAdaptive,
			profile: defaultAdaptive, notebookProfile: defaultAdaptive},
	}
	for i := range s {
		s[i].shipped = s[i].scheduler == "likewise" && s[i].percentage == shipped
	}
	if w.intreePods != "" {
		s = append(s, setting{name: "intree-adaptive", scheduler: "intree", percentage: percentageAdaptive,
			profile: defaultAdaptive, notebookProfile: defaultAdaptive})
	}
	if w.control {
		s = append(s, setting{name: "default-100-control", scheduler: "default", percentage: percentage100,
			profile: default100, notebookProfile: default100})
	}
	if *onlySettings != "" {
		keep := map[string]bool{}
		for _, name := range strings.Split(*onlySettings, ",") {
			keep[name] = true
		}
		var kept []setting
		for _, x := range s {
			if keep[x.name] {
				kept = append(kept, x)
			}
		}
		s = kept
	}
	return inRounds(s, max(*rounds, 1))
}

// schedulerConfig builds the benchmark's scheduler configuration from the shipped one: its
// default-scheduler and notebook-scheduler profiles at 100 % and adaptive, beside kube-scheduler's
// default profile at both. It returns the configuration and the percentageOfNodesToScore the
// manifest ships ("100" or "adaptive"), which both shipped profiles must agree on.
func schedulerConfig(manifest []byte) ([]byte, string, error) {
	var shipped struct {
		PercentageOfNodesToScore *int32           `json:"percentageOfNodesToScore"`
		Profiles                 []map[string]any `json:"profiles"`
	}
	if err := yaml.Unmarshal(manifest, &shipped); err != nil {
		return nil, "", fmt.Errorf("%s: %w", shippedConfig, err)
	}
	byName := map[string]map[string]any{}
	for _, p := range shipped.Profiles {
		name, _ := p["schedulerName"].(string)
		byName[name] = p
	}
	var profiles []map[string]any
	shippedPct := ""
	for _, c := range []struct{ from, to string }{
		{"default-scheduler", likewiseDefault},
		{"notebook-scheduler", likewiseNotebook},
	} {
		p, ok := byName[c.from]
		if !ok {
			return nil, "", fmt.Errorf("%s: no profile %q", shippedConfig, c.from)
		}
		pct := percentageAdaptive
		switch v := p["percentageOfNodesToScore"].(type) {
		case nil:
			if shipped.PercentageOfNodesToScore != nil && *shipped.PercentageOfNodesToScore != 0 {
				pct = fmt.Sprint(*shipped.PercentageOfNodesToScore)
			}
		case float64:
			if v != 0 {
				pct = fmt.Sprint(v)
			}
		}
		if pct != percentage100 && pct != percentageAdaptive {
			return nil, "", fmt.Errorf("%s: profile %q scores %s %% of nodes; the benchmark measures 100 and adaptive only", shippedConfig, c.from, pct)
		}
		if shippedPct != "" && pct != shippedPct {
			return nil, "", fmt.Errorf("%s: profiles score %s and %s of nodes; the benchmark expects one setting", shippedConfig, shippedPct, pct)
		}
		shippedPct = pct
		full, adaptive := clone(p), clone(p)
		full["schedulerName"] = c.to + "-100"
		full["percentageOfNodesToScore"] = 100
		adaptive["schedulerName"] = c.to + "-adaptive"
		delete(adaptive, "percentageOfNodesToScore")
		profiles = append(profiles, full, adaptive)
	}
	profiles = append(profiles,
		map[string]any{"schedulerName": default100, "percentageOfNodesToScore": 100},
		map[string]any{"schedulerName": defaultAdaptive},
	)
	out, err := yaml.Marshal(map[string]any{
		"apiVersion": "kubescheduler.config.k8s.io/v1",
		"kind":       "KubeSchedulerConfiguration",
		"profiles":   profiles,
	})
	return out, shippedPct, err
}

// clone copies a profile deeply enough that the copies' top-level keys are their own.
func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// op is one scheduler_perf operation (its JSON field names).
type op map[string]any

// testCases builds the scheduler_perf test cases. templates is the directory of templates/; the
// per-setting pod templates are written into dir, and so is the scheduler configuration.
func testCases(templates, dir, shippedPct string) ([]map[string]any, map[string]setting, error) {
	settings := map[string]setting{}
	var cases []map[string]any
	for _, w := range workloads {
		ops := []op{
			{"opcode": "createNodes", "countParam": "$nodes", "nodeTemplatePath": filepath.Join(templates, w.nodeTemplate)},
			{"opcode": "createPods", "namespace": "init-plain", "countParam": "$initPlain", "podTemplatePath": filepath.Join(templates, "init-plain.yaml")},
			{"opcode": "createPods", "namespace": "init-notebook", "countParam": "$initNotebook", "podTemplatePath": filepath.Join(templates, "init-notebook.yaml")},
			{"opcode": "createPods", "namespace": "init-db", "countParam": "$initDB", "podTemplatePath": filepath.Join(templates, "init-db.yaml")},
		}
		for _, s := range settingsOf(w, shippedPct) {
			settings[w.name+"/"+s.name] = s
			src := w.pods
			count := "$measuredPods"
			if s.scheduler == "intree" {
				src, count = w.intreePods, "$intreePods"
			}
			path, err := podTemplate(templates, dir, src, s)
			if err != nil {
				return nil, nil, err
			}
			ops = append(ops,
				op{"opcode": "createPods", "namespace": s.name, "countParam": count, "podTemplatePath": path, "collectMetrics": true},
				// The next setting starts from the same initial population: these pods leave at once
				// (terminationGracePeriodSeconds 0), and the scheduler gets a moment to see them go.
				op{"opcode": "deletePods", "namespace": s.name},
				op{"opcode": "sleep", "duration": "2s"},
			)
		}
		var wls []map[string]any
		for _, sz := range sizes {
			params := map[string]any{
				"nodes":        sz.nodes,
				"initPlain":    sz.nodes * initPlainPerNode,
				"initNotebook": sz.nodes * initNotebookPerNode,
				"initDB":       sz.nodes * initDBPerNode,
				"measuredPods": sz.pods,
			}
			if hasIntree(settingsOf(w, shippedPct)) {
				n := sz.pods
				if sz.intreePods != 0 {
					n = sz.intreePods
				}
				params["intreePods"] = n
			}
			wls = append(wls, map[string]any{
				"name":   sz.name(),
				"labels": []string{"performance"},
				"params": params,
			})
		}
		cases = append(cases, map[string]any{
			"name":                   w.name,
			"schedulerConfigPath":    filepath.Join(dir, "scheduler-config.yaml"),
			"metricsCollectorConfig": metricsCollectorConfig,
			"workloadTemplate":       ops,
			"workloads":              wls,
		})
	}
	return cases, settings, nil
}

// metricsCollectorConfig is what each measured op collects besides throughput: scheduling
// attempts, the extension points, and the plugins that differ between the settings.
var metricsCollectorConfig = map[string]any{
	"metrics": map[string]any{
		"scheduler_scheduling_attempt_duration_seconds": []map[string]any{
			{"label": "result", "values": []string{"scheduled", "unschedulable", "error"}},
		},
		"scheduler_pod_scheduling_duration_seconds": nil,
		"scheduler_framework_extension_point_duration_seconds": []map[string]any{
			{"label": "extension_point", "values": []string{"PreFilter", "Filter", "PostFilter", "PreScore", "Score", "Bind"}},
		},
		"scheduler_plugin_execution_duration_seconds": []map[string]any{
			{"label": "plugin", "values": []string{"WorkloadTypeAffinity", "NotebookSpread", "InterPodAffinity",
				"PodTopologySpread", "NodeAffinity", "NodeResourcesFit", "NodeResourcesBalancedAllocation", "TaintToleration", "ImageLocality"}},
			{"label": "extension_point", "values": []string{"PreFilter", "Filter", "PreScore", "Score"}},
		},
	},
}

func hasIntree(settings []setting) bool {
	for _, s := range settings {
		if s.scheduler == "intree" {
			return true
		}
	}
	return false
}

// podTemplate writes templates/src with the setting's profiles into dir and returns its path.
func podTemplate(templates, dir, src string, s setting) (string, error) {
	b, err := os.ReadFile(filepath.Join(templates, src))
	if err != nil {
		return "", err
	}
	// NOTEBOOK_SCHEDULER_NAME first: it contains SCHEDULER_NAME.
	t := strings.ReplaceAll(string(b), "NOTEBOOK_SCHEDULER_NAME", s.notebookProfile)
	t = strings.ReplaceAll(t, "SCHEDULER_NAME", s.profile)
	path := filepath.Join(dir, strings.TrimSuffix(src, ".yaml")+"-"+s.name+".yaml")
	return path, os.WriteFile(path, []byte(t), 0o644)
}

// writeConfig generates the scheduler configuration and the test cases into dir and returns the
// test cases' path and the settings by "<workload>/<setting>".
func writeConfig(dir string) (string, map[string]setting, error) {
	manifest, err := os.ReadFile(shippedConfig)
	if err != nil {
		return "", nil, err
	}
	cfg, shippedPct, err := schedulerConfig(manifest)
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "scheduler-config.yaml"), cfg, 0o644); err != nil {
		return "", nil, err
	}
	templates, err := filepath.Abs("templates")
	if err != nil {
		return "", nil, err
	}
	cases, settings, err := testCases(templates, dir, shippedPct)
	if err != nil {
		return "", nil, err
	}
	out, err := yaml.Marshal(cases)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "performance-config.yaml")
	return path, settings, os.WriteFile(path, out, 0o644)
}
