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
// Close stops accepting jobs, drains the queues and waits for the
// workers; if its context ends first it cancels running jobs and skips
// queued ones. Metrics reports queue depth, wait and run time histograms,
// rejections, cancellations and panics per class.
package offload
