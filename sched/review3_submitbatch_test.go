package sched

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestReview3SubmitBatchFanOut: with SubmitBatch and a tiny ring, each
// nop's callback resubmits it and sometimes queues a fresh one, so that
// early submits run with the SQ full (ops wait in the SQ FIFO) and the
// CQ fills while a batch of callbacks still runs. Every op must complete
// exactly once per submission, and the total must add up.
func TestReview3SubmitBatchFanOut(t *testing.T) {
	for _, tc := range []struct {
		entries uint32
		batch   int
		lock    bool
	}{
		{2, 1, false}, {4, 1, true}, {4, 3, false}, {8, 2, true}, {8, 64, false}, {16, 5, true},
	} {
		l := newLoop(t, Config{Entries: tc.entries, SubmitBatch: tc.batch, LockOSThread: tc.lock})
		const nOps = 300
		const rounds = 40
		var ops [nOps]Op
		var count [nOps]int      // completions per op (loop only)
		var inflight [nOps]int32 // 1 while submitted (loop only)
		var total, bad atomic.Int64
		done := make(chan struct{})
		started := 0
		var cb func(op *Op, r Result)
		start := func(i int) {
			ops[i].Data = i
			ops[i].PrepNop(cb)
			inflight[i]++
			if err := l.Submit(&ops[i]); err != nil {
				bad.Add(1)
				t.Errorf("Submit %d: %v", i, err)
			}
		}
		cb = func(op *Op, r Result) {
			i := op.Data.(int)
			if inflight[i] != 1 || r.Res != 0 {
				bad.Add(1)
			}
			inflight[i]--
			count[i]++
			if total.Add(1) == nOps*rounds {
				close(done)
				return
			}
			if count[i] < rounds {
				start(i)
			}
			// Fan out: each completion starts up to two more ops.
			for k := 0; k < 2 && started < nOps; k++ {
				started++
				start(started - 1)
			}
		}
		var first Op
		first.PrepCall(func(*Op, Result) {
			started = 4
			for i := range 4 {
				start(i)
			}
		})
		if err := l.Post(&first); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-time.After(testTimeout):
			t.Fatalf("entries %d batch %d: %d of %d completions", tc.entries, tc.batch, total.Load(), nOps*rounds)
		}
		// Read the per-op counts on the loop.
		check := make(chan []int, 1)
		var probe Op
		probe.PrepCall(func(*Op, Result) {
			out := make([]int, nOps)
			for i := range count {
				out[i] = count[i] + int(inflight[i])*1000
			}
			check <- out
		})
		if err := l.Post(&probe); err != nil {
			t.Fatal(err)
		}
		var counts []int
		select {
		case counts = <-check:
		case <-time.After(testTimeout):
			t.Fatal("probe never ran")
		}
		for i, c := range counts {
			if c != rounds {
				t.Errorf("entries %d batch %d: op %d completed %d times (x1000: still in flight), want %d", tc.entries, tc.batch, i, c, rounds)
				break
			}
		}
		if bad.Load() != 0 {
			t.Errorf("entries %d batch %d: %d completions of an op not in flight or failed", tc.entries, tc.batch, bad.Load())
		}
		m := l.Metrics()
		if tc.batch <= int(tc.entries) && m.EarlySubmits == 0 {
			t.Errorf("entries %d batch %d: no early submits", tc.entries, tc.batch)
		}
		t.Logf("entries %d batch %d: early %d, cq overflows %d, sq full %d, enter errors %d", tc.entries, tc.batch, m.EarlySubmits, m.CQOverflows, m.SQFullWaits, m.EnterErrors)
		if m.EnterErrors != 0 {
			t.Logf("entries %d batch %d: %d enter errors", tc.entries, tc.batch, m.EnterErrors)
		}
		if m.SQEsSubmitted < nOps*rounds {
			t.Errorf("entries %d batch %d: SQEsSubmitted %d < %d ops submitted", tc.entries, tc.batch, m.SQEsSubmitted, nOps*rounds)
		}
	}
}

// TestReview3SubmitBatchTimersAndCancel: early submits mixed with ops
// that carry a Timeout and with cancellations from callbacks: each op
// still gets exactly one final callback.
func TestReview3SubmitBatchTimersAndCancel(t *testing.T) {
	l := newLoop(t, Config{Entries: 4, SubmitBatch: 1})
	const n = 200
	var ops [n]Op
	var finals [n]int
	var got atomic.Int64
	done := make(chan struct{})
	var first Op
	first.PrepCall(func(*Op, Result) {
		for i := range ops {
			ops[i].Data = i
			if i%2 == 0 {
				// A long timeout with a short op deadline: completes by
				// deadline (ETIME / cancel) or by expiry.
				ops[i].PrepTimeout(time.Hour, func(op *Op, r Result) {
					finals[op.Data.(int)]++
					if got.Add(1) == n {
						close(done)
					}
				})
				ops[i].Timeout = time.Millisecond
			} else {
				ops[i].PrepNop(func(op *Op, r Result) {
					finals[op.Data.(int)]++
					if got.Add(1) == n {
						close(done)
					}
				})
			}
			if err := l.Submit(&ops[i]); err != nil {
				t.Errorf("Submit %d: %v", i, err)
				got.Add(1)
			}
		}
	})
	if err := l.Post(&first); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("%d of %d final callbacks", got.Load(), n)
	}
	res := make(chan [n]int, 1)
	var probe Op
	probe.PrepCall(func(*Op, Result) { res <- finals })
	if err := l.Post(&probe); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-res:
		for i, c := range f {
			if c != 1 {
				t.Errorf("op %d: %d final callbacks", i, c)
			}
		}
	case <-time.After(testTimeout):
		t.Fatal("probe never ran")
	}
}

// TestReview3SubmitBatchAfterSQFull: once an op has had to wait in the SQ
// FIFO, an early submit frees the SQ but nothing refills it, so every op
// the rest of the batch's callbacks queue waits for the batch to end:
// SubmitBatch silently stops working exactly when the loop is busiest.
func TestReview3SubmitBatchAfterSQFull(t *testing.T) {
	l := newLoop(t, Config{Entries: 2, SubmitBatch: 1})
	var nops [5]Op
	var first, second, third Op
	result := make(chan string, 1)
	var left atomic.Int64
	left.Store(int64(len(nops)))
	allDone := make(chan struct{})
	nopDone := func(*Op, Result) {
		if left.Add(-1) == 0 {
			close(allDone)
		}
	}
	first.PrepCall(func(*Op, Result) {
		for i := range 3 { // the third waits: the SQ holds 2
			nops[i].PrepNop(nopDone)
			if err := l.Submit(&nops[i]); err != nil {
				t.Error(err)
			}
		}
		second.PrepCall(func(*Op, Result) {
			// The early submit after first has emptied the SQ.
			nops[3].PrepNop(nopDone)
			nops[4].PrepNop(nopDone)
			l.Submit(&nops[3])
			l.Submit(&nops[4])
			third.PrepCall(func(*Op, Result) {
				result <- func() string {
					if l.waitSQ.n != 0 || l.ring.SQReady() != 0 {
						return "ops still waiting mid-batch after an early submit"
					}
					return ""
				}()
			})
			l.Submit(&third)
		})
		l.Submit(&second)
	})
	if err := l.Post(&first); err != nil {
		t.Fatal(err)
	}
	select {
	case msg := <-result:
		if msg != "" {
			m := l.Metrics()
			t.Errorf("%s (early submits %d, SQ-full waits %d)", msg, m.EarlySubmits, m.SQFullWaits)
		}
	case <-time.After(testTimeout):
		t.Fatal("callbacks never ran")
	}
	select {
	case <-allDone:
	case <-time.After(testTimeout):
		t.Fatal("nops never completed")
	}
}
