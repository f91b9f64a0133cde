// Package offload benchmarks the round-trip overhead of offload jobs: an
// empty job submitted from a goroutine (Pool.Do) and from a loop
// (Pool.Go, result delivered back on the loop).
//
//	go test -ldflags=-checklinkname=0 -run '^$' -bench . -benchmem ./offload/
package offload

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

var requireIOURing = os.Getenv("URINGD_REQUIRE_IOURING") != ""

func empty(context.Context) (any, error) { return nil, nil }

func BenchmarkEmptyJobFromGoroutine(b *testing.B) {
	p := offload.New(offload.Config{})
	defer p.Close(context.Background())
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := p.Do(ctx, offload.CPU, offload.Wait, empty); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEmptyJobFromLoop keeps one job in flight from the loop: each
// result callback (on the loop) submits the next job.
func BenchmarkEmptyJobFromLoop(b *testing.B) {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		if requireIOURing {
			b.Fatal(err)
		}
		b.Skip(err)
	}
	defer l.Close(context.Background())
	p := offload.New(offload.Config{})
	defer p.Close(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	if err := chain(l, p, b.N); err != nil {
		b.Fatal(err)
	}
}

// chain runs n empty jobs one after another from l and returns when the
// last result has been delivered on the loop.
func chain(l *sched.Loop, p *offload.Pool, n int) error {
	done := make(chan error, 1)
	var left atomic.Int64
	left.Store(int64(n))
	ctx := context.Background()
	var next func(any, error)
	next = func(_ any, err error) {
		if err != nil {
			done <- err
			return
		}
		if left.Add(-1) <= 0 {
			done <- nil
			return
		}
		if err := p.Go(ctx, l, offload.CPU, offload.Wait, empty, next); err != nil {
			done <- err
		}
	}
	start := new(sched.Op)
	start.PrepCall(func(*sched.Op, sched.Result) { next(nil, nil) })
	left.Add(1) // the starter call counts as one delivery
	if err := l.Post(start); err != nil {
		return err
	}
	return <-done
}

func TestHarnessChainDelivers(t *testing.T) {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		if requireIOURing {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	defer l.Close(context.Background())
	p := offload.New(offload.Config{})
	defer p.Close(context.Background())
	if err := chain(l, p, 100); err != nil {
		t.Fatal(err)
	}
	if got := p.Metrics()[offload.CPU].Completed; got != 100 {
		t.Fatalf("%d jobs completed, want 100", got)
	}
}
