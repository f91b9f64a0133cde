package offload_test

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

// timeout bounds every wait in these tests: nothing here should take
// anywhere near it, so hitting it means a hang.
const timeout = 10 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// leakCheck registers a goroutine leak check that runs after every other
// cleanup of the test (cleanups run last-registered first), so loops and
// pools closed by later cleanups are gone by then.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// newLoop starts a real sched.Loop and closes it when the test ends.
func newLoop(t *testing.T) *sched.Loop {
	t.Helper()
	l, err := sched.NewLoop(sched.Config{Entries: 64, Buffers: 8, BufferSize: 4096})
	if err != nil {
		if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatalf("NewLoop: %v", err)
	}
	t.Cleanup(func() { closeLoop(t, l) })
	return l
}

func closeLoop(t *testing.T, l *sched.Loop) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		t.Errorf("loop Close: %v", err)
	}
}

// newPool starts a pool and closes it (with time to drain) when the test
// ends; closing twice is allowed, so tests may close it themselves.
func newPool(t *testing.T, cfg offload.Config) *offload.Pool {
	t.Helper()
	p := offload.New(cfg)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("pool Close: %v", err)
		}
	})
	return p
}

// onLoop runs fn on l's goroutine and waits for it to return.
func onLoop(t *testing.T, l *sched.Loop, fn func()) {
	t.Helper()
	done := make(chan error, 1)
	op := new(sched.Op)
	op.PrepCall(func(_ *sched.Op, r sched.Result) {
		if err := r.Err(); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	})
	if err := l.Post(op); err != nil {
		t.Fatalf("Post: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("call on loop failed: %v", err)
		}
	case <-time.After(timeout):
		t.Fatal("call on loop did not run")
	}
}

// recv receives from ch or fails the test after timeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// waitFor polls cond until it holds or fails the test after timeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// blocker returns a job that reports when it starts and then blocks until
// release is closed (ignoring its context), and the channel it reports on.
func blocker(release <-chan struct{}) (offload.Job, <-chan struct{}) {
	started := make(chan struct{})
	return func(context.Context) (any, error) {
		close(started)
		<-release
		return "blocker", nil
	}, started
}

// result is one delivery to a Go callback.
type result struct {
	v      any
	err    error
	onLoop bool // the callback ran on the loop (Loop.OnLoop)
}
