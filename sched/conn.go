package sched

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a net.Conn (TCP or Unix stream socket) whose reads and writes
// run on a loop's io_uring. Reads are serialized with each other, as are
// writes; deadlines apply to pending calls too, like package net's: a
// deadline set while a call is blocked cancels that call's operation (and
// only it) so the call re-evaluates the new deadline. Close cancels what
// is in flight and closes the socket once no operation uses it any more.
type Conn struct {
	loop         *Loop
	ref          fdRef
	network      string
	laddr, raddr net.Addr
	rd, wr       direction
}

// direction is one half of a Conn: its serialization lock, its deadline
// and the op in flight, if any.
type direction struct {
	mu sync.Mutex // one call at a time
	// dmu orders deadline changes with submissions: a call posts its op
	// while holding dmu, so a cancel posted by SetDeadline (also under
	// dmu) reaches the loop after the op it aims at.
	dmu      sync.Mutex
	deadline time.Time // zero: none
	active   bool      // w.op is posted and its call has not returned
	w        *waiter
}

// NewConn returns a Conn on this loop for the connected stream socket fd
// ("tcp" or "unix"), which it then owns: Close closes it. This is how a
// connection served by callbacks (an HTTP connection being hijacked, for
// instance) is handed to goroutine code.
func (l *Loop) NewConn(fd int, network string) *Conn {
	return newConn(l, fd, network, nil)
}

func newConn(l *Loop, fd int, network string, raddr net.Addr) *Conn {
	c := &Conn{loop: l, network: network, raddr: raddr}
	c.ref.init(fd)
	c.rd.w, c.wr.w = newWaiter(), newWaiter()
	if sa, err := unix.Getsockname(fd); err == nil {
		c.laddr = sockaddrToNet(sa, network)
	}
	if c.raddr == nil {
		if sa, err := unix.Getpeername(fd); err == nil {
			c.raddr = sockaddrToNet(sa, network)
		}
	}
	if isTCP(network) {
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	return c
}

// Fd returns the socket. It stays valid until Close.
func (c *Conn) Fd() int { return c.ref.fd }

// Loop returns the loop the connection lives on.
func (c *Conn) Loop() *Loop { return c.loop }

// Read reads into b; it returns (0, io.EOF) once the peer has closed.
func (c *Conn) Read(b []byte) (int, error) {
	d := &c.rd
	d.mu.Lock()
	defer d.mu.Unlock()
	if !c.ref.incref() {
		return 0, c.opErr("read", net.ErrClosed)
	}
	defer c.ref.decref()
	if len(b) == 0 {
		return 0, nil
	}
	n, err := c.roundTrip(d, "read", func(op *Op) { op.PrepRecv(c.ref.fd, b, 0, nil) })
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of b unless an error or a deadline stops it first. It
// first sends from the calling goroutine without waiting (MSG_DONTWAIT):
// a socket with room in its send buffer, the common case, takes the bytes
// with no hand-off to the loop. Only what does not fit goes through the
// ring, which waits for room.
func (c *Conn) Write(b []byte) (int, error) {
	d := &c.wr
	d.mu.Lock()
	defer d.mu.Unlock()
	if !c.ref.incref() {
		return 0, c.opErr("write", net.ErrClosed)
	}
	defer c.ref.decref()
	written := 0
	if len(b) > 0 && !d.expired() {
		n, err := sendNow(c.ref.fd, b)
		switch {
		case err == nil:
			written = n
		case err == unix.EAGAIN || err == unix.EINTR:
		default:
			return 0, c.opErr("write", os.NewSyscallError("sendmsg", err))
		}
	}
	for written < len(b) {
		rest := b[written:]
		n, err := c.roundTrip(d, "write", func(op *Op) { op.PrepSend(c.ref.fd, rest, 0, nil) })
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// sendNow sends from the calling goroutine without waiting for room.
func sendNow(fd int, b []byte) (int, error) {
	b = clampIO(b)
	n, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// expired reports whether the direction's deadline has passed.
func (d *direction) expired() bool {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	return !d.deadline.IsZero() && !time.Now().Before(d.deadline)
}

// roundTrip runs one recv or send through the ring under the direction's
// deadline, and again when a deadline change cancelled it early.
func (c *Conn) roundTrip(d *direction, name string, prep func(*Op)) (int, error) {
	if c.loop.OnLoop() {
		// From the loop's own callback the call would wait for itself.
		return 0, c.opErr(name, ErrOnLoop)
	}
	w := d.w
	for {
		d.dmu.Lock()
		if c.ref.closing() {
			d.dmu.Unlock()
			return 0, c.opErr(name, net.ErrClosed)
		}
		var timeout time.Duration
		if !d.deadline.IsZero() {
			// time.Until uses the monotonic clock when the deadline has a
			// monotonic reading (time.Now().Add(...)), like package net.
			timeout = time.Until(d.deadline)
			if timeout <= 0 {
				d.dmu.Unlock()
				return 0, c.opErr(name, os.ErrDeadlineExceeded)
			}
		}
		prep(&w.op)
		w.op.Timeout = timeout
		w.op.cb = wakeWaiter
		w.op.parks = true
		if testHookBeforePost != nil {
			testHookBeforePost(c, d)
		}
		err := c.loop.Post(&w.op)
		if err == ErrOverloaded {
			d.dmu.Unlock()
			if err = c.waitRoom(d); err != nil {
				return 0, c.opErr(name, err)
			}
			continue
		}
		if err != nil {
			d.dmu.Unlock()
			return 0, c.opErr(name, err)
		}
		d.active = true
		d.dmu.Unlock()

		<-w.done
		d.dmu.Lock()
		d.active = false
		d.dmu.Unlock()
		res := w.res
		switch {
		case res.Res >= 0:
			return int(res.Res), nil
		case res.Res == -int32(unix.ETIME):
			return 0, c.opErr(name, os.ErrDeadlineExceeded)
		case res.Res == -int32(unix.ECANCELED):
			if c.loop.state.Load() != loopRunning {
				return 0, c.opErr(name, ErrClosed)
			}
			continue // Close, or a deadline change: look again
		}
		return 0, c.opErr(name, os.NewSyscallError(name, res.Err()))
	}
}

// testHookBeforePost, when set by a test, runs in roundTrip after the
// deadline was read and before the op is posted, with d.dmu held: the
// window in which a concurrent SetDeadline must not be lost.
var testHookBeforePost func(c *Conn, d *direction)

// waitRoom waits until the loop may have room for one more op, as a
// blocked call: the direction's deadline and Close end the wait too. Both
// can change while it waits, so it looks at them again every roomPoll
// (a loop is full only under overload; this is not a hot path).
func (c *Conn) waitRoom(d *direction) error {
	l := c.loop
	for {
		room := l.room.Load()
		l.full.Store(true)
		if l.ops.Load() < int64(l.cfg.MaxOps) {
			return nil
		}
		if c.ref.closing() {
			return net.ErrClosed
		}
		wait := roomPoll
		d.dmu.Lock()
		dl := d.deadline
		d.dmu.Unlock()
		if !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			wait = min(wait, left)
		}
		t := time.NewTimer(wait)
		select {
		case <-*room:
			t.Stop()
			return nil
		case <-l.exited:
			t.Stop()
			return ErrClosed
		case <-t.C:
		}
	}
}

const roomPoll = 20 * time.Millisecond

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: c.network, Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close closes the connection. Blocked Reads and Writes return
// net.ErrClosed once the kernel has released their buffers, and the
// socket is closed when the last of them has returned (so its number is
// never reused under an operation); Close returns after that.
func (c *Conn) Close() error {
	if !c.ref.startClose() {
		return c.opErr("close", net.ErrClosed)
	}
	c.rd.cancelActive(c.loop)
	c.wr.cancelActive(c.loop)
	if c.loop.OnLoop() {
		// A callback cannot wait for calls the loop itself must complete:
		// the socket closes when the last of them returns.
		return nil
	}
	<-c.ref.drained
	if c.ref.closeErr != nil {
		return c.opErr("close", os.NewSyscallError("close", c.ref.closeErr))
	}
	return nil
}

// cancelActive cancels the direction's op in flight, if any.
func (d *direction) cancelActive(l *Loop) {
	d.dmu.Lock()
	defer d.dmu.Unlock()
	if d.active {
		req := getCancelReq(&d.w.op, d.w.op.seq.Load())
		if !l.push(req) {
			putCancelReq(req) // closing: the loop cancels everything
		}
	}
}

// CloseRead shuts down the reading side: pending and future Reads return
// io.EOF once the kernel has seen it.
func (c *Conn) CloseRead() error { return c.shutdown(unix.SHUT_RD, "close read") }

// CloseWrite shuts down the writing side (the peer reads EOF) while
// reads go on.
func (c *Conn) CloseWrite() error { return c.shutdown(unix.SHUT_WR, "close write") }

func (c *Conn) shutdown(how int, name string) error {
	if !c.ref.incref() {
		return c.opErr(name, net.ErrClosed)
	}
	defer c.ref.decref()
	if err := unix.Shutdown(c.ref.fd, how); err != nil {
		return c.opErr(name, os.NewSyscallError("shutdown", err))
	}
	return nil
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for pending and future Reads; a zero t
// means none. A deadline in the past makes a blocked Read return
// os.ErrDeadlineExceeded at once.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.setDeadline(&c.rd, t) }

// SetWriteDeadline sets the deadline for pending and future Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.setDeadline(&c.wr, t) }

func (c *Conn) setDeadline(d *direction, t time.Time) error {
	if c.ref.closing() {
		return c.opErr("set deadline", net.ErrClosed)
	}
	d.dmu.Lock()
	defer d.dmu.Unlock()
	d.deadline = t
	if d.active {
		// The call in flight runs under the old deadline: cancel its op;
		// the call sees ECANCELED and looks at the new deadline.
		req := getCancelReq(&d.w.op, d.w.op.seq.Load())
		if !c.loop.push(req) {
			putCancelReq(req)
		}
	}
	return nil
}

// SyscallConn returns a raw connection for socket options and the like;
// its Read and Write wait for readiness on the loop's ring.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if c.ref.closing() {
		return nil, c.opErr("raw-conn", net.ErrClosed)
	}
	return &rawConn{c: c}, nil
}

type rawConn struct{ c *Conn }

func (r *rawConn) Control(f func(fd uintptr)) error {
	if !r.c.ref.incref() {
		return net.ErrClosed
	}
	defer r.c.ref.decref()
	f(uintptr(r.c.ref.fd))
	return nil
}

func (r *rawConn) Read(f func(fd uintptr) bool) error  { return r.wait(&r.c.rd, unix.POLLIN, f) }
func (r *rawConn) Write(f func(fd uintptr) bool) error { return r.wait(&r.c.wr, unix.POLLOUT, f) }

// wait calls f until it returns true, waiting between calls for the
// socket to be ready (a ring poll, under the direction's deadline).
func (r *rawConn) wait(d *direction, events uint32, f func(fd uintptr) bool) error {
	c := r.c
	d.mu.Lock()
	defer d.mu.Unlock()
	if !c.ref.incref() {
		return net.ErrClosed
	}
	defer c.ref.decref()
	for !f(uintptr(c.ref.fd)) {
		if _, err := c.roundTrip(d, "poll", func(op *Op) { op.PrepPollAdd(c.ref.fd, events, nil) }); err != nil {
			return err
		}
	}
	return nil
}

var (
	_ net.Conn        = (*Conn)(nil)
	_ syscall.Conn    = (*Conn)(nil)
	_ syscall.RawConn = (*rawConn)(nil)
)
