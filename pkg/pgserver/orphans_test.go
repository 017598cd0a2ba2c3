package pgserver

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envOrphanHelper makes the test binary start a server, print its directory and port, and wait to
// be killed: the orphan that TestOrphanedServerIsStopped cleans up.
const envOrphanHelper = "LIKEWISE_PGSERVER_ORPHAN_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(envOrphanHelper) == "1" {
		s, err := Start(context.Background(), WithStatStatements(false))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("%s %d\n", s.Dir, s.Port)
		select {}
	}
	os.Exit(m.Run())
}

func TestOwnerPID(t *testing.T) {
	for name, want := range map[string]int{
		dirPrefix + "123-456789": 123,
		dirPrefix + "0-1":        0,
		dirPrefix + "x-1":        0,
		dirPrefix + "123":        0,
		"pgserver-123-1":         0,
	} {
		if got, ok := ownerPID(name); got != want || ok != (want > 0) {
			t.Errorf("ownerPID(%q) = %d, %v; want %d, %v", name, got, ok, want, want > 0)
		}
	}
}

// TestOrphanedServerIsStopped kills a process that started a server, as a go test timeout does,
// and checks that the server outlives it and that the next reap stops it and removes its files.
func TestOrphanedServerIsStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	helper := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	helper.Env = append(os.Environ(), envOrphanHelper+"=1")
	helper.Stderr = os.Stderr
	stdout, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = helper.Process.Kill()
		_ = helper.Wait()
		t.Fatalf("helper did not report its server: %v", err)
	}
	fields := strings.Fields(line)
	if len(fields) != 2 {
		t.Fatalf("helper printed %q, want a directory and a port", line)
	}
	dir := fields[0]
	port, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("helper printed port %q: %v", fields[1], err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	t.Cleanup(func() { // should the reap fail, do not leak the server ourselves
		if pm := postmasterPID(filepath.Join(dir, "data")); pm > 0 {
			_ = stopImmediately(context.Background(), pm)
		}
		_ = os.RemoveAll(dir)
	})

	_ = helper.Process.Kill()
	_ = helper.Wait()
	if !accepts(addr) {
		t.Fatalf("the server on %s stopped with its process: nothing to reap, the test proves nothing", addr)
	}

	reapOrphans(ctx)

	if accepts(addr) {
		t.Errorf("the orphaned server on %s still accepts connections after the reap", addr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the orphan's directory %s is still there (stat: %v)", dir, err)
	}
}

func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
