package sched

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// histBuckets is the number of power-of-two histogram buckets.
const histBuckets = 24

// counters are written by the loop and read by anyone (Metrics).
type counters struct {
	submitted, enters, enterErrors, cqes, stale atomic.Uint64
	sqFull, cqOverflows, inboxWakes, enobufs    atomic.Uint64
	panics, parks                               atomic.Uint64
	batchHist                                   [histBuckets]atomic.Uint64
	lagHist, timerLagHist                       [histBuckets]atomic.Uint64
	lagMax, timerLagMax                         atomic.Int64
}

func bucket(v uint64) int {
	return min(bits.Len64(v), histBuckets-1)
}

func (c *counters) batch(n int) { c.batchHist[bucket(uint64(n))].Add(1) }

func (c *counters) lag(d time.Duration) {
	c.lagHist[bucket(uint64(d/time.Microsecond))].Add(1)
	if int64(d) > c.lagMax.Load() {
		c.lagMax.Store(int64(d))
	}
}

func (c *counters) timerLag(d time.Duration) {
	c.timerLagHist[bucket(uint64(d/time.Microsecond))].Add(1)
	if int64(d) > c.timerLagMax.Load() {
		c.timerLagMax.Store(int64(d))
	}
}

// Metrics is a snapshot of a loop's counters.
type Metrics struct {
	SQEsSubmitted  uint64 // SQEs handed to the kernel
	Enters         uint64 // io_uring_enter calls
	EnterErrors    uint64 // enters that failed (EBUSY, EAGAIN, ...)
	CQEs           uint64 // completions reaped
	StaleCQEs      uint64 // completions for unknown or reused user_data, ignored
	SQFullWaits    uint64 // ops that waited in the FIFO for SQ space
	CQOverflows    uint64 // iterations that found the CQ overflowed
	InboxWakes     uint64 // eventfd wake-ups from other goroutines
	ENOBUFSRearms  uint64 // multishot receives re-armed after the buffer ring ran dry
	CallbackPanics uint64 // callbacks and timers that panicked (logged; the loop went on)
	Parks          uint64 // sleeps in the netpoller (the others block in io_uring_enter)
	// BatchSizes[i] counts reaps of [2^(i-1), 2^i) CQEs (bucket 0: none).
	BatchSizes [histBuckets]uint64
	// CallbackLag[i] counts iterations whose callbacks took [2^(i-1),
	// 2^i) microseconds to run after their CQEs were reaped: the delay the
	// last completion of a batch saw.
	CallbackLag    [histBuckets]uint64
	CallbackLagMax time.Duration
	// TimerLag is the same for how late timers fired.
	TimerLag    [histBuckets]uint64
	TimerLagMax time.Duration
}

// Metrics returns a snapshot of the loop's counters. Safe from any
// goroutine.
func (l *Loop) Metrics() Metrics {
	c := &l.metrics
	m := Metrics{
		SQEsSubmitted:  c.submitted.Load(),
		Enters:         c.enters.Load(),
		EnterErrors:    c.enterErrors.Load(),
		CQEs:           c.cqes.Load(),
		StaleCQEs:      c.stale.Load(),
		SQFullWaits:    c.sqFull.Load(),
		CQOverflows:    c.cqOverflows.Load(),
		InboxWakes:     c.inboxWakes.Load(),
		ENOBUFSRearms:  c.enobufs.Load(),
		CallbackPanics: c.panics.Load(),
		Parks:          c.parks.Load(),
		CallbackLagMax: time.Duration(c.lagMax.Load()),
		TimerLagMax:    time.Duration(c.timerLagMax.Load()),
	}
	for i := range histBuckets {
		m.BatchSizes[i] = c.batchHist[i].Load()
		m.CallbackLag[i] = c.lagHist[i].Load()
		m.TimerLag[i] = c.timerLagHist[i].Load()
	}
	return m
}
