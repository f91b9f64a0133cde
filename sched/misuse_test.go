package sched

// Misuse of the API (issue "engine round 2", section 4) fails loudly and
// predictably, Loop.Cancel aims at one operation, and Op.reset clears
// what it must.

import (
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// panicValue runs f and returns what it panicked with (nil if it
// returned).
func panicValue(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

// holdLoop runs a callback on l that blocks until the returned release
// is called (at the latest when the test ends).
func holdLoop(t *testing.T, l *Loop) (release func()) {
	t.Helper()
	hold, rel := make(chan struct{}), make(chan struct{})
	op := new(Op)
	op.PrepCall(func(*Op, Result) {
		close(hold)
		<-rel
	})
	if err := l.Post(op); err != nil {
		t.Fatal(err)
	}
	waitChan(t, hold, "the loop to run the holding callback")
	released := false
	release = func() {
		if !released {
			released = true
			close(rel)
		}
	}
	t.Cleanup(release)
	return release
}

func TestMisuseSubmitOffLoop(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	done := make(chan Result, 1)
	var op Op
	op.PrepNop(func(_ *Op, r Result) { done <- r })

	t.Run("idle", func(t *testing.T) {
		// Nothing posted and no timers: the loop runs no user code, so
		// the check is exact in every build.
		if err := l.Submit(&op); !errors.Is(err, ErrNotOnLoop) {
			t.Fatalf("Submit off the loop: %v, want ErrNotOnLoop", err)
		}
		if op.inUse.Load() {
			t.Fatal("the refused op stays in use")
		}
	})

	t.Run("busy", func(t *testing.T) {
		if !raceEnabled {
			t.Skip("off the loop while it runs callbacks, only race builds compare thread ids")
		}
		release := holdLoop(t, l)
		if err := l.Submit(&op); !errors.Is(err, ErrNotOnLoop) {
			t.Fatalf("Submit off the loop while it runs a callback: %v, want ErrNotOnLoop", err)
		}
		release()
	})

	// The op refused twice is fine for Post.
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, done, "the posted op"); r.Res != 0 {
		t.Errorf("NOP: %+v", r)
	}
}

func TestMisuseTimersOffLoop(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	p := panicValue(func() { l.After(time.Millisecond, func() { t.Error("a timer refused off the loop fired") }) })
	if err, _ := p.(error); !errors.Is(err, ErrNotOnLoop) {
		t.Errorf("After off the loop panicked with %v, want ErrNotOnLoop", p)
	}
	var tm *Timer
	onLoop(t, l, func() { tm = l.After(time.Hour, func() { t.Error("a stopped timer fired") }) })
	p = panicValue(func() { tm.Stop() })
	if err, _ := p.(error); !errors.Is(err, ErrNotOnLoop) {
		t.Errorf("Timer.Stop off the loop panicked with %v, want ErrNotOnLoop", p)
	}
	var first, second bool
	onLoop(t, l, func() { first, second = tm.Stop(), tm.Stop() })
	if !first || second {
		t.Errorf("Stop on the loop: %v then %v, want true then false", first, second)
	}
}

func TestMisusePrepInFlight(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	fds := newFdCloser(t)
	fd, peer := rawSocketPair(t, fds)
	res := make(chan Result, 2)
	buf := make([]byte, 8)
	var op Op
	op.PrepRecv(fd, buf, 0, func(_ *Op, r Result) { res <- r })
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	waitOpInFlight(t, l, &op)
	p := panicValue(func() { op.PrepNop(nil) })
	if s, _ := p.(string); !strings.Contains(s, "still queued or in flight") {
		t.Errorf("Prep on an op in flight panicked with %v, want a message saying it is in flight", p)
	}
	// The op is untouched: it still receives into buf.
	writeFd(t, peer, []byte("kept"))
	if r := waitChan(t, res, "the receive"); r.Res != 4 || string(buf[:4]) != "kept" {
		t.Errorf("receive after the refused Prep: %+v %q", r, buf)
	}
	// Once the final callback has started, Prep and Submit are fine.
	again := make(chan Result, 1)
	op.PrepNop(func(op *Op, r Result) {
		op.PrepNop(func(_ *Op, r Result) { again <- r })
		if err := l.Submit(op); err != nil {
			t.Errorf("Submit from the op's own final callback: %v", err)
		}
	})
	if err := l.Post(&op); err != nil {
		t.Fatal(err)
	}
	if r := waitChan(t, again, "the op submitted again from its callback"); r.Res != 0 {
		t.Errorf("%+v", r)
	}
}

func TestMisuseOpInUse(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	fds := newFdCloser(t)
	fd, _ := rawSocketPair(t, fds)
	res := make(chan Result, 2)
	var posted, submitted Op
	posted.PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { res <- r })
	if err := l.Post(&posted); err != nil {
		t.Fatal(err)
	}
	if err := l.Post(&posted); !errors.Is(err, ErrOpInUse) {
		t.Errorf("second Post: %v, want ErrOpInUse", err)
	}
	var subPosted, subSubmitted error
	onLoop(t, l, func() {
		subPosted = l.Submit(&posted)
		submitted.PrepTimeout(time.Hour, func(_ *Op, r Result) { res <- r })
		if err := l.Submit(&submitted); err != nil {
			t.Errorf("Submit: %v", err)
		}
		subSubmitted = l.Submit(&submitted)
	})
	if !errors.Is(subPosted, ErrOpInUse) || !errors.Is(subSubmitted, ErrOpInUse) {
		t.Errorf("Submit of an op in flight: %v and %v, want ErrOpInUse", subPosted, subSubmitted)
	}
	if err := l.Post(&submitted); !errors.Is(err, ErrOpInUse) {
		t.Errorf("Post of an op submitted on the loop: %v, want ErrOpInUse", err)
	}
	// Each runs once: Close cancels both.
	closeLoop(t, l)
	for range 2 {
		if r := waitChan(t, res, "the cancelled ops"); r.Res != -int32(unix.ECANCELED) {
			t.Errorf("%+v, want ECANCELED", r)
		}
	}
	select {
	case r := <-res:
		t.Errorf("an extra completion: %+v", r)
	default:
	}
}

// A blocking call from a callback would wait for the loop it blocks:
// it must return ErrOnLoop at once.
func TestMisuseBlockingCallsOnLoop(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	fds := newFdCloser(t)
	fd, _ := rawSocketPair(t, fds)
	ctx := timeoutCtx(t)
	errs := map[string]error{}
	onLoop(t, l, func() {
		errs["Nop"] = l.Nop(ctx)
		errs["Sleep"] = l.Sleep(ctx, time.Hour)
		_, errs["Recv"] = l.Recv(ctx, fd, make([]byte, 8), 0)
		_, _, errs["Accept"] = l.Accept(ctx, fd)
		_, errs["Dial"] = l.Dial(ctx, "tcp4", "127.0.0.1:1")
		errs["Close"] = l.Close(ctx)
	})
	for name, err := range errs {
		if !errors.Is(err, ErrOnLoop) {
			t.Errorf("%s from a callback: %v, want ErrOnLoop", name, err)
		}
	}
	if err := l.Nop(ctx); err != nil {
		t.Fatalf("the loop is unusable afterwards: %v", err)
	}
}

// Conn's calls are blocking calls too.
func TestMisuseConnReadOnLoop(t *testing.T) {
	checkGoroutines(t)
	l := newLoop(t, Config{})
	c, peer := unixConnPair(t, l)
	ret := make(chan error, 1)
	op := new(Op)
	op.PrepCall(func(*Op, Result) {
		_, err := c.Read(make([]byte, 8))
		ret <- err
	})
	if err := l.Post(op); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ret:
		if !errors.Is(err, ErrOnLoop) {
			t.Errorf("Conn.Read from a callback: %v, want ErrOnLoop", err)
		}
	case <-time.After(testTimeout):
		t.Errorf("Conn.Read from a callback blocked the loop for %v", testTimeout)
		// Rescue: the Read waits for its waiter's signal, which only the
		// loop it blocks would send.
		c.rd.w.done <- struct{}{}
		<-ret
		writeFd(t, peer, []byte("x")) // completes the op the Read posted
	}
}

func TestLoopCancel(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{})
	fds := newFdCloser(t)

	t.Run("multishot-accept", func(t *testing.T) {
		lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
		if err != nil {
			t.Fatal(err)
		}
		fds.add(lfd)
		sa, err := unix.Getsockname(lfd)
		if err != nil {
			t.Fatal(err)
		}
		addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*unix.SockaddrInet4).Port}).String()
		res := make(chan Result, 4)
		var op Op
		op.PrepAcceptMultishot(lfd, func(_ *Op, r Result) { res <- r })
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		c1, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c1.Close()
		r := waitChan(t, res, "the first connection")
		if r.Res < 0 || !r.More() {
			t.Fatalf("accept: %+v, want a connection with More", r)
		}
		fds.add(int(r.Res))
		// From another goroutine.
		if err := l.Cancel(&op); err != nil {
			t.Fatal(err)
		}
		if r := waitChan(t, res, "the final completion"); r.Res != -int32(unix.ECANCELED) || r.More() {
			t.Fatalf("final completion: %+v, want ECANCELED without More", r)
		}
		if op.inUse.Load() {
			t.Error("the cancelled op is still in use")
		}
		// Not re-armed: a later connection stays in the accept queue.
		c2, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		snapOp(t, l, &op)
		snapOp(t, l, &op)
		select {
		case r := <-res:
			t.Fatalf("the cancelled multishot accept completed again: %+v", r)
		default:
		}
		pfd := []unix.PollFd{{Fd: int32(lfd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, int(testTimeout/time.Millisecond)); n != 1 || err != nil {
			t.Fatalf("poll on the listener: (%d, %v): the connection was taken", n, err)
		}
		nfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			t.Fatalf("accept4: %v: the cancelled op took the later connection", err)
		}
		fds.add(nfd)
	})

	t.Run("from-the-loop", func(t *testing.T) {
		fd, _ := rawSocketPair(t, fds)
		res := make(chan Result, 2)
		var op Op
		op.PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { res <- r })
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		waitOpInFlight(t, l, &op)
		var err error
		onLoop(t, l, func() { err = l.Cancel(&op) })
		if err != nil {
			t.Fatal(err)
		}
		if r := waitChan(t, res, "the cancelled receive"); r.Res != -int32(unix.ECANCELED) || r.TimedOut() {
			t.Fatalf("%+v, want ECANCELED", r)
		}
	})

	t.Run("after-completion", func(t *testing.T) {
		res := make(chan Result, 2)
		var op Op
		op.PrepNop(func(_ *Op, r Result) { res <- r })
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		waitChan(t, res, "the NOP")
		if err := l.Cancel(&op); err != nil {
			t.Fatalf("Cancel after completion: %v", err)
		}
		snapOp(t, l, &op)
		select {
		case r := <-res:
			t.Fatalf("Cancel after completion ran the callback: %+v", r)
		default:
		}
		// Submitted again, it is not cancelled by the earlier request.
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		if r := waitChan(t, res, "the NOP again"); r.Res != 0 {
			t.Fatalf("%+v, want 0", r)
		}
	})

	t.Run("timeout-vs-cancel", func(t *testing.T) {
		fd, _ := rawSocketPair(t, fds)
		res := make(chan Result, 2)
		var op Op
		cb := func(_ *Op, r Result) { res <- r }
		before := l.Metrics().Timeouts
		op.PrepRecv(fd, make([]byte, 8), 0, cb)
		op.Timeout = 20 * time.Millisecond
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		if r := waitChan(t, res, "the timed-out receive"); r.Res != -int32(unix.ETIME) || !r.TimedOut() {
			t.Errorf("Op.Timeout: %+v, want ETIME", r)
		}
		op.PrepRecv(fd, make([]byte, 8), 0, cb)
		if err := l.Post(&op); err != nil {
			t.Fatal(err)
		}
		waitOpInFlight(t, l, &op)
		if err := l.Cancel(&op); err != nil {
			t.Fatal(err)
		}
		if r := waitChan(t, res, "the cancelled receive"); r.Res != -int32(unix.ECANCELED) || r.TimedOut() {
			t.Errorf("Loop.Cancel: %+v, want ECANCELED", r)
		}
		if n := l.Metrics().Timeouts - before; n != 1 {
			t.Errorf("Metrics.Timeouts grew by %d, want 1", n)
		}
	})

	t.Run("closed-loop", func(t *testing.T) {
		var op Op
		op.PrepNop(nil)
		closeLoop(t, l)
		if err := l.Cancel(&op); !errors.Is(err, ErrClosed) {
			t.Fatalf("Cancel on a closed loop: %v, want ErrClosed", err)
		}
	})
}

// An Op that was never prepared is the zero Op: a NOP with no callback.
// Posting it must not disturb other ops' deadlines.
func TestMisuseUnpreparedOp(t *testing.T) {
	checkFds(t)
	checkGoroutines(t)
	l := newLoop(t, Config{Logger: discardLogger()})
	fds := newFdCloser(t)
	fd, _ := rawSocketPair(t, fds)
	res := make(chan Result, 2)
	var timed Op
	timed.PrepRecv(fd, make([]byte, 8), 0, func(_ *Op, r Result) { res <- r })
	timed.Timeout = 50 * time.Millisecond
	if err := l.Post(&timed); err != nil {
		t.Fatal(err)
	}
	waitOpInFlight(t, l, &timed)
	var zero Op
	if err := l.Post(&zero); err != nil {
		t.Fatal(err)
	}
	snapOp(t, l, &zero)
	if r := waitChan(t, res, "the receive with a deadline"); !r.TimedOut() {
		t.Errorf("%+v, want ETIME", r)
	}
	if n := l.Metrics().CallbackPanics; n != 0 {
		t.Errorf("%d callback panics", n)
	}
}

// TestOpResetClearsFields: every Prep goes through Op.reset, which must
// clear every field but the ones it sets (kind, fd, cb), the
// caller's Data and the atomics (inUse, seq: read concurrently by the
// loop). Every field is set to a non-zero value first, so a field added
// to Op without a line in reset fails here.
func TestOpResetClearsFields(t *testing.T) {
	var op Op
	base := unsafe.Pointer(&op)
	typ := reflect.TypeFor[Op]()
	field := func(f reflect.StructField) reflect.Value {
		return reflect.NewAt(f.Type, unsafe.Add(base, f.Offset)).Elem()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		switch f.Name {
		case "inUse": // must stay false for Prep to proceed
		case "seq":
			op.seq.Store(7)
		default:
			if err := fillNonZero(field(f)); err != nil {
				t.Fatalf("field %s: %v", f.Name, err)
			}
		}
	}
	for i := range typ.NumField() {
		if f := typ.Field(i); f.Name != "inUse" && field(f).IsZero() {
			t.Fatalf("field %s was not set to a non-zero value", f.Name)
		}
	}
	data := op.Data
	cb := func(*Op, Result) {}
	op.PrepNop(cb)
	for i := range typ.NumField() {
		f := typ.Field(i)
		v := field(f)
		switch f.Name {
		case "kind":
			if op.kind != KindNop {
				t.Errorf("kind = %d, want KindNop", op.kind)
			}
		case "fd":
			if op.fd != -1 {
				t.Errorf("fd = %d, want -1", op.fd)
			}
		case "cb":
			if reflect.ValueOf(op.cb).Pointer() != reflect.ValueOf(cb).Pointer() {
				t.Error("cb is not the callback given to Prep")
			}
		case "Data":
			if op.Data != data {
				t.Errorf("Data = %v, want it kept (%v)", op.Data, data)
			}
		case "dlPos":
			if op.dlPos != 0 {
				t.Errorf("dlPos = %d, want 0", op.dlPos)
			}
		case "inUse":
			if op.inUse.Load() {
				t.Error("inUse set by Prep")
			}
		case "seq":
			if op.seq.Load() != 7 {
				t.Errorf("seq = %d, want it kept (7)", op.seq.Load())
			}
		default:
			if !v.IsZero() {
				t.Errorf("Prep leaves field %s = %v: clear it in Op.reset (or list it here if it must survive)", f.Name, v)
			}
		}
	}
}

// fillNonZero sets v, settable, to a non-zero value of its type.
func fillNonZero(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.String:
		v.SetString("x")
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
	case reflect.Chan:
		v.Set(reflect.MakeChan(v.Type(), 0))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
	case reflect.UnsafePointer:
		v.SetPointer(unsafe.Pointer(new(int)))
	case reflect.Func:
		v.Set(reflect.MakeFunc(v.Type(), func([]reflect.Value) []reflect.Value { return nil }))
	case reflect.Interface:
		v.Set(reflect.ValueOf(struct{ x int }{1}))
	case reflect.Array:
		for i := range v.Len() {
			if err := fillNonZero(v.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if f.Type.Size() == 0 {
				continue
			}
			fv := reflect.NewAt(f.Type, unsafe.Add(v.Addr().UnsafePointer(), f.Offset)).Elem()
			if err := fillNonZero(fv); err != nil {
				return err
			}
		}
	default:
		return errors.New("no non-zero value known for kind " + v.Kind().String())
	}
	return nil
}
