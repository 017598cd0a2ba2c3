package pgstats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Cause is what kind of failure a sampling error is, for callers that act on it (the
// classifier controller names its Events after it). pgstats is the only package that knows
// pgx's error types, so it is the one that tells them apart.
type Cause int

const (
	// CauseOther is any failure not named below (an unknown database, a statement timeout, an
	// unsupported server version, ...).
	CauseOther Cause = iota
	// CauseUnreachable: no working connection: refused, timed out, reset, or the server is
	// starting, shutting down or out of connection slots.
	CauseUnreachable
	// CauseTLS: the TLS handshake failed or the server's certificate did not verify.
	CauseTLS
	// CauseAuthentication: the server refused the credentials (SQLSTATE 28P01, 28000).
	CauseAuthentication
	// CausePrivilege: the role lacks a privilege, e.g. CONNECT on the database (SQLSTATE 42501).
	CausePrivilege
)

// Error is a failed sample with its Cause. Its text is redacted (it never holds a password), and
// it does not unwrap to pgx's error, whose text might.
type Error struct {
	Cause Cause
	// SQLState is the server's error code when the server refused, else "".
	SQLState string
	msg      string
}

func (e *Error) Error() string { return e.msg }

// newError wraps err, already described by msg (redacted), with its cause.
func newError(msg string, err error) *Error {
	e := &Error{msg: msg, Cause: causeOf(err)}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		e.SQLState = pgErr.Code
	}
	return e
}

// SQLSTATE codes that name a cause.
const (
	sqlstateInvalidPassword      = "28P01"
	sqlstateInvalidAuthorization = "28000"
	sqlstateInsufficientPrivilge = "42501"
	sqlstateTooManyConnections   = "53300"
	// Class 57P: operator intervention (admin shutdown, crash shutdown, cannot connect now, ...).
	sqlstateClassOperatorIntervention = "57P"
)

func causeOf(err error) Cause {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch code := pgErr.Code; {
		case code == sqlstateInvalidPassword || code == sqlstateInvalidAuthorization:
			return CauseAuthentication
		case code == sqlstateInsufficientPrivilge:
			return CausePrivilege
		case code == sqlstateTooManyConnections || strings.HasPrefix(code, sqlstateClassOperatorIntervention):
			return CauseUnreachable
		default:
			return CauseOther
		}
	}
	if isTLSError(err) {
		return CauseTLS
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, pgconn.ErrConnClosed) {
		return CauseUnreachable
	}
	return CauseOther
}

func isTLSError(err error) bool {
	var (
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		errors.As(err, &authority) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return true
	}
	// pgconn reports a server that declines TLS with an untyped error of this text.
	return strings.Contains(err.Error(), "server refused TLS connection")
}
