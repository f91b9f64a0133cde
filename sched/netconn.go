package sched

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Listener is a net.Listener whose accepts run on io_uring. Accepted
// connections are placed on loops by the listener's placement function.
type Listener struct {
	loop   *Loop
	place  func() *Loop
	fd     int
	addr   net.Addr
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.RWMutex // Accepts hold it shared; Close takes it to close the fd
	closed atomic.Bool
}

// Listen opens a TCP listener ("tcp", "tcp4", "tcp6") on this loop;
// connections it accepts stay on this loop.
func (l *Loop) Listen(network, address string) (*Listener, error) {
	return listen(l, func() *Loop { return l }, network, address)
}

// Listen opens a TCP listener whose accepted connections are spread over
// the group's loops round robin.
func (g *Group) Listen(network, address string) (*Listener, error) {
	return listen(g.Next(), g.Next, network, address)
}

func listen(l *Loop, place func() *Loop, network, address string) (*Listener, error) {
	fd, err := ListenSocket(network, address, false)
	if err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("getsockname", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Listener{loop: l, place: place, fd: fd, addr: sockaddrToNet(sa), ctx: ctx, cancel: cancel}, nil
}

// ListenSocket creates a bound, listening TCP socket with SO_REUSEADDR
// (and SO_REUSEPORT when reusePort is set, so each loop can have its own
// listener on one port). The caller owns the fd.
func ListenSocket(network, address string, reusePort bool) (int, error) {
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return -1, err
	}
	sa, family := netToSockaddr(addr)
	if network == "tcp6" {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, &net.OpError{Op: "listen", Net: network, Addr: addr, Err: os.NewSyscallError(call, err)}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("setsockopt", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// Accept waits for the next connection.
func (ln *Listener) Accept() (net.Conn, error) {
	// Holding the lock across the accept keeps Close from freeing the fd
	// number while an accept may still use it; Close cancels ln.ctx
	// first, so the wait is short.
	ln.mu.RLock()
	defer ln.mu.RUnlock()
	if ln.closed.Load() {
		return nil, ln.opErr("accept", net.ErrClosed)
	}
	fd, err := ln.loop.Accept(ln.ctx, ln.fd)
	if err != nil {
		if ln.closed.Load() {
			err = net.ErrClosed
		}
		return nil, ln.opErr("accept", err)
	}
	return newConn(ln.place(), fd)
}

func (ln *Listener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Addr: ln.addr, Err: err}
}

// Close stops the listener; blocked Accepts return net.ErrClosed.
func (ln *Listener) Close() error {
	if !ln.closed.CompareAndSwap(false, true) {
		return ln.opErr("close", net.ErrClosed)
	}
	ln.cancel()
	ln.mu.Lock()
	defer ln.mu.Unlock()
	return os.NewSyscallError("close", unix.Close(ln.fd))
}

// Addr returns the listener's address.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Fd returns the listening socket.
func (ln *Listener) Fd() int { return ln.fd }

// Conn is a net.Conn whose reads and writes run on a loop's io_uring.
// Reads are serialized with each other, as are writes; deadlines apply to
// pending calls too (setting one cancels and re-evaluates a blocked call).
type Conn struct {
	loop         *Loop
	fd           int
	laddr, raddr net.Addr
	ctx          context.Context
	cancel       context.CancelFunc
	closed       atomic.Bool
	rmu, wmu     sync.Mutex
	rw, ww       *waiter      // reused by one direction only
	rdl, wdl     atomic.Int64 // deadlines, unix nanoseconds; 0 = none
	rbusy, wbusy atomic.Bool
}

// Dial connects to a TCP address through the loop.
func (l *Loop) Dial(ctx context.Context, network, address string) (*Conn, error) {
	addr, err := net.ResolveTCPAddr(network, address)
	if err != nil {
		return nil, err
	}
	sa, family := netToSockaddr(addr)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := l.Connect(ctx, fd, sa); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	return newConn(l, fd)
}

// Dial connects through the group's next loop.
func (g *Group) Dial(ctx context.Context, network, address string) (*Conn, error) {
	return g.Next().Dial(ctx, network, address)
}

func newConn(l *Loop, fd int) (*Conn, error) {
	c := &Conn{loop: l, fd: fd, rw: &waiter{done: make(chan struct{}, 1)}, ww: &waiter{done: make(chan struct{}, 1)}}
	c.rw.op.Ctx, c.ww.op.Ctx = c.rw, c.ww
	if sa, err := unix.Getsockname(fd); err == nil {
		c.laddr = sockaddrToNet(sa)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		c.raddr = sockaddrToNet(sa)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

// Fd returns the socket.
func (c *Conn) Fd() int { return c.fd }

// Loop returns the loop the connection lives on.
func (c *Conn) Loop() *Loop { return c.loop }

// Read reads into b; it returns (0, io.EOF) once the peer has closed.
func (c *Conn) Read(b []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(b) == 0 {
		return 0, nil
	}
	n, err := c.io(c.rw, &c.rdl, &c.rbusy, "read", func(op *Op) { op.PrepRecv(c.fd, b, 0, nil) })
	if err == nil && n == 0 {
		return 0, io.EOF
	}
	return n, err
}

// Write writes all of b unless an error or a deadline stops it first.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	written := 0
	for written < len(b) {
		rest := b[written:]
		n, err := c.io(c.ww, &c.wdl, &c.wbusy, "write", func(op *Op) { op.PrepSend(c.fd, rest, 0, nil) })
		written += n
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// io runs one recv or send with the direction's deadline, retrying when a
// deadline change cancelled it early.
func (c *Conn) io(w *waiter, deadline *atomic.Int64, busy *atomic.Bool, name string, prep func(*Op)) (int, error) {
	for {
		if c.closed.Load() {
			return 0, c.opErr(name, net.ErrClosed)
		}
		var timeout time.Duration
		if dl := deadline.Load(); dl != 0 {
			timeout = time.Until(time.Unix(0, dl))
			if timeout <= 0 {
				return 0, c.opErr(name, os.ErrDeadlineExceeded)
			}
		}
		prep(&w.op)
		w.op.Timeout = timeout
		busy.Store(true)
		// Only Close cancels c.ctx, so a waiter that exec calls
		// unreusable is never used again.
		res, err, _ := c.loop.exec(c.ctx, w, name)
		busy.Store(false)
		if err == nil {
			return res.N(), nil
		}
		switch {
		case c.closed.Load() || errors.Is(err, context.Canceled):
			return 0, c.opErr(name, net.ErrClosed)
		case errors.Is(err, ErrClosed):
			return 0, c.opErr(name, err)
		case errors.Is(err, syscall.ECANCELED):
			continue // a deadline fired or changed: re-evaluate it
		}
		return 0, c.opErr(name, err)
	}
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close closes the connection; blocked Reads and Writes return
// net.ErrClosed after the kernel has released their buffers.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return c.opErr("close", net.ErrClosed)
	}
	c.cancel()
	// Wait for in-flight calls to leave before the fd number can be reused.
	c.rmu.Lock()
	c.wmu.Lock()
	defer c.rmu.Unlock()
	defer c.wmu.Unlock()
	return os.NewSyscallError("close", unix.Close(c.fd))
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.laddr }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, &c.rbusy, t)
	c.setDeadline(&c.wdl, &c.wbusy, t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future Reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, &c.rbusy, t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, &c.wbusy, t)
	return nil
}

func (c *Conn) setDeadline(dl *atomic.Int64, busy *atomic.Bool, t time.Time) {
	var v int64
	if !t.IsZero() {
		v = t.UnixNano()
	}
	dl.Store(v)
	if busy.Load() {
		// A call is blocked with the old deadline: cancel what is in
		// flight on the socket. Cancelled calls re-read their deadline and
		// either fail or resubmit, so a cancel that also hits the other
		// direction, or the next call, only costs a retry. Cancelling by
		// fd touches no Op that this goroutine's peers may be reusing.
		_ = c.loop.Post(&Op{kind: kindCancelFdReq, fd: int32(c.fd)})
	}
}
