package workloadtype

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/likewise-dev/likewise/pkg/apis"
)

func recordMeta(kind, name, typ, source string, owner *metav1.OwnerReference) metav1.ObjectMeta {
	m := metav1.ObjectMeta{Namespace: "db", Name: name, UID: types.UID(kind + "-" + name)}
	if typ != "" {
		m.Annotations = map[string]string{apis.AnnotationWorkloadTypeRecord: typ}
		if source != "" {
			m.Annotations[apis.AnnotationWorkloadTypeSource] = source
		}
	}
	if owner != nil {
		m.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	return m
}

func controllerRef(apiVersion, kind, name string) *metav1.OwnerReference {
	return &metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: types.UID(kind + "-" + name), Controller: new(true)}
}

func sts(name, typ, source string) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{ObjectMeta: recordMeta(KindStatefulSet, name, typ, source, nil)}
}

func rs(name, typ, deployment string) *appsv1.ReplicaSet {
	var owner *metav1.OwnerReference
	if deployment != "" {
		owner = controllerRef("apps/v1", KindDeployment, deployment)
	}
	return &appsv1.ReplicaSet{ObjectMeta: recordMeta(KindReplicaSet, name, typ, apis.WorkloadTypeSourceClassifier, owner)}
}

func deploy(name, typ string) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: recordMeta(KindDeployment, name, typ, apis.WorkloadTypeSourceClassifier, nil)}
}

func pvc(name, typ string) *v1.PersistentVolumeClaim {
	return &v1.PersistentVolumeClaim{ObjectMeta: recordMeta(KindPersistentVolumeClaim, name, typ, "", nil)}
}

// pod builds a pod with an optional label, controller and claims.
func pod(label string, owner *metav1.OwnerReference, claims ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "db", Name: "p"}}
	if label != "" {
		p.Labels = map[string]string{apis.LabelWorkloadType: label}
	}
	if owner != nil {
		p.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	for _, c := range claims {
		p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{
			PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
	}
	return p
}

type objects struct {
	statefulSets []*appsv1.StatefulSet
	replicaSets  []*appsv1.ReplicaSet
	deployments  []*appsv1.Deployment
	claims       []*v1.PersistentVolumeClaim
}

func indexer[T any](objs []T) cache.Indexer {
	i := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, o := range objs {
		if err := i.Add(o); err != nil {
			panic(err)
		}
	}
	return i
}

func (o objects) resolver(withDeployments bool) *Resolver {
	var d appslisters.DeploymentLister
	if withDeployments {
		d = appslisters.NewDeploymentLister(indexer(o.deployments))
	}
	return NewResolver(appslisters.NewReplicaSetLister(indexer(o.replicaSets)), appslisters.NewStatefulSetLister(indexer(o.statefulSets)),
		d, corelisters.NewPersistentVolumeClaimLister(indexer(o.claims)))
}

func TestResolve(t *testing.T) {
	stsRef := controllerRef("apps/v1", KindStatefulSet, "pg")
	rsRef := controllerRef("apps/v1", KindReplicaSet, "pg-5d8f")
	cnpgRef := controllerRef("postgresql.cnpg.io/v1", "Cluster", "pg")
	tests := []struct {
		name string
		objs objects
		// noDeployments builds the resolver as the scheduler does.
		noDeployments bool
		pod           *v1.Pod
		want          Resolution
		wantErr       string
	}{
		{
			name: "label",
			objs: objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "olap", "")}},
			pod:  pod("oltp", stsRef),
			want: Resolution{Type: OLTP, Source: SourceLabel, From: "Pod db/p"},
		},
		{
			name:    "invalid label is an error, not a fallback to the record",
			objs:    objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "olap", "")}},
			pod:     pod("OLTP", stsRef),
			wantErr: `pod db/p: label likewise.dev/workload-type="OLTP": supported values: "oltp", "olap"`,
		},
		{
			name: "StatefulSet record",
			objs: objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "olap", apis.WorkloadTypeSourceClassifier)}},
			pod:  pod("", stsRef),
			want: Resolution{Type: OLAP, Source: SourceWorkload, From: "StatefulSet db/pg", RecordedBy: "classifier"},
		},
		{
			name: "StatefulSet record by a person",
			objs: objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "oltp", apis.WorkloadTypeSourceManual)}},
			pod:  pod("", stsRef),
			want: Resolution{Type: OLTP, Source: SourceWorkload, From: "StatefulSet db/pg", RecordedBy: "manual"},
		},
		{
			name: "StatefulSet of the same name but another UID holds no record for the pod",
			objs: objects{statefulSets: []*appsv1.StatefulSet{func() *appsv1.StatefulSet { s := sts("pg", "olap", ""); s.UID = "new"; return s }()}},
			pod:  pod("", stsRef),
		},
		{
			name:    "invalid StatefulSet record",
			objs:    objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "analytics", "")}},
			pod:     pod("", stsRef),
			wantErr: `StatefulSet db/pg: annotation likewise.dev/workload-type="analytics": supported values: "oltp", "olap"`,
		},
		{
			name: "StatefulSet not in the cache",
			pod:  pod("", stsRef),
		},
		{
			name: "ReplicaSet record",
			objs: objects{replicaSets: []*appsv1.ReplicaSet{rs("pg-5d8f", "oltp", "pg")}, deployments: []*appsv1.Deployment{deploy("pg", "olap")}},
			pod:  pod("", rsRef),
			want: Resolution{Type: OLTP, Source: SourceWorkload, From: "ReplicaSet db/pg-5d8f", RecordedBy: "classifier"},
		},
		{
			name: "Deployment record when its ReplicaSet has none",
			objs: objects{replicaSets: []*appsv1.ReplicaSet{rs("pg-5d8f", "", "pg")}, deployments: []*appsv1.Deployment{deploy("pg", "olap")}},
			pod:  pod("", rsRef),
			want: Resolution{Type: OLAP, Source: SourceWorkload, From: "Deployment db/pg", RecordedBy: "classifier"},
		},
		{
			name:          "no Deployment lister: the Deployment's record is not read",
			objs:          objects{replicaSets: []*appsv1.ReplicaSet{rs("pg-5d8f", "", "pg")}, deployments: []*appsv1.Deployment{deploy("pg", "olap")}},
			noDeployments: true,
			pod:           pod("", rsRef),
		},
		{
			name: "claim record for an operator's pod",
			objs: objects{claims: []*v1.PersistentVolumeClaim{pvc("pg-1-wal", ""), pvc("pg-1", "olap")}},
			pod:  pod("", cnpgRef, "pg-1-wal", "pg-1"),
			want: Resolution{Type: OLAP, Source: SourceVolume, From: "PersistentVolumeClaim db/pg-1"},
		},
		{
			name: "claim record when the StatefulSet has none",
			objs: objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "", "")}, claims: []*v1.PersistentVolumeClaim{pvc("data-pg-0", "oltp")}},
			pod:  pod("", stsRef, "data-pg-0"),
			want: Resolution{Type: OLTP, Source: SourceVolume, From: "PersistentVolumeClaim db/data-pg-0"},
		},
		{
			name:    "claims that disagree",
			objs:    objects{claims: []*v1.PersistentVolumeClaim{pvc("a", "oltp"), pvc("b", "olap")}},
			pod:     pod("", cnpgRef, "a", "b"),
			wantErr: `PersistentVolumeClaim db/a and PersistentVolumeClaim db/b record different types in annotation likewise.dev/workload-type (oltp, olap)`,
		},
		{
			name: "a custom kind named StatefulSet is not read",
			objs: objects{statefulSets: []*appsv1.StatefulSet{sts("pg", "olap", "")}},
			pod:  pod("", controllerRef("example.com/v1", KindStatefulSet, "pg")),
		},
		{
			name: "bare pod",
			pod:  pod("", nil),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.objs.resolver(!tt.noDeployments).Resolve(tt.pod)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("resolution (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestResolveWithoutListers(t *testing.T) {
	r := NewResolver(nil, nil, nil, nil)
	for _, p := range []*v1.Pod{pod("", controllerRef("apps/v1", KindStatefulSet, "pg"), "data"), pod("", controllerRef("apps/v1", KindReplicaSet, "pg-1"))} {
		got, err := r.Resolve(p)
		if err != nil || got != (Resolution{}) {
			t.Errorf("Resolve = %+v, %v; want no type and no error", got, err)
		}
	}
	var nilResolver *Resolver
	got, err := nilResolver.Resolve(pod("olap", nil))
	if want := (Resolution{Type: OLAP, Source: SourceLabel, From: "Pod db/p"}); err != nil || got != want {
		t.Errorf("nil Resolver: Resolve = %+v, %v; want %+v", got, err, want)
	}
}

func TestSourceString(t *testing.T) {
	got := []string{SourceNone.String(), SourceLabel.String(), SourceWorkload.String(), SourceVolume.String()}
	if diff := cmp.Diff([]string{"none", "label", "workload", "volume"}, got); diff != "" {
		t.Errorf("(-want,+got):\n%s", diff)
	}
}
