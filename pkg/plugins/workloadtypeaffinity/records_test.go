package workloadtypeaffinity

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2/ktesting"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// recorded is the metadata of an owner or claim holding a record of typ ("" for none).
func recorded(name, typ string, owner ...metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: "db", Name: name, UID: types.UID("uid-" + name), OwnerReferences: owner}
	if typ != "" {
		m.Annotations = map[string]string{apis.AnnotationWorkloadTypeRecord: typ, apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier}
	}
	return m
}

func controlledBy(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: new(true)}
}

// ownedPod is an unlabelled pod controlled by owner, mounting claims.
func ownedPod(name string, owner metav1.OwnerReference, claims ...string) *v1.Pod {
	p := dbPod(name, "", "")
	p.OwnerReferences = []metav1.OwnerReference{owner}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

// TestScoreFromRecords: a pod without a label is scored by the type recorded on its StatefulSet,
// its ReplicaSet or its claims; a record only on the Deployment is not read (the scheduler may
// not read Deployments); an invalid record makes the pod untyped with a Warning Event.
func TestScoreFromRecords(t *testing.T) {
	nodes := []*v1.Node{node("oltp-node", ""), node("olap-node", ""), node("free-node", "")}
	residents := []*v1.Pod{dbPod("t1", "oltp", "oltp-node"), dbPod("a1", "olap", "olap-node")}
	objs := []k8sruntime.Object{
		&appsv1.StatefulSet{ObjectMeta: recorded("analytics", "olap")},
		&appsv1.StatefulSet{ObjectMeta: recorded("bad", "analytics")},
		&appsv1.ReplicaSet{ObjectMeta: recorded("orders-5d8f", "oltp", controlledBy("apps/v1", "Deployment", "orders"))},
		&appsv1.ReplicaSet{ObjectMeta: recorded("reports-7c9b", "", controlledBy("apps/v1", "Deployment", "reports"))},
		&appsv1.Deployment{ObjectMeta: recorded("reports", "olap")},
		&v1.PersistentVolumeClaim{ObjectMeta: recorded("pg-1", "olap")},
	}
	olapScores := map[string]int64{"oltp-node": 0, "olap-node": 100, "free-node": 50}
	oltpScores := map[string]int64{"oltp-node": 100, "olap-node": 0, "free-node": 50}
	tests := []struct {
		name       string
		pod        *v1.Pod
		want       map[string]int64
		wantStatus *fwk.Status
		wantEvent  string
	}{
		{
			name: "StatefulSet record",
			pod:  ownedPod("analytics-0", controlledBy("apps/v1", "StatefulSet", "analytics")),
			want: olapScores,
		},
		{
			name: "ReplicaSet record",
			pod:  ownedPod("orders-5d8f-x", controlledBy("apps/v1", "ReplicaSet", "orders-5d8f")),
			want: oltpScores,
		},
		{
			name: "claim record of an operator's pod",
			pod:  ownedPod("pg-1", controlledBy("postgresql.cnpg.io/v1", "Cluster", "pg"), "pg-1"),
			want: olapScores,
		},
		{
			name: "the pod's label wins over the record",
			pod: func() *v1.Pod {
				p := dbPod("analytics-0", apis.WorkloadOLTP, "")
				p.OwnerReferences = []metav1.OwnerReference{controlledBy("apps/v1", "StatefulSet", "analytics")}
				return p
			}(),
			want: oltpScores,
		},
		{
			name:       "a record only on the Deployment is not read",
			pod:        ownedPod("reports-7c9b-x", controlledBy("apps/v1", "ReplicaSet", "reports-7c9b")),
			wantStatus: fwk.NewStatus(fwk.Skip),
		},
		{
			name:       "invalid record",
			pod:        ownedPod("bad-0", controlledBy("apps/v1", "StatefulSet", "bad")),
			wantStatus: fwk.NewStatus(fwk.Skip),
			wantEvent:  `Warning InvalidWorkloadType StatefulSet db/bad: annotation likewise.dev/workload-type="analytics": supported values: "oltp", "olap"; scheduling the pod as untyped`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			f := newFixtureWithObjects(ctx, t, defaultArgs(), nodes, residents, objs...)
			got, status := f.score(ctx, t, tt.pod)
			if diff := cmp.Diff(tt.wantStatus, status); diff != "" {
				t.Errorf("PreScore status (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("scores (-want,+got):\n%s", diff)
			}
			var events []string
			for len(f.Recorder.Events) > 0 {
				events = append(events, <-f.Recorder.Events)
			}
			var wantEvents []string
			if tt.wantEvent != "" {
				wantEvents = []string{tt.wantEvent}
			}
			if diff := cmp.Diff(wantEvents, events); diff != "" {
				t.Errorf("events (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestFilterAndSignFromRecords: Required mode filters a pod typed by its record, PreScore reuses
// PreFilter's resolution (one Event for an invalid record, not two), and SignPod signs with the
// resolved type a pod of no workload, and refuses a pod of a StatefulSet (the spreading rule).
func TestFilterAndSignFromRecords(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	nodes := []*v1.Node{node("oltp-node", ""), node("olap-node", "")}
	residents := []*v1.Pod{dbPod("t1", "oltp", "oltp-node"), dbPod("a1", "olap", "olap-node")}
	f := newFixtureWithObjects(ctx, t, requiredArgs(), nodes, residents,
		&appsv1.StatefulSet{ObjectMeta: recorded("analytics", "olap")},
		&appsv1.StatefulSet{ObjectMeta: recorded("bad", "x")},
		&v1.PersistentVolumeClaim{ObjectMeta: recorded("solo", "olap")})
	pod := ownedPod("analytics-0", controlledBy("apps/v1", "StatefulSet", "analytics"))

	rejected, s := f.Filter(ctx, f.pl, pod)
	if !s.IsSuccess() {
		t.Fatalf("PreFilter: %v", s)
	}
	want := map[string]*fwk.Status{"oltp-node": fwk.NewStatus(fwk.Unschedulable, "node(s) had the other database workload type (oltp)")}
	if diff := cmp.Diff(want, rejected); diff != "" {
		t.Errorf("rejected nodes (-want,+got):\n%s", diff)
	}

	if _, s := f.pl.SignPod(ctx, pod); s.Code() != fwk.Unschedulable || s.Message() != ErrReasonNotSignable {
		t.Errorf("SignPod of a StatefulSet's pod: status %v, want Unschedulable %q", s, ErrReasonNotSignable)
	}
	solo := ownedPod("solo", metav1.OwnerReference{}, "solo")
	solo.OwnerReferences = nil
	fragments, s := f.pl.SignPod(ctx, solo)
	if !s.IsSuccess() {
		t.Fatalf("SignPod: %v", s)
	}
	if diff := cmp.Diff([]fwk.SignFragment{{Key: "WorkloadTypeAffinity/likewise.dev/workload-type", Value: "olap"}}, fragments); diff != "" {
		t.Errorf("fragments (-want,+got):\n%s", diff)
	}

	bad := ownedPod("bad-0", controlledBy("apps/v1", "StatefulSet", "bad"))
	if fragments, _ := f.pl.SignPod(ctx, bad); fragments != nil {
		t.Errorf("SignPod of a pod with an invalid record = %v, want no fragment", fragments)
	}
	state := framework.NewCycleState()
	if _, s := f.pl.PreFilter(ctx, state, bad, f.NodeInfos); s.Code() != fwk.Skip {
		t.Errorf("PreFilter status = %v, want Skip", s)
	}
	if s := f.pl.PreScore(ctx, state, bad, f.NodeInfos); s.Code() != fwk.Skip {
		t.Errorf("PreScore status = %v, want Skip", s)
	}
	if n := len(f.Recorder.Events); n != 1 {
		t.Errorf("%d Events for one cycle of a pod with an invalid record, want 1", n)
	}
}
