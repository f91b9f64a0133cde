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
	submitted, enters, iterations, enterErrors  atomic.Uint64
	cqes, stale, sqFull, cqOverflows            atomic.Uint64
	inboxWakes, enobufs, panics, goexits, parks atomic.Uint64
	spins, spinMisses, overloaded, timeouts     atomic.Uint64
	wakeReads                                   atomic.Uint64 // completions of the armed eventfd read
	earlySubmits                                atomic.Uint64
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
	Iterations     uint64 // turns of the loop
	Enters         uint64 // io_uring_enter system calls (submits, waits and task-work runs)
	EnterErrors    uint64 // enters that failed (EBUSY, EAGAIN, ...)
	CQEs           uint64 // completions reaped
	StaleCQEs      uint64 // completions for unknown or reused user_data, ignored
	SQFullWaits    uint64 // ops that waited in the FIFO for SQ space
	CQOverflows    uint64 // iterations that found the CQ overflowed
	InboxWakes     uint64 // sleeps ended by another goroutine's post (an eventfd write)
	ENOBUFSRearms  uint64 // multishot receives re-armed after the buffer ring ran dry
	CallbackPanics uint64 // callbacks and timers that panicked (logged; the loop went on)
	Goexits        uint64 // callbacks and timers that called runtime.Goexit (logged; the loop went on)
	Parks          uint64 // sleeps in the netpoller (the others block in io_uring_enter)
	Spins          uint64 // idle spins before sleeping (see Config.Spin)
	SpinMisses     uint64 // spins that found no work and ended in a sleep
	Overloaded     uint64 // Posts and Submits refused with ErrOverloaded
	Timeouts       uint64 // ops whose Op.Timeout passed before they completed
	EarlySubmits   uint64 // submits in the middle of a batch of callbacks (Config.SubmitBatch)
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
		EarlySubmits:   c.earlySubmits.Load(),
		Iterations:     c.iterations.Load(),
		Enters:         c.enters.Load(),
		EnterErrors:    c.enterErrors.Load(),
		CQEs:           c.cqes.Load(),
		StaleCQEs:      c.stale.Load(),
		SQFullWaits:    c.sqFull.Load(),
		CQOverflows:    c.cqOverflows.Load(),
		InboxWakes:     c.inboxWakes.Load(),
		ENOBUFSRearms:  c.enobufs.Load(),
		CallbackPanics: c.panics.Load(),
		Goexits:        c.goexits.Load(),
		Parks:          c.parks.Load(),
		Spins:          c.spins.Load(),
		SpinMisses:     c.spinMisses.Load(),
		Overloaded:     c.overloaded.Load(),
		Timeouts:       c.timeouts.Load(),
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
