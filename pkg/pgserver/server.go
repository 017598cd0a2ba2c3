// Package pgserver starts real PostgreSQL servers for tests, demos and the local cluster's pod
// runtime: initdb in a temporary directory (or a given one that outlives the server, WithDir), a
// server on a loopback address and a free port, a superuser and a monitoring role with
// pg_read_all_stats, and pgbench loads against it.
//
// When the test runs as root (CI does), initdb, pg_ctl and the server run as the postgres account,
// because PostgreSQL refuses to run as root.
//
// The server is the distribution's (FindBinDir), or another major version's with
// WithServerBinDir (`make postgres-versions` fetches 13, 14, 16, 17 and 18); psql and pgbench are
// always the distribution's.
package pgserver

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default names of the roles and database every server gets.
const (
	Superuser   = "postgres"
	MonitorRole = "likewise_monitor"
	DefaultDB   = "postgres"
)

// ShutdownMode is pg_ctl's -m: how a stop or restart treats running sessions.
type ShutdownMode string

const (
	// Fast disconnects sessions and shuts down cleanly (statistics are written to disk).
	Fast ShutdownMode = "fast"
	// Immediate kills the server without a clean shutdown, like a crash: on the next start the
	// cumulative statistics are empty and crash recovery runs.
	Immediate ShutdownMode = "immediate"
)

type options struct {
	serverBinDir   string
	listenAddress  string
	port           int
	statStatements bool
	tls            bool
	tlsNames       []string
	settings       [][2]string
	dir            string   // WithDir: kept across servers
	prefix         []string // WithCommandPrefix
	superPassword  string   // WithPasswords
	monitorPass    string
}

// Option configures Start.
type Option func(*options)

// WithServerBinDir runs the server programs (initdb, pg_ctl, postgres) from dir, another major
// version than FindBinDir's, with FindBinDir's psql and pgbench as clients. Symbolic links in dir
// are resolved: the postgres account must reach the files themselves.
func WithServerBinDir(dir string) Option { return func(o *options) { o.serverBinDir = dir } }

// WithListenAddress makes the server listen on addr, any 127.x.y.z address (default 127.0.0.1).
func WithListenAddress(addr string) Option { return func(o *options) { o.listenAddress = addr } }

// WithPort makes the server listen on port instead of a free one.
func WithPort(port int) Option { return func(o *options) { o.port = port } }

// WithStatStatements sets whether pg_stat_statements is in shared_preload_libraries (default true).
func WithStatStatements(on bool) Option { return func(o *options) { o.statStatements = on } }

// WithTLS turns TLS on with a certificate for the listen address and dnsNames, signed by a CA
// made for this server (CAPEM). Connections without TLS are still accepted.
func WithTLS(dnsNames ...string) Option {
	return func(o *options) { o.tls, o.tlsNames = true, dnsNames }
}

// WithSetting adds a postgresql.conf setting; later settings win.
func WithSetting(name, value string) Option {
	return func(o *options) { o.settings = append(o.settings, [2]string{name, value}) }
}

// WithDir keeps the server in dir, which outlives it, instead of a new temporary directory: the
// cluster in dir/data is initialised by the first Start and reused, with its passwords, by every
// later one (Start writes listen_addresses and port afresh each time, so the address may change).
// The passwords are kept in dir/credentials, readable by root only. Stop leaves dir in place;
// Close removes it.
func WithDir(dir string) Option { return func(o *options) { o.dir = dir } }

// WithCommandPrefix runs initdb and pg_ctl start as argv followed by the program's own argv, so
// that the postmaster and every backend it forks inherit what the prefix sets up (a cgroup, say).
// The prefix runs as the caller; runuser, when needed, comes after it.
func WithCommandPrefix(argv []string) Option {
	return func(o *options) { o.prefix = slices.Clone(argv) }
}

// WithPasswords sets the superuser's and the monitoring role's passwords instead of random ones,
// so that many servers can share one credentials Secret. An empty password stays random. A server
// reused from WithDir gets these passwords if its own differ.
func WithPasswords(superuser, monitor string) Option {
	return func(o *options) { o.superPassword, o.monitorPass = superuser, monitor }
}

// Server is one running PostgreSQL server.
type Server struct {
	BinDir       string // initdb, pg_ctl, postgres
	ClientBinDir string // psql, pgbench
	Dir          string // data/, server.log, sockets: temporary, or WithDir's
	Host         string
	Port         int
	Version      int // server_version_num of the binaries, e.g. 150018

	StatStatements bool
	// Created is true when this Start ran initdb, false when it reused WithDir's cluster or
	// adopted a running server (Adopt).
	Created bool

	caPEM           []byte
	superPassword   string
	monitorPassword string
	asPostgres      bool // run server programs via runuser -u postgres
	persistent      bool // WithDir: Dir is not ours to remove on a failed start
	prefix          []string
	socketDir       string

	mu      sync.Mutex
	stopped bool
}

// StartT starts a server for t and stops and removes it when t ends. It fails t with a message
// that names what is missing when it cannot start.
func StartT(t testing.TB, opts ...Option) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts...)
	if err != nil {
		t.Fatalf("starting PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("PostgreSQL server log (%s):\n%s", s.Dir, s.LogTail(8000))
		}
		s.Close()
	})
	return s
}

// Start initialises and starts a server. Call Close when done (or Stop, to keep WithDir's
// directory).
func Start(ctx context.Context, opts ...Option) (*Server, error) {
	o := options{listenAddress: "127.0.0.1", statStatements: true}
	for _, f := range opts {
		f(&o)
	}
	ip := net.ParseIP(o.listenAddress)
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen address %q: must be an IPv4 loopback address (127.x.y.z)", o.listenAddress)
	}
	s, err := newServer(o)
	if err != nil {
		return nil, err
	}
	reapOnce.Do(func() { reapOrphans(ctx) })
	if s.persistent {
		err = s.preparePersistentDir(ctx, o)
	} else {
		// Not t.TempDir: its parent is private to root, and the server runs as postgres.
		if s.Dir, err = newServerDir(); err != nil {
			return nil, fmt.Errorf("creating temporary directory: %w", err)
		}
		s.socketDir = s.Dir
		if err = s.chownToPostgres(s.Dir); err == nil {
			err = s.initdb(ctx)
		}
	}
	if err != nil {
		s.discard()
		return nil, err
	}
	if s.Version, err = serverVersion(ctx, s.BinDir); err != nil {
		s.discard()
		return nil, err
	}
	if o.tls {
		if err := s.writeCertificates(o.tlsNames); err != nil {
			s.discard()
			return nil, err
		}
	}
	// A free port can be taken by someone else before the server binds it: try a few.
	for attempt := 0; ; attempt++ {
		port := o.port
		if port == 0 {
			if port, err = freePort(o.listenAddress); err != nil {
				s.discard()
				return nil, err
			}
		}
		s.Port = port
		if err = s.writeConfig(o); err != nil {
			break
		}
		if err = s.pgCtlStart(ctx); err == nil || o.port != 0 || attempt == 4 ||
			!strings.Contains(s.LogTail(2000), "could not bind") {
			break
		}
	}
	if err != nil {
		err = fmt.Errorf("starting server on %s:%d: %w\nserver log:\n%s", s.Host, s.Port, err, s.LogTail(4000))
		s.abort()
		return nil, err
	}
	if err := s.setupRoles(ctx, o); err != nil {
		s.abort()
		return nil, err
	}
	if o.statStatements {
		if _, err := s.Psql(ctx, DefaultDB, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"); err != nil {
			s.abort()
			return nil, err
		}
	}
	return s, nil
}

// newServer fills in what every server needs from o: binaries, account, passwords.
func newServer(o options) (*Server, error) {
	clientBinDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	binDir := clientBinDir
	if o.serverBinDir != "" {
		if binDir, err = serverBinDir(o.serverBinDir); err != nil {
			return nil, err
		}
	}
	s := &Server{
		BinDir:          binDir,
		ClientBinDir:    clientBinDir,
		Host:            o.listenAddress,
		StatStatements:  o.statStatements,
		superPassword:   cmp.Or(o.superPassword, randomPassword()),
		monitorPassword: cmp.Or(o.monitorPass, randomPassword()),
		asPostgres:      os.Geteuid() == 0,
		prefix:          o.prefix,
	}
	if o.dir != "" {
		if s.Dir, err = filepath.Abs(o.dir); err != nil {
			return nil, fmt.Errorf("server directory %q: %w", o.dir, err)
		}
		s.persistent = true
		s.socketDir = socketDirFor(s.Dir)
	}
	if s.asPostgres {
		if _, err := user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root needs the postgres OS account to run initdb and the server: %v; %s", err, missingHint)
		}
	}
	return s, nil
}

// discard undoes a Start that failed before the server ran: a temporary directory goes, a
// persistent one stays.
func (s *Server) discard() {
	if !s.persistent {
		s.removeDir()
	}
}

// abort undoes a Start that failed once the server may run: it stops the server at once and
// removes a temporary directory.
func (s *Server) abort() {
	if s.persistent {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = s.pgCtl(ctx, "stop", "-w", "-t", "50", "-m", string(Immediate))
		cancel()
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		return
	}
	s.Close()
}

func (s *Server) initdb(ctx context.Context) error {
	pwfile := filepath.Join(s.Dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.superPassword+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing password file: %w", err)
	}
	if err := s.chownToPostgres(pwfile); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	// Local (socket) connections trust, so psql setup needs no password; TCP needs one, as in
	// production.
	out, err := s.runPrefixed(ctx, s.prefix, filepath.Join(s.BinDir, "initdb"),
		"-D", s.dataDir(), "-U", Superuser, "--pwfile", pwfile, "-E", "UTF8", "--locale=C",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
	if err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	s.Created = true
	return nil
}

func serverVersion(ctx context.Context, binDir string) (int, error) {
	version, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("postgres --version: %w", err)
	}
	return parseVersion(string(version)), nil
}

// parseVersion turns "postgres (PostgreSQL) 15.18 (Debian ...)" into 150018.
func parseVersion(out string) int {
	f := strings.Fields(out)
	if len(f) < 3 {
		return 0
	}
	parts := strings.SplitN(f[2], ".", 3)
	major, _ := strconv.Atoi(leadingDigits(parts[0]))
	minor := 0
	if len(parts) > 1 {
		minor, _ = strconv.Atoi(leadingDigits(parts[1]))
	}
	return major*10000 + minor
}

func leadingDigits(s string) string {
	for i, r := range s {
		if r < '0' || r > '9' {
			return s[:i]
		}
	}
	return s
}

func (s *Server) writeConfig(o options) error {
	settings := [][2]string{
		{"listen_addresses", "'" + s.Host + "'"},
		{"port", strconv.Itoa(s.Port)},
		{"unix_socket_directories", "'" + s.socketDir + "'"},
		{"max_connections", "60"},
		{"shared_buffers", "128MB"},
		{"logging_collector", "off"},
		{"log_min_messages", "warning"},
		{"log_checkpoints", "off"},
		// Tests share two cores with builds: keep background work small.
		{"max_worker_processes", "4"},
		{"max_parallel_workers_per_gather", "0"},
	}
	if o.statStatements {
		settings = append(settings, [2]string{"shared_preload_libraries", "'pg_stat_statements'"})
	}
	if o.tls {
		settings = append(settings, [2]string{"ssl", "on"},
			[2]string{"ssl_cert_file", "'server.crt'"}, [2]string{"ssl_key_file", "'server.key'"})
	}
	settings = append(settings, o.settings...)
	var b strings.Builder
	b.WriteString("# written by likewise pkg/pgserver\n")
	for _, kv := range settings {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
	}
	// A conf.d-style include keeps initdb's file intact; the last setting of a name wins.
	path := filepath.Join(s.dataDir(), "likewise.conf")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// Any loopback client may connect with a password: the controller tests use 127.x pod IPs.
	hba := filepath.Join(s.dataDir(), "pg_hba.conf")
	if err := os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", hba, err)
	}
	main := filepath.Join(s.dataDir(), "postgresql.conf")
	conf, err := os.ReadFile(main)
	if err != nil {
		return fmt.Errorf("reading %s: %w", main, err)
	}
	if !bytes.Contains(conf, []byte("include 'likewise.conf'")) {
		conf = append(conf, []byte("\ninclude 'likewise.conf'\n")...)
		if err := os.WriteFile(main, conf, 0o600); err != nil {
			return fmt.Errorf("writing %s: %w", main, err)
		}
	}
	return s.chownToPostgres(path, main, hba)
}

func (s *Server) setupRoles(ctx context.Context, o options) error {
	if !s.Created {
		// A reused cluster has its roles; only passwords the caller fixed may differ.
		if o.superPassword == "" && o.monitorPass == "" {
			return nil
		}
		// A failed statement is not to be logged with its password.
		sql := fmt.Sprintf("SET log_min_error_statement = panic; ALTER ROLE %s PASSWORD %s; ALTER ROLE %s PASSWORD %s;",
			Superuser, quoteLiteral(s.superPassword), MonitorRole, quoteLiteral(s.monitorPassword))
		if _, err := s.psqlSocket(ctx, DefaultDB, sql); err != nil {
			return s.redact(fmt.Errorf("setting the roles' passwords: %w", err))
		}
		return s.saveCredentials()
	}
	// Created as docs/classifier.md recommends: LOGIN, pg_read_all_stats, read-only by default,
	// a statement timeout, CONNECT on the databases it monitors.
	sql := fmt.Sprintf(`SET log_min_error_statement = panic;
CREATE ROLE %[1]s LOGIN PASSWORD %[2]s;
GRANT pg_read_all_stats TO %[1]s;
ALTER ROLE %[1]s SET statement_timeout = '5s';
ALTER ROLE %[1]s SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE %[3]s TO %[1]s;`, MonitorRole, quoteLiteral(s.monitorPassword), DefaultDB)
	if _, err := s.psqlSocket(ctx, DefaultDB, sql); err != nil {
		return s.redact(err)
	}
	if s.persistent {
		return s.saveCredentials()
	}
	return nil
}

// quoteLiteral quotes v as an SQL string literal.
func quoteLiteral(v string) string { return "'" + strings.ReplaceAll(v, "'", "''") + "'" }

// redact replaces the server's passwords in err's message: psql may quote the statement that
// failed, and no password may reach a log.
func (s *Server) redact(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range []string{s.superPassword, s.monitorPassword} {
		if p != "" {
			msg = strings.ReplaceAll(msg, p, "<redacted>")
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}

// CreateDatabase creates database name, grants the monitoring role CONNECT on it, and creates
// pg_stat_statements in it when the library is preloaded.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	if _, err := s.Psql(ctx, DefaultDB, fmt.Sprintf("CREATE DATABASE %q", name)); err != nil {
		return err
	}
	sql := fmt.Sprintf("GRANT CONNECT ON DATABASE %q TO %s;", name, MonitorRole)
	if s.StatStatements {
		sql += "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
	}
	_, err := s.Psql(ctx, name, sql)
	return err
}

// DSN is a URL for user on database db over TCP: with sslmode=disable, or, when the server has
// TLS (WithTLS), with no sslmode so that the client chooses.
func (s *Server) DSN(user, password, db string) string {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(user, password),
		Host:   net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:   "/" + db,
	}
	if s.caPEM == nil {
		u.RawQuery = "sslmode=disable"
	}
	return u.String()
}

// SuperuserDSN connects as the superuser postgres to db.
func (s *Server) SuperuserDSN(db string) string { return s.DSN(Superuser, s.superPassword, db) }

// MonitorDSN connects as the monitoring role (pg_read_all_stats, read-only) to db.
func (s *Server) MonitorDSN(db string) string { return s.DSN(MonitorRole, s.monitorPassword, db) }

// CAPEM is the PEM of the CA that signed the server's certificate (WithTLS); nil without TLS.
func (s *Server) CAPEM() []byte { return s.caPEM }

// MonitorPassword is the monitoring role's password.
func (s *Server) MonitorPassword() string { return s.monitorPassword }

// SuperuserPassword is the superuser's password.
func (s *Server) SuperuserPassword() string { return s.superPassword }

// Psql runs sql in db as the superuser over TCP and returns psql's unaligned, tuples-only output.
func (s *Server) Psql(ctx context.Context, db, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.ClientBinDir, "psql"), "-X", "-q", "-A", "-t",
		"-v", "ON_ERROR_STOP=1", "-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.superPassword, "PGCONNECT_TIMEOUT=10")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("psql on %s: %w: %s (sql: %s)", db, err, strings.TrimSpace(stderr.String()), truncate(sql, 200))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// PsqlFile runs the SQL file path in db as the superuser, with psql variables vars (:name).
func (s *Server) PsqlFile(ctx context.Context, db, path string, vars map[string]string) error {
	args := []string{"-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", s.Host, "-p", strconv.Itoa(s.Port),
		"-U", Superuser, "-d", db, "-f", path}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		args = append(args, "-v", k+"="+vars[k])
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.ClientBinDir, "psql"), args...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+s.superPassword, "PGCONNECT_TIMEOUT=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql -f %s on %s: %w: %s", path, db, err, truncate(strings.TrimSpace(string(out)), 2000))
	}
	return nil
}

// psqlSocket runs sql as the superuser over the Unix socket (trusted), before passwords matter.
func (s *Server) psqlSocket(ctx context.Context, db, sql string) (string, error) {
	out, err := s.runServerProgram(ctx, filepath.Join(s.ClientBinDir, "psql"), "-X", "-q", "-A", "-t",
		"-v", "ON_ERROR_STOP=1", "-h", s.socketDir, "-p", strconv.Itoa(s.Port), "-U", Superuser, "-d", db, "-c", sql)
	if err != nil {
		return out, fmt.Errorf("psql on %s: %w: %s", db, err, strings.TrimSpace(out))
	}
	return strings.TrimSpace(out), nil
}

// Restart stops the server with mode and starts it again on the same address and port.
func (s *Server) Restart(ctx context.Context, mode ShutdownMode) error {
	if err := s.Stop(ctx, mode); err != nil {
		return err
	}
	return s.StartAgain(ctx)
}

// Stop stops the server with mode and keeps its directory: StartAgain starts it again, and a
// later Start with WithDir reuses it.
func (s *Server) Stop(ctx context.Context, mode ShutdownMode) error {
	return s.stop(ctx, mode, time.Minute)
}

func (s *Server) stop(ctx context.Context, mode ShutdownMode, wait time.Duration) error {
	if mode != Fast && mode != Immediate {
		return fmt.Errorf("shutdown mode %q: must be %q or %q", mode, Fast, Immediate)
	}
	seconds := strconv.Itoa(max(int((wait+time.Second-1)/time.Second), 1))
	if err := s.pgCtl(ctx, "stop", "-w", "-t", seconds, "-m", string(mode)); err != nil {
		if s.PID() != 0 {
			return fmt.Errorf("stopping server (%s): %w", mode, err)
		}
		// pg_ctl fails when there is no server to stop: it ended by itself or someone stopped it.
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	return nil
}

// Shutdown stops the server cleanly (Fast) and, if it has not stopped within timeout, at once
// (Immediate), keeping its directory.
func (s *Server) Shutdown(ctx context.Context, timeout time.Duration) error {
	if err := s.stop(ctx, Fast, timeout); err == nil && s.PID() == 0 {
		return nil
	}
	if err := s.stop(ctx, Immediate, time.Minute); err != nil {
		return err
	}
	if pid := s.PID(); pid != 0 {
		return fmt.Errorf("postmaster %d of %s still runs after an immediate shutdown", pid, s.dataDir())
	}
	return nil
}

// StartAgain starts a stopped server.
func (s *Server) StartAgain(ctx context.Context) error {
	if err := s.pgCtlStart(ctx); err != nil {
		return fmt.Errorf("starting server again: %w\nserver log:\n%s", err, s.LogTail(4000))
	}
	s.mu.Lock()
	s.stopped = false
	s.mu.Unlock()
	return nil
}

// Close stops the server at once and removes its directory, WithDir's too.
func (s *Server) Close() {
	s.mu.Lock()
	stopped := s.stopped
	s.stopped = true
	s.mu.Unlock()
	if !stopped {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_ = s.pgCtl(ctx, "stop", "-w", "-t", "50", "-m", string(Immediate))
		cancel()
	}
	s.removeDir()
}

// PID is the postmaster's process ID while the server runs, else 0.
func (s *Server) PID() int { return postmasterPID(s.dataDir()) }

// DataDir is the cluster's data directory, Dir/data.
func (s *Server) DataDir() string { return s.dataDir() }

// LogTail returns the last n bytes of the server log.
func (s *Server) LogTail(n int) string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (s *Server) dataDir() string { return filepath.Join(s.Dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.Dir, "server.log") }

func (s *Server) pgCtl(ctx context.Context, args ...string) error {
	return s.pgCtlWith(ctx, nil, args...)
}

// pgCtlStart starts the server behind the command prefix, so that the postmaster inherits it.
func (s *Server) pgCtlStart(ctx context.Context) error {
	return s.pgCtlWith(ctx, s.prefix, "start", "-w", "-t", "90", "-l", s.logPath())
}

func (s *Server) pgCtlWith(ctx context.Context, prefix []string, args ...string) error {
	args = append([]string{"-D", s.dataDir()}, args...)
	out, err := s.runPrefixed(ctx, prefix, filepath.Join(s.BinDir, "pg_ctl"), args...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %w: %s", args[2], err, strings.TrimSpace(out))
	}
	return nil
}

// runServerProgram runs a program that refuses root as the postgres account when we are root.
func (s *Server) runServerProgram(ctx context.Context, prog string, args ...string) (string, error) {
	return s.runPrefixed(ctx, nil, prog, args...)
}

// runPrefixed is runServerProgram behind prefix (WithCommandPrefix).
func (s *Server) runPrefixed(ctx context.Context, prefix []string, prog string, args ...string) (string, error) {
	argv := append(slices.Clone(prefix), prog)
	if s.asPostgres {
		argv = append(slices.Clone(prefix), "runuser", "-u", "postgres", "--", prog)
	}
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	// pg_ctl start leaves the server running with these descriptors: files, not pipes we wait on.
	out, err := os.CreateTemp("", "pgserver-cmd-")
	if err != nil {
		return "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	b, _ := os.ReadFile(out.Name())
	return string(b), err
}

func (s *Server) chownToPostgres(paths ...string) error {
	if !s.asPostgres {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("looking up the postgres account: %w; %s", err, missingHint)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("chown %s to postgres: %w", p, err)
		}
	}
	return nil
}

func (s *Server) removeDir() {
	if s.Dir != "" {
		_ = os.RemoveAll(s.Dir)
	}
	if s.socketDir != "" && s.socketDir != s.Dir {
		_ = os.RemoveAll(s.socketDir)
	}
}

// credentialsFile holds a persistent server's passwords, readable by root (or whoever runs the
// harness) only: the server's account cannot read it.
const credentialsFile = "credentials"

type credentials struct {
	Superuser string `json:"superuser"`
	Monitor   string `json:"monitor"`
}

// preparePersistentDir readies WithDir's directory: it reuses an initialised cluster with its
// passwords, or initialises a new one. A cluster without credentials never finished its first
// Start (initdb or the roles failed), holds nothing of anyone's, and is initialised afresh.
func (s *Server) preparePersistentDir(ctx context.Context, o options) error {
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("server directory: %w", err)
	}
	if err := s.searchableByServer(s.Dir); err != nil {
		return err
	}
	if err := s.chownToPostgres(s.Dir); err != nil {
		return err
	}
	if s.socketDir != s.Dir {
		if err := os.MkdirAll(s.socketDir, 0o700); err != nil {
			return fmt.Errorf("socket directory for %s: %w", s.Dir, err)
		}
		if err := s.chownToPostgres(s.socketDir); err != nil {
			return err
		}
	}
	if pid := s.PID(); pid != 0 {
		return fmt.Errorf("a server already runs in %s (postmaster %d): adopt it (Adopt) or stop it first", s.Dir, pid)
	}
	_, versionErr := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION"))
	creds, credsErr := loadCredentials(s.Dir)
	if versionErr == nil && credsErr == nil {
		s.superPassword = cmp.Or(o.superPassword, creds.Superuser)
		s.monitorPassword = cmp.Or(o.monitorPass, creds.Monitor)
		return nil
	}
	if versionErr == nil && !errors.Is(credsErr, os.ErrNotExist) {
		return credsErr
	}
	if err := os.RemoveAll(s.dataDir()); err != nil {
		return fmt.Errorf("clearing the unfinished cluster in %s: %w", s.dataDir(), err)
	}
	_ = os.Remove(filepath.Join(s.Dir, credentialsFile))
	return s.initdb(ctx)
}

// searchableByServer checks that the postgres account can reach dir: a private parent (a test's
// TempDir, say) would make initdb fail with a less helpful message.
func (s *Server) searchableByServer(dir string) error {
	if !s.asPostgres {
		return nil
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("server directory %s: its parent %s (mode %v) is not searchable by the postgres account the server runs as",
				dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

func (s *Server) saveCredentials() error {
	b, err := json.Marshal(credentials{Superuser: s.superPassword, Monitor: s.monitorPassword})
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(s.Dir, credentialsFile+".tmp-")
	if err != nil {
		return fmt.Errorf("writing the credentials of %s: %w", s.Dir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(b)
	if err = errors.Join(err, tmp.Chmod(0o600), tmp.Close()); err != nil {
		return fmt.Errorf("writing the credentials of %s: %w", s.Dir, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.Dir, credentialsFile)); err != nil {
		return fmt.Errorf("writing the credentials of %s: %w", s.Dir, err)
	}
	return nil
}

func loadCredentials(dir string) (credentials, error) {
	var c credentials
	path := filepath.Join(dir, credentialsFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Superuser == "" || c.Monitor == "" {
		return c, fmt.Errorf("%s: not a credentials file of pgserver (%v)", path, err)
	}
	return c, nil
}

// socketDirFor is dir, unless the socket's path in it would be longer than a Unix socket's
// address holds (107 bytes): then a directory named after a hash of dir in the temporary
// directory, so that each persistent server keeps its own.
func socketDirFor(dir string) string {
	if len(dir)+len("/.s.PGSQL.65535.lock") <= 100 {
		return dir
	}
	sum := sha256.Sum256([]byte(dir))
	return filepath.Join(os.TempDir(), "likewise-pgsock-"+hex.EncodeToString(sum[:8]))
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand does not fail on Linux; a fixed fallback only weakens a test password.
		return "likewise-test-password"
	}
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
