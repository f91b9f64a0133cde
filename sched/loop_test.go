package sched

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSQFullBackpressure: a 4-entry ring gets 10,000 ops from 64
// goroutines at once (Nops and small file reads through Post, plus
// blocking Nops). All complete; ops wait for SQ space in a FIFO
// (SQFullWaits > 0); and callbacks of the Nops one goroutine posted run in
// the order it posted them.
func TestSQFullBackpressure(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{Entries: 4})
	ctx := timeoutCtx(t)

	// A small file whose byte i is byte(i), to verify every read.
	path := filepath.Join(t.TempDir(), "f")
	content := make([]byte, 1<<16)
	for i := range content {
		content[i] = byte(i)
	}
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	ffd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ffd)

	const producers = 64
	const perProducer = 10000 / producers // 156
	type tag struct {
		producer, seq int
		off           int64
	}
	// Loop-side bookkeeping: only callbacks touch these.
	lastNop := make([]int, producers)
	for i := range lastNop {
		lastNop[i] = -1
	}
	var orderErrs, readErrs []string
	var completed atomic.Int64
	allDone := make(chan struct{})
	total := int64(producers * perProducer)
	var blockingNops atomic.Int64

	cb := func(op *Op, r Result) {
		tg := op.Data.(tag)
		switch op.Kind() {
		case KindNop:
			if r.Res != 0 {
				readErrs = append(readErrs, fmt.Sprintf("nop: %d", r.Res))
			}
			if tg.seq <= lastNop[tg.producer] {
				orderErrs = append(orderErrs, fmt.Sprintf("producer %d: nop %d after %d", tg.producer, tg.seq, lastNop[tg.producer]))
			}
			lastNop[tg.producer] = tg.seq
		case KindRead:
			b := op.Buf()
			if int(r.Res) != len(b) {
				readErrs = append(readErrs, fmt.Sprintf("read: %d of %d", r.Res, len(b)))
			} else {
				for i, c := range b {
					if c != byte(tg.off+int64(i)) {
						readErrs = append(readErrs, fmt.Sprintf("read at %d: wrong byte", tg.off))
						break
					}
				}
			}
		}
		if completed.Add(1) == total {
			close(allDone)
		}
	}

	var wg sync.WaitGroup
	postErrs := make(chan error, producers)
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(p), 9))
			ops := make([]Op, perProducer)
			for i := range ops {
				op := &ops[i]
				if rng.IntN(3) == 0 {
					off := int64(rng.IntN(len(content) - 64))
					op.PrepRead(ffd, make([]byte, 1+rng.IntN(64)), off, cb)
					op.Data = tag{p, i, off}
				} else {
					op.PrepNop(cb)
					op.Data = tag{p, i, 0}
				}
				if err := l.Post(op); err != nil {
					postErrs <- err
					return
				}
				if i%16 == 0 {
					// The blocking API shares the same FIFO.
					if err := l.Nop(ctx); err != nil {
						postErrs <- err
						return
					}
					blockingNops.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(postErrs)
	for err := range postErrs {
		t.Fatalf("posting: %v", err)
	}
	waitChan(t, allDone, fmt.Sprintf("all %d callbacks (%d so far)", total, completed.Load()))
	var oe, re []string
	onLoop(t, l, func() { oe, re = orderErrs, readErrs })
	if len(oe) > 0 {
		t.Errorf("%d FIFO violations, first: %s", len(oe), oe[0])
	}
	if len(re) > 0 {
		t.Errorf("%d bad completions, first: %s", len(re), re[0])
	}
	m := l.Metrics()
	if m.SQFullWaits == 0 {
		t.Errorf("SQFullWaits = 0 with a 4-entry SQ and %d ops", total)
	}
	if m.EnterErrors != 0 {
		t.Errorf("EnterErrors = %d", m.EnterErrors)
	}
	t.Logf("%d callback ops + %d blocking Nops: SQFullWaits %d, enters %d, SQEs %d, CQEs %d, CQ overflows %d",
		total, blockingNops.Load(), m.SQFullWaits, m.Enters, m.SQEsSubmitted, m.CQEs, m.CQOverflows)
}

// TestCQOverflow: with Entries 4 the CQ has 16 slots. 2,000 timeouts
// expire together while a peer writes 2,000 small messages to a multishot
// recv, so far more completions are ready at once than fit in the CQ. None
// may be lost: every timeout fires exactly once, every byte arrives, and
// the multishot recv has exactly one final completion (at Close).
func TestCQOverflow(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{Entries: 4})

	const timeouts = 2000
	var fired, badTimeouts int
	var timeoutOps [timeouts]Op
	rfd, peer := rawPair(t, "tcp4")
	defer unix.Close(rfd)
	var recvBytes, recvFinals int
	var recvErr error
	var recv Op
	recv.PrepRecvMultishot(rfd, func(op *Op, r Result) {
		if r.Res > 0 {
			recvBytes += int(r.Res)
		} else if r.Res < 0 && r.Res != -int32(unix.ECANCELED) {
			recvErr = r.Err()
		}
		if !r.More() {
			recvFinals++
		}
	})
	onLoop(t, l, func() {
		for i := range timeoutOps {
			timeoutOps[i].PrepTimeout(50*time.Millisecond, func(op *Op, r Result) {
				if r.Res == -int32(unix.ETIME) {
					fired++
				} else {
					badTimeouts++
				}
			})
			if err := l.Submit(&timeoutOps[i]); err != nil {
				t.Errorf("Submit: %v", err)
				return
			}
		}
		if err := l.Submit(&recv); err != nil {
			t.Error(err)
		}
	})
	const msgs = 2000
	_ = peer.SetNoDelay(true)
	for range msgs {
		if _, err := peer.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(testTimeout)
	for {
		var f, rb int
		onLoop(t, l, func() { f, rb = fired+badTimeouts, recvBytes })
		if f == timeouts && rb == msgs*10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("completions: %d of %d timeouts, %d of %d bytes", f, timeouts, rb, msgs*10)
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := l.Metrics()
	closeLoop(t, l)
	if fired != timeouts || badTimeouts != 0 {
		t.Errorf("timeouts: %d fired with ETIME, %d otherwise, want %d", fired, badTimeouts, timeouts)
	}
	if recvBytes != msgs*10 || recvFinals != 1 || recvErr != nil {
		t.Errorf("recv: %d bytes (want %d), final completions %d (want 1), error %v", recvBytes, msgs*10, recvFinals, recvErr)
	}
	if m.StaleCQEs != 0 {
		t.Errorf("StaleCQEs = %d", m.StaleCQEs)
	}
	t.Logf("CQ overflow iterations %d, CQEs %d, enters %d, SQ-full waits %d, batch sizes %v", m.CQOverflows, m.CQEs, m.Enters, m.SQFullWaits, m.BatchSizes[:8])
	if m.CQOverflows == 0 {
		t.Errorf("the CQ never overflowed: the test did not test what it should")
	}
}

// TestCQOverflowMultishotAccept: 300 connections arrive at once on a
// multishot accept armed on a loop whose CQ has 16 slots. PrepAcceptMultishot
// promises to accept "until cancelled", so all 300 must be accepted and
// the only final completion is the ECANCELED one at Close.
//
// Regression test for a fixed bug: when the CQ overflows, the kernel ends a multishot accept with a
// final CQE (no IORING_CQE_F_MORE) that still carries a new fd (Res >= 0).
// sched/loop.go dispatch() re-arms a multishot recv in that situation
// (case KindRecvMultishot, c.res.Res > 0) but not a multishot accept, so
// the accept silently stops and the remaining connections wait in the
// listen backlog forever.
func TestCQOverflowMultishotAccept(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{Entries: 4})
	fds := newFdCloser(t)
	lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	fds.add(lfd)
	sa, _ := unix.Getsockname(lfd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	const conns = 300
	var accepted int
	var finals []Result
	var accept Op
	accept.PrepAcceptMultishot(lfd, func(op *Op, r Result) {
		if r.Res >= 0 {
			accepted++
			fds.add(int(r.Res))
		}
		if !r.More() {
			finals = append(finals, r)
		}
	})
	if err := l.Post(&accept); err != nil {
		t.Fatal(err)
	}
	// Hold the loop in a callback while all connections arrive, so that
	// their completions are all ready when it next enters the kernel.
	hold, release := make(chan struct{}), make(chan struct{})
	var holdOp Op
	holdOp.PrepNop(func(*Op, Result) {
		close(hold)
		<-release
	})
	if err := l.Post(&holdOp); err != nil {
		t.Fatal(err)
	}
	waitChan(t, hold, "the holding callback")
	var wg sync.WaitGroup
	clients := make([]net.Conn, conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp4", addr)
			if err != nil {
				t.Errorf("dial: %v", err)
				return
			}
			clients[i] = c
		}()
	}
	wg.Wait()
	close(release)
	deadline := time.Now().Add(2 * time.Second)
	var a int
	var early []Result
	for {
		onLoop(t, l, func() { a, early = accepted, append([]Result(nil), finals...) })
		if a == conns || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	m := l.Metrics()
	closeLoop(t, l)
	if a != conns {
		t.Errorf("accepted %d of %d connections; final completions before Close: %+v; CQ overflow iterations %d", a, conns, early, m.CQOverflows)
	}
	if len(finals) != 1 || finals[0].Res != -int32(unix.ECANCELED) {
		t.Errorf("final completions %+v, want exactly one, with ECANCELED, at Close", finals)
	}
}

// TestWakeupStress: the loop sleeps between operations while 64
// goroutines post 200,000 Nops with random tiny pauses. A lost wake-up
// leaves an op without completion: every op must complete within
// testTimeout. A second run does the same with a single producer, which
// nobody else would rescue.
func TestWakeupStress(t *testing.T) {
	for _, tc := range []struct {
		name           string
		producers, ops int
		timer          bool // sleep with a timer armed (a timed wait)
	}{
		{"64 producers", 64, 200000, false},
		{"1 producer", 1, 5000, false},
		{"64 producers, timed wait", 64, 50000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFds(t)
			l := newLoop(t, Config{})
			if tc.timer {
				onLoop(t, l, func() { l.After(time.Hour, func() {}) })
			}
			per := tc.ops / tc.producers
			start := time.Now()
			var wg sync.WaitGroup
			var failed atomic.Bool
			var slowest atomic.Int64
			for p := range tc.producers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(p), 77))
					done := make(chan struct{}, 1)
					var op Op
					timer := time.NewTimer(testTimeout)
					defer timer.Stop()
					for i := 0; i < per && !failed.Load(); i++ {
						op.PrepNop(func(*Op, Result) { done <- struct{}{} })
						t0 := time.Now()
						if err := l.Post(&op); err != nil {
							t.Errorf("Post: %v", err)
							failed.Store(true)
							return
						}
						timer.Reset(testTimeout)
						select {
						case <-done:
						case <-timer.C:
							t.Errorf("producer %d op %d: no completion within %v (lost wake-up?)", p, i, testTimeout)
							failed.Store(true)
							return
						}
						if d := int64(time.Since(t0)); d > slowest.Load() {
							slowest.Store(d)
						}
						yieldRandomly(rng.Uint32())
					}
				}()
			}
			wg.Wait()
			m := l.Metrics()
			t.Logf("%d ops from %d goroutines in %v: inbox wakes %d (%.1f%% of ops), enters %d, slowest round trip %v",
				tc.ops, tc.producers, time.Since(start), m.InboxWakes, 100*float64(m.InboxWakes)/float64(tc.ops), m.Enters, time.Duration(slowest.Load()))
			if m.InboxWakes == 0 {
				t.Errorf("InboxWakes = 0: the loop never slept?")
			}
		})
	}
}

// TestMetricsConsistent: after a known workload the counters agree with
// each other and with the workload.
func TestMetricsConsistent(t *testing.T) {
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	m0 := l.Metrics()
	if m0.Enters == 0 && m0.CQEs != 0 {
		t.Errorf("fresh loop: %+v", m0)
	}
	const nops = 1000
	for range nops {
		if err := l.Nop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Ten timers fire on the loop.
	timersDone := make(chan struct{})
	onLoop(t, l, func() {
		n := 0
		for i := range 10 {
			l.After(time.Duration(i)*time.Millisecond, func() {
				if n++; n == 10 {
					close(timersDone)
				}
			})
		}
	})
	waitChan(t, timersDone, "timers")
	ops := uint64(nops + 1) // + the onLoop Nop

	// Every CQE is either one of our ops or a completion of the armed
	// eventfd read (no timeouts or cancels were used): CQEs == ops +
	// wakeReads once the loop has dispatched the batch it reaped.
	var m Metrics
	var wakeReads uint64
	deadline := time.Now().Add(testTimeout)
	for {
		m = l.Metrics()
		wakeReads = l.metrics.wakeReads.Load()
		if m.CQEs == ops+wakeReads {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CQEs %d != ops %d + eventfd reads %d", m.CQEs, ops, wakeReads)
		}
		time.Sleep(time.Millisecond)
	}
	if m.Enters == 0 || m.EnterErrors != 0 || m.StaleCQEs != 0 || m.CallbackPanics != 0 {
		t.Errorf("enters %d, enter errors %d, stale %d, panics %d", m.Enters, m.EnterErrors, m.StaleCQEs, m.CallbackPanics)
	}
	// SQEs: one per op, one per (re-)arm of the eventfd read; the re-arm
	// after the last wake may not be submitted yet.
	if lo, hi := ops+wakeReads, ops+wakeReads+1; m.SQEsSubmitted < lo || m.SQEsSubmitted > hi {
		t.Errorf("SQEsSubmitted %d, want %d..%d (ops %d, eventfd reads %d)", m.SQEsSubmitted, lo, hi, ops, wakeReads)
	}
	// Batch histogram: bucket i holds reaps of [2^(i-1), 2^i) CQEs. The
	// reaps fit between the bucket bounds of the CQE count, and there is
	// at most one reap per enter.
	if m.BatchSizes[0] != 0 {
		t.Errorf("BatchSizes[0] = %d: empty reaps are not counted", m.BatchSizes[0])
	}
	var reaps, lo, hi uint64
	for i := 1; i < histBuckets; i++ {
		reaps += m.BatchSizes[i]
		lo += m.BatchSizes[i] << (i - 1)
		hi += m.BatchSizes[i] * (1<<i - 1)
	}
	if m.CQEs < lo || m.CQEs > hi {
		t.Errorf("CQEs %d outside the batch histogram's bounds %d..%d", m.CQEs, lo, hi)
	}
	if reaps == 0 || reaps > m.Enters {
		t.Errorf("%d reaps for %d enters", reaps, m.Enters)
	}
	// One callback-lag sample per iteration that ran callbacks: at least
	// one, at most one per reap, plus the timer-only iterations.
	var lagSamples, timerSamples uint64
	for i := range histBuckets {
		lagSamples += m.CallbackLag[i]
		timerSamples += m.TimerLag[i]
	}
	if lagSamples == 0 || lagSamples > reaps {
		t.Errorf("%d callback-lag samples for %d reaps", lagSamples, reaps)
	}
	if timerSamples != 10 {
		t.Errorf("TimerLag counts %d timers, want 10", timerSamples)
	}
	if m.CallbackLagMax <= 0 || m.TimerLagMax < 0 {
		t.Errorf("CallbackLagMax %v, TimerLagMax %v", m.CallbackLagMax, m.TimerLagMax)
	}
	// Counters only grow.
	m2 := l.Metrics()
	if m2.CQEs < m.CQEs || m2.Enters < m.Enters || m2.SQEsSubmitted < m.SQEsSubmitted {
		t.Errorf("counters went backwards: %+v then %+v", m, m2)
	}
	t.Logf("ops %d: CQEs %d, SQEs %d, enters %d, reaps %d, wakes %d, lag max %v", ops, m.CQEs, m.SQEsSubmitted, m.Enters, reaps, m.InboxWakes, m.CallbackLagMax)
}

// TestStaleUserData: the op table rejects stale generations and unknown
// slots; CQEs carrying them are counted and ignored by a running loop,
// never delivered to the op that now holds the slot.
func TestStaleUserData(t *testing.T) {
	var tb opTable
	a, b := new(Op), new(Op)
	udA := tb.insert(a)
	if udA == udIgnore || tb.lookup(udA) != a {
		t.Fatalf("insert/lookup: ud %#x", udA)
	}
	tb.remove(udA)
	if tb.lookup(udA) != nil {
		t.Fatalf("lookup after remove found an op")
	}
	udB := tb.insert(b) // reuses the slot with a new generation
	if uint32(udB) != uint32(udA) || udB == udA {
		t.Fatalf("slot reuse: %#x then %#x", udA, udB)
	}
	if tb.lookup(udA) != nil {
		t.Fatalf("stale generation %#x found the op of %#x", udA, udB)
	}
	if tb.lookup(udB) != b || tb.lookup(udIgnore) != nil || tb.lookup(uint64(1)<<32|999) != nil {
		t.Fatalf("lookup of current, zero or out-of-range user data")
	}
	// Generation wrap-around skips 0.
	tb.remove(udB)
	tb.slots[uint32(udB)].gen = ^uint32(0)
	if ud := tb.insert(a); ud>>32 == 0 || ud == udIgnore {
		t.Fatalf("wrapped generation gave user data %#x", ud)
	}

	// Inject stale CQEs into a running loop through NOP SQEs carrying
	// made-up user data, prepared on the loop itself.
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	fd, peer := rawPair(t, "tcp4")
	defer unix.Close(fd)
	// A live recv occupies a slot; its stale twins must not reach it.
	calls := 0
	var recv Op
	recvDone := make(chan Result, 1)
	recv.PrepRecv(fd, make([]byte, 8), 0, func(op *Op, r Result) {
		calls++
		recvDone <- r
	})
	if err := l.Post(&recv); err != nil {
		t.Fatal(err)
	}
	waitInFlight(t, l, 1)
	before := l.Metrics().StaleCQEs
	var injected int
	onLoop(t, l, func() {
		ud := recv.userData
		for _, fake := range []uint64{
			ud + 1<<32, // the live slot, next generation
			ud - 1<<32, // the live slot, previous generation
			uint64(1)<<32 | 1_000_000,
			uint64(7)<<32 | uint64(len(l.table.slots)),
		} {
			sqe := l.ring.GetSQE()
			if sqe == nil {
				t.Error("no SQE")
				return
			}
			sqe.PrepNop()
			sqe.UserData = fake
			injected++
		}
	})
	deadline := time.Now().Add(testTimeout)
	for l.Metrics().StaleCQEs-before < uint64(injected) {
		if time.Now().After(deadline) {
			t.Fatalf("StaleCQEs grew by %d, want %d", l.Metrics().StaleCQEs-before, injected)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := peer.Write([]byte("real")); err != nil {
		t.Fatal(err)
	}
	r := waitChan(t, recvDone, "the live recv")
	if r.Res != 4 {
		t.Errorf("live recv: %+v", r)
	}
	if err := l.Nop(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	onLoop(t, l, func() { n = calls })
	if n != 1 {
		t.Errorf("recv callback ran %d times, want 1 (a stale CQE reached it)", n)
	}
	if got := l.Metrics().StaleCQEs - before; got != uint64(injected) {
		t.Errorf("StaleCQEs grew by %d, want %d", got, injected)
	}
}

// SubmitBatch: operations a callback queues are submitted as soon as that
// many wait, before the batch of callbacks ends; without it, once after.
func TestSubmitBatch(t *testing.T) {
	for _, batch := range []int{0, 4} {
		l := newLoop(t, Config{SubmitBatch: batch})
		var ops [10]Op
		done := make(chan struct{})
		left := len(ops)
		var first Op
		first.PrepCall(func(*Op, Result) {
			for i := range ops {
				ops[i].PrepNop(func(*Op, Result) {
					if left--; left == 0 {
						close(done)
					}
				})
				if err := l.Submit(&ops[i]); err != nil {
					t.Error(err)
				}
			}
		})
		if err := l.Post(&first); err != nil {
			t.Fatal(err)
		}
		<-done
		m := l.Metrics()
		if batch == 0 && m.EarlySubmits != 0 || batch > 0 && m.EarlySubmits == 0 {
			t.Errorf("SubmitBatch %d: %d early submits", batch, m.EarlySubmits)
		}
	}
}
