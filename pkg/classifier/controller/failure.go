package controller

import (
	"regexp"
	"strings"
)

// Event reasons of classification (Normal Events on the pod).
const (
	// ReasonWorkloadTypeChanged: the classifier set or changed the pod's workload-type label.
	ReasonWorkloadTypeChanged = "WorkloadTypeChanged"
	// ReasonWorkloadMixed: the database runs both kinds of work; the pod is left (or made) untyped.
	ReasonWorkloadMixed = "WorkloadMixed"
	// ReasonWorkloadTypeDeclared: a person declared the type; the classifier recorded what it
	// measured beside it and changed nothing else.
	ReasonWorkloadTypeDeclared = "WorkloadTypeDeclared"
	// ReasonSamplingResumed: a database that could not be sampled can be again.
	ReasonSamplingResumed = "SamplingResumed"
)

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
	// FailureDatabaseUnreachable: no connection (refused, timed out, server starting or shutting down).
	FailureDatabaseUnreachable = Failure{"DatabaseUnreachable", "unreachable"}
	// FailureTLS: the TLS handshake or the certificate's verification failed.
	FailureTLS = Failure{"TLSFailed", "tls_failed"}
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
	FailureDatabaseUnreachable, FailureTLS, FailureInsufficientPrivilege, FailureSampleFailed,
}

var sqlstate = regexp.MustCompile(`\(SQLSTATE ([0-9A-Z]{5})\)`)

// ClassifySampleError says which Failure a sampler's error is. pgstats reports connection
// errors as text (redacted: never the password), so this reads the text: the SQLSTATE that
// PostgreSQL's errors end with, and pgconn's "dial error" and "tls error" prefixes.
func ClassifySampleError(err error) Failure {
	if err == nil {
		return Failure{}
	}
	msg := err.Error()
	if m := sqlstate.FindStringSubmatch(msg); m != nil {
		switch code := m[1]; {
		case code == "28P01" || code == "28000": // invalid_password, invalid_authorization_specification
			return FailureCredentialsInvalid
		case code == "42501": // insufficient_privilege: no CONNECT on the database
			return FailureInsufficientPrivilege
		case strings.HasPrefix(code, "57P") || code == "53300": // shutting down, starting up; too many connections
			return FailureDatabaseUnreachable
		default:
			return FailureSampleFailed
		}
	}
	switch {
	case strings.Contains(msg, "tls error") || strings.Contains(msg, "x509:") || strings.Contains(msg, "tls:"):
		return FailureTLS
	case strings.Contains(msg, "dial error") || strings.Contains(msg, "connection refused") ||
		strings.Contains(msg, "timeout:") || strings.Contains(msg, "i/o timeout") ||
		strings.Contains(msg, "no route to host") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "connection reset"):
		return FailureDatabaseUnreachable
	}
	return FailureSampleFailed
}
