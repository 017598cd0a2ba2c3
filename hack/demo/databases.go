package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/test/localcluster"
	"github.com/likewise-dev/likewise/test/scenario"
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

// demoDatabases: the study's twelve database pods, created without a type and placed by
// likewise-scheduler (untyped pods land where kube-scheduler's default profile would put them),
// get real PostgreSQL servers on their pod IPs running OLTP or OLAP loads. The classifier labels
// them from their statistics; then they are recreated with those labels, as their controller
// would after the rebalancer evicted them, and placed again.
func demoDatabases(ctx context.Context, c *localcluster.Cluster) error {
	fmt.Printf("\nDatabase pods: the study's 12 PostgreSQL pods (1 CPU, 2Gi each) on 2 nodes with room for 6 each,\n" +
		"created without a workload type. Each gets a real PostgreSQL 15 server on its pod IP: six run pgbench's\n" +
		"TPC-B-like transactions (10/s), six a TPC-H-style scan every 2 s. likewise classifier labels them from\n" +
		"their statistics; then they are recreated with those labels and placed again.\n\n")
	dbs := scenario.StudyDatabases()
	var pods []scenario.Pod
	for _, d := range dbs {
		pods = append(pods, d.Pod)
	}
	k, err := scenario.NewCase(ctx, c, casePrefix, []localcluster.NodeSpec{{}, {}}, corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("6"),
		corev1.ResourceMemory: resource.MustParse("24Gi"),
	})
	if err != nil {
		return err
	}
	if _, err := k.Create(ctx, c, scenario.ProfileLikewise, pods); err != nil {
		return err
	}
	before, err := k.WaitPlaced(ctx, c, len(pods), placeTimeout)
	if err != nil {
		return err
	}
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	running, err := scenario.WaitRunning(ctx, c.Client(), k.Namespace, names, placeTimeout)
	if err != nil {
		return err
	}

	start := time.Now()
	fmt.Printf("Starting 12 PostgreSQL servers on the pods' IPs and their loads...\n")
	servers, err := startDatabases(ctx, c, k.Namespace, dbs, running)
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
	if err := scenario.InstallClassifierRBAC(ctx, c); err != nil {
		return err
	}
	if err := scenario.GrantClassifierCredentials(ctx, c, k.Namespace); err != nil {
		return err
	}
	classifierStart := time.Now()
	if _, err := scenario.StartClassifier(ctx, c, classifierArgs...); err != nil {
		return err
	}
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

	// The classifier's work is done, and the servers': stop them before the pods go, so that the
	// classifier does not report databases that vanish.
	if err := c.StopComponent(scenario.ClassifierName); err != nil {
		return err
	}
	for _, s := range servers {
		s.Close()
	}
	servers = nil

	types := map[string]string{}
	for name, pod := range classified {
		types[name] = pod.Labels[apis.LabelWorkloadType]
	}
	after, err := recreateLabelled(ctx, c, k, pods, types)
	if err != nil {
		return err
	}
	fmt.Println()
	return scenario.WriteTable(os.Stdout, []scenario.Run{
		{Label: "before (unlabelled)", Placement: before, Types: types},
		{Label: "after (classified)", Placement: after, Types: types},
	})
}

// startDatabases starts a server with its load on each pod's IP, a few at a time, and the
// Secret of the monitoring role they share.
func startDatabases(ctx context.Context, c *localcluster.Cluster, ns string, dbs []scenario.StudyDatabase, pods map[string]*corev1.Pod) ([]*scenario.Database, error) {
	scripts, err := os.MkdirTemp("", "likewise-demo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scripts)
	password := randomPassword()
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
			opts := scenario.DatabaseOptions{Workload: d.Workload, Rate: oltpRate, Pause: olapPause,
				ScriptDir: filepath.Join(scripts, d.Pod.Name)}
			if err := os.MkdirAll(opts.ScriptDir, 0o755); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			s, err := scenario.StartDatabase(ctx, pods[d.Pod.Name], opts)
			if err == nil {
				if err = s.SetMonitorPassword(ctx, password); err != nil {
					s.Close()
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			servers = append(servers, s)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return servers, err
	}
	// pgbench reads its scripts when it starts: they may go now.
	secret := scenario.MonitorSecret(ns, "likewise-monitor", password)
	if _, err := c.Client().CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return servers, err
	}
	return servers, nil
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
		p := classified[d.Pod.Name]
		runs := fmt.Sprintf("pgbench TPC-B-like, %d/s", oltpRate)
		if d.Workload == scenario.WorkloadOLAP {
			runs = fmt.Sprintf("TPC-H Q1 every %v", olapPause)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Pod.Name, placement[d.Pod.Name], runs, p.Labels[apis.LabelWorkloadType],
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

// recreateLabelled deletes the case's pods and creates them again with the classified types, as
// a controller recreates evicted pods, and returns where likewise-scheduler put them.
func recreateLabelled(ctx context.Context, c *localcluster.Cluster, k *scenario.Case, pods []scenario.Pod, types map[string]string) (scenario.Placement, error) {
	fmt.Printf("\nRecreating the 12 pods with their classified labels (as their controller would after an eviction)...\n")
	pc := c.Client().CoreV1().Pods(k.Namespace)
	if err := pc.DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}, metav1.ListOptions{LabelSelector: scenario.LabelCase}); err != nil {
		return nil, err
	}
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, placeTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := pc.List(ctx, metav1.ListOptions{LabelSelector: scenario.LabelCase})
		return err == nil && len(list.Items) == 0, err
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for the pods to go: %w", err)
	}
	var labelled []scenario.Pod
	for _, p := range pods {
		p.Type = types[p.Name]
		p.Labels = nil // no longer opted in: the classifier has had its say
		labelled = append(labelled, p)
	}
	if _, err := k.Create(ctx, c, scenario.ProfileLikewise, labelled); err != nil {
		return nil, err
	}
	return k.WaitPlaced(ctx, c, len(labelled), placeTimeout)
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
