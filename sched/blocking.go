package sched

import (
	"context"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/uringd/uringd/uring"
	"golang.org/x/sys/unix"
)

// The blocking API: methods any goroutine may call. Each posts an Op to
// the loop through its inbox and parks the goroutine until the final
// completion. Cancelling ctx sends ASYNC_CANCEL for the operation and
// waits until the kernel has let go of the caller's buffer before
// returning ctx's error; an operation that completed before the cancel
// took effect returns its real result. A loop that holds Config.MaxOps
// operations makes callers wait for room, bounded by ctx. Errors wrap
// syscall.Errno, so errors.Is(err, syscall.ECONNRESET) and the like work.
//
// These always go through the ring, a hand-off to the loop and back (about
// 1 µs on the development VM): right for O_DIRECT and for reads that miss
// the page cache, three times os.File's cost for a cached 4 KiB read. File
// is the os.File replacement: it tries a cached read on the caller's
// thread first and uses the ring only when the read would block.

type waiter struct {
	op    Op
	done  chan struct{}
	res   Result
	first Result // send_zc: the send result, kept until the notification
	how   unix.OpenHow
	st    unix.Statx_t
	sa    unix.RawSockaddrAny
	saLen uint32
	path  []byte
}

func newWaiter() *waiter {
	w := &waiter{done: make(chan struct{}, 1)}
	w.op.Data = w
	return w
}

var waiters = sync.Pool{New: func() any { return newWaiter() }}

func getWaiter() *waiter { return waiters.Get().(*waiter) }

// putWaiter recycles w. Any cancel request still on its way names an
// older submission of w.op and is void (see Loop.cancelSeq).
func putWaiter(w *waiter) {
	w.res, w.first, w.path = Result{}, Result{}, w.path[:0]
	w.op.buf, w.op.ptr, w.op.ptr2 = nil, nil, nil
	waiters.Put(w)
}

func wakeWaiter(op *Op, r Result) {
	w := op.Data.(*waiter)
	if r.More() {
		if !r.Notif() {
			w.first = r
		}
		return
	}
	if r.Notif() {
		r = w.first // the notification ends a send_zc; report the send
	}
	w.res = r
	w.done <- struct{}{}
}

// do runs w.op (prepared with a nil callback), returns its result, and
// recycles w.
func (l *Loop) do(ctx context.Context, w *waiter, name string) (Result, error) {
	res, err := l.exec(ctx, w, name)
	putWaiter(w)
	return res, err
}

// exec runs w.op and waits for its final completion. A cancelled ctx
// cancels the op and still waits until the kernel is done with it.
func (l *Loop) exec(ctx context.Context, w *waiter, name string) (Result, error) {
	if l.OnLoop() {
		return Result{}, ErrOnLoop
	}
	w.op.cb = wakeWaiter
	w.op.parks = true
	if err := l.postWaiting(ctx, &w.op); err != nil {
		return Result{}, err
	}
	select {
	case <-w.done:
	case <-ctx.Done():
		// Only this goroutine posts w.op, so its seq is the submission
		// just made. If the loop is closing, the push fails, and closing
		// cancels everything anyway.
		req := getCancelReq(&w.op, w.op.seq.Load())
		if !l.push(req) {
			putCancelReq(req)
		}
		<-w.done
		if w.res.Res == -int32(unix.ECANCELED) {
			return w.res, ctx.Err()
		}
	}
	res := w.res
	if res.Res == -int32(unix.ECANCELED) && l.state.Load() != loopRunning {
		return res, ErrClosed
	}
	return res, resultErr(res, name)
}

// postWaiting posts op, waiting under ctx while the loop is full.
func (l *Loop) postWaiting(ctx context.Context, op *Op) error {
	for {
		room := l.room.Load()
		err := l.Post(op)
		if err != ErrOverloaded {
			return err
		}
		// Ask the loop to announce room, then look once more: either the
		// loop frees a slot after seeing full, or the retry sees it.
		l.full.Store(true)
		if err = l.Post(op); err != ErrOverloaded {
			return err
		}
		select {
		case <-*room:
		case <-l.exited:
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func resultErr(r Result, name string) error {
	if r.Res >= 0 {
		return nil
	}
	return os.NewSyscallError(name, r.Err())
}

func (l *Loop) count(ctx context.Context, w *waiter, name string) (int, error) {
	res, err := l.do(ctx, w, name)
	return res.N(), err
}

// Nop round-trips a no-op through the loop's ring.
func (l *Loop) Nop(ctx context.Context) error {
	w := getWaiter()
	w.op.PrepNop(nil)
	_, err := l.do(ctx, w, "nop")
	return err
}

// Read reads from fd at its file position.
func (l *Loop) Read(ctx context.Context, fd int, buf []byte) (int, error) {
	return l.ReadAt(ctx, fd, buf, -1)
}

// ReadAt reads len(buf) bytes from fd at off (pread).
func (l *Loop) ReadAt(ctx context.Context, fd int, buf []byte, off int64) (int, error) {
	w := getWaiter()
	w.op.PrepRead(fd, buf, off, nil)
	return l.count(ctx, w, "read")
}

// Write writes buf to fd at its file position.
func (l *Loop) Write(ctx context.Context, fd int, buf []byte) (int, error) {
	return l.WriteAt(ctx, fd, buf, -1)
}

// WriteAt writes buf to fd at off (pwrite).
func (l *Loop) WriteAt(ctx context.Context, fd int, buf []byte, off int64) (int, error) {
	w := getWaiter()
	w.op.PrepWrite(fd, buf, off, nil)
	return l.count(ctx, w, "write")
}

// OpenAt opens path relative to dirfd (unix.AT_FDCWD: the working
// directory) with openat2; how.Resolve may hold unix.RESOLVE_BENEATH and
// friends. O_CLOEXEC is always added. It returns the new fd; OpenFile
// returns a File instead.
func (l *Loop) OpenAt(ctx context.Context, dirfd int, path string, how unix.OpenHow) (int, error) {
	w := getWaiter()
	w.path = append(append(w.path[:0], path...), 0)
	how.Flags |= unix.O_CLOEXEC
	w.how = how
	w.op.PrepOpen(dirfd, &w.path[0], &w.how, nil)
	return l.count(ctx, w, "openat2")
}

// Stat returns statx of path relative to dirfd; with path "" and
// unix.AT_EMPTY_PATH in flags it describes dirfd itself.
func (l *Loop) Stat(ctx context.Context, dirfd int, path string, flags int, mask uint32) (unix.Statx_t, error) {
	w := getWaiter()
	w.path = append(append(w.path[:0], path...), 0)
	w.op.PrepStat(dirfd, &w.path[0], flags, mask, &w.st, nil)
	_, err := l.exec(ctx, w, "statx")
	st := w.st
	putWaiter(w)
	if err != nil {
		return unix.Statx_t{}, err
	}
	return st, nil
}

// CloseFd closes fd through the ring.
func (l *Loop) CloseFd(ctx context.Context, fd int) error {
	w := getWaiter()
	w.op.PrepClose(fd, nil)
	_, err := l.do(ctx, w, "close")
	return err
}

// Fsync flushes fd's data (and metadata unless datasync) to storage.
func (l *Loop) Fsync(ctx context.Context, fd int, datasync bool) error {
	w := getWaiter()
	var flags uint32
	if datasync {
		flags = uring.FsyncDatasync
	}
	w.op.PrepFsync(fd, flags, nil)
	_, err := l.do(ctx, w, "fsync")
	return err
}

// Fallocate allocates (or, with mode flags, punches) length bytes at off.
func (l *Loop) Fallocate(ctx context.Context, fd int, mode uint32, off, length int64) error {
	w := getWaiter()
	w.op.PrepFallocate(fd, mode, off, length, nil)
	_, err := l.do(ctx, w, "fallocate")
	return err
}

// Splice moves up to n bytes from fdIn to fdOut without copying through
// user memory; one side must be a pipe. Offsets of -1 use the fd position.
func (l *Loop) Splice(ctx context.Context, fdIn int, offIn int64, fdOut int, offOut int64, n int) (int, error) {
	w := getWaiter()
	w.op.PrepSplice(fdIn, offIn, fdOut, offOut, n, nil)
	return l.count(ctx, w, "splice")
}

// Accept waits for a connection on the listening socket fd and returns the
// new socket (close-on-exec) and the peer's address as the accept saw it
// (nil for an unnamed Unix socket).
func (l *Loop) Accept(ctx context.Context, fd int) (int, unix.Sockaddr, error) {
	w := getWaiter()
	w.saLen = uint32(unsafe.Sizeof(w.sa))
	w.op.prepAcceptAddr(fd, &w.sa, &w.saLen)
	res, err := l.exec(ctx, w, "accept")
	var sa unix.Sockaddr
	if err == nil {
		sa = rawToSockaddr(&w.sa, w.saLen)
	}
	putWaiter(w)
	return res.N(), sa, err
}

// Connect connects socket fd to sa.
func (l *Loop) Connect(ctx context.Context, fd int, sa unix.Sockaddr) error {
	w := getWaiter()
	n, err := sockaddrToRaw(sa, &w.sa)
	if err != nil {
		putWaiter(w)
		return err
	}
	w.op.PrepConnect(fd, &w.sa, n, nil)
	_, err = l.do(ctx, w, "connect")
	return err
}

// Recv receives into buf; 0 with a nil error means the peer closed.
func (l *Loop) Recv(ctx context.Context, fd int, buf []byte, flags int) (int, error) {
	w := getWaiter()
	w.op.PrepRecv(fd, buf, flags, nil)
	return l.count(ctx, w, "recv")
}

// Send sends buf (MSG_NOSIGNAL: a closed peer gives EPIPE, not SIGPIPE).
func (l *Loop) Send(ctx context.Context, fd int, buf []byte, flags int) (int, error) {
	w := getWaiter()
	w.op.PrepSend(fd, buf, flags, nil)
	return l.count(ctx, w, "send")
}

// SendZC sends buf without copying it into the kernel; it returns once the
// kernel has released buf.
func (l *Loop) SendZC(ctx context.Context, fd int, buf []byte, flags int) (int, error) {
	w := getWaiter()
	w.op.PrepSendZC(fd, buf, flags, nil)
	return l.count(ctx, w, "send_zc")
}

// Shutdown shuts down the read and/or write side of a socket.
func (l *Loop) Shutdown(ctx context.Context, fd int, how int) error {
	w := getWaiter()
	w.op.PrepShutdown(fd, how, nil)
	_, err := l.do(ctx, w, "shutdown")
	return err
}

// Sleep waits d on an io_uring timeout, or until ctx ends.
func (l *Loop) Sleep(ctx context.Context, d time.Duration) error {
	w := getWaiter()
	w.op.PrepTimeout(d, nil)
	res, err := l.do(ctx, w, "timeout")
	if res.Res == -int32(unix.ETIME) {
		return nil
	}
	return err
}
