package pgserver

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// persistentDir is a directory for WithDir that the postgres account can reach (a test's TempDir
// is private to root).
func persistentDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "likewise-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if pm := postmasterPID(filepath.Join(parent, "server", "data")); pm > 0 {
			_ = stopImmediately(context.Background(), pm)
		}
		_ = os.RemoveAll(parent)
	})
	return filepath.Join(parent, "server")
}

// TestPersistentServer starts a server in a directory of its own, stops it, starts it again on
// another address, adopts it, and checks that the data and the passwords survive throughout.
func TestPersistentServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := persistentDir(t)

	s, err := Start(ctx, WithDir(dir), WithListenAddress("127.45.2.1"), WithStatStatements(false))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Created {
		t.Errorf("first Start in %s: Created = false, want true", dir)
	}
	if _, err := s.Psql(ctx, DefaultDB, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before')"); err != nil {
		t.Fatal(err)
	}
	super, monitor := s.SuperuserPassword(), s.MonitorPassword()
	fi, err := os.Stat(filepath.Join(dir, credentialsFile))
	if err != nil {
		t.Fatalf("credentials file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode = %v, want 0600", fi.Mode().Perm())
	}
	if err := s.Stop(ctx, Fast); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
		t.Fatalf("Stop removed the cluster: %v", err)
	}

	// A moved pod has a new IP: the same cluster listens there now.
	s, err = Start(ctx, WithDir(dir), WithListenAddress("127.45.2.2"), WithStatStatements(false))
	if err != nil {
		t.Fatal(err)
	}
	if s.Created {
		t.Errorf("second Start in %s: Created = true, want false (the cluster was there)", dir)
	}
	got, err := s.Psql(ctx, DefaultDB, "SELECT inet_server_addr()::text || ' ' || v FROM kept")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("127.45.2.2/32 before", got); diff != "" {
		t.Errorf("address and row after the restart (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{super, monitor}, []string{s.SuperuserPassword(), s.MonitorPassword()}); diff != "" {
		t.Errorf("the passwords changed across starts")
	}
	if _, err := Start(ctx, WithDir(dir), WithListenAddress("127.45.2.3")); err == nil || !strings.Contains(err.Error(), "already runs") {
		t.Errorf("Start on a running server's directory: error = %v, want one saying a server already runs", err)
	}

	// Another process (a restarted runtime) finds the server as it runs.
	adopted, err := Adopt(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Host           string
		Port, PID      int
		Super, Monitor string
		Created        bool
		VersionKnown   bool
	}
	viewOf := func(s *Server) view {
		return view{s.Host, s.Port, s.PID(), s.SuperuserPassword(), s.MonitorPassword(), s.Created, s.Version > 0}
	}
	if diff := cmp.Diff(viewOf(s), viewOf(adopted)); diff != "" {
		t.Errorf("adopted server (-started,+adopted):\n%s", diff)
	}
	if got, err := adopted.Psql(ctx, DefaultDB, "SELECT v FROM kept"); err != nil || got != "before" {
		t.Errorf("the adopted server's row: %q, %v", got, err)
	}

	// Passwords fixed by the caller replace the stored ones.
	if err := adopted.Shutdown(ctx, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := Adopt(ctx, dir); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Adopt of a stopped server: error = %v, want ErrNotRunning", err)
	}
	s, err = Start(ctx, WithDir(dir), WithListenAddress("127.45.2.2"), WithStatStatements(false), WithPasswords("fixed-super", "fixed-monitor"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, filepath.Join(s.ClientBinDir, "psql"), "-X", "-A", "-t", "-c", "SELECT current_user",
		s.DSN(MonitorRole, "fixed-monitor", DefaultDB)).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != MonitorRole {
		t.Errorf("monitoring role with the fixed password: %v: %s", err, out)
	}
	if c, err := loadCredentials(dir); err != nil || c != (credentials{"fixed-super", "fixed-monitor"}) {
		t.Errorf("stored credentials after fixing them: %v (err %v)", c == (credentials{"fixed-super", "fixed-monitor"}), err)
	}
	if log := s.LogTail(1 << 20); strings.Contains(log, "fixed-monitor") || strings.Contains(log, super) {
		t.Errorf("the server log holds a password")
	}

	s.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Close left %s (stat: %v)", dir, err)
	}
}

// TestCommandPrefix checks that the postmaster and its children inherit what the prefix sets
// up: here an environment variable, in the pod runtime a cgroup.
func TestCommandPrefix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := persistentDir(t)
	s, err := Start(ctx, WithDir(dir), WithListenAddress("127.45.2.4"), WithStatStatements(false),
		WithCommandPrefix([]string{"env", "LIKEWISE_PREFIX_MARK=1"}))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pid := s.PID()
	if pid == 0 {
		t.Fatal("no postmaster PID")
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(strings.Split(string(environ), "\x00"), "LIKEWISE_PREFIX_MARK=1") {
		t.Errorf("postmaster %d lacks the prefix's environment variable", pid)
	}
}

func TestSocketDirFor(t *testing.T) {
	short := "/var/lib/likewise/ns/db-0"
	if got := socketDirFor(short); got != short {
		t.Errorf("socketDirFor(%q) = %q, want the directory itself", short, got)
	}
	long := "/var/lib/" + strings.Repeat("x", 100)
	got := socketDirFor(long)
	if got == long || len(got)+len("/.s.PGSQL.65535.lock") > 107 || got != socketDirFor(long) || got == socketDirFor(long+"y") {
		t.Errorf("socketDirFor(long) = %q: want a short path, the same for the same directory, another for another", got)
	}
}
