// Package metrics defines the metrics likewise's controllers export, on component-base's
// legacy registry (served at /metrics). Names are likewise_<subsystem>_<name>. Labels take a few
// fixed values each: never a pod, node, namespace or user name.
package metrics

import (
	"sync"

	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

// Namespace prefixes every likewise metric.
const Namespace = "likewise"

// ClassifierSubsystem is the subsystem of the classifier controller's metrics.
const ClassifierSubsystem = "classifier"

// Label names.
const (
	// LabelResult is the outcome of one operation; its values are listed with each metric.
	LabelResult = "result"
	// LabelType is a database's workload type: oltp, olap, mixed or unknown.
	LabelType = "type"
	// LabelSSLMode is how a connection uses TLS: verify-full, require or disable.
	LabelSSLMode = "sslmode"
)

var (
	// ClassifierSamples counts samples of databases' statistics by result: "ok", or why it
	// failed (the controller's failure results, e.g. "unreachable", "credentials_invalid").
	ClassifierSamples = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      Namespace,
		Subsystem:      ClassifierSubsystem,
		Name:           "samples_total",
		Help:           "Samples of PostgreSQL statistics taken, by result: ok, or the reason the sample failed.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelResult})

	// ClassifierSampleDuration is how long a successful sample took, connecting included.
	ClassifierSampleDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace:      Namespace,
		Subsystem:      ClassifierSubsystem,
		Name:           "sample_duration_seconds",
		Help:           "Time taken by successful samples of PostgreSQL statistics, connecting included.",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 14), // 1 ms to 8 s
		StabilityLevel: metrics.ALPHA,
	})

	// ClassifierPodUpdates counts patches of database pods by result: "labelled" (the
	// workload-type label set or changed; a mixed database is labelled olap), "annotated"
	// (annotations only: a declared pod, or a measured type whose label the pod has, as olap
	// turning mixed), "conflict" (the pod changed under the patch, decided again) and "error".
	ClassifierPodUpdates = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      Namespace,
		Subsystem:      ClassifierSubsystem,
		Name:           "pod_updates_total",
		Help:           "Patches of database pods' workload-type label and annotations, by result.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelResult})

	// ClassifierDatabases is the number of databases being sampled, by their current classified
	// type (oltp, olap, mixed, unknown).
	ClassifierDatabases = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      Namespace,
		Subsystem:      ClassifierSubsystem,
		Name:           "databases",
		Help:           "Databases being sampled, by their current classified workload type.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelType})

	// ClassifierConnections is the number of databases the classifier connects to, by the
	// sslmode it connects with: verify-full, or require or disable by the pod's opt-in.
	ClassifierConnections = metrics.NewGaugeVec(&metrics.GaugeOpts{
		Namespace:      Namespace,
		Subsystem:      ClassifierSubsystem,
		Name:           "connections",
		Help:           "Databases the classifier connects to, by sslmode: verify-full, or require or disable by the pod's annotation likewise.dev/postgres-sslmode.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelSSLMode})
)

// RebalancerSubsystem is the subsystem of the rebalancer's metrics.
const RebalancerSubsystem = "rebalancer"

var (
	// RebalancerDecisions counts the decisions of each cycle for each misplaced pod, by result:
	// the decision's reason (Evicting, WaitingForCapacity, SchedulerUnavailable, LimitReached,
	// or the safety check that keeps the pod, e.g. NodeLocalStorage, OperatorPrimary).
	RebalancerDecisions = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "decisions_total",
		Help:           "Decisions about misplaced database pods, by result (the decision's reason).",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelResult})

	// RebalancerEvictions counts eviction attempts by result: evicted, dry_run, blocked (429:
	// a PodDisruptionBudget or throttling), failed (any other error), gone (the pod changed or
	// left before the eviction), record_failed (the type could not be recorded on its owner).
	RebalancerEvictions = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "evictions_total",
		Help:           "Evictions of misplaced database pods, by result.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelResult})

	// RebalancerMoves counts moves that ended, by result: stuck (the replacement is ready where it
	// belongs), not_stuck (it is misplaced again, or back on its node) and timed_out.
	RebalancerMoves = metrics.NewCounterVec(&metrics.CounterOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "moves_total",
		Help:           "Moves (eviction to replacement ready) that ended, by result.",
		StabilityLevel: metrics.ALPHA,
	}, []string{LabelResult})

	// RebalancerMisplaced is the number of misplaced database pods at the latest cycle.
	RebalancerMisplaced = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "misplaced_pods",
		Help:           "Database pods that add to their node's mixing, at the latest cycle.",
		StabilityLevel: metrics.ALPHA,
	})

	// RebalancerWaiting is the number of misplaced pods waiting for capacity at the latest cycle.
	RebalancerWaiting = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "pods_waiting",
		Help:           "Misplaced database pods waiting for a node of their type with room, at the latest cycle.",
		StabilityLevel: metrics.ALPHA,
	})

	// RebalancerMixing is the cluster's mixing at the latest cycle (docs/rebalancer.md).
	RebalancerMixing = metrics.NewGauge(&metrics.GaugeOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "mixing",
		Help:           "The cluster's mixing: typed database pods that do not match their node, at the latest cycle.",
		StabilityLevel: metrics.ALPHA,
	})

	// RebalancerCycleDuration is how long a decision cycle took, evictions included.
	RebalancerCycleDuration = metrics.NewHistogram(&metrics.HistogramOpts{
		Namespace:      Namespace,
		Subsystem:      RebalancerSubsystem,
		Name:           "cycle_duration_seconds",
		Help:           "Time taken by one rebalancer cycle, from the informer caches to the last eviction.",
		Buckets:        metrics.ExponentialBuckets(0.001, 2, 16), // 1 ms to 32 s
		StabilityLevel: metrics.ALPHA,
	})
)

var registerOnce sync.Once

// Register registers every likewise metric with the legacy registry. It is safe to call more
// than once; only the first call registers.
func Register() {
	registerOnce.Do(func() {
		legacyregistry.MustRegister(
			ClassifierSamples,
			ClassifierSampleDuration,
			ClassifierPodUpdates,
			ClassifierDatabases,
			ClassifierConnections,
			RebalancerDecisions,
			RebalancerEvictions,
			RebalancerMoves,
			RebalancerMisplaced,
			RebalancerWaiting,
			RebalancerMixing,
			RebalancerCycleDuration,
		)
	})
}
