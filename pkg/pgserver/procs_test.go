package pgserver

import (
	"os"
	"os/exec"
	"testing"

	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name      string
		line      string
		want      procStat
		wantOK    bool
		wantAlive bool
	}{
		{
			name:      "a sleeping backend",
			line:      "4242 (postgres) S 4200 4200 4200 0 -1 4194560 120 0 0 0",
			want:      procStat{state: "S", ppid: 4200, flags: 4194560},
			wantOK:    true,
			wantAlive: true,
		},
		{
			name:      "comm with spaces and parentheses",
			line:      "7 (a) b (c) R 1 7 7 0 -1 4194304 0 0",
			want:      procStat{state: "R", ppid: 1, flags: 4194304},
			wantOK:    true,
			wantAlive: true,
		},
		{
			// Still R, but in do_exit: it has left its cgroups already.
			name:   "an exiting task",
			line:   "4243 (postgres) R 4200 4200 4200 0 -1 4194564 0 0",
			want:   procStat{state: "R", ppid: 4200, flags: 4194564},
			wantOK: true,
		},
		{
			name:   "a zombie",
			line:   "4244 (postgres) Z 4200 4200 4200 0 -1 4227084 0 0",
			want:   procStat{state: "Z", ppid: 4200, flags: 4227084},
			wantOK: true,
		},
		{name: "no comm", line: "4245 postgres S 4200"},
		{name: "truncated", line: "4246 (postgres) S 4200 4200"},
		{name: "flags not a number", line: "4247 (postgres) S 4200 4200 4200 0 -1 x 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseStat(tc.line)
			if ok != tc.wantOK {
				t.Fatalf("parseStat(%q) ok = %v, want %v", tc.line, ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(procStat{})); diff != "" {
				t.Errorf("parseStat(%q) (-want,+got):\n%s", tc.line, diff)
			}
			if got.alive() != tc.wantAlive {
				t.Errorf("alive() = %v, want %v", got.alive(), tc.wantAlive)
			}
		})
	}
}

func TestAlive(t *testing.T) {
	if !Alive(os.Getpid()) {
		t.Fatal("this test's own process is not alive")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if !Alive(pid) {
		t.Fatalf("a sleeping child (%d) is not alive", pid)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Not waited for yet: once it has exited it stays a zombie, which is not alive.
	deadline := time.Now().Add(10 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("killed child %d still alive after 10s", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Wait()
	if Alive(pid) {
		t.Errorf("reaped child %d is alive", pid)
	}
}
