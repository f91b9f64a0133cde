// Package sched is uringd's completion-queue scheduler: event loops that
// each own one io_uring and run disk and network operations straight
// through it, with no thread pool in the I/O path and no goroutine per
// connection.
//
// # Two ways to use it
//
// Code that lives on a loop (protocols, the HTTP server) uses callbacks:
// prepare an Op with one of its Prep methods and Loop.Submit it from the
// loop (inside a callback or timer), or Loop.Post it from any goroutine;
// its Callback runs on the loop for each completion. Callbacks must not
// block: every connection of the loop waits for them.
//
// Any other goroutine uses the blocking API, which takes a
// context.Context: Loop.ReadAt, Loop.Recv, Loop.OpenAt and friends on raw
// descriptors, and the types built on them: File (an os.File
// replacement), Conn and Listener (net.Conn and net.Listener, TCP and Unix).
// The op goes through the loop's inbox, the goroutine parks until its
// completion, and cancelling the context cancels the op in the kernel and
// returns only after the kernel has let go of the caller's buffer. Errors
// wrap syscall.Errno, so errors.Is(err, syscall.ECONNRESET) works.
//
// # Where the loop runs
//
// By default a Loop is an ordinary goroutine that the Go scheduler runs on
// whichever OS thread is free, and its ring is set up to be driven from
// any thread. A goroutine that hands an op to the loop and waits for it
// then costs a goroutine switch, often on the same thread: a blocking Nop
// round trip measured 1.9 µs on a 2-core VM, against 49 µs when the loop
// had a thread of its own, because a locked thread can run nothing but
// its goroutine and every hand-off wakes a thread on another CPU.
//
// Config.LockOSThread gives the loop a thread of its own, with a ring set
// up with SINGLE_ISSUER and DEFER_TASKRUN (completions batched until the
// loop asks for them) and a registered ring fd. That is the faster setup
// for a loop that only runs callbacks, such as a server whose handlers
// live on the loop: about 25% less CPU per echo message. bench/RESULTS.md
// has the numbers.
//
// # The loop iteration
//
// Each turn of Loop.run:
//
//  1. takes everything other goroutines posted (takeInbox), in the order
//     it was posted, and queues it;
//  2. moves queued work into SQEs (fillSQ): cancellations first, then the
//     SQ-wait FIFO, in order. An op that finds the SQ full waits in that
//     FIFO; it is never dropped and never overtaken;
//  3. submits every SQE and, when there is nothing else to do, sleeps
//     until a completion, a post, or the earliest timer or op deadline
//     (enter; see Sleeping);
//  4. copies every ready CQE into a batch and releases the CQ slots at
//     once (reap), cancels ops whose Op.Timeout has passed, then runs the
//     batch's callbacks in order and fires due timers (runUserCode). A
//     callback that submits more work only queues it, so callbacks never
//     recurse and never run while the kernel is short of CQ space.
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
// issued: CQEs of cancel requests carry it and are dropped on sight.
//
// # Cancels and deadlines aim at one submission
//
// An op's seq counter is odd from its Post or Submit until its final
// completion and even after. A cancel request names the op and the seq it
// saw; the loop acts on it only if the op is still that submission, and
// then cancels it by its own user_data. So a cancel that arrives late —
// after the op completed, was prepared again, or after a Conn was closed
// and its fd number reused — never touches anything else. Op.Timeout is a
// deadline the loop keeps in a heap (on the monotonic clock); when it
// passes, the op is cancelled the same way and completes with ETIME, which
// a Loop.Cancel (ECANCELED) can be told apart from. Conn deadlines build on
// this: a call posts its op while holding its direction's lock, and
// SetReadDeadline takes that lock too, so a deadline change always reaches
// the loop after the op it must cancel.
//
// # Sleeping
//
// A loop that serves only its own callbacks, with LockOSThread, sleeps
// inside io_uring_enter (bounded by the next timer). Every other loop, and
// a locked loop that has exchanged work with goroutines since it last
// slept, parks in Go's netpoller on an eventfd registered with the ring,
// so its P is free for the goroutines it serves: a thread blocked in a
// syscall keeps its P until sysmon notices (20 µs to 10 ms). Before
// parking, an unlocked loop that has just exchanged work with goroutines
// spins for up to Config.Spin, yielding its P, so that a goroutine posting
// again right away finds it awake; the spin budget halves after each spin
// that found nothing. A loop whose callbacks just woke goroutines yields
// once before deciding to sleep, so they can post their next requests
// first.
//
// # Waking a sleeping loop
//
// Other goroutines hand work over through a lock-free MPSC inbox
// (inbox.go: a CAS push; the loop swaps the whole list out). Before it
// sleeps the loop stores how it will sleep in sleeping and looks at the
// inbox again; a producer pushes and then loads sleeping, and only if the
// loop sleeps (and the producer wins the CompareAndSwap back to none)
// writes the eventfd that ends that kind of sleep: an eventfd read kept
// armed on the ring for io_uring_enter, the notify eventfd for a park.
// With sequentially consistent atomics on both sides, either the loop
// sees the new op before sleeping or the producer sees the loop asleep and
// wakes it: no wake-up is lost, and a busy loop costs producers no
// syscall.
//
// # Limits and misuse
//
// Config.MaxOps bounds what a loop holds (posted, queued and in flight):
// Post and Submit return ErrOverloaded beyond it and the blocking API waits
// for room under its context. Submit, After and Timer.Stop belong to the
// loop and report ErrNotOnLoop elsewhere; an Op submitted twice gives
// ErrOpInUse, and preparing an op still in flight panics, because it would
// drop the only reference to memory the kernel may still write. A
// callback that panics is logged and counted and the loop goes on; one
// that calls runtime.Goexit too (Metrics.Goexits).
//
// # Closing
//
// Loop.Close and Group.Close refuse new work (ErrClosed), cancel every
// in-flight op with one ASYNC_CANCEL (ANY|ALL), run the remaining callbacks
// as their CQEs arrive, fail whatever was still queued, and only then
// close the ring, so no completion is lost and no buffer is released while
// the kernel may still write to it. File, Conn and Listener count the
// operations using their descriptor and close it when the last one is
// done, as package os and net do.
package sched
