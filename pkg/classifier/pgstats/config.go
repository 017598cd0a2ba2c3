// Package pgstats reads one PostgreSQL database's statistics for the classifier: version
// detection, version-specific SQL for PostgreSQL 13 to 18, and one read-only snapshot per call.
// It is the only package of likewise that imports pgx.
package pgstats

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults of ConnConfig.
const (
	DefaultApplicationName  = "likewise-classifier"
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 10 * time.Second
)

// RestrictedKeys are the connection-string keys allowed when ConnConfig.RestrictKeys is set: the
// ones a controller builds from a Secret. Keys that make the client read local files (sslrootcert,
// passfile, servicefile, sslkey) are not among them.
var RestrictedKeys = []string{"host", "port", "dbname", "user", "password", "sslmode", "application_name", "connect_timeout"}

// SSLMode is how a connection uses TLS, when ConnConfig.SSLMode enforces it. Only modes without a
// fallback are offered: libpq's prefer and allow retry in plaintext, and verify-ca checks no name.
type SSLMode string

const (
	// SSLModeVerifyFull: TLS, the chain verified against ConnConfig.CAPEM and the name against
	// ServerName (or the host).
	SSLModeVerifyFull SSLMode = "verify-full"
	// SSLModeRequire: TLS, the server not verified: safe from eavesdroppers, not from a
	// man in the middle. Never plaintext.
	SSLModeRequire SSLMode = "require"
	// SSLModeDisable: plaintext. Never TLS.
	SSLModeDisable SSLMode = "disable"
)

// SSLModes lists the SSLMode values, strongest first.
var SSLModes = []SSLMode{SSLModeVerifyFull, SSLModeRequire, SSLModeDisable}

// ConnConfig says how to reach one database.
type ConnConfig struct {
	// DSN is a libpq connection string, URL ("postgres://user@host:5432/db") or key=value form.
	DSN string
	// Password, when set, replaces the DSN's password (the controller reads it from a Secret).
	Password string
	// CAPEM holds CA certificates in PEM. When set, the connection uses TLS and verifies the
	// server's certificate chain and name against them (sslmode verify-full), with no plaintext
	// fallback. SSLMode verify-full needs it; require and disable refuse it.
	CAPEM []byte
	// ServerName is the name the server certificate must carry when CAPEM is set; default the
	// DSN's host. Operators' certificates name service DNS names, not pod IPs, so a controller that
	// dials a pod IP sets the service's name here.
	ServerName string
	// SSLMode, when set, is the connection's TLS whatever the DSN's sslmode says (a DSN that
	// names another mode is refused), with no fallback of any kind: verify-full needs CAPEM,
	// require and disable refuse one. "" leaves it to the DSN, verify-full when CAPEM is set.
	SSLMode SSLMode
	// RestrictKeys rejects DSN keys outside RestrictedKeys, for DSNs built from input the caller
	// does not control.
	RestrictKeys bool
	// ApplicationName is shown in pg_stat_activity; default DefaultApplicationName.
	ApplicationName string
	// StatementTimeout is set as the session's statement_timeout and bounds every query;
	// default DefaultStatementTimeout.
	StatementTimeout time.Duration
	// ConnectTimeout bounds connecting; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// String describes the target without its password, for logs and errors.
func (c ConnConfig) String() string {
	pc, err := c.pgxConfig()
	if err != nil {
		return "(invalid dsn)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", pc.User, pc.Host, pc.Port, pc.Database)
}

// pgxConfig parses and checks the configuration. Its errors never contain the password.
func (c ConnConfig) pgxConfig() (*pgx.ConnConfig, error) {
	if strings.TrimSpace(c.DSN) == "" {
		return nil, errors.New("dsn: must not be empty")
	}
	if c.StatementTimeout < 0 {
		return nil, fmt.Errorf("statementTimeout: %v must not be negative", c.StatementTimeout)
	}
	if c.ConnectTimeout < 0 {
		return nil, fmt.Errorf("connectTimeout: %v must not be negative", c.ConnectTimeout)
	}
	var opts pgx.ParseConfigOptions
	if c.RestrictKeys {
		opts.ConnStringAllowedKeys = RestrictedKeys
	}
	pc, err := pgx.ParseConfigWithOptions(c.DSN, opts)
	if err != nil {
		return nil, fmt.Errorf("dsn: %s", redact(err.Error(), c.DSN, c.Password))
	}
	if c.Password != "" {
		pc.Password = c.Password
	}
	if pc.Database == "" {
		return nil, errors.New("dsn: names no database")
	}
	if err := c.enforceSSLMode(pc); err != nil {
		return nil, err
	}
	statementTimeout := c.StatementTimeout
	if statementTimeout == 0 {
		statementTimeout = DefaultStatementTimeout
	}
	connectTimeout := c.ConnectTimeout
	if connectTimeout == 0 {
		connectTimeout = DefaultConnectTimeout
	}
	if pc.ConnectTimeout == 0 || pc.ConnectTimeout > connectTimeout {
		pc.ConnectTimeout = connectTimeout
	}
	appName := c.ApplicationName
	if appName == "" {
		appName = DefaultApplicationName
	}
	pc.RuntimeParams["application_name"] = appName
	pc.RuntimeParams["statement_timeout"] = fmt.Sprint(statementTimeout.Milliseconds())
	// Every sample is one SELECT, hence its own transaction; this makes it a read-only one.
	pc.RuntimeParams["default_transaction_read_only"] = "on"
	// to_json prints timestamps with this zone's offset; UTC always parses as RFC 3339.
	pc.RuntimeParams["TimeZone"] = "UTC"
	return pc, nil
}

// enforceSSLMode replaces whatever TLS the DSN asked for with c.SSLMode's (verify-full when only
// CAPEM is set), one TLS configuration per host and none other: pgconn implements prefer's and
// allow's retries as Fallbacks of the other kind, so a fallback of the same host is dropped.
func (c ConnConfig) enforceSSLMode(pc *pgx.ConnConfig) error {
	mode := c.SSLMode
	dsnMode := SSLMode(sslMode(c.DSN))
	switch {
	case mode == "" && len(c.CAPEM) == 0:
		return nil // the DSN's choice, as libpq would make it
	case mode == "":
		mode = SSLModeVerifyFull
		if dsnMode == "disable" || dsnMode == "allow" {
			return fmt.Errorf("dsn: sslmode=%s contradicts the CA given for verify-full", dsnMode)
		}
	case !slices.Contains(SSLModes, mode):
		return fmt.Errorf("sslMode: %q is not supported: supported values: %s", mode, joinModes(SSLModes))
	case dsnMode != "" && dsnMode != mode:
		return fmt.Errorf("dsn: sslmode=%s contradicts sslMode %s", dsnMode, mode)
	case mode == SSLModeVerifyFull && len(c.CAPEM) == 0:
		return errors.New("caPEM: sslMode verify-full needs a CA")
	case mode != SSLModeVerifyFull && len(c.CAPEM) > 0:
		return fmt.Errorf("caPEM: a CA is given, yet sslMode %s would not verify the server", mode)
	}
	var tlsFor func(host string) *tls.Config
	switch mode {
	case SSLModeVerifyFull:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(c.CAPEM) {
			return errors.New("caPEM: no PEM certificate found")
		}
		tlsFor = func(host string) *tls.Config {
			name := c.ServerName
			if name == "" {
				name = host
			}
			return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}
		}
	case SSLModeRequire:
		tlsFor = func(string) *tls.Config {
			// Encrypted, not authenticated: what the pod's opt-in asked for.
			return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
		}
	case SSLModeDisable:
		tlsFor = func(string) *tls.Config { return nil }
	}
	pc.TLSConfig = tlsFor(pc.Host)
	var fallbacks []*pgconn.FallbackConfig
	seen := map[string]bool{pc.Host + fmt.Sprint(pc.Port): true}
	for _, fb := range pc.Fallbacks {
		key := fb.Host + fmt.Sprint(fb.Port)
		if seen[key] {
			continue
		}
		seen[key] = true
		fb.TLSConfig = tlsFor(fb.Host)
		fallbacks = append(fallbacks, fb)
	}
	pc.Fallbacks = fallbacks
	return nil
}

func joinModes(modes []SSLMode) string {
	s := make([]string, len(modes))
	for i, m := range modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// sslMode finds sslmode in a URL or key=value DSN; "" when absent.
func sslMode(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Get("sslmode")
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "sslmode="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// redact removes every password that dsn or extra carry from msg. pgconn redacts its parse
// errors on a best-effort basis only.
func redact(msg, dsn string, extra ...string) string {
	secrets := append([]string{}, extra...)
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p, url.QueryEscape(p), url.PathEscape(p))
		}
	}
	for _, key := range []string{"password=", "password ="} {
		rest := dsn
		for {
			i := strings.Index(rest, key)
			if i < 0 {
				break
			}
			rest = strings.TrimLeft(rest[i+len(key):], " ")
			v := rest
			if strings.HasPrefix(v, "'") {
				if end := strings.Index(v[1:], "'"); end >= 0 {
					v = v[1 : end+1]
				} else {
					v = v[1:]
				}
			} else if end := strings.IndexAny(v, " &"); end >= 0 {
				v = v[:end]
			}
			secrets = append(secrets, v)
		}
	}
	for _, s := range secrets {
		if len(s) > 0 {
			msg = strings.ReplaceAll(msg, s, "xxxxx")
		}
	}
	return msg
}
