package controller

import (
	"errors"

	"github.com/likewise-dev/likewise/pkg/classifier/pgstats"
)

// Event reasons of classification (Normal Events on the pod).
const (
	// ReasonWorkloadTypeChanged: the classifier set or changed the pod's workload-type label.
	ReasonWorkloadTypeChanged = "WorkloadTypeChanged"
	// ReasonWorkloadMixed: the database runs both kinds of work; the pod is labelled olap (or
	// keeps olap), and the measured annotation says mixed.
	ReasonWorkloadMixed = "WorkloadMixed"
	// ReasonWorkloadTypeDeclared: a person declared the type; the classifier recorded what it
	// measured beside it and changed nothing else.
	ReasonWorkloadTypeDeclared = "WorkloadTypeDeclared"
	// ReasonSamplingResumed: a database that could not be sampled can be again.
	ReasonSamplingResumed = "SamplingResumed"
)

// ReasonInsecureConnection (a Warning Event on the pod, once per database and mode): the pod opted
// into a connection weaker than verify-full by annotation likewise.dev/postgres-sslmode.
const ReasonInsecureConnection = "InsecureConnection"

// Failure is why a database could not be sampled. Each is a Warning Event reason on the pod and,
// as Result, a value of the result label of likewise_classifier_samples_total. A failing
// database's pod keeps its labels; the Event is recorded when the failure starts or changes, not
// at every retry.
type Failure struct {
	Reason string
	Result string
}

// Failures.
var (
	// FailureInvalidConfiguration: a likewise.dev/postgres-* annotation of the pod is invalid.
	FailureInvalidConfiguration = Failure{"InvalidConfiguration", "invalid_configuration"}
	// FailureCredentialsUnavailable: the credentials Secret (or the CA Secret) is missing, may
	// not be read, or lacks a username or password, or its ca.crt holds no certificate.
	FailureCredentialsUnavailable = Failure{"CredentialsUnavailable", "credentials_unavailable"}
	// FailureCredentialsInvalid: the server refused the credentials (SQLSTATE 28P01, 28000).
	FailureCredentialsInvalid = Failure{"CredentialsInvalid", "credentials_invalid"}
	// FailureDatabaseUnreachable: no connection (refused, timed out, server starting or shutting
	// down), or no answer before the attempt's deadline.
	FailureDatabaseUnreachable = Failure{"DatabaseUnreachable", "unreachable"}
	// FailureTLS: the TLS handshake or the certificate's verification failed, or the server
	// refused TLS that the connection requires.
	FailureTLS = Failure{"TLSFailed", "tls_failed"}
	// FailureTLSNotConfigured: the connection must verify the server (verify-full, the default)
	// and no CA is given; nothing was sent to the server. Put ca.crt in the Secret or opt the pod
	// out by annotation likewise.dev/postgres-sslmode.
	FailureTLSNotConfigured = Failure{"TLSNotConfigured", "tls_not_configured"}
	// FailureInsufficientPrivilege: the role may not connect to the database (SQLSTATE 42501) or
	// lacks pg_read_all_stats, without which statements still running are invisible.
	FailureInsufficientPrivilege = Failure{"InsufficientPrivilege", "insufficient_privilege"}
	// FailureSampleFailed: any other error, e.g. the database does not exist or a query timed out.
	FailureSampleFailed = Failure{"SampleFailed", "sample_failed"}
)

// ResultOK is the result label of a successful sample.
const ResultOK = "ok"

// Failures lists every Failure, for documentation and tests.
var Failures = []Failure{
	FailureInvalidConfiguration, FailureCredentialsUnavailable, FailureCredentialsInvalid,
	FailureDatabaseUnreachable, FailureTLS, FailureTLSNotConfigured, FailureInsufficientPrivilege, FailureSampleFailed,
}

// ClassifySampleError says which Failure a sampler's error is, from the Cause pgstats gives it.
func ClassifySampleError(err error) Failure {
	if err == nil {
		return Failure{}
	}
	var e *pgstats.Error
	if !errors.As(err, &e) {
		return FailureSampleFailed
	}
	switch e.Cause {
	case pgstats.CauseAuthentication:
		return FailureCredentialsInvalid
	case pgstats.CausePrivilege:
		return FailureInsufficientPrivilege
	case pgstats.CauseUnreachable:
		return FailureDatabaseUnreachable
	case pgstats.CauseTLS:
		return FailureTLS
	default:
		return FailureSampleFailed
	}
}
