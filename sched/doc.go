// Package sched is uringd's completion-queue scheduler: event loops that
// each own one io_uring and run disk and network operations straight
// through it, with no thread pool in the I/O path and no goroutine per
// connection.
//
// # The loop iteration
//
// A Loop is one goroutine locked to one OS thread, owning one ring set up
// with SINGLE_ISSUER and DEFER_TASKRUN. Each turn of Loop.run:
//
//  1. takes everything other goroutines posted (takeInbox) and queues it;
//  2. moves queued work into SQEs (fillSQ): pending cancellations first,
//     then the SQ-wait FIFO, in order. An op that finds the SQ full waits
//     in that FIFO; it is never dropped and never overtaken;
//  3. makes one io_uring_enter that submits every SQE and, when there is
//     nothing else to do, sleeps until a completion arrives or the earliest
//     timer is due (enter). See "Sleeping" below for the two ways it sleeps;
//  4. copies every ready CQE into a batch and releases the CQ slots at
//     once (reap), then runs the batch's callbacks in order
//     (runCallbacks). A callback that submits more work only queues it, so
//     callbacks never recurse and never run while the kernel is short of
//     CQ space;
//  5. fires due timers (runTimers).
//
// # The operation table
//
// Every submitted Op goes into the loop's opTable (table.go). The SQE's
// user_data is the op's slot index in the low 32 bits and the slot's
// generation in the high 32 bits. The table's reference keeps the Op, and
// through it every buffer, path or struct it lent the kernel, reachable for
// the garbage collector until the op's final CQE: the one without
// IORING_CQE_F_MORE (multishot ops stay until then; a send_zc until its
// notification). A CQE whose slot is empty or whose generation does not
// match is counted in Metrics.StaleCQEs and ignored. user_data 0 is never
// issued: CQEs of linked timeouts and cancel requests carry it and are
// dropped on sight.
//
// # Two APIs
//
// Code that lives on a loop (protocols, the HTTP server) uses callbacks:
// prepare an Op and Loop.Submit it from the loop goroutine; its Callback
// runs on the loop for each completion. Any other goroutine uses the
// blocking methods (Loop.ReadAt, Loop.Recv, Loop.Open, ...) that take a
// context.Context: the op goes through the inbox, the goroutine parks,
// and cancelling the context sends IORING_OP_ASYNC_CANCEL and returns only
// after the kernel has let go of the caller's buffer. Listener and Conn
// adapt the engine to net.Listener and net.Conn.
//
// # Sleeping
//
// A loop that serves only its own callbacks sleeps inside io_uring_enter
// (min_complete 1, bounded by the next timer): one syscall per iteration.
// But a thread blocked in a syscall keeps its P, and Go hands that P to
// other goroutines only when sysmon notices, 20 µs to 10 ms later. A loop
// that exchanges work with goroutines (blocking-API callers, offload
// workers) would make them wait that long. So when the loop has taken work
// from its inbox or woken a goroutine since it last slept, it parks in
// Go's netpoller instead: it enables notifications on an eventfd
// registered with the ring (the kernel signals it even for completions
// that DEFER_TASKRUN holds as task work), posts what is already pending,
// and waits for that eventfd to become readable; its P is free meanwhile.
// Before either sleep, a loop whose callbacks just woke goroutines yields
// once (runtime.Gosched), so they run and post their next requests first.
// Measured on a 2-core VM: cross-goroutine NOP round trips from 32
// goroutines went from 6.9 µs to about 0.6-1.5 µs and an offload round
// trip from a loop from 37 µs to 17 µs (bench/RESULTS.md).
//
// # Waking a sleeping loop
//
// Other goroutines hand work over through a lock-free MPSC inbox
// (inbox.go: a CAS push; the loop swaps the whole list out). The loop keeps
// an eventfd read armed on its own ring. Before it sleeps it stores how it
// will sleep in sleeping and looks at the inbox again; a producer pushes
// and then loads sleeping, and only if the loop sleeps (and the producer
// wins the CompareAndSwap back to none) writes the eventfd that ends that
// kind of sleep: the armed read for io_uring_enter, the notify eventfd for
// a park. With sequentially consistent atomics on both sides, either the
// loop sees the new op before sleeping or the producer sees the loop
// asleep and wakes it: no wake-up is lost, and a busy loop costs producers
// no syscall.
//
// # Closing
//
// Loop.Close and Group.Close refuse new work (ErrClosed), cancel every
// in-flight op with one ASYNC_CANCEL (ANY|ALL), run the remaining callbacks
// as their CQEs arrive, fail whatever was still queued, and only then
// close the ring, so no completion is lost and no buffer is released while
// the kernel may still write to it.
package sched
