package main

import (
	"bytes"
	"context"
	"reflect"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeParallelizeUntil runs work on n items over two workers and waits for them, as client-go's
// workqueue.ParallelizeUntil does (traceloop knows it by its name).
//
//go:noinline
func fakeParallelizeUntil(n int, work func(int)) {
	var wg sync.WaitGroup
	items := make(chan int, n)
	for i := range n {
		items <- i
	}
	close(items)
	for range 2 {
		wg.Go(func() {
			for i := range items {
				work(i)
			}
		})
	}
	wg.Wait()
}

// fakeLoop stands for the scheduling loop: two settings, each a number of cycles that wait for
// the parallelizer's workers.
//
//go:noinline
func fakeLoop(cycles int) {
	ctx := context.Background()
	for _, setting := range []string{"first", "second"} {
		rtrace.Log(ctx, category, setting)
		for range cycles {
			fakeParallelizeUntil(4, func(int) { time.Sleep(time.Millisecond) })
		}
	}
}

// TestAnalyze traces fakeLoop and finds its settings, in order, and in each its waits for the
// workers: one per cycle, each at least the workers' sleep.
func TestAnalyze(t *testing.T) {
	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	const cycles = 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		fakeLoop(cycles)
	}()
	<-done
	rtrace.Stop()

	loop := runtime.FuncForPC(reflect.ValueOf(fakeLoop).Pointer()).Name()
	phases, err := analyze(&buf, loop)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range phases[1:] {
		names = append(names, p.name)
	}
	if len(names) != 2 || names[0] != "first" || names[1] != "second" {
		t.Fatalf("settings %q, want [first second]", names)
	}
	for _, p := range phases[1:] {
		what := "workers of " + loop[strings.LastIndex(loop, "/")+1:]
		if got := p.waits[what]; got != cycles {
			t.Errorf("%s: %d waits for the workers, want %d (the loop's time: %v)", p.name, got, cycles, p.time)
		}
		// Four items of 1 ms over two workers: at least 2 ms a cycle.
		if got, least := time.Duration(p.time[what]), cycles*2*time.Millisecond; got < least {
			t.Errorf("%s: %v waiting for the workers, want at least %v", p.name, got, least)
		}
	}
	var out bytes.Buffer
	write(&out, phases)
	if !strings.Contains(out.String(), "| workers of "+loop[strings.LastIndex(loop, "/")+1:]+" | ") {
		t.Errorf("the table names no wait for the workers:\n%s", out.String())
	}
}
