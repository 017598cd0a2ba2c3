package study

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/localcluster"
	"github.com/likewise-dev/likewise/pkg/pgserver"
	"github.com/likewise-dev/likewise/pkg/rebalancer"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// AnnotationWorkload tells the study's runtime setup what a database holds: "oltp" (the
// TPC-C-like tables) or "olap" (the TPC-H-style ones). The classifier never reads it: it finds
// the type out from the database's statistics.
const AnnotationWorkload = "study.likewise.dev/workload"

// Measured databases: the first of each type.
const (
	MeasuredOLTP = "oltp-1"
	MeasuredOLAP = "olap-1"
)

// podOf is the pod of a study database's StatefulSet.
func podOf(db string) string { return db + "-0" }

// studyDatabases are the mixed phase's twelve databases in creation order, two of one type, then
// two of the other: kube-scheduler's resource scoring splits each pair over the two nodes (the
// second goes to the emptier node), so each node ends with three of each, as the study started.
func studyDatabases(nodes int) []string {
	var out []string
	for i := 1; i <= DatabasesPerType; i += nodes {
		for _, kind := range []string{"oltp", "olap"} {
			for j := i; j < i+nodes && j <= DatabasesPerType; j++ {
				out = append(out, fmt.Sprintf("%s-%d", kind, j))
			}
		}
	}
	return out
}

func kindOf(db string) string { k, _, _ := strings.Cut(db, "-"); return k }

// Waits of a setting, generous for two shared cores.
const (
	placeTimeout     = 2 * time.Minute
	serveTimeout     = 5 * time.Minute
	classifyTimeout  = 4 * time.Minute
	rebalanceTimeout = 5 * time.Minute
	// settleFor is how long the saturated setting's rebalancer must go without evicting, having
	// said it waits for capacity, for its placement to count as final.
	settleFor = 20 * time.Second
)

// The classifier's and rebalancer's flags: the demo's short windows and cycles, so that the
// study's twelve databases are labelled within a minute and moved within seconds.
var (
	classifierArgs = []string{"--interval=2s", "--window=10s", "--windows-to-switch=2", "--min-dwell=1m", "--v=2"}
	rebalancerArgs = []string{"--leader-elect=false", "--interval=2s", "--min-pod-age=0s", "--workload-cooldown=2s",
		"--max-backoff=10s", "--v=2"}
)

func (s *study) setting(ctx context.Context, spec SettingSpec) (res Setting, err error) {
	res = Setting{Name: spec.Name, Description: spec.Description, NodeCPUMilli: spec.NodeCPUMilli,
		OLTPRequestMilli: spec.OLTPRequestMilli, OLAPRequestMilli: spec.OLAPRequestMilli}
	s.logf("setting %s: %s", spec.Name, spec.Description)

	alone, err := s.alone(ctx, spec)
	res.Phases = append(res.Phases, alone)
	if err != nil {
		return res, fmt.Errorf("phase %s: %w", PhaseAlone, err)
	}

	env, err := s.newCase(ctx, spec, PhaseMixed)
	if err != nil {
		return res, err
	}
	defer func() {
		if derr := s.deleteCase(context.WithoutCancel(ctx), env, true); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	env.Databases = studyDatabases(s.o.Nodes)
	if err := s.createDatabases(ctx, env, spec); err != nil {
		return res, err
	}
	if err := s.checkMixed(ctx, env); err != nil {
		return res, err
	}
	mixed, err := s.phase(ctx, env, PhaseMixed)
	if err != nil {
		return res, fmt.Errorf("phase %s: %w", PhaseMixed, err)
	}
	res.Phases = append(res.Phases, mixed)

	if res.Labels, err = s.classify(ctx, env); err != nil {
		return res, err
	}
	if hook := s.o.Hooks.BeforeMoves; hook != nil {
		if err := hook(ctx, env); err != nil {
			return res, fmt.Errorf("BeforeMoves hook: %w", err)
		}
	}
	if res.Moves, res.Waiting, err = s.rebalance(ctx, env); err != nil {
		return res, err
	}
	after, err := s.phase(ctx, env, PhaseAfter)
	if err != nil {
		return res, fmt.Errorf("phase %s: %w", PhaseAfter, err)
	}
	res.Phases = append(res.Phases, after)

	if spec.Forced {
		if len(res.Waiting) == 0 {
			return res, fmt.Errorf("setting %s expects the rebalancer to wait for capacity, but it moved every database (%d moves)", spec.Name, res.Moves)
		}
		if err := s.consolidate(ctx, env); err != nil {
			return res, err
		}
		forced, err := s.phase(ctx, env, PhaseForced)
		if err != nil {
			return res, fmt.Errorf("phase %s: %w", PhaseForced, err)
		}
		res.Phases = append(res.Phases, forced)
	}
	return res, nil
}

// alone measures one database of each type on a node by itself.
func (s *study) alone(ctx context.Context, spec SettingSpec) (Phase, error) {
	env, err := s.newCase(ctx, spec, PhaseAlone)
	if err != nil {
		return Phase{}, err
	}
	env.Databases = []string{MeasuredOLTP, MeasuredOLAP}
	if err := s.createDatabases(ctx, env, spec); err != nil {
		return Phase{}, errors.Join(err, s.deleteCase(context.WithoutCancel(ctx), env, false))
	}
	p, err := s.phase(ctx, env, PhaseAlone)
	if err == nil && p.Placement[podOf(MeasuredOLTP)] == p.Placement[podOf(MeasuredOLAP)] {
		err = fmt.Errorf("the two databases share node %s: each must be alone", p.Placement[podOf(MeasuredOLTP)])
	}
	return p, errors.Join(err, s.deleteCase(context.WithoutCancel(ctx), env, false))
}

// newCase creates a namespace and the setting's nodes for one phase, with the classifier's
// credentials Secret and its RoleBinding.
func (s *study) newCase(ctx context.Context, spec SettingSpec, phase string) (*Env, error) {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewMilliQuantity(spec.NodeCPUMilli, resource.DecimalSI),
		corev1.ResourceMemory: resource.MustParse("32Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	k, err := scenario.NewCase(ctx, s.cluster, "study-"+spec.Name+"-"+phase, make([]localcluster.NodeSpec, s.o.Nodes), capacity)
	env := &Env{Cluster: s.cluster, Runtime: s.rt, Cgroups: s.cg, Setting: spec, Case: k}
	if err != nil {
		return env, err
	}
	secret := scenario.MonitorSecret(k.Namespace, "likewise-monitor", s.password)
	if _, err := s.cluster.Client().CoreV1().Secrets(k.Namespace).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return env, err
	}
	return env, scenario.GrantClassifierCredentials(ctx, s.cluster, k.Namespace)
}

// deleteCase deletes the phase's namespace and nodes and waits until the runtime has stopped
// every server of it; at the setting's end (done) it calls the SettingDone hook.
func (s *study) deleteCase(ctx context.Context, env *Env, done bool) error {
	if env.Case == nil {
		return nil
	}
	if err := env.Case.Delete(ctx, s.cluster); err != nil {
		return err
	}
	var left []string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, serveTimeout, true, func(context.Context) (bool, error) {
		left = left[:0]
		for _, db := range env.Databases {
			if _, ok := s.rt.Server(env.Case.Namespace, podOf(db)); ok {
				left = append(left, podOf(db))
			}
		}
		return len(left) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("the runtime still runs %v after namespace %s was deleted: %w", left, env.Case.Namespace, err)
	}
	// The nodes are gone: so go their cgroups, and their CPUs are free for the next nodes.
	groups, err := s.cg.Nodes()
	if err != nil {
		return err
	}
	for _, g := range groups {
		if slices.Contains(env.Case.Nodes, g.Node()) {
			if err := g.Remove(ctx, time.Minute); err != nil {
				return err
			}
		}
	}
	if hook := s.o.Hooks.SettingDone; hook != nil && done {
		return hook(ctx, env)
	}
	return nil
}

// createDatabases creates env's databases one at a time, each placed by likewise-scheduler
// before the next, untyped, opted in to classification over plaintext (the runtime's servers
// have no TLS; the opt-in is the pod's, as a user's must be).
func (s *study) createDatabases(ctx context.Context, env *Env, spec SettingSpec) error {
	for _, db := range env.Databases {
		cpu := spec.OLTPRequestMilli
		if kindOf(db) == "olap" {
			cpu = spec.OLAPRequestMilli
		}
		w := scenario.DatabaseWorkload{Name: db, Kind: "StatefulSet", Replicas: 1, CPU: strconv.FormatInt(cpu, 10) + "m", Memory: "1Gi",
			Labels: map[string]string{apis.LabelClassify: apis.ClassifyEnabled},
			Annotations: map[string]string{
				apis.AnnotationPostgresSSLMode: apis.SSLModeDisable,
				AnnotationWorkload:             kindOf(db),
			}}
		if err := env.Case.CreateWorkload(ctx, s.cluster, scenario.ProfileLikewise, w); err != nil {
			return err
		}
		if _, err := scenario.WaitRunning(ctx, s.cluster.Client(), env.Case.Namespace, []string{podOf(db)}, placeTimeout); err != nil {
			return err
		}
	}
	s.logf("  %s: %d databases placed; their servers start and load their data", env.Case.Namespace, len(env.Databases))
	return nil
}

// checkMixed checks the study's start: each node holds as many databases of each type.
func (s *study) checkMixed(ctx context.Context, env *Env) error {
	placement, err := scenario.Get(ctx, s.cluster.Client(), env.Case.Namespace, env.Case.Name)
	if err != nil {
		return err
	}
	counts := map[string]map[string]int{}
	for pod, node := range placement {
		if counts[node] == nil {
			counts[node] = map[string]int{}
		}
		counts[node][kindOf(pod)]++
	}
	want := DatabasesPerType / s.o.Nodes
	for _, n := range env.Case.Nodes {
		if counts[n]["oltp"] != want || counts[n]["olap"] != want {
			return fmt.Errorf("kube-scheduler's placement is not the study's start (%d OLTP and %d OLAP per node): %v", want, want, counts)
		}
	}
	return nil
}

// classify runs the classifier with every database under its background load until it has
// labelled them all, and returns each database's label. The classifier keeps running, so that it
// labels the rebalancer's replacements from their StatefulSets' records; rebalance stops it.
func (s *study) classify(ctx context.Context, env *Env) (map[string]string, error) {
	loads, err := s.startLoads(ctx, env, "classify", false)
	if err != nil {
		return nil, err
	}
	defer loads.stop()
	s.logf("  starting likewise classifier (%s)", strings.Join(classifierArgs, " "))
	if _, err := scenario.StartClassifier(ctx, s.cluster, classifierArgs...); err != nil {
		return nil, err
	}
	start := time.Now()
	labels := map[string]string{}
	var pending []string
	err = wait.PollUntilContextTimeout(ctx, time.Second, classifyTimeout, true, func(ctx context.Context) (bool, error) {
		pending = pending[:0]
		for _, db := range env.Databases {
			p, err := s.cluster.Client().CoreV1().Pods(env.Case.Namespace).Get(ctx, podOf(db), metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if l := p.Labels[apis.LabelWorkloadType]; l != "" {
				labels[db] = l
			} else {
				pending = append(pending, db)
			}
		}
		return len(pending) == 0, loads.err()
	})
	if err != nil {
		log, _ := scenario.ClassifierLog(s.cluster)
		return labels, fmt.Errorf("databases %v not labelled in %v: %w\nclassifier log (end):\n%s", pending, classifyTimeout, err, trimLog(log, 3000))
	}
	wrong := 0
	for db, l := range labels {
		if l != kindOf(db) {
			wrong++
		}
	}
	s.logf("  classifier labelled all %d in %v (%d differ from what they run)", len(labels), time.Since(start).Round(time.Second), wrong)
	return labels, nil
}

// rebalance runs the rebalancer until the placement is final: no mixing left, or (when no node
// has room) the rebalancer waiting for capacity and evicting nothing for settleFor. It returns
// the evictions and the pods left waiting, and stops the classifier and the rebalancer.
func (s *study) rebalance(ctx context.Context, env *Env) (int, []string, error) {
	s.logf("  starting likewise rebalancer (%s)", strings.Join(rebalancerArgs, " "))
	defer func() {
		_ = s.cluster.StopComponent(scenario.RebalancerName)
		_ = s.cluster.StopComponent(scenario.ClassifierName)
	}()
	if _, err := scenario.StartRebalancer(ctx, s.cluster, rebalancerArgs...); err != nil {
		return 0, nil, err
	}
	seen := map[types.UID]bool{}
	moves, landed := 0, 0
	waiting := map[string]bool{}
	lastChange := time.Now()
	var mixing int
	err := wait.PollUntilContextTimeout(ctx, time.Second, rebalanceTimeout, true, func(ctx context.Context) (bool, error) {
		list, err := s.cluster.Client().EventsV1().Events(env.Case.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		items := list.Items
		slices.SortStableFunc(items, func(a, b eventsv1.Event) int { return a.EventTime.Compare(b.EventTime.Time) })
		for _, e := range items {
			if e.ReportingController != rebalancer.Name || seen[e.UID] {
				continue
			}
			seen[e.UID] = true
			switch e.Reason {
			case rebalancer.ReasonEvicting:
				moves++
				lastChange = time.Now()
				s.logf("    move %d: %s: %s", moves, e.Regarding.Name, e.Note)
			case rebalancer.ReasonMoved:
				landed++
				lastChange = time.Now()
			case rebalancer.ReasonWaitingForCapacity:
				if !waiting[e.Regarding.Name] {
					s.logf("    %s waits: %s", e.Regarding.Name, e.Note)
				}
				waiting[e.Regarding.Name] = true
			}
		}
		m, counts, err := env.Case.Mixing(ctx, s.cluster)
		if err != nil {
			return false, nil
		}
		mixing = m
		typed := 0
		for _, c := range counts {
			typed += c.OLTP + c.OLAP
		}
		settled := typed == len(env.Databases) && landed == moves
		return settled && (m == 0 || len(waiting) > 0 && time.Since(lastChange) >= settleFor), nil
	})
	if err != nil {
		log, _ := scenario.RebalancerLog(s.cluster)
		return moves, nil, fmt.Errorf("placement not final after %v (mixing %d, %d moves, %d landed): %w\nrebalancer log (end):\n%s",
			rebalanceTimeout, mixing, moves, landed, err, trimLog(log, 3000))
	}
	// Only the pods that still add to the mixing are left waiting.
	var left []string
	if mixing > 0 {
		for pod := range waiting {
			left = append(left, pod)
		}
		slices.Sort(left)
	}
	s.logf("  placement final: %d moves, mixing %d, waiting %v", moves, mixing, left)
	return moves, left, nil
}

// consolidate binds the OLAP databases to the first half of the nodes and the OLTP ones to the
// rest, by hand (spec.nodeName in each StatefulSet's template, bypassing the scheduler and its
// resource checks): the consolidation the rebalancer refused, to measure what it would have done.
func (s *study) consolidate(ctx context.Context, env *Env) error {
	half := len(env.Case.Nodes) / 2
	olap, oltp := env.Case.Nodes[:half], env.Case.Nodes[half:]
	counts := map[string]int{}
	for _, db := range env.Databases {
		nodes := oltp
		if kindOf(db) == "olap" {
			nodes = olap
		}
		node := nodes[counts[kindOf(db)]%len(nodes)]
		counts[kindOf(db)]++
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"nodeName":%q}}}}`, node)
		if _, err := s.cluster.Client().AppsV1().StatefulSets(env.Case.Namespace).Patch(ctx, db, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("binding %s to %s: %w", db, node, err)
		}
	}
	s.logf("  consolidating by hand: OLAP on %v, OLTP on %v", olap, oltp)
	// Each StatefulSet rolls its pod onto its node.
	return wait.PollUntilContextTimeout(ctx, time.Second, rebalanceTimeout, true, func(ctx context.Context) (bool, error) {
		for _, db := range env.Databases {
			sts, err := s.cluster.Client().AppsV1().StatefulSets(env.Case.Namespace).Get(ctx, db, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if !rolledOut(sts) {
				return false, nil
			}
			p, err := s.cluster.Client().CoreV1().Pods(env.Case.Namespace).Get(ctx, podOf(db), metav1.GetOptions{})
			if err != nil || p.Spec.NodeName != sts.Spec.Template.Spec.NodeName || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
				return false, nil
			}
		}
		return true, nil
	})
}

func rolledOut(sts *appsv1.StatefulSet) bool {
	return sts.Status.ObservedGeneration >= sts.Generation && sts.Status.UpdatedReplicas == *sts.Spec.Replicas &&
		sts.Status.CurrentRevision == sts.Status.UpdateRevision
}

// setupDatabase is the runtime's first-start setup of a study server: the application database
// with the tables of what it runs, loaded and analyzed. The runtime retries a failed setup until
// it succeeds (and serves the pod only then): each attempt starts from an empty database.
func (s *study) setupDatabase(ctx context.Context, pod *corev1.Pod, srv *pgserver.Server) error {
	kind := pod.Annotations[AnnotationWorkload]
	if _, err := srv.Psql(ctx, pgserver.DefaultDB, "DROP DATABASE IF EXISTS "+scenario.DatabaseName); err != nil {
		return err
	}
	if err := srv.CreateDatabase(ctx, scenario.DatabaseName); err != nil {
		return err
	}
	var err error
	switch kind {
	case "oltp":
		err = srv.CreateTPCC(ctx, scenario.DatabaseName, s.o.TPCC)
	case "olap":
		err = srv.CreateTPCH(ctx, scenario.DatabaseName, pgserver.TPCHScale(s.o.TPCHScaleFactor))
	default:
		err = fmt.Errorf("annotation %s=%q: want oltp or olap", AnnotationWorkload, kind)
	}
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	// Vacuum now rather than have autovacuum show up as load in a measurement.
	_, err = srv.Psql(ctx, scenario.DatabaseName, "VACUUM ANALYZE")
	return err
}
