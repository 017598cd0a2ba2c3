package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/nodecgroup"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/podruntime"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// The demo's loads: light enough that twelve databases, the cluster and the classifier share
// two cores with room to spare.
const (
	oltpRate  = 10              // pgbench TPC-B-like transactions per second, one client
	olapPause = 2 * time.Second // between two TPC-H Q1 queries (about 0.2 s each), one client
)

// classifierArgs are the demo's classifier flags: windows of 10 s sampled every 2 s, two
// agreeing windows to adopt a type, so that a database is labelled within about half a minute
// of its load starting (the defaults, 60 s windows and three of them, take four minutes).
var classifierArgs = []string{"--interval=2s", "--window=10s", "--windows-to-switch=2", "--min-dwell=1m", "--v=2"}

const (
	classifyTimeout = 3 * time.Minute
	startParallel   = 3 // PostgreSQL servers initialised at once
)

// rebalancerArgs are the demo's rebalancer flags: short cycles, no minimum age, a short
// cooldown, so that the six moves take seconds (the defaults are minutes apart, for production).
var rebalancerArgs = []string{"--leader-elect=false", "--interval=2s", "--min-pod-age=0s", "--workload-cooldown=2s",
	"--max-backoff=10s", "--v=2"}

const rebalanceTimeout = 4 * time.Minute

// demoDatabases: the study's twelve databases, one StatefulSet each, created without a type and
// placed by likewise-scheduler (untyped pods land where kube-scheduler's default profile would
// put them), get real PostgreSQL servers on their pod IPs running OLTP or OLAP loads. The
// classifier labels them from their statistics and records each type on its StatefulSet; then
// the rebalancer moves the misplaced ones, and their StatefulSets recreate them, placed by type.
func demoDatabases(ctx context.Context, c *localcluster.Cluster) error {
	fmt.Printf("\nDatabase pods: the study's 12 PostgreSQL databases (a StatefulSet each; 1 CPU, 2Gi) on 2 nodes with room\n" +
		"for 8 each, created without a workload type. Each pod gets a real PostgreSQL 15 server on its IP: six run\n" +
		"pgbench's TPC-B-like transactions (10/s), six a TPC-H-style scan every 2 s. likewise classifier labels them\n" +
		"from their statistics and records each type on its StatefulSet; likewise rebalancer then moves the misplaced\n" +
		"ones, and their StatefulSets recreate them where likewise-scheduler places them by that record.\n\n")
	dbs := scenario.StudyDatabases()
	k, err := scenario.NewCase(ctx, c, casePrefix, []localcluster.NodeSpec{{}, {}}, corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("8"),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
	})
	if err != nil {
		return err
	}
	// One at a time, each placed before the next: the two-by-two order of StudyDatabases then
	// gives three of each kind per node, as kube-scheduler's default profile leaves them.
	var names []string
	for _, d := range dbs {
		// The demo's servers run without TLS: their pods opt into plaintext, as a user must.
		w := scenario.DatabaseWorkload{Name: d.Pod.Name, Kind: "StatefulSet", Replicas: 1, CPU: d.Pod.CPU, Memory: d.Pod.Memory, Labels: d.Pod.Labels,
			Annotations: map[string]string{apis.AnnotationPostgresSSLMode: apis.SSLModeDisable}}
		if err := k.CreateWorkload(ctx, c, scenario.ProfileLikewise, w); err != nil {
			return err
		}
		names = append(names, podName(d))
		if _, err := scenario.WaitRunning(ctx, c.Client(), k.Namespace, names[len(names)-1:], placeTimeout); err != nil {
			return err
		}
	}
	before, err := scenario.Get(ctx, c.Client(), k.Namespace, k.Name)
	if err != nil {
		return err
	}
	running, err := scenario.WaitRunning(ctx, c.Client(), k.Namespace, names, placeTimeout)
	if err != nil {
		return err
	}

	start := time.Now()
	fmt.Printf("The local runtime starts a PostgreSQL server for each pod, in its node's cgroup, on the pod's IP; the demo loads them...\n")
	rt, stopRuntime, err := startRuntime(ctx, c, k.Namespace)
	if err != nil {
		return err
	}
	defer stopRuntime()
	// pgbench reads its scripts some time after it starts: they stay until the demo ends.
	scripts, err := os.MkdirTemp("", "likewise-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scripts)
	servers, err := startDatabases(ctx, rt, scripts, dbs, running)
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	if err != nil {
		return err
	}
	fmt.Printf("Servers up and loaded in %v. Starting likewise classifier as its ServiceAccount (%s)...\n",
		time.Since(start).Round(time.Second), strings.Join(classifierArgs, " "))
	if err := scenario.GrantClassifierCredentials(ctx, c, k.Namespace); err != nil {
		return err
	}
	classifierStart := time.Now()
	if _, err := scenario.StartClassifier(ctx, c, classifierArgs...); err != nil {
		return err
	}
	defer func() { _ = c.StopComponent(scenario.ClassifierName) }()
	classified, err := waitClassified(ctx, c, k.Namespace, names)
	if err != nil {
		return err
	}
	fmt.Printf("All 12 labelled %v after the classifier started.\n\n", time.Since(classifierStart).Round(time.Second))
	for _, s := range servers {
		if err := s.LoadErr(); err != nil {
			return fmt.Errorf("load of %s failed: %w", s.Pod.Name, err)
		}
	}
	if err := writeVerdicts(os.Stdout, dbs, before, classified); err != nil {
		return err
	}
	if err := writeRecords(ctx, c, k.Namespace, dbs); err != nil {
		return err
	}

	// The loads' work is done: stop them before their pods move (pgbench follows no server to a
	// new IP). The servers move with their pods: the runtime stops each evicted pod's server and
	// starts its data directory again on the replacement's node and IP. The classifier keeps
	// running: it labels each replacement from its StatefulSet's record as soon as it appears.
	for _, s := range servers {
		s.Close()
	}
	servers = nil

	types := map[string]string{}
	for name, pod := range classified {
		types[name] = pod.Labels[apis.LabelWorkloadType]
	}
	mixing, _, err := k.Mixing(ctx, c)
	if err != nil {
		return err
	}
	fmt.Printf("\nMixing (typed pods that do not match their node) is %d. Starting likewise rebalancer as its\n"+
		"ServiceAccount (%s)...\n", mixing, strings.Join(rebalancerArgs, " "))
	if _, err := scenario.StartRebalancer(ctx, c, rebalancerArgs...); err != nil {
		return err
	}
	defer func() { _ = c.StopComponent(scenario.RebalancerName) }()
	if err := followMoves(ctx, c, k); err != nil {
		return err
	}
	after, err := scenario.Get(ctx, c.Client(), k.Namespace, k.Name)
	if err != nil {
		return err
	}
	if err := checkMovedServers(ctx, rt, k.Namespace, dbs); err != nil {
		return err
	}
	fmt.Println()
	return scenario.WriteTable(os.Stdout, []scenario.Run{
		{Label: "before (unlabelled)", Placement: before, Types: types},
		{Label: "after (rebalanced)", Placement: after, Types: types},
	})
}

// podName is the name of the pod of d's StatefulSet.
func podName(d scenario.StudyDatabase) string { return d.Pod.Name + "-0" }

// writeRecords waits until the classifier has recorded each database's type on its StatefulSet
// (it does so right after labelling the pod) and prints the records.
func writeRecords(ctx context.Context, c *localcluster.Cluster, ns string, dbs []scenario.StudyDatabase) error {
	var parts []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		parts = nil
		done := true
		for _, d := range dbs {
			sts, err := c.Client().AppsV1().StatefulSets(ns).Get(ctx, d.Pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			record := sts.Annotations[apis.AnnotationWorkloadTypeRecord]
			done = done && record != ""
			parts = append(parts, fmt.Sprintf("%s=%s", d.Pod.Name, valueOr(record, "(none)")))
		}
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("waiting for the classifier's records (%s): %w", strings.Join(parts, " "), err)
	}
	fmt.Printf("\nRecorded on the StatefulSets (annotation %s): %s\n", apis.AnnotationWorkloadTypeRecord, strings.Join(parts, " "))
	return nil
}

// followMoves prints each of the rebalancer's evictions and each replacement's landing as they
// happen, with the mixing after it, until the mixing is zero and every pod runs, typed.
func followMoves(ctx context.Context, c *localcluster.Cluster, k *scenario.Case) error {
	seen := map[string]bool{}
	moves, landed := 0, 0
	var mixing int
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, rebalanceTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := c.Client().EventsV1().Events(k.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		items := list.Items
		slices.SortStableFunc(items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
		for _, e := range items {
			if e.ReportingController != rebalancer.Name || seen[string(e.UID)] {
				continue
			}
			switch e.Reason {
			case rebalancer.ReasonEvicting:
				moves++
				fmt.Printf("  move %d: evicted %s: %s\n", moves, e.Regarding.Name, e.Note)
			case rebalancer.ReasonMoved:
				landed++
				fmt.Printf("          %s recreated and ready: %s\n", e.Regarding.Name, e.Note)
			case rebalancer.ReasonWaitingForCapacity, rebalancer.ReasonSchedulerUnavailable, rebalancer.ReasonEvictionBlocked:
				fmt.Printf("  %s %s: %s\n", e.Regarding.Name, e.Reason, e.Note)
			default:
				continue
			}
			seen[string(e.UID)] = true
		}
		m, counts, err := k.Mixing(ctx, c)
		if err != nil {
			return false, nil
		}
		mixing = m
		typed := 0
		for _, n := range counts {
			typed += n.OLTP + n.OLAP
		}
		return m == 0 && typed == 12 && landed == moves, nil
	})
	if err != nil {
		log, _ := scenario.RebalancerLog(c)
		return fmt.Errorf("mixing still %d after %v: %w\nrebalancer log (end):\n%s", mixing, rebalanceTimeout, err, tail(log, 3000))
	}
	fmt.Printf("Separated in %d moves: mixing 0.\n", moves)
	return nil
}

func valueOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// startRuntime runs the local runtime (pkg/podruntime) for ns: every database pod's server in
// its node's cgroup, whose CPU quota is the node's allocatable CPU, with the monitoring role's
// password in the Secret the classifier reads. The returned func stops the servers and removes
// the cgroups.
func startRuntime(ctx context.Context, c *localcluster.Cluster, ns string) (*podruntime.Runtime, func(), error) {
	cg, err := nodecgroup.New("demo")
	if err != nil {
		return nil, nil, fmt.Errorf("the demo's nodes are cgroups: %w", err)
	}
	password := randomPassword()
	rt, err := podruntime.New(podruntime.Options{
		Client:            c.Client(),
		StateDir:          filepath.Join(c.StateDir(), "demo-data"),
		Cgroups:           cg,
		Namespace:         ns,
		SuperuserPassword: randomPassword(),
		MonitorPassword:   password,
	})
	if err != nil {
		return nil, nil, err
	}
	secret := scenario.MonitorSecret(ns, "likewise-monitor", password)
	if _, err := c.Client().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	return rt, func() {
		stopCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer stop()
		if err := rt.StopAll(stopCtx); err != nil {
			fmt.Fprintf(os.Stderr, "demo: stopping the PostgreSQL servers: %v\n", err)
		}
		cancel()
		<-done
	}, nil
}

// startDatabases waits for each pod's server and gives it its tables and its load (its pgbench
// scripts in scripts), a few at a time.
func startDatabases(ctx context.Context, rt *podruntime.Runtime, scripts string, dbs []scenario.StudyDatabase, pods map[string]*corev1.Pod) ([]*scenario.Database, error) {
	var (
		mu      sync.Mutex
		servers []*scenario.Database
		errs    []error
		wg      sync.WaitGroup
		slots   = make(chan struct{}, startParallel)
	)
	for _, d := range dbs {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			pod := pods[podName(d)]
			opts := scenario.DatabaseOptions{Workload: d.Workload, Rate: oltpRate, Pause: olapPause,
				ScriptDir: filepath.Join(scripts, d.Pod.Name)}
			err := os.MkdirAll(opts.ScriptDir, 0o755)
			var db *scenario.Database
			if err == nil {
				var srv *pgserver.Server
				if srv, err = rt.WaitServing(ctx, pod.Namespace, pod.Name); err == nil {
					db, err = scenario.AttachDatabase(ctx, pod, srv, opts)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			servers = append(servers, db)
		})
	}
	wg.Wait()
	return servers, errors.Join(errs...)
}

// checkMovedServers shows that the servers moved with their pods: each database serves on its
// replacement's IP, with the tables its load wrote before the move.
func checkMovedServers(ctx context.Context, rt *podruntime.Runtime, ns string, dbs []scenario.StudyDatabase) error {
	for _, d := range dbs {
		srv, err := rt.WaitServing(ctx, ns, podName(d))
		if err != nil {
			return err
		}
		table := "pgbench_history"
		if d.Workload == scenario.WorkloadOLAP {
			table = "lineitem"
		}
		if _, err := srv.Psql(ctx, scenario.DatabaseName, "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			return fmt.Errorf("%s on %s:%d after the moves: its data is gone: %w", podName(d), srv.Host, srv.Port, err)
		}
	}
	fmt.Printf("Every server followed its pod: each database answers on its pod's IP now, with its data.\n")
	return nil
}

// waitClassified waits until every pod has a workload-type label and returns the pods.
func waitClassified(ctx context.Context, c *localcluster.Cluster, ns string, names []string) (map[string]*corev1.Pod, error) {
	pods := map[string]*corev1.Pod{}
	var pending []string
	err := wait.PollUntilContextTimeout(ctx, time.Second, classifyTimeout, true, func(ctx context.Context) (bool, error) {
		pending = nil
		for _, name := range names {
			p, err := c.Client().CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if p.Labels[apis.LabelWorkloadType] == "" {
				pending = append(pending, name)
				continue
			}
			pods[name] = p
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		log, _ := scenario.ClassifierLog(c)
		return nil, fmt.Errorf("pods %v not labelled in %v: %w\nclassifier log (end):\n%s", pending, classifyTimeout, err, tail(log, 3000))
	}
	return pods, nil
}

// writeVerdicts prints, per pod, what its server runs and what the classifier made of it.
func writeVerdicts(w *os.File, dbs []scenario.StudyDatabase, placement scenario.Placement, classified map[string]*corev1.Pod) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tNODE\tPOSTGRESQL RUNS\tCLASSIFIED\tCONFIDENCE\tMEASURED")
	for _, d := range dbs {
		p := classified[podName(d)]
		runs := fmt.Sprintf("pgbench TPC-B-like, %d/s", oltpRate)
		if d.Workload == scenario.WorkloadOLAP {
			runs = fmt.Sprintf("TPC-H Q1 every %v", olapPause)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", podName(d), placement[podName(d)], runs, p.Labels[apis.LabelWorkloadType],
			p.Annotations[apis.AnnotationWorkloadConfidence], measured(p.Annotations[apis.AnnotationWorkloadReasons]))
	}
	return tw.Flush()
}

// measured picks the features that decided from the reasons annotation.
func measured(reasons string) string {
	var keep []string
	for _, f := range strings.Fields(reasons) {
		for _, k := range []string{"longShare=", "shortPerS=", "analyticBusy="} {
			if strings.HasPrefix(f, k) {
				keep = append(keep, f)
			}
		}
	}
	return strings.Join(keep, " ")
}

func randomPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
