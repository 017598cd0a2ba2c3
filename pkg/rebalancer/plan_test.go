package rebalancer

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2/ktesting"
	"k8s.io/utils/ptr"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// basic is the smallest cluster with one move to make: n1 hosts two OLTP pods and the OLAP pod p
// (misplaced), n2 two OLAP pods; the scheduler would put p's replacement on n2.
func basic(t *testing.T, popts ...podOpt) *harness {
	h := newHarness(t)
	h.nodes = []*v1.Node{makeNode("n1", 8), makeNode("n2", 8)}
	h.pods = []*v1.Pod{
		makePod("a1", "n1", oltp), makePod("a2", "n1", oltp), makePod("p", "n1", olap, popts...),
		makePod("b1", "n2", olap), makePod("b2", "n2", olap),
	}
	return h
}

var evictP = []decision{{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n2"}}}

func keepP(reason string) []decision { return []decision{{Pod: "p", Action: Keep, Reason: reason}} }

func waitP(reason string, targets ...string) []decision {
	return []decision{{Pod: "p", Action: Wait, Reason: reason, Targets: targets}}
}

func hostnameAffinity(node string) *v1.VolumeNodeAffinity {
	return &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{
		MatchExpressions: []v1.NodeSelectorRequirement{{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{node}}},
	}}}}
}

var networkVolume = v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: "ebs.csi.example", VolumeHandle: "vol-1"}}

func TestPlanSafety(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*harness)
		popts []podOpt
		want  []decision
		// wantMessage, if set, must be contained in p's decision message.
		wantMessage string
	}{
		{name: "movable pod moves", want: evictP,
			wantMessage: "olap pod on oltp node n1; the scheduler would place its replacement on n2"},
		{name: "bare pod", popts: []podOpt{bare()}, want: keepP(ReasonBarePod)},
		{name: "DaemonSet pod", popts: []podOpt{ownedBy("apps/v1", "DaemonSet", "ds")}, want: keepP(ReasonDaemonSetPod)},
		{name: "Job pod: unknown controller", popts: []podOpt{ownedBy("batch/v1", "Job", "j")}, want: keepP(ReasonUnknownController)},
		{name: "mirror pod", popts: []podOpt{annotate(v1.MirrorPodAnnotationKey, "x")}, want: keepP(ReasonMirrorPod)},
		// A terminating pod no longer counts on its node, so it is not misplaced: no decision.
		{name: "terminating pod", popts: []podOpt{func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }}, want: nil},
		{name: "system-cluster-critical", popts: []podOpt{func(p *v1.Pod) { p.Spec.PriorityClassName = "system-cluster-critical" }}, want: keepP(ReasonSystemCritical)},
		{name: "system-node-critical", popts: []podOpt{func(p *v1.Pod) { p.Spec.PriorityClassName = "system-node-critical" }}, want: keepP(ReasonSystemCritical)},
		{name: "critical priority value", popts: []podOpt{func(p *v1.Pod) { p.Spec.Priority = ptr.To[int32](2000000000) }}, want: keepP(ReasonSystemCritical)},
		{name: "high but not critical priority", popts: []podOpt{func(p *v1.Pod) { p.Spec.Priority = ptr.To[int32](1000000000) }}, want: evictP},
		{name: "hostPath", popts: []podOpt{volume(v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/data"}}})},
			want: keepP(ReasonNodeLocalStorage), wantMessage: "volume data is a hostPath"},
		{name: "emptyDir", popts: []podOpt{volume(v1.Volume{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}})},
			want: keepP(ReasonNodeLocalStorage), wantMessage: "volume scratch is an emptyDir"},
		{name: "allow-listed emptyDir", setup: func(h *harness) { h.cfg.MovableEmptyDirs = []string{"scratch"} },
			popts: []podOpt{volume(v1.Volume{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}})},
			want:  evictP},
		{name: "allow-list names another emptyDir", setup: func(h *harness) { h.cfg.MovableEmptyDirs = []string{"scratch"} },
			popts: []podOpt{volume(v1.Volume{Name: "pgdata", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}})},
			want:  keepP(ReasonNodeLocalStorage)},
		{name: "generic ephemeral volume", popts: []podOpt{volume(v1.Volume{Name: "e", VolumeSource: v1.VolumeSource{Ephemeral: &v1.EphemeralVolumeSource{}}})},
			want: keepP(ReasonNodeLocalStorage)},
		{name: "local PV", setup: func(h *harness) {
			h.pvcs = append(h.pvcs, makePVC("data", "pv-local"))
			h.pvs = append(h.pvs, makePV("pv-local", "data", v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/mnt/disk"}}, hostnameAffinity("n1")))
		}, popts: []podOpt{volume(claimVolume("data", "data"))}, want: keepP(ReasonNodeLocalStorage), wantMessage: "PersistentVolume pv-local of claim data is node-local"},
		{name: "hostname-pinned PV", setup: func(h *harness) {
			h.pvcs = append(h.pvcs, makePVC("data", "pv-pinned"))
			h.pvs = append(h.pvs, makePV("pv-pinned", "data", networkVolume, hostnameAffinity("n1")))
		}, popts: []podOpt{volume(claimVolume("data", "data"))}, want: keepP(ReasonNodeLocalStorage), wantMessage: "is pinned to node n1"},
		{name: "unbound PVC fails closed", setup: func(h *harness) {
			h.pvcs = append(h.pvcs, makePVC("data", ""))
		}, popts: []podOpt{volume(claimVolume("data", "data"))}, want: keepP(ReasonVolumeUnknown), wantMessage: "PersistentVolumeClaim data is not bound"},
		{name: "missing PVC fails closed", popts: []podOpt{volume(claimVolume("data", "data"))}, want: keepP(ReasonVolumeUnknown),
			wantMessage: "reading PersistentVolumeClaim data"},
		{name: "missing PV fails closed", setup: func(h *harness) {
			h.pvcs = append(h.pvcs, makePVC("data", "pv-gone"))
		}, popts: []podOpt{volume(claimVolume("data", "data"))}, want: keepP(ReasonVolumeUnknown), wantMessage: "reading PersistentVolume pv-gone of claim data"},
		{name: "CloudNativePG primary", popts: []podOpt{ownedBy("postgresql.cnpg.io/v1", "Cluster", "pg"),
			label(apis.LabelCNPGInstanceRole, apis.CNPGRolePrimary), label(apis.LabelCNPGCluster, "pg")}, want: keepP(ReasonOperatorPrimary)},
		{name: "Zalando master", popts: []podOpt{ownedBy("apps/v1", "StatefulSet", "pg"),
			label(apis.LabelSpiloRole, apis.SpiloRoleMaster), label(apis.LabelZalandoCluster, "pg")}, want: keepP(ReasonOperatorPrimary)},
		{name: "Crunchy master", popts: []podOpt{ownedBy("apps/v1", "StatefulSet", "pg"),
			label(apis.LabelCrunchyRole, apis.CrunchyRoleMaster), label(apis.LabelCrunchyCluster, "pg")}, want: keepP(ReasonOperatorPrimary)},
		{name: "single-instance CloudNativePG cluster", popts: []podOpt{ownedBy("postgresql.cnpg.io/v1", "Cluster", "pg"),
			label(apis.LabelCNPGInstanceRole, "replica"), label(apis.LabelCNPGCluster, "pg")}, want: keepP(ReasonSingleInstance)},
		{name: "single-instance Zalando cluster", popts: []podOpt{ownedBy("apps/v1", "StatefulSet", "pg"),
			label(apis.LabelSpiloRole, "replica"), label(apis.LabelZalandoCluster, "pg")}, want: keepP(ReasonSingleInstance)},
		{name: "CloudNativePG replica of a two-instance cluster moves", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("pg-2", "n2", olap, ownedBy("postgresql.cnpg.io/v1", "Cluster", "pg"),
				label(apis.LabelCNPGInstanceRole, apis.CNPGRolePrimary), label(apis.LabelCNPGCluster, "pg")))
		}, popts: []podOpt{ownedBy("postgresql.cnpg.io/v1", "Cluster", "pg"),
			label(apis.LabelCNPGInstanceRole, "replica"), label(apis.LabelCNPGCluster, "pg")}, want: evictP},
		{name: "pod annotation opt-out", popts: []podOpt{annotate(apis.AnnotationRebalance, apis.RebalanceDisabled)}, want: keepP(ReasonOptedOut)},
		{name: "pod annotation other value", popts: []podOpt{annotate(apis.AnnotationRebalance, "true")}, want: evictP},
		{name: "namespace label opt-out", setup: func(h *harness) {
			h.namespaces = []*v1.Namespace{makeNamespace(testNamespace, map[string]string{apis.LabelRebalance: apis.RebalanceDisabled})}
		}, want: keepP(ReasonNamespaceOptedOut)},
		{name: "excluded namespace", setup: func(h *harness) { h.cfg.ExcludedNamespaces = []string{"kube-system", testNamespace} },
			want: keepP(ReasonNamespaceExcluded)},
		{name: "missing namespace fails closed", setup: func(h *harness) { h.namespaces = nil }, want: keepP(ReasonNamespaceUnknown)},
		{name: "not ready", popts: []podOpt{notReady()}, want: keepP(ReasonNotReady)},
		{name: "pending phase", popts: []podOpt{func(p *v1.Pod) { p.Status.Phase = v1.PodPending }}, want: keepP(ReasonNotReady)},
		{name: "too young", popts: []podOpt{createdAt(t0.Add(-9 * time.Minute))}, want: waitP(ReasonTooYoung)},
		{name: "old enough", popts: []podOpt{createdAt(t0.Add(-10 * time.Minute))}, want: evictP},
		{name: "classified too recently", popts: []podOpt{
			annotate(apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceClassifier),
			annotate(apis.AnnotationWorkloadClassifiedAt, t0.Add(-5*time.Minute).Format(time.RFC3339))}, want: waitP(ReasonTooYoung)},
		{name: "classified long enough ago", popts: []podOpt{
			annotate(apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceClassifier),
			annotate(apis.AnnotationWorkloadClassifiedAt, t0.Add(-11*time.Minute).Format(time.RFC3339))}, want: evictP},
		{name: "unreadable classification time", popts: []podOpt{
			annotate(apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceClassifier),
			annotate(apis.AnnotationWorkloadClassifiedAt, "yesterday")}, want: waitP(ReasonTooYoung)},
		{name: "declared type is settled", popts: []podOpt{
			annotate(apis.AnnotationWorkloadTypeSource, apis.WorkloadTypeSourceManual),
			annotate(apis.AnnotationWorkloadClassifiedAt, t0.Add(-time.Minute).Format(time.RFC3339))}, want: evictP},
		{name: "another scheduler's pod is ignored", popts: []podOpt{func(p *v1.Pod) { p.Spec.SchedulerName = "default-scheduler" }}, want: nil},
		{name: "scheduler lease stale", setup: func(h *harness) { h.alive, h.leaseMsg = false, "the scheduler's lease expired" },
			want: waitP(ReasonSchedulerUnavailable, "n2"), wantMessage: "the scheduler's lease expired"},
		{name: "another pod of the workload is not ready", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("p-2", "n2", olap, inRS("olap"), notReady()))
		}, popts: []podOpt{inRS("olap")}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "another pod of the workload is terminating", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("p-2", "n2", olap, inRS("olap"), func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(t0)) }))
		}, popts: []podOpt{inRS("olap")}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "another pod of the workload is pending", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("p-2", "", olap, inRS("olap")))
		}, popts: []podOpt{inRS("olap")}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "fewer pods than the ReplicaSet wants", setup: func(h *harness) {
			h.rs = append(h.rs, makeRS("olap", 2))
		}, popts: []podOpt{inRS("olap")}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "ReplicaSet not in the cache fails closed", setup: func(h *harness) { h.noAutoRS = true },
			want: waitP(ReasonWorkloadUnavailable)},
		{name: "ReplicaSet of another UID fails closed", setup: func(h *harness) {
			rs := makeRS("rs-p", 1)
			rs.UID = "someone-else"
			h.rs = append(h.rs, rs)
		}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "a succeeded pod of the workload does not count", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("p-old", "n2", olap, inRS("olap"), notReady(), func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }))
			h.rs = append(h.rs, makeRS("olap", 1))
		}, popts: []podOpt{inRS("olap")}, want: evictP},
		{name: "a Deployment's new ReplicaSet has a pod not ready", setup: func(h *harness) {
			oldRS, newRS := deploymentRS("web-old", 1), deploymentRS("web-new", 1)
			h.rs = append(h.rs, oldRS, newRS)
			h.pods = append(h.pods, makePod("web-new-1", "n2", olap, inRS("web-new"), notReady()))
		}, popts: []podOpt{inRS("web-old")}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "a Deployment's ReplicaSets all ready", setup: func(h *harness) {
			h.rs = append(h.rs, deploymentRS("web-old", 1), deploymentRS("web-new", 1))
			h.pods = append(h.pods, makePod("web-new-1", "n2", olap, inRS("web-new")))
		}, popts: []podOpt{inRS("web-old")}, want: evictP},
		{name: "another Deployment's pod not ready", setup: func(h *harness) {
			other := deploymentRS("db-1", 1)
			other.OwnerReferences[0].Name, other.OwnerReferences[0].UID = "db", "uid-Deployment-db"
			h.rs = append(h.rs, deploymentRS("web-old", 1), other)
			h.pods = append(h.pods, makePod("db-1-1", "n2", olap, inRS("db-1"), notReady()))
		}, popts: []podOpt{inRS("web-old")}, want: evictP},
		{name: "in-flight move of the workload", setup: func(h *harness) {
			h.mem.recordEviction("ReplicaSet/db/rs-p", &move{podUID: "uid-old", pod: "db/old", typ: olap, from: "n9", at: t0.Add(-time.Minute)})
		}, want: waitP(ReasonWorkloadUnavailable)},
		{name: "in-flight move from its node", setup: func(h *harness) {
			h.mem.recordEviction("ReplicaSet/db/other", &move{podUID: "uid-x", pod: "db/x", typ: olap, from: "n1", targets: []string{"n3"}, at: t0.Add(-time.Minute)})
		}, want: waitP(ReasonNodeBusy)},
		{name: "in-flight move to its target", setup: func(h *harness) {
			h.mem.recordEviction("ReplicaSet/db/other", &move{podUID: "uid-x", pod: "db/x", typ: olap, from: "n3", targets: []string{"n2"}, at: t0.Add(-time.Minute)})
		}, want: waitP(ReasonNodeBusy, "n2")},
		{name: "in-flight move elsewhere", setup: func(h *harness) {
			h.mem.recordEviction("ReplicaSet/db/other", &move{podUID: "uid-x", pod: "db/x", typ: olap, from: "n3", targets: []string{"n4"}, at: t0.Add(-time.Minute)})
		}, want: evictP},
		{name: "cooldown", setup: func(h *harness) {
			h.mem.finished("ReplicaSet/db/rs-p", t0.Add(-9*time.Minute), true, h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
		}, want: waitP(ReasonCooldown)},
		{name: "cooldown over", setup: func(h *harness) {
			h.mem.finished("ReplicaSet/db/rs-p", t0.Add(-10*time.Minute), true, h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
		}, want: evictP},
		{name: "backing off after a refusal", setup: func(h *harness) {
			h.mem.refused("ReplicaSet/db/rs-p", t0.Add(-9*time.Minute), h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
		}, want: waitP(ReasonBackingOff)},
		{name: "backing off after a move that did not stick", setup: func(h *harness) {
			h.cfg.WorkloadCooldown = time.Minute
			h.mem.refused("ReplicaSet/db/rs-p", t0.Add(-time.Hour), h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
			h.mem.finished("ReplicaSet/db/rs-p", t0.Add(-90*time.Second), false, h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
		}, want: waitP(ReasonBackingOff)},
		{name: "too many moves", setup: func(h *harness) {
			h.cfg.WorkloadCooldown = 0
			for i := range 3 {
				at := t0.Add(time.Duration(i-3) * time.Minute)
				h.mem.recordEviction("ReplicaSet/db/rs-p", &move{podUID: "uid-old", pod: "db/old", typ: olap, from: "n9", at: at})
				h.mem.finished("ReplicaSet/db/rs-p", at, true, h.cfg.WorkloadCooldown, h.cfg.MaxBackoff)
			}
		}, want: waitP(ReasonTooManyMoves)},
		{name: "this pod was evicted already", setup: func(h *harness) { h.mem.evicted["uid-p"] = t0.Add(-time.Minute) },
			want: waitP(ReasonAlreadyEvicted)},
		{name: "best node is its own node: waiting for capacity", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("big", "n2", none, cpu("6")))
		}, want: waitP(ReasonWaitingForCapacity, "n1"), wantMessage: "would put the replacement back on n1"},
		{name: "a pod nominated for the target takes its room", setup: func(h *harness) {
			h.pods = append(h.pods, makePod("preemptor", "", none, cpu("6"), func(p *v1.Pod) { p.Status.NominatedNodeName = "n2" }))
		}, want: waitP(ReasonWaitingForCapacity, "n1")},
		{name: "no node fits: waiting for capacity", popts: []podOpt{func(p *v1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "nvme"} }},
			want: waitP(ReasonWaitingForCapacity), wantMessage: "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector"},
		{name: "best node would not lower mixing", setup: func(h *harness) {
			// n2 is an OLTP node with one pod: the emptiest node, where p would add to mixing.
			h.pods = append(h.pods[:3], makePod("c1", "n2", oltp))
		}, want: waitP(ReasonWaitingForCapacity, "n2"), wantMessage: "the scheduler's best nodes include n2, where the move would not lower mixing"},
		{name: "the scheduler's other scores prefer its own node", popts: []podOpt{func(p *v1.Pod) {
			p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{{
				Weight: 100, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{
					{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{"n1"}}}},
			}}}}
		}}, setup: func(h *harness) {
			// n2, the OLAP node, would take p and lower the mixing, but p prefers n1 and n2 is
			// tainted PreferNoSchedule: NodeAffinity and TaintToleration match the type, and the
			// scheduler could put the replacement back where it is.
			h.nodes[1].Spec.Taints = []v1.Taint{{Key: "maintenance", Effect: v1.TaintEffectPreferNoSchedule}}
		}, want: waitP(ReasonSchedulerPrefersNode, "n1", "n2"), wantMessage: "though n2 would take it and lower mixing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			h := basic(t, tt.popts...)
			if tt.setup != nil {
				tt.setup(h)
			}
			got := h.plan(ctx)
			if diff := cmp.Diff(tt.want, brief(got)); diff != "" {
				t.Errorf("decisions (-want,+got):\n%s", diff)
			}
			if tt.wantMessage != "" && len(got) > 0 && !strings.Contains(got[0].Message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", got[0].Message, tt.wantMessage)
			}
		})
	}
}

// A volume that can follow its pod (network-attached, bound, no node affinity) does not keep it;
// the simulation reads the claim from the scheduler's own informers.
func TestPlanNetworkVolumeMoves(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	pvc, pv := makePVC("data", "pv-net"), makePV("pv-net", "data", networkVolume, nil)
	h := basic(t, volume(claimVolume("data", "data")))
	h.pvcs, h.pvs = append(h.pvcs, pvc), append(h.pvs, pv)
	h.sim = simulatorWith(t, pvc, pv, makeNamespace(testNamespace, nil))
	got := h.plan(ctx)
	if diff := cmp.Diff(evictP, brief(got)); diff != "" {
		t.Errorf("decisions (-want,+got):\n%s", diff)
		for _, d := range got {
			t.Logf("%s: %s", d.Pod.Name, d.Message)
		}
	}
}

// twoMoves: n1 (oltp) hosts OLAP p, n3 (olap) hosts OLTP q; p would go to n2 and q to n4.
func twoMoves(t *testing.T, qopts ...podOpt) *harness {
	h := newHarness(t)
	h.nodes = []*v1.Node{makeNode("n1", 8), makeNode("n2", 8), makeNode("n3", 8), makeNode("n4", 8)}
	h.pods = []*v1.Pod{
		makePod("a1", "n1", oltp), makePod("a2", "n1", oltp), makePod("p", "n1", olap),
		makePod("b1", "n2", olap), makePod("b2", "n2", olap),
		makePod("c1", "n3", olap), makePod("c2", "n3", olap), makePod("q", "n3", oltp, qopts...),
		makePod("d1", "n4", oltp), makePod("d2", "n4", oltp),
	}
	return h
}

func TestPlanLimits(t *testing.T) {
	pEvict := decision{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n2"}}
	// n1 is an OLTP node too, but p, terminating, still takes its room there: n4 is emptier.
	qEvict := decision{Pod: "q", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n4"}}
	qLimit := decision{Pod: "q", Action: Wait, Reason: ReasonLimitReached}
	tests := []struct {
		name  string
		qopts []podOpt
		setup func(*harness)
		want  []decision
	}{
		{name: "both move", want: []decision{pEvict, qEvict}},
		{name: "per cycle", setup: func(h *harness) { h.cfg.MaxEvictionsPerCycle = 1 }, want: []decision{pEvict, qLimit}},
		{name: "per namespace", setup: func(h *harness) { h.cfg.MaxEvictionsPerNamespace = 1 }, want: []decision{pEvict, qLimit}},
		{name: "per namespace counts each namespace", qopts: []podOpt{inNamespace("other")},
			setup: func(h *harness) {
				h.cfg.MaxEvictionsPerNamespace = 1
				h.namespaces = append(h.namespaces, makeNamespace("other", nil))
				h.rs = append(h.rs, func() *appsv1.ReplicaSet { rs := makeRS("rs-q", 1); rs.Namespace = "other"; return rs }())
			},
			want: []decision{pEvict, qEvict}},
		{name: "per minute counts earlier evictions", setup: func(h *harness) {
			for i := range 9 {
				h.mem.recent = append(h.mem.recent, t0.Add(-time.Duration(i+1)*time.Second))
			}
		}, want: []decision{pEvict, qLimit}},
		{name: "per minute forgets evictions a minute old", setup: func(h *harness) {
			for range 9 {
				h.mem.recent = append(h.mem.recent, t0.Add(-time.Minute))
			}
		}, want: []decision{pEvict, qEvict}},
		{name: "one pod of a workload at a time", setup: func(h *harness) {
			// p and q are two OLAP pods of one ReplicaSet, on OLTP nodes n1 and n3, bound for n2 and n4.
			h.pods = []*v1.Pod{
				makePod("a1", "n1", oltp), makePod("a2", "n1", oltp), makePod("p", "n1", olap, inRS("shared"), nodeSelector2("n1", "n2")),
				makePod("b1", "n2", olap), makePod("b2", "n2", olap),
				makePod("c1", "n3", oltp), makePod("c2", "n3", oltp), makePod("q", "n3", olap, inRS("shared"), nodeSelector2("n3", "n4")),
				makePod("d1", "n4", olap), makePod("d2", "n4", olap),
			}
		},
			want: []decision{pEvict, {Pod: "q", Action: Wait, Reason: ReasonWorkloadUnavailable}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			h := twoMoves(t, tt.qopts...)
			if tt.setup != nil {
				tt.setup(h)
			}
			if diff := cmp.Diff(tt.want, brief(h.plan(ctx))); diff != "" {
				t.Errorf("decisions (-want,+got):\n%s", diff)
			}
		})
	}
}

// Two misplaced pods leave one OLTP pool node for two different nodes: the per-node limit, not the
// lock on the nodes a move involves, decides whether the second goes in the same cycle.
func TestPlanPerNodeLimit(t *testing.T) {
	setup := func(t *testing.T) *harness {
		h := newHarness(t)
		h.nodes = []*v1.Node{makeNode("n1", 8, pool(oltp)), makeNode("n2", 8), makeNode("n3", 8)}
		h.pods = []*v1.Pod{
			makePod("a1", "n1", oltp), makePod("p", "n1", olap, nodeSelector2("n1", "n2")), makePod("q", "n1", olap, nodeSelector2("n1", "n3")),
			makePod("b1", "n2", olap), makePod("c1", "n3", olap),
		}
		return h
	}
	tests := []struct {
		name    string
		perNode int
		want    []decision
	}{
		{name: "one per node", perNode: 1, want: []decision{
			{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n2"}},
			{Pod: "q", Action: Wait, Reason: ReasonLimitReached},
		}},
		{name: "two per node", perNode: 2, want: []decision{
			{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n2"}},
			{Pod: "q", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n3"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			h := setup(t)
			h.cfg.MaxEvictionsPerNode = tt.perNode
			if diff := cmp.Diff(tt.want, brief(h.plan(ctx))); diff != "" {
				t.Errorf("decisions (-want,+got):\n%s", diff)
			}
		})
	}
}

// nodeSelector2 lets the pod run on two nodes only (its own and one target).
func nodeSelector2(a, b string) podOpt {
	return func(p *v1.Pod) {
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{{
				Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{a, b}}}}}}}}
	}
}

// A node a move of this cycle may go to is locked for the rest of the cycle: with a tie the
// scheduler picks one node at random, so the view cannot hold the replacement on either.
func TestPlanLocksTargetsWithinCycle(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := newHarness(t)
	h.nodes = []*v1.Node{makeNode("n1", 8, pool(oltp)), makeNode("n2", 8, pool(oltp)), makeNode("n3", 8), makeNode("n4", 8)}
	h.pods = []*v1.Pod{makePod("p", "n1", olap), makePod("q", "n2", olap)}
	want := []decision{
		{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n3", "n4"}},
		{Pod: "q", Action: Wait, Reason: ReasonNodeBusy, Targets: []string{"n3", "n4"}},
	}
	if diff := cmp.Diff(want, brief(h.plan(ctx))); diff != "" {
		t.Errorf("decisions (-want,+got):\n%s", diff)
	}
}

// With one target, the view follows the move: the replacement takes its room, and the next pod
// is placed as the scheduler will place it, not into room already taken.
func TestPlanViewFollowsMoves(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	h := newHarness(t)
	h.nodes = []*v1.Node{makeNode("n1", 8, pool(oltp)), makeNode("n2", 8, pool(oltp)), makeNode("n3", 4)}
	h.pods = []*v1.Pod{
		makePod("p", "n1", olap), makePod("q", "n2", olap),
		makePod("c1", "n3", olap), makePod("c2", "n3", olap), makePod("c3", "n3", olap),
	}
	want := []decision{
		{Pod: "p", Action: Evict, Reason: ReasonEvicting, Targets: []string{"n3"}},
		// n3 is full with p's replacement; q's own OLTP pool is the best left (p, terminating,
		// still takes room on n1).
		{Pod: "q", Action: Wait, Reason: ReasonWaitingForCapacity, Targets: []string{"n2"}},
	}
	if diff := cmp.Diff(want, brief(h.plan(ctx))); diff != "" {
		t.Errorf("decisions (-want,+got):\n%s", diff)
	}
}

// deploymentRS is a ReplicaSet of the Deployment web.
func deploymentRS(name string, replicas int32) *appsv1.ReplicaSet {
	rs := makeRS(name, replicas)
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web",
		UID: ownerUID("Deployment", "web"), Controller: ptr.To(true)}}
	return rs
}
