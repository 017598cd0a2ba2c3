package notebookspread

import (
	"os"
	"testing"

	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

func TestMain(m *testing.M) {
	// The framework's parallelizer records scheduler metrics, which must be registered first.
	metrics.Register()
	os.Exit(m.Run())
}
