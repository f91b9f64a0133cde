// Package offload runs CPU-heavy and blocking jobs on worker goroutines so
// that event loops never run them.
//
// A Pool has one bounded queue and one set of workers per Class (CPU and
// Blocking). Jobs come from two worlds: Pool.Do, a blocking call for any
// goroutine, and Pool.Go, for code on a sched.Loop, whose callback runs
// back on that loop once the job is done. A full queue either waits
// (Policy Wait, bounded by the caller's context) or fails at once with
// ErrOverloaded (FailFast); memory never grows without bound. Jobs
// cancelled while queued never run; running jobs see their context
// cancelled; a panicking job becomes a *PanicError and its worker lives
// on. Jobs of one class start in the order they were queued; with one
// worker they also finish in that order.
//
// Keeping the loops free takes more than running jobs elsewhere: in Go a
// loop also needs a P, and a CPU core. So CPU workers default to
// GOMAXPROCS-1 (one P stays free for loops to wake on), each runs on a
// thread of its own at niceness 10 (when threads outnumber cores the
// kernel runs the loops first), and the ready-made jobs yield every 64 KiB
// and reuse compressor state (less garbage, so less GC competing with the
// loops). Measured on 2 cores with the pool saturated by gzip: a loop's
// p99 timer lag went from 12.6 ms (a worker per P) to 0.37 ms
// (bench/RESULTS.md).
//
// Close stops accepting jobs, drains the queues and waits for the
// workers; if its context ends first it cancels running jobs, skips queued
// ones and returns at once, leaving a job that ignores its context to
// finish in the background with its result dropped. Metrics reports
// queue depth, wait and run time histograms, rejections, cancellations,
// panics and dropped results per class.
package offload
