package pgstats

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestCauseOf(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name string
		err  error
		want Cause
	}{
		{"password refused", &pgconn.PgError{Code: "28P01"}, CauseAuthentication},
		{"no pg_hba entry", &pgconn.PgError{Code: "28000"}, CauseAuthentication},
		{"no CONNECT privilege", &pgconn.PgError{Code: "42501"}, CausePrivilege},
		{"starting up", &pgconn.PgError{Code: "57P03"}, CauseUnreachable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, CauseUnreachable},
		{"too many connections", &pgconn.PgError{Code: "53300"}, CauseUnreachable},
		{"unknown database", &pgconn.PgError{Code: "3D000"}, CauseOther},
		{"statement timeout", &pgconn.PgError{Code: "57014"}, CauseOther},
		{"server error wrapped", fmt.Errorf("detecting: %w", &pgconn.PgError{Code: "42501"}), CausePrivilege},
		{"connection refused", dial, CauseUnreachable},
		{"connection reset", syscall.ECONNRESET, CauseUnreachable},
		{"cut short", io.ErrUnexpectedEOF, CauseUnreachable},
		{"closed by the driver", fmt.Errorf("query: %w", pgconn.ErrConnClosed), CauseUnreachable},
		{"unknown CA", fmt.Errorf("tls error: %w", x509.UnknownAuthorityError{}), CauseTLS},
		{"wrong host name", fmt.Errorf("tls error: %w", x509.HostnameError{Host: "127.1.2.3"}), CauseTLS},
		{"server declines TLS", fmt.Errorf("tls error: %w", errors.New("server refused TLS connection")), CauseTLS},
		// The server answers a slow statement itself (statement_timeout, 57014): a client deadline
		// means it did not answer at all.
		{"client deadline", context.DeadlineExceeded, CauseUnreachable},
		{"anything else", errors.New("PostgreSQL 120000 is not supported"), CauseOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := causeOf(tc.err); got != tc.want {
				t.Errorf("causeOf(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestErrorHidesTheDriverError(t *testing.T) {
	inner := &pgconn.PgError{Code: "28P01", Message: "password authentication failed"}
	err := newError("connecting to m@127.1.2.3:5432/postgres: refused", inner)
	if err.Error() != "connecting to m@127.1.2.3:5432/postgres: refused" {
		t.Errorf("Error() = %q", err.Error())
	}
	if err.Cause != CauseAuthentication || err.SQLState != "28P01" {
		t.Errorf("Cause, SQLState = %d, %q; want %d, 28P01", err.Cause, err.SQLState, CauseAuthentication)
	}
	var pgErr *pgconn.PgError
	if errors.As(error(err), &pgErr) {
		t.Error("the driver's error is reachable through errors.As; its text is not redacted")
	}
}
