package study

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/klog/v2"

	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/podruntime"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// Phase names, in the order a setting runs them.
const (
	PhaseAlone  = "alone"
	PhaseMixed  = "mixed"
	PhaseAfter  = "after"
	PhaseForced = "forced"
)

// SettingSpec is one capacity setting: the nodes' CPU and the pods' requests.
type SettingSpec struct {
	Name        string
	Description string
	// NodeCPUMilli is each node's allocatable CPU, and so its cgroup's quota.
	NodeCPUMilli int64
	// OLTPRequestMilli and OLAPRequestMilli are the database pods' CPU requests: what the
	// scheduler and the rebalancer count. Twelve of them must fit the nodes three and three.
	OLTPRequestMilli, OLAPRequestMilli int64
	// Forced adds the forced phase: the OLAP databases consolidated on one node anyway.
	Forced bool
}

// Options configure Run. Zero fields take DefaultOptions' values.
type Options struct {
	// StateDir holds the study's local cluster, the servers' data and the pgbench logs. Run
	// starts a new cluster there (wiping an earlier one).
	StateDir string
	// ToolsDir holds the cluster binaries (see localcluster.Options).
	ToolsDir string
	// Nodes is the node count of each phase (at least 2: the study had two).
	Nodes int
	// Settings are the capacity settings, run in order.
	Settings []SettingSpec
	// Phase is each measurement's length, after Warmup.
	Phase, Warmup time.Duration
	// OLTPClients are the measured OLTP database's pgbench clients.
	OLTPClients int
	// TPCC is the OLTP databases' size; TPCHScaleFactor the OLAP databases'.
	TPCC            pgserver.TPCCSize
	TPCHScaleFactor float64
	// QueryRuns is the fewest runs of each query the measured OLAP database makes in a phase.
	QueryRuns int
	// BackgroundOLTPRate is each unmeasured OLTP database's TPC-C-like transactions per second;
	// BackgroundOLAPPause the pause between two queries of each unmeasured OLAP database.
	BackgroundOLTPRate  float64
	BackgroundOLAPPause time.Duration
	// Short marks a run of ShortOptions, the test of the mechanism.
	Short bool
	// Progress receives a line per step (nil: none).
	Progress io.Writer
	// Hooks let a test look at the cluster between steps.
	Hooks Hooks
}

// Hooks are called at fixed points of a setting; an error ends the run.
type Hooks struct {
	// Serving is called once a phase's databases all serve, before its loads start.
	Serving func(ctx context.Context, env *Env, phase string) error
	// BeforeMoves is called after the classifier labelled every database, before the rebalancer
	// starts, with the loads stopped.
	BeforeMoves func(ctx context.Context, env *Env) error
	// SettingDone is called after a setting's namespace and nodes are deleted.
	SettingDone func(ctx context.Context, env *Env) error
}

// Env is what a hook sees.
type Env struct {
	Cluster *localcluster.Cluster
	Runtime *podruntime.Runtime
	Cgroups *nodecgroup.Manager
	Setting SettingSpec
	Case    *scenario.Case
	// Databases are the phase's database pods' names.
	Databases []string
}

// DefaultOptions are `make study`'s: two nodes, and two settings on nodes of one CPU and half a
// CPU, so that on a two-core machine each node has a core (or half of one) of its own.
func DefaultOptions() Options {
	return Options{
		Nodes: 2,
		Settings: []SettingSpec{
			{
				Name:         "spare",
				Description:  "nodes of 1 CPU; requests of 100m: six OLAP databases fit one node, which keeps CPU to spare after separation",
				NodeCPUMilli: 1000, OLTPRequestMilli: 100, OLAPRequestMilli: 100,
			},
			{
				Name: "saturated",
				Description: "nodes of 500m; requests that reflect use (OLTP 40m, OLAP 120m): three and three fill a node, so " +
					"consolidating the OLAP databases would need 720m of a 500m node and the rebalancer waits",
				NodeCPUMilli: 500, OLTPRequestMilli: 40, OLAPRequestMilli: 120, Forced: true,
			},
		},
		Phase:               60 * time.Second,
		Warmup:              10 * time.Second,
		OLTPClients:         2,
		TPCC:                pgserver.TPCCStudy,
		TPCHScaleFactor:     0.1,
		QueryRuns:           3,
		BackgroundOLTPRate:  5,
		BackgroundOLAPPause: 2 * time.Second,
	}
}

// ShortOptions run every step of DefaultOptions with tiny data and short phases: a check of the
// mechanism, whose numbers mean nothing.
func ShortOptions() Options {
	o := DefaultOptions()
	o.Phase, o.Warmup = 4*time.Second, time.Second
	o.TPCC = pgserver.TPCCSmall
	// The smallest data whose Q1 still runs long enough (about 0.2 s) for the classifier to
	// call it analytic: pgserver.TPCHSmall's size, the demo's.
	o.TPCHScaleFactor = 0.067
	o.QueryRuns = 1
	o.Short = true
	return o
}

func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if o.Nodes == 0 {
		o.Nodes = d.Nodes
	}
	if len(o.Settings) == 0 {
		o.Settings = d.Settings
	}
	if o.Phase == 0 {
		o.Phase = d.Phase
	}
	if o.Warmup == 0 {
		o.Warmup = d.Warmup
	}
	if o.OLTPClients == 0 {
		o.OLTPClients = d.OLTPClients
	}
	if o.TPCC == (pgserver.TPCCSize{}) {
		o.TPCC = d.TPCC
	}
	if o.TPCHScaleFactor == 0 {
		o.TPCHScaleFactor = d.TPCHScaleFactor
	}
	if o.QueryRuns == 0 {
		o.QueryRuns = d.QueryRuns
	}
	if o.BackgroundOLTPRate == 0 {
		o.BackgroundOLTPRate = d.BackgroundOLTPRate
	}
	if o.BackgroundOLAPPause == 0 {
		o.BackgroundOLAPPause = d.BackgroundOLAPPause
	}
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("StateDir: required"))
	}
	if o.Nodes < 2 {
		errs = append(errs, fmt.Errorf("nodes %d: the study needs at least 2", o.Nodes))
	}
	if o.Phase < 0 || o.Warmup < 0 || o.BackgroundOLAPPause < 0 {
		errs = append(errs, errors.New("phase, warmup and background pause must not be negative"))
	}
	if o.OLTPClients < 1 || o.QueryRuns < 1 || o.BackgroundOLTPRate < 0 || o.TPCHScaleFactor < 0 {
		errs = append(errs, errors.New("OLTP clients and query runs must be at least 1, the rate and the scale factor positive"))
	}
	seen := map[string]bool{}
	for i, s := range o.Settings {
		if s.Name == "" || seen[s.Name] {
			errs = append(errs, fmt.Errorf("settings[%d].name %q: required and unique", i, s.Name))
		}
		seen[s.Name] = true
		if s.NodeCPUMilli < 100 {
			errs = append(errs, fmt.Errorf("settings[%d] (%s): node CPU %dm: at least 100m", i, s.Name, s.NodeCPUMilli))
		}
		// The mixed phase puts perNode of each type on every node: they must fit.
		perNode := int64(DatabasesPerType / o.Nodes)
		if need := perNode * (s.OLTPRequestMilli + s.OLAPRequestMilli); need > s.NodeCPUMilli {
			errs = append(errs, fmt.Errorf("settings[%d] (%s): %d OLTP and %d OLAP databases need %dm, more than a node's %dm",
				i, s.Name, perNode, perNode, need, s.NodeCPUMilli))
		}
		if s.OLTPRequestMilli < 1 || s.OLAPRequestMilli < 1 {
			errs = append(errs, fmt.Errorf("settings[%d] (%s): requests must be at least 1m", i, s.Name))
		}
	}
	if DatabasesPerType%o.Nodes != 0 {
		errs = append(errs, fmt.Errorf("nodes %d: must divide the %d databases of each type", o.Nodes, DatabasesPerType))
	}
	return o, errors.Join(errs...)
}

// DatabasesPerType is how many OLTP (and OLAP) databases the mixed phase creates, as the study.
const DatabasesPerType = 6

// Run runs the study and returns its report. The cluster it starts is stopped at the end.
func Run(ctx context.Context, opts Options) (*Report, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("study options: %w", err)
	}
	// Bounded nodes or nothing: no numbers from unbounded processes.
	cg, err := nodecgroup.New("study")
	if err != nil {
		return nil, fmt.Errorf("the study's nodes are cgroups: %w", err)
	}
	machine, err := describeMachine(cg)
	if err != nil {
		return nil, err
	}
	r := &Report{Started: time.Now().UTC(), Machine: machine, Options: o.reportOptions()}
	s := &study{o: o, cg: cg, report: r}
	err = s.run(ctx)
	return r, err
}

type study struct {
	o       Options
	cg      *nodecgroup.Manager
	report  *Report
	cluster *localcluster.Cluster
	rt      *podruntime.Runtime
	// password is the monitoring role's on every server, in one Secret per namespace.
	password string
	scripts  string // pgbench scripts and logs
}

func (s *study) logf(format string, args ...any) {
	if s.o.Progress != nil {
		fmt.Fprintf(s.o.Progress, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
}

func (s *study) run(ctx context.Context) (err error) {
	if err := os.MkdirAll(s.o.StateDir, 0o755); err != nil {
		return err
	}
	s.scripts = filepath.Join(s.o.StateDir, "loads")
	if err := os.RemoveAll(s.scripts); err != nil {
		return err
	}
	if err := os.MkdirAll(s.scripts, 0o755); err != nil {
		return err
	}
	s.logf("starting the local cluster (etcd, kube-apiserver, kube-controller-manager, KWOK) in %s", s.o.StateDir)
	s.cluster, err = localcluster.Start(ctx, localcluster.Options{StateDir: filepath.Join(s.o.StateDir, "cluster"), ToolsDir: s.o.ToolsDir})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.cluster.Stop()) }()
	if err := s.startScheduler(ctx); err != nil {
		return err
	}
	s.password = randomHex()
	dataDir := filepath.Join(s.o.StateDir, "data")
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}
	s.rt, err = podruntime.New(podruntime.Options{
		Client:            s.cluster.Client(),
		StateDir:          dataDir,
		Cgroups:           s.cg,
		SuperuserPassword: randomHex(),
		MonitorPassword:   s.password,
		Setup:             s.setupDatabase,
	})
	if err != nil {
		return err
	}
	rtCtx, stopRuntime := context.WithCancel(ctx)
	rtDone := make(chan error, 1)
	go func() { rtDone <- s.rt.Run(rtCtx) }()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		err = errors.Join(err, s.rt.StopAll(stopCtx))
		stopRuntime()
		if rerr := <-rtDone; rerr != nil && !errors.Is(rerr, context.Canceled) {
			err = errors.Join(err, rerr)
		}
		err = errors.Join(err, s.cg.Remove(stopCtx, time.Minute))
	}()
	for _, spec := range s.o.Settings {
		res, err := s.setting(ctx, spec)
		s.report.Settings = append(s.report.Settings, res)
		if err != nil {
			return fmt.Errorf("setting %s: %w", spec.Name, err)
		}
	}
	return nil
}

// startScheduler installs the manifests' RBAC and runs likewise-scheduler (every shipped profile)
// and nothing else: the classifier and the rebalancer start when a setting needs them.
func (s *study) startScheduler(ctx context.Context) error {
	for _, base := range []string{scenario.CommonBase, scenario.SchedulerBase, scenario.ClassifierBase, scenario.RebalancerBase} {
		if err := scenario.InstallBase(ctx, s.cluster, base); err != nil {
			return err
		}
	}
	// Leader election on: the rebalancer moves a pod only while its scheduler holds a fresh lease.
	config, err := scenario.SchedulerConfig(true)
	if err != nil {
		return err
	}
	s.logf("starting likewise-scheduler")
	return scenario.StartSchedulerAsServiceAccount(ctx, s.cluster, config)
}

func (o Options) reportOptions() ReportOptions {
	return ReportOptions{
		Nodes: o.Nodes, Phase: o.Phase, Warmup: o.Warmup, OLTPClients: o.OLTPClients,
		OLTPWarehouses: o.TPCC.Warehouses, TPCHScaleFactor: o.TPCHScaleFactor, QueryRuns: o.QueryRuns,
		Background: fmt.Sprintf("each unmeasured OLTP database: the TPC-C-like mix, one client, %g transactions/s; "+
			"each unmeasured OLAP database: one client running TPC-H Q1 with %v between queries",
			o.BackgroundOLTPRate, o.BackgroundOLAPPause),
		Short: o.Short,
	}
}

func randomHex() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// logger is the study's klog logger for the components it runs in process.
func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }

// trimLog keeps a log's end for an error message.
func trimLog(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
