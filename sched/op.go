package sched

import (
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/uringd/uringd/uring"
	"golang.org/x/sys/unix"
)

// Kind says which io_uring operation an Op performs.
type Kind uint8

// Operation kinds.
const (
	KindNop Kind = iota
	KindRead
	KindWrite
	KindReadv
	KindWritev
	KindOpen
	KindStat
	KindClose
	KindFsync
	KindFallocate
	KindSplice
	KindAccept
	KindAcceptMultishot
	KindConnect
	KindRecv
	KindRecvMultishot
	KindSend
	KindSendZC
	KindShutdown
	KindTimeout
	KindPollAdd
	KindCall      // no I/O: the callback just runs on the loop
	kindCancelReq // internal: a request, through the inbox, to cancel one submission of an op
	kindWake      // internal: the armed eventfd read
)

// internal reports the loop's own kinds, which never reach a user
// callback.
func (k Kind) internal() bool { return k > KindCall }

// exempt reports kinds that do not count against Config.MaxOps: the
// loop's own, and KindCall, a hand-off that holds nothing in the kernel.
// Refusing a hand-off (an offload result, a connection's flush) would lose
// work the loop itself asked for.
func (k Kind) exempt() bool { return k >= KindCall }

// Result is one completion of an Op.
type Result struct {
	Res   int32  // the kernel's result: >= 0 success, -errno failure
	Flags uint32 // IORING_CQE_F_* flags
	// Buf holds the received bytes for a multishot recv; it is valid only
	// during the callback, after which its buffer returns to the kernel.
	Buf []byte
}

// Err returns the result's error as a syscall.Errno, or nil.
func (r Result) Err() error {
	if r.Res >= 0 || r.Notif() {
		return nil
	}
	return syscall.Errno(-r.Res)
}

// N returns the result as a count (0 on error).
func (r Result) N() int {
	if r.Res < 0 {
		return 0
	}
	return int(r.Res)
}

// TimedOut reports that the operation ended because its Op.Timeout
// passed (or, for a KindTimeout op, that the timer fired).
func (r Result) TimedOut() bool { return r.Res == -int32(unix.ETIME) }

// More reports that the operation stays armed and will complete again.
func (r Result) More() bool { return r.Flags&uring.CQEFMore != 0 }

// Notif reports a send_zc notification: the kernel no longer reads the
// send buffer.
func (r Result) Notif() bool { return r.Flags&uring.CQEFNotif != 0 }

// Callback receives each completion of an Op, on the Op's loop.
// Callbacks must not block: they share the loop with every other
// connection. They may submit further Ops.
type Callback func(op *Op, r Result)

// Op is one asynchronous operation and the memory it lends the kernel.
// The caller owns it and sets it up with one of the Prep methods; the loop
// holds it, and through it every buffer it points to, until its final
// completion (the one without More, and for send_zc the notification).
// An Op may be prepared and submitted again once its final callback has
// started; preparing it while it is still queued or in flight panics,
// because that would drop the only reference to memory the kernel may
// still write.
type Op struct {
	// Small fields first: the struct is laid out without padding holes,
	// since an idle connection holds at least one Op.
	kind      Kind
	sqeFlags  uint8
	state     opState // loop-owned
	cancelled bool    // loop-owned: ASYNC_CANCEL sent
	parks     bool    // a blocking-API op: its final callback wakes a goroutine
	timedOut  bool    // loop-owned: cancelled because its Timeout passed
	group     uint16
	fd        int32
	fd2       int32
	n         uint32
	opFlags   uint32
	inUse     atomic.Bool   // set by Post/Submit, cleared before the final callback
	seq       atomic.Uint32 // odd while submitted, even when idle; cancel requests name one submission
	dlPos     int32         // loop-owned: index in the deadline heap plus one; 0 (a zero Op too) when not in it
	// off and off2 hold offsets; for KindTimeout they are the timespec
	// the kernel reads.
	off  uint64
	off2 uint64
	buf  []byte
	// ptr and ptr2 hold what the kernel reads or writes besides buf: path,
	// sockaddr, statx buffer, open_how, the iovec array; for an internal
	// cancel request, ptr is the Op to cancel.
	ptr  unsafe.Pointer
	ptr2 unsafe.Pointer

	cb Callback
	// Data is free for the caller (typically the connection or request the
	// op belongs to): the loop never touches it, and Prep methods keep it.
	Data any

	// Timeout, if set after Prep, limits how long the operation may take
	// from the moment the loop takes it: when it passes, an op still
	// waiting for SQ space fails at once and one in the kernel is
	// cancelled; either way the final Result is -ETIME (Result.TimedOut),
	// unless the op completed first. An explicit Loop.Cancel gives
	// -ECANCELED instead. Prep methods clear it.
	Timeout  time.Duration
	deadline int64 // loop-owned: Loop.now() when Timeout passes

	userData uint64 // loop-owned: the user_data while in flight
	next     *Op    // intrusive link for the inbox and the FIFOs
}

type opState uint8

const (
	opIdle     opState = iota
	opQueued           // in the inbox or the SQ-wait FIFO
	opInFlight         // in the table, SQE handed to the kernel
	opRearming         // a multishot's callback runs before the loop re-arms it
	opReaped           // its final CQE is reaped, its callback not yet run
)

func (o *Op) reset(kind Kind, fd int, cb Callback) {
	if o.inUse.Load() {
		panic("sched: Prep on an Op that is still queued or in flight (its memory is lent to the kernel until its final completion)")
	}
	// Field by field: inUse and seq are read atomically by the loop (a
	// late cancel request) and must not be rewritten by a struct copy.
	o.kind, o.sqeFlags, o.state, o.cancelled, o.parks, o.timedOut = kind, 0, opIdle, false, false, false
	o.group, o.fd, o.fd2, o.n, o.opFlags = 0, int32(fd), 0, 0, 0
	o.dlPos, o.off, o.off2, o.buf, o.ptr, o.ptr2 = 0, 0, 0, nil, nil, nil
	o.cb, o.Timeout, o.deadline, o.userData, o.next = cb, 0, 0, 0, nil
}

// Kind returns the operation kind.
func (o *Op) Kind() Kind { return o.kind }

// Fd returns the file descriptor the op works on.
func (o *Op) Fd() int { return int(o.fd) }

// Buf returns the buffer the op reads into or writes from.
func (o *Op) Buf() []byte { return o.buf }

// PrepNop sets o up as a no-op that completes with 0.
func (o *Op) PrepNop(cb Callback) { o.reset(KindNop, -1, cb) }

// MaxIO is the most one read, write, receive or send moves (Linux's
// MAX_RW_COUNT): Prep methods cut longer buffers to it, and the result
// reports how much was done, like a short read or write.
const MaxIO = 0x7ffff000

func clampIO(b []byte) []byte {
	if len(b) > MaxIO {
		return b[:MaxIO]
	}
	return b
}

// PrepRead reads up to len(buf) bytes at off (-1: the file position).
func (o *Op) PrepRead(fd int, buf []byte, off int64, cb Callback) {
	o.reset(KindRead, fd, cb)
	o.buf, o.off = clampIO(buf), uint64(off)
}

// PrepWrite writes up to len(buf) bytes at off (-1: the file position).
func (o *Op) PrepWrite(fd int, buf []byte, off int64, cb Callback) {
	o.reset(KindWrite, fd, cb)
	o.buf, o.off = clampIO(buf), uint64(off)
}

func (o *Op) setIovecs(iovs []unix.Iovec) {
	o.ptr, o.n = unsafe.Pointer(unsafe.SliceData(iovs)), uint32(len(iovs))
}

func (o *Op) iovecs() []unix.Iovec {
	return unsafe.Slice((*unix.Iovec)(o.ptr), o.n)
}

// PrepReadv reads into iovs at off.
func (o *Op) PrepReadv(fd int, iovs []unix.Iovec, off int64, cb Callback) {
	o.reset(KindReadv, fd, cb)
	o.setIovecs(iovs)
	o.off = uint64(off)
}

// PrepWritev writes iovs at off.
func (o *Op) PrepWritev(fd int, iovs []unix.Iovec, off int64, cb Callback) {
	o.reset(KindWritev, fd, cb)
	o.setIovecs(iovs)
	o.off = uint64(off)
}

// PrepOpen opens path (NUL-terminated, see unix.BytePtrFromString)
// relative to dirfd with openat2; how may restrict resolution
// (unix.RESOLVE_BENEATH). Res is the new fd.
func (o *Op) PrepOpen(dirfd int, path *byte, how *unix.OpenHow, cb Callback) {
	o.reset(KindOpen, dirfd, cb)
	o.ptr, o.ptr2 = unsafe.Pointer(path), unsafe.Pointer(how)
}

// PrepStat runs statx on path relative to dirfd (or on dirfd itself with
// an empty path and unix.AT_EMPTY_PATH) into st.
func (o *Op) PrepStat(dirfd int, path *byte, flags int, mask uint32, st *unix.Statx_t, cb Callback) {
	o.reset(KindStat, dirfd, cb)
	o.ptr, o.ptr2 = unsafe.Pointer(path), unsafe.Pointer(st)
	o.opFlags, o.n = uint32(flags), mask
}

// PrepClose closes fd.
func (o *Op) PrepClose(fd int, cb Callback) { o.reset(KindClose, fd, cb) }

// PrepFsync flushes fd (uring.FsyncDatasync in flags: data only).
func (o *Op) PrepFsync(fd int, flags uint32, cb Callback) {
	o.reset(KindFsync, fd, cb)
	o.opFlags = flags
}

// PrepFallocate allocates length bytes at off with mode.
func (o *Op) PrepFallocate(fd int, mode uint32, off, length int64, cb Callback) {
	o.reset(KindFallocate, fd, cb)
	o.opFlags, o.off, o.off2 = mode, uint64(off), uint64(length)
}

// PrepSplice moves n bytes from fdIn at offIn to fdOut at offOut (-1: the
// fd's position, required for pipes).
func (o *Op) PrepSplice(fdIn int, offIn int64, fdOut int, offOut int64, n int, cb Callback) {
	o.reset(KindSplice, fdOut, cb)
	n = min(n, MaxIO)
	o.fd2, o.off2, o.off, o.n = int32(fdIn), uint64(offIn), uint64(offOut), uint32(n)
}

// PrepAccept accepts one connection on the listening socket fd; Res is the
// new fd (SOCK_CLOEXEC).
func (o *Op) PrepAccept(fd int, cb Callback) {
	o.reset(KindAccept, fd, cb)
	o.opFlags = unix.SOCK_CLOEXEC
}

// PrepAcceptAddr is PrepAccept that also stores the peer's address in sa
// (*saLen must hold its size on entry and holds the address length after;
// see RawToSockaddr). sa and saLen must stay untouched until the
// completion.
func (o *Op) PrepAcceptAddr(fd int, sa *unix.RawSockaddrAny, saLen *uint32, cb Callback) {
	o.reset(KindAccept, fd, cb)
	o.opFlags = unix.SOCK_CLOEXEC
	o.ptr, o.ptr2 = unsafe.Pointer(sa), unsafe.Pointer(saLen)
}

func (o *Op) prepAcceptAddr(fd int, sa *unix.RawSockaddrAny, saLen *uint32) {
	o.PrepAcceptAddr(fd, sa, saLen, nil)
}

// PrepAcceptMultishot accepts connections on fd until cancelled or an
// error ends it (EMFILE, for instance: the final completion carries the
// error and the op must be submitted again); each completion carries one
// new fd and More while still armed.
func (o *Op) PrepAcceptMultishot(fd int, cb Callback) {
	o.reset(KindAcceptMultishot, fd, cb)
	o.opFlags = unix.SOCK_CLOEXEC
}

// PrepConnect connects socket fd to sa (of saLen bytes).
func (o *Op) PrepConnect(fd int, sa *unix.RawSockaddrAny, saLen uint32, cb Callback) {
	o.reset(KindConnect, fd, cb)
	o.ptr, o.n = unsafe.Pointer(sa), saLen
}

// PrepRecv receives into buf.
func (o *Op) PrepRecv(fd int, buf []byte, flags int, cb Callback) {
	o.reset(KindRecv, fd, cb)
	o.buf, o.opFlags = clampIO(buf), uint32(flags)
}

// PrepRecvMultishot receives on fd until the peer closes, an error, or
// cancellation, taking a buffer from the loop's provided buffer ring for
// each completion (Result.Buf), so the connection holds no buffer while
// idle. When the ring runs dry (ENOBUFS) the loop re-arms the receive
// after buffers are returned; the callback does not see ENOBUFS.
func (o *Op) PrepRecvMultishot(fd int, cb Callback) {
	o.reset(KindRecvMultishot, fd, cb)
}

// PrepSend sends buf (unix.MSG_NOSIGNAL is always added: a closed peer is
// an EPIPE result, never a signal).
func (o *Op) PrepSend(fd int, buf []byte, flags int, cb Callback) {
	o.reset(KindSend, fd, cb)
	o.buf, o.opFlags = clampIO(buf), uint32(flags)|unix.MSG_NOSIGNAL
}

// PrepSendZC sends buf without copying it. The callback runs for the
// result (with More) and again for the notification (Result.Notif) once
// the kernel has released buf; buf must not change before that.
func (o *Op) PrepSendZC(fd int, buf []byte, flags int, cb Callback) {
	o.reset(KindSendZC, fd, cb)
	o.buf, o.opFlags = clampIO(buf), uint32(flags)|unix.MSG_NOSIGNAL
}

// PrepShutdown shuts down part of a full-duplex connection.
func (o *Op) PrepShutdown(fd int, how int, cb Callback) {
	o.reset(KindShutdown, fd, cb)
	o.n = uint32(how)
}

// PrepTimeout completes after d with Res -ETIME (or ECANCELED if
// cancelled first).
func (o *Op) PrepTimeout(d time.Duration, cb Callback) {
	o.reset(KindTimeout, -1, cb)
	ts := unix.NsecToTimespec(int64(d))
	o.off, o.off2 = uint64(ts.Sec), uint64(ts.Nsec)
}

// timespec views off and off2 as the timespec of a KindTimeout op; it
// lives in the Op, which the loop keeps reachable until the CQE.
func (o *Op) timespec() *unix.Timespec {
	return (*unix.Timespec)(unsafe.Pointer(&o.off))
}

// PrepPollAdd completes when fd has one of events (unix.POLLIN, ...).
func (o *Op) PrepPollAdd(fd int, events uint32, cb Callback) {
	o.reset(KindPollAdd, fd, cb)
	o.opFlags = events
}

// PrepCall sets o up to do no I/O: submitting or posting it runs cb on
// the loop (with Res 0), which is how other goroutines hand results to
// code that lives on a loop.
func (o *Op) PrepCall(cb Callback) { o.reset(KindCall, -1, cb) }

// prep fills sqe from o.
func (o *Op) prep(sqe *uring.SQE) {
	fd := int(o.fd)
	switch o.kind {
	case KindNop:
		sqe.PrepNop()
	case KindRead:
		sqe.PrepRead(fd, o.buf, o.off)
	case KindWrite:
		sqe.PrepWrite(fd, o.buf, o.off)
	case KindReadv:
		sqe.PrepReadv(fd, o.iovecs(), o.off)
	case KindWritev:
		sqe.PrepWritev(fd, o.iovecs(), o.off)
	case KindOpen:
		sqe.PrepOpenat2(fd, (*byte)(o.ptr), (*unix.OpenHow)(o.ptr2))
	case KindStat:
		sqe.PrepStatx(fd, (*byte)(o.ptr), int(o.opFlags), o.n, (*unix.Statx_t)(o.ptr2))
	case KindClose:
		sqe.PrepClose(fd)
	case KindFsync:
		sqe.PrepFsync(fd, o.opFlags)
	case KindFallocate:
		sqe.PrepFallocate(fd, o.opFlags, o.off, o.off2)
	case KindSplice:
		sqe.PrepSplice(int(o.fd2), o.off2, fd, o.off, o.n, 0)
	case KindAccept:
		sqe.PrepAccept(fd, (*unix.RawSockaddrAny)(o.ptr), (*uint32)(o.ptr2), int(o.opFlags))
	case KindAcceptMultishot:
		sqe.PrepMultishotAccept(fd, int(o.opFlags))
	case KindConnect:
		sqe.PrepConnect(fd, (*unix.RawSockaddrAny)(o.ptr), o.n)
	case KindRecv:
		sqe.PrepRecv(fd, o.buf, int(o.opFlags))
	case KindRecvMultishot:
		sqe.PrepRecvMultishot(fd, o.group, 0)
	case KindSend:
		sqe.PrepSend(fd, o.buf, int(o.opFlags))
	case KindSendZC:
		sqe.PrepSendZC(fd, o.buf, int(o.opFlags), 0)
	case KindShutdown:
		sqe.PrepShutdown(fd, int(o.n))
	case KindTimeout:
		sqe.PrepTimeout(o.timespec(), 0, 0)
	case KindPollAdd:
		sqe.PrepPollAdd(fd, o.opFlags)
	case kindWake:
		sqe.PrepRead(fd, o.buf, ^uint64(0))
	}
	sqe.Flags |= o.sqeFlags
}
