package classifiercontroller

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/likewise-dev/likewise/pkg/apis"
	"github.com/likewise-dev/likewise/pkg/scenario"
)

// testMixedIsPlacedAsOLAP: a StatefulSet's database running transactions beside analytic
// queries is measured mixed and labelled olap, with workload-measured mixed and a WorkloadMixed
// Event, and olap is recorded on the StatefulSet, so that neither the pod nor its replacement
// counts as untyped and lands on an OLTP node (docs/classifier.md, "A mixed database is placed as
// olap"). The classifier's gauge keeps counting it as mixed.
func testMixedIsPlacedAsOLAP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := newDBCase(ctx, t, "mixed")
	c.newCASecret(ctx, "mix-ca")
	pod := c.createStatefulSet(ctx, "mix", map[string]string{apis.AnnotationPostgresCASecret: "mix-ca"})
	// The CloudNativePG preset's server name: <cluster>-rw.
	d := c.startDatabase(ctx, pod, scenario.DatabaseOptions{Workload: scenario.WorkloadMixed, TLSNames: []string{"mix-rw"}})
	c.giveCA(ctx, "mix-ca", d)

	classified := c.waitPod(ctx, "mix-0", labelTimeout, "measured mixed", func(p *corev1.Pod) bool {
		return p.Annotations[apis.AnnotationWorkloadMeasured] == apis.WorkloadMixed
	})
	if got := classified.Labels[apis.LabelWorkloadType]; got != apis.WorkloadOLAP {
		t.Errorf("mix-0: label %s=%q, want olap for a mixed database", apis.LabelWorkloadType, got)
	}
	if got := classified.Annotations[apis.AnnotationWorkloadTypeSource]; got != apis.WorkloadTypeSourceClassifier {
		t.Errorf("mix-0: source %q, want classifier", got)
	}
	if r := classified.Annotations[apis.AnnotationWorkloadReasons]; !strings.Contains(r, " mixed: ") {
		t.Errorf("mix-0: reasons %q, want the latest window's mixed verdict", r)
	}
	e := c.waitEvent(ctx, classified, "WorkloadMixed", 30*time.Second)
	if want := "measured mixed: workload type none -> olap, so that its analytic work stays off OLTP nodes (confidence "; !strings.HasPrefix(e.Note, want) || e.Type != corev1.EventTypeNormal {
		t.Errorf("WorkloadMixed Event %+v, want a Normal one starting %q", e, want)
	}
	want := map[string]string{apis.AnnotationWorkloadTypeRecord: apis.WorkloadOLAP, apis.AnnotationWorkloadTypeSource: apis.WorkloadTypeSourceClassifier}
	if diff := cmp.Diff(want, c.recordOn(ctx, "mix")); diff != "" {
		t.Errorf("record on StatefulSet %s/mix (-want,+got):\n%s", c.ns, diff)
	}
	if e := c.waitEvent(ctx, classified, "WorkloadTypeRecorded", 30*time.Second); e.Note != "recorded workload type olap on StatefulSet "+c.ns+"/mix (measured mixed)" {
		t.Errorf("WorkloadTypeRecorded note %q", e.Note)
	}
	text, err := classifier.Metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The other scenarios run OLTP and OLAP only: the one mixed database is this one.
	var mixed float64
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, `likewise_classifier_databases{type="mixed"} `); ok {
			mixed, _ = strconv.ParseFloat(v, 64)
		}
	}
	if mixed < 1 {
		t.Errorf("likewise_classifier_databases{type=\"mixed\"} = %v, want the mixed database counted as mixed", mixed)
	}
}
