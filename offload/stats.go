package offload

import (
	"math/bits"
	"sync/atomic"
	"time"
)

const histBuckets = 32

// hist is a power-of-two histogram of durations in microseconds.
type hist struct {
	buckets [histBuckets]atomic.Uint64
	max     atomic.Int64
}

func (h *hist) observe(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	h.buckets[min(bits.Len64(us), histBuckets-1)].Add(1)
	for {
		old := h.max.Load()
		if int64(d) <= old || h.max.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// Histogram is a snapshot of a duration histogram: Buckets[i] counts
// durations in [2^(i-1), 2^i) microseconds (bucket 0: under 1 µs).
type Histogram struct {
	Buckets [histBuckets]uint64
	Max     time.Duration
}

// Count returns the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, b := range h.Buckets {
		n += b
	}
	return n
}

// Quantile returns an upper bound of the q-quantile (0 < q <= 1): the top
// of the bucket that holds it.
func (h Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := uint64(q*float64(total) + 0.5)
	var seen uint64
	for i, b := range h.Buckets {
		seen += b
		if seen >= rank && b > 0 {
			if i == 0 {
				return time.Microsecond
			}
			return min(time.Duration(1<<i)*time.Microsecond, h.Max)
		}
	}
	return h.Max
}

func (h *hist) snapshot() Histogram {
	var s Histogram
	for i := range h.buckets {
		s.Buckets[i] = h.buckets[i].Load()
	}
	s.Max = time.Duration(h.max.Load())
	return s
}

type classStats struct {
	submitted, completed, rejected, cancelled, panics, undelivered atomic.Uint64
	running                                                        atomic.Int64
	waitHist, runHist                                              hist
}

// ClassMetrics describes one work class.
type ClassMetrics struct {
	QueueDepth  int       // jobs waiting now
	QueueCap    int       // the queue's bound
	Running     int64     // jobs running now, including those a Close gave up on
	Submitted   uint64    // jobs accepted
	Completed   uint64    // jobs that ran (including those that failed or panicked)
	Rejected    uint64    // FailFast submissions refused with ErrOverloaded
	Cancelled   uint64    // jobs skipped because their context ended or the pool closed
	Panics      uint64    // jobs that panicked
	Undelivered uint64    // results dropped: their loop refused the post (closed), or a Close gave up on the job while it ran
	Wait        Histogram // time from submission to start, for jobs that started
	Run         Histogram // time running
}

// Metrics returns a snapshot per class, indexed by Class.
func (p *Pool) Metrics() []ClassMetrics {
	m := make([]ClassMetrics, numClasses)
	for i, cl := range p.classes {
		s := &cl.stats
		m[i] = ClassMetrics{
			QueueDepth:  len(cl.queue),
			QueueCap:    cap(cl.queue),
			Running:     s.running.Load(),
			Submitted:   s.submitted.Load(),
			Completed:   s.completed.Load(),
			Rejected:    s.rejected.Load(),
			Cancelled:   s.cancelled.Load(),
			Panics:      s.panics.Load(),
			Undelivered: s.undelivered.Load(),
			Wait:        s.waitHist.snapshot(),
			Run:         s.runHist.snapshot(),
		}
	}
	return m
}
