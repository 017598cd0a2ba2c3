package workloadtype

import (
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	v1 "k8s.io/api/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
)

// FuzzParse: a label value is oltp, olap, "" (untyped) or an error naming the label and value.
func FuzzParse(f *testing.F) {
	for _, v := range []string{"", "oltp", "olap", "OLTP", "mixed", " oltp", "oltp\n"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		got, err := Parse(value)
		want := map[string]Type{"": None, apis.WorkloadOLTP: OLTP, apis.WorkloadOLAP: OLAP}
		if w, known := want[value]; known {
			if err != nil || got != w {
				t.Fatalf("Parse(%q) = %v, %v; want %v", value, got, err, w)
			}
			return
		}
		if got != None || err == nil {
			t.Fatalf("Parse(%q) = %v, %v; want None and an error", value, got, err)
		}
		if prefix := "label " + apis.LabelWorkloadType + "=" + strconv.Quote(value) + ": "; !strings.HasPrefix(err.Error(), prefix) {
			t.Fatalf("Parse(%q): error %q does not start with %q", value, err, prefix)
		}
	})
}

// FuzzResolve resolves a pod whose label and whose owners' and claims' records hold arbitrary
// values (bit i of present says whether the i-th is set): no panic; a result is oltp or olap
// only from a valid value; an error names the key (label or record annotation) at fault.
func FuzzResolve(f *testing.F) {
	f.Add(uint8(0b11111), "", "oltp", "", "olap", "olap", "apps/v1")
	f.Add(uint8(0b00001), "olap", "", "", "", "", "apps/v1")
	f.Add(uint8(0b00001), "OLAP", "", "", "", "", "apps/v1")
	f.Add(uint8(0b01000), "", "", "", "oltp", "olap", "apps/v1")
	f.Add(uint8(0b00110), "", "weird", "mixed", "", "", "apps/v1beta2")
	f.Add(uint8(0b00100), "", "", "olap", "", "", "example.com/v1")
	f.Add(uint8(0b10000), "", "", "", "", "oltp", "apps/v1/x")
	f.Fuzz(func(t *testing.T, present uint8, label, stsRecord, rsRecord, claimRecord, deployRecord, apiVersion string) {
		record := func(bit int, v string) string {
			if present&(1<<bit) == 0 {
				return ""
			}
			return v
		}
		// recordMeta leaves out an empty record; an empty value that is set is still fuzzed below.
		set := func(bit int, obj interface{ SetAnnotations(map[string]string) }, v string) {
			if present&(1<<bit) != 0 && v == "" {
				obj.SetAnnotations(map[string]string{apis.AnnotationWorkloadTypeRecord: ""})
			}
		}
		objs := objects{
			statefulSets: []*appsv1.StatefulSet{sts("pg", record(1, stsRecord), "")},
			replicaSets:  []*appsv1.ReplicaSet{rs("pg-5d8f", record(2, rsRecord), "pg")},
			claims:       []*v1.PersistentVolumeClaim{pvc("data-a", record(3, claimRecord)), pvc("data-b", record(3, claimRecord))},
			deployments:  []*appsv1.Deployment{deploy("pg", record(4, deployRecord))},
		}
		set(1, objs.statefulSets[0], stsRecord)
		set(2, objs.replicaSets[0], rsRecord)
		set(4, objs.deployments[0], deployRecord)
		objs.replicaSets[0].OwnerReferences[0].APIVersion = apiVersion
		owner := controllerRef(apiVersion, KindReplicaSet, "pg-5d8f")
		if len(label)%2 == 1 {
			owner = controllerRef(apiVersion, KindStatefulSet, "pg")
		}
		p := pod("", owner, "data-a", "data-b")
		if present&1 != 0 {
			p.Labels = map[string]string{apis.LabelWorkloadType: label}
		}
		valid := func(v string) bool { return v == apis.WorkloadOLTP || v == apis.WorkloadOLAP }
		for _, withDeployments := range []bool{false, true} {
			res, err := objs.resolver(withDeployments).Resolve(p)
			if err != nil {
				msg := err.Error()
				if !strings.Contains(msg, "label "+apis.LabelWorkloadType+"=") &&
					!strings.Contains(msg, "annotation "+apis.AnnotationWorkloadTypeRecord) {
					t.Fatalf("error %q names neither the label nor the record annotation", msg)
				}
				if res.Type != None {
					t.Fatalf("error %q with type %v", msg, res.Type)
				}
				continue
			}
			switch res.Source {
			case SourceLabel:
				if !valid(label) || res.Type.String() != label {
					t.Fatalf("label %q resolved to %+v", label, res)
				}
			case SourceWorkload, SourceVolume:
				if res.Type == None {
					t.Fatalf("a record without a type: %+v", res)
				}
			}
			if res.Type != None && res.Source != SourceLabel && present&1 != 0 && valid(label) {
				t.Fatalf("the pod's label %q lost to %+v", label, res)
			}
		}
	})
}
