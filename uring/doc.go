// Package uring is a thin, allocation-free layer over Linux io_uring, built
// on golang.org/x/sys/unix.
//
// It sets up a ring with the best flags the kernel grants (falling back
// flag by flag on older kernels), maps the submission and completion
// queues, prepares submission entries (the Prep* methods on SQE), submits
// them with one io_uring_enter per batch, and hands completions back as
// views into the mapped ring without copying. It also registers files,
// buffers, provided buffer rings, an eventfd and the ring fd itself, and
// probes which opcodes the kernel supports.
//
// Typical use, on a goroutine locked to its OS thread:
//
//	runtime.LockOSThread()
//	r, err := uring.New(256)
//	...
//	sqe := r.GetSQE()
//	sqe.PrepRead(fd, buf, 0)
//	sqe.UserData = 1
//	r.SubmitAndWait(1)
//	a, b := r.Completions()
//	... handle a then b ...
//	r.CQAdvance(uint32(len(a) + len(b)))
//
// Ownership and memory: a Ring is driven by one goroutine, and every
// address placed in an SQE must stay valid until the request's last CQE;
// see Ring. Package sched builds an event loop with an operation table
// that keeps those references for its callers.
//
// Errors are syscall.Errno values (or wrap one), so errors.Is(err,
// syscall.ECANCELED) and the like work; CQE.Err converts a negative result.
// When io_uring cannot be set up at all, the error is a *SetupError that
// says why on this machine (old kernel, the io_uring_disabled sysctl, a
// seccomp filter, memory limits).
package uring
