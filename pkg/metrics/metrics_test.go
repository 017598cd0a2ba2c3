package metrics

import (
	"strings"
	"testing"

	"k8s.io/component-base/metrics/legacyregistry"
	"k8s.io/component-base/metrics/testutil"
)

func TestRegister(t *testing.T) {
	Register()
	Register() // a second call must not panic on duplicate registration

	ClassifierSamples.WithLabelValues("ok").Inc()
	ClassifierSamples.WithLabelValues("unreachable").Add(2)
	ClassifierPodUpdates.WithLabelValues("labelled").Inc()
	ClassifierDatabases.WithLabelValues("oltp").Set(3)
	ClassifierConnections.WithLabelValues("require").Set(1)
	ClassifierSampleDuration.Observe(0.004)

	want := `
# HELP likewise_classifier_samples_total [ALPHA] Samples of PostgreSQL statistics taken, by result: ok, or the reason the sample failed.
# TYPE likewise_classifier_samples_total counter
likewise_classifier_samples_total{result="ok"} 1
likewise_classifier_samples_total{result="unreachable"} 2
# HELP likewise_classifier_pod_updates_total [ALPHA] Patches of database pods' workload-type label and annotations, by result.
# TYPE likewise_classifier_pod_updates_total counter
likewise_classifier_pod_updates_total{result="labelled"} 1
# HELP likewise_classifier_databases [ALPHA] Databases being sampled, by their current classified workload type.
# TYPE likewise_classifier_databases gauge
likewise_classifier_databases{type="oltp"} 3
# HELP likewise_classifier_connections [ALPHA] Databases the classifier connects to, by sslmode: verify-full, or require or disable by the pod's annotation likewise.dev/postgres-sslmode.
# TYPE likewise_classifier_connections gauge
likewise_classifier_connections{sslmode="require"} 1
`
	if err := testutil.GatherAndCompare(legacyregistry.DefaultGatherer, strings.NewReader(want),
		"likewise_classifier_samples_total", "likewise_classifier_pod_updates_total", "likewise_classifier_databases",
		"likewise_classifier_connections"); err != nil {
		t.Error(err)
	}
	h, err := testutil.GetHistogramVecFromGatherer(legacyregistry.DefaultGatherer, "likewise_classifier_sample_duration_seconds", nil)
	if err != nil || h.GetAggregatedSampleCount() != 1 {
		t.Errorf("sample duration: %v samples (err %v), want 1", h.GetAggregatedSampleCount(), err)
	}
}
