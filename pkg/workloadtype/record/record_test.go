package record

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/klog/v2/ktesting"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/workloadtype"
)

const (
	classifier = apis.WorkloadTypeSourceClassifier
	manual     = apis.WorkloadTypeSourceManual
)

func meta(kind, name string, record ...string) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: "db", Name: name, UID: types.UID(kind + "-" + name), ResourceVersion: "5",
		Annotations: map[string]string{"other": "kept"}}
	if len(record) > 0 {
		m.Annotations[apis.AnnotationWorkloadTypeRecord] = record[0]
		if len(record) > 1 {
			m.Annotations[apis.AnnotationWorkloadTypeSource] = record[1]
		}
	}
	return m
}

func ref(apiVersion, kind, name string) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: new(true)}
}

func statefulSet(record ...string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: meta("StatefulSet", "pg", record...)}
}

func replicaSet(record ...string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: meta("ReplicaSet", "pg-5d8f", record...)}
	rs.OwnerReferences = []metav1.OwnerReference{ref("apps/v1", "Deployment", "pg")}
	return rs
}

func deployment(record ...string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: meta("Deployment", "pg", record...)}
}

func claim(name string, record ...string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: meta("PersistentVolumeClaim", name, record...)}
}

func pod(owner *metav1.OwnerReference, claims ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "pg-0"}}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: c, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

var (
	stsPod  = func() *corev1.Pod { r := ref("apps/v1", "StatefulSet", "pg"); return pod(&r, "data-pg-0") }()
	rsPod   = func() *corev1.Pod { r := ref("apps/v1", "ReplicaSet", "pg-5d8f"); return pod(&r) }()
	cnpgPod = func() *corev1.Pod {
		r := ref("postgresql.cnpg.io/v1", "Cluster", "pg")
		return pod(&r, "pg-1", "pg-1-wal")
	}()
)

// recordsOf returns each object's record annotations (type/source), by "<Kind> name".
func recordsOf(t *testing.T, client *fake.Clientset) map[string]string {
	t.Helper()
	got := map[string]string{}
	add := func(kind string, m metav1.ObjectMeta) {
		a := m.Annotations
		if a[apis.AnnotationWorkloadTypeRecord] != "" || a[apis.AnnotationWorkloadTypeSource] != "" {
			got[kind+" "+m.Name] = a[apis.AnnotationWorkloadTypeRecord] + "/" + a[apis.AnnotationWorkloadTypeSource]
		}
		if a["other"] != "kept" {
			t.Errorf("%s %s: other annotations lost: %v", kind, m.Name, a)
		}
	}
	ctx := context.Background()
	stss, _ := client.AppsV1().StatefulSets("db").List(ctx, metav1.ListOptions{})
	for _, o := range stss.Items {
		add("StatefulSet", o.ObjectMeta)
	}
	rss, _ := client.AppsV1().ReplicaSets("db").List(ctx, metav1.ListOptions{})
	for _, o := range rss.Items {
		add("ReplicaSet", o.ObjectMeta)
	}
	ds, _ := client.AppsV1().Deployments("db").List(ctx, metav1.ListOptions{})
	for _, o := range ds.Items {
		add("Deployment", o.ObjectMeta)
	}
	pvcs, _ := client.CoreV1().PersistentVolumeClaims("db").List(ctx, metav1.ListOptions{})
	for _, o := range pvcs.Items {
		add("PersistentVolumeClaim", o.ObjectMeta)
	}
	return got
}

func patches(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" {
			n++
		}
	}
	return n
}

func TestRecord(t *testing.T) {
	tests := []struct {
		name        string
		objs        []runtime.Object
		pod         *corev1.Pod
		typ         workloadtype.Type
		want        map[string]string
		wantWritten []string
	}{
		{
			name:        "StatefulSet",
			objs:        []runtime.Object{statefulSet(), claim("data-pg-0")},
			pod:         stsPod,
			typ:         workloadtype.OLAP,
			want:        map[string]string{"StatefulSet pg": "olap/classifier"},
			wantWritten: []string{"StatefulSet db/pg"},
		},
		{
			name:        "ReplicaSet and its Deployment",
			objs:        []runtime.Object{replicaSet(), deployment()},
			pod:         rsPod,
			typ:         workloadtype.OLTP,
			want:        map[string]string{"ReplicaSet pg-5d8f": "oltp/classifier", "Deployment pg": "oltp/classifier"},
			wantWritten: []string{"ReplicaSet db/pg-5d8f", "Deployment db/pg"},
		},
		{
			name:        "the classifier's earlier record is updated",
			objs:        []runtime.Object{statefulSet("oltp", classifier)},
			pod:         stsPod,
			typ:         workloadtype.OLAP,
			want:        map[string]string{"StatefulSet pg": "olap/classifier"},
			wantWritten: []string{"StatefulSet db/pg"},
		},
		{
			name: "a manual record is kept",
			objs: []runtime.Object{statefulSet("oltp", manual)},
			pod:  stsPod,
			typ:  workloadtype.OLAP,
			want: map[string]string{"StatefulSet pg": "oltp/manual"},
		},
		{
			name: "a record without a source is a person's and is kept",
			objs: []runtime.Object{statefulSet("oltp")},
			pod:  stsPod,
			typ:  workloadtype.OLAP,
			want: map[string]string{"StatefulSet pg": "oltp/"},
		},
		{
			name:        "a person's Deployment record is kept, the ReplicaSet is still written",
			objs:        []runtime.Object{replicaSet(), deployment("olap", manual)},
			pod:         rsPod,
			typ:         workloadtype.OLTP,
			want:        map[string]string{"ReplicaSet pg-5d8f": "oltp/classifier", "Deployment pg": "olap/manual"},
			wantWritten: []string{"ReplicaSet db/pg-5d8f"},
		},
		{
			name: "already recorded: no patch",
			objs: []runtime.Object{statefulSet("olap", classifier)},
			pod:  stsPod,
			typ:  workloadtype.OLAP,
			want: map[string]string{"StatefulSet pg": "olap/classifier"},
		},
		{
			name:        "an operator's pod: its claims",
			objs:        []runtime.Object{claim("pg-1"), claim("pg-1-wal")},
			pod:         cnpgPod,
			typ:         workloadtype.OLAP,
			want:        map[string]string{"PersistentVolumeClaim pg-1": "olap/classifier", "PersistentVolumeClaim pg-1-wal": "olap/classifier"},
			wantWritten: []string{"PersistentVolumeClaim db/pg-1", "PersistentVolumeClaim db/pg-1-wal"},
		},
		{
			name: "bare pod: nothing",
			objs: []runtime.Object{claim("data-pg-0")},
			pod:  pod(nil, "data-pg-0"),
			typ:  workloadtype.OLAP,
			want: map[string]string{},
		},
		{
			name: "owner gone: nothing",
			pod:  stsPod,
			typ:  workloadtype.OLAP,
			want: map[string]string{},
		},
		{
			name: "a new StatefulSet of the same name is not the pod's owner",
			objs: []runtime.Object{func() *appsv1.StatefulSet { s := statefulSet(); s.UID = "new"; return s }()},
			pod:  stsPod,
			typ:  workloadtype.OLAP,
			want: map[string]string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			client := fake.NewClientset(tt.objs...)
			written, err := Record(ctx, client, tt.pod, tt.typ, classifier)
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
			if diff := cmp.Diff(tt.wantWritten, written); diff != "" {
				t.Errorf("written (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, recordsOf(t, client)); diff != "" {
				t.Errorf("records (-want,+got):\n%s", diff)
			}
			if got := patches(client); got != len(tt.wantWritten) {
				t.Errorf("%d patches, want one per object written (%d)", got, len(tt.wantWritten))
			}
			// Idempotent: a second call writes nothing.
			client.ClearActions()
			written, err = Record(ctx, client, tt.pod, tt.typ, classifier)
			if err != nil || written != nil || patches(client) != 0 {
				t.Errorf("second Record: written %v, %d patches, err %v; want nothing", written, patches(client), err)
			}
		})
	}
}

func TestRecordRefusesBadArguments(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset(statefulSet())
	for _, tc := range []struct {
		typ    workloadtype.Type
		source string
		want   string
	}{
		{workloadtype.None, classifier, "record: no type to record (use Clear to remove a record)"},
		{workloadtype.OLTP, manual, `record: source "manual": must name the component writing the record`},
		{workloadtype.OLTP, "", `record: source "": must name the component writing the record`},
	} {
		_, err := Record(ctx, client, stsPod, tc.typ, tc.source)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Record(%v, %q) = %v, want %q", tc.typ, tc.source, err, tc.want)
		}
	}
	if n := patches(client); n != 0 {
		t.Errorf("%d patches, want none", n)
	}
}

func TestClear(t *testing.T) {
	tests := []struct {
		name        string
		objs        []runtime.Object
		pod         *corev1.Pod
		want        map[string]string
		wantWritten []string
	}{
		{
			name:        "the classifier's records",
			objs:        []runtime.Object{replicaSet("oltp", classifier), deployment("oltp", classifier)},
			pod:         rsPod,
			want:        map[string]string{},
			wantWritten: []string{"ReplicaSet db/pg-5d8f", "Deployment db/pg"},
		},
		{
			name: "manual and unsourced records are kept",
			objs: []runtime.Object{replicaSet("oltp", manual), deployment("olap")},
			pod:  rsPod,
			want: map[string]string{"ReplicaSet pg-5d8f": "oltp/manual", "Deployment pg": "olap/"},
		},
		{
			name: "another component's record is kept",
			objs: []runtime.Object{statefulSet("olap", "rebalancer")},
			pod:  stsPod,
			want: map[string]string{"StatefulSet pg": "olap/rebalancer"},
		},
		{
			name:        "claims",
			objs:        []runtime.Object{claim("pg-1", "olap", classifier), claim("pg-1-wal")},
			pod:         cnpgPod,
			want:        map[string]string{},
			wantWritten: []string{"PersistentVolumeClaim db/pg-1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ctx := ktesting.NewTestContext(t)
			client := fake.NewClientset(tt.objs...)
			written, err := Clear(ctx, client, tt.pod, classifier)
			if err != nil {
				t.Fatalf("Clear: %v", err)
			}
			if diff := cmp.Diff(tt.wantWritten, written); diff != "" {
				t.Errorf("written (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, recordsOf(t, client)); diff != "" {
				t.Errorf("records (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestRecordIsConditional: the patch carries the resourceVersion read, and a conflict (the
// object changed in between) reads the object again and decides again: here a person marked
// it manual in between, so nothing is written.
func TestRecordIsConditional(t *testing.T) {
	_, ctx := ktesting.NewTestContext(t)
	client := fake.NewClientset(statefulSet())
	var sent []string
	client.PrependReactor("patch", "statefulsets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		sent = append(sent, string(action.(k8stesting.PatchAction).GetPatch()))
		// A person records manual between our read and our patch.
		s := statefulSet("oltp", manual)
		s.ResourceVersion = "6"
		if err := client.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("statefulsets"), s, "db"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, "pg", nil)
	})
	written, err := Record(ctx, client, stsPod, workloadtype.OLAP, classifier)
	if err != nil || written != nil {
		t.Errorf("Record = %v, %v; want nothing written and no error", written, err)
	}
	want := []string{`{"metadata":{"annotations":{"likewise.dev/workload-type":"olap","likewise.dev/workload-type-source":"classifier"},"resourceVersion":"5"}}`}
	if diff := cmp.Diff(want, sent); diff != "" {
		t.Errorf("patches sent (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"StatefulSet pg": "oltp/manual"}, recordsOf(t, client)); diff != "" {
		t.Errorf("records (-want,+got):\n%s", diff)
	}
}
