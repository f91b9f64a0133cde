package servers

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// UringdEcho is an echo server written against sched's callback API, the
// way uringd's own protocols are: everything runs on one loop, with
//
//   - one multishot accept on the listening socket;
//   - per connection one multishot recv that draws from the loop's
//     provided buffer ring (an idle connection holds no read buffer), and
//     one send at a time; bytes that arrive while a send is in flight wait
//     in a second buffer and go out with the next send;
//   - a short send resubmits the rest; an error shuts the socket down so
//     the recv ends, and the fd is closed once nothing is in flight.
type UringdEcho struct {
	loop    *sched.Loop
	ownLoop bool
	lfd     int
	addr    string
	accept  sched.Op
	open    atomic.Int64 // connections open now (written on the loop)
	total   atomic.Int64
	// Free send Ops and buffers, reused across connections: an idle
	// connection holds only its multishot recv Op. Loop-owned.
	freeSends []*sched.Op
	freeBufs  [][]byte
}

type uringdEchoConn struct {
	s         *UringdEcho
	fd        int
	recv      sched.Op
	send      *sched.Op // only while sending
	out       []byte    // lent to the kernel by the send in flight
	pending   []byte    // received while a send was in flight
	sending   bool
	recvArmed bool
	closed    bool
}

// StartUringdEcho starts the echo server on a loop of its own.
func StartUringdEcho(addr string) (*UringdEcho, error) {
	l, err := sched.NewLoop(sched.Config{LockOSThread: true})
	if err != nil {
		return nil, err
	}
	s, err := StartUringdEchoOn(l, addr)
	if err != nil {
		_ = l.Close(context.Background())
		return nil, err
	}
	s.ownLoop = true
	return s, nil
}

// StartUringdEchoOn starts the echo server on loop l, which the caller
// owns (the lag scenario shares it with timers and offload callbacks).
func StartUringdEchoOn(l *sched.Loop, addr string) (*UringdEcho, error) {
	lfd, err := sched.ListenSocket("tcp", addr, false)
	if err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, err
	}
	s := &UringdEcho{loop: l, lfd: lfd, addr: sockaddrString(sa)}
	s.accept.PrepAcceptMultishot(lfd, s.onAccept)
	if err := l.Post(&s.accept); err != nil {
		unix.Close(lfd)
		return nil, err
	}
	return s, nil
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		return net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	}
	return "?"
}

// Addr returns the listening address.
func (s *UringdEcho) Addr() string { return s.addr }

// Conns returns the number of open connections.
func (s *UringdEcho) Conns() int { return int(s.open.Load()) }

// Close closes the loop if the server owns it (which cancels the accept
// and every connection's operations), then the listening socket.
func (s *UringdEcho) Close() error {
	var err error
	if s.ownLoop {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.loop.Close(ctx)
		cancel()
	}
	unix.Close(s.lfd)
	return err
}

func (s *UringdEcho) onAccept(_ *sched.Op, r sched.Result) {
	if r.Res >= 0 {
		fd := int(r.Res)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		c := &uringdEchoConn{s: s, fd: fd}
		s.open.Add(1)
		s.total.Add(1)
		c.recv.PrepRecvMultishot(fd, c.onRecv)
		if s.loop.Submit(&c.recv) != nil {
			c.close()
			return
		}
		c.recvArmed = true
	}
	if !r.More() && !errors.Is(r.Err(), unix.ECANCELED) {
		// The kernel ended the multishot (EMFILE, ...): arm it again.
		// The loop re-arms by itself when the last CQE carried a
		// connection; this covers the error case.
		s.accept.PrepAcceptMultishot(s.lfd, s.onAccept)
		_ = s.loop.Submit(&s.accept)
	}
}

func (c *uringdEchoConn) onRecv(_ *sched.Op, r sched.Result) {
	if r.Res > 0 {
		// r.Buf goes back to the buffer ring after this callback: copy.
		if c.sending {
			c.pending = append(c.pending, r.Buf...)
		} else {
			c.out = append(c.s.getBuf(), r.Buf...)
			c.startSend()
		}
	}
	if !r.More() {
		// EOF, an error or cancellation: the recv is over.
		c.recvArmed = false
		c.maybeClose()
	}
}

func (c *uringdEchoConn) startSend() {
	c.sending = true
	if c.send == nil {
		c.send = c.s.getSend()
	}
	c.send.PrepSend(c.fd, c.out, 0, c.onSend)
	if c.s.loop.Submit(c.send) != nil {
		c.sending = false
		c.fail()
	}
}

func (s *UringdEcho) getSend() *sched.Op {
	if n := len(s.freeSends); n > 0 {
		op := s.freeSends[n-1]
		s.freeSends = s.freeSends[:n-1]
		return op
	}
	return new(sched.Op)
}

func (s *UringdEcho) getBuf() []byte {
	if n := len(s.freeBufs); n > 0 {
		b := s.freeBufs[n-1]
		s.freeBufs = s.freeBufs[:n-1]
		return b[:0]
	}
	return make([]byte, 0, 256)
}

// idle returns the connection's send Op and buffers once nothing is being
// sent.
func (c *uringdEchoConn) idle() {
	if c.send != nil {
		c.s.freeSends = append(c.s.freeSends, c.send)
		c.send = nil
	}
	if c.out != nil {
		c.s.freeBufs = append(c.s.freeBufs, c.out[:0])
		c.out = nil
	}
	if c.pending != nil && len(c.pending) == 0 {
		c.s.freeBufs = append(c.s.freeBufs, c.pending)
		c.pending = nil
	}
}

func (c *uringdEchoConn) onSend(_ *sched.Op, r sched.Result) {
	c.sending = false
	switch {
	case r.Res < 0:
		c.fail()
		return
	case int(r.Res) < len(c.out):
		c.out = c.out[r.Res:]
		c.startSend()
		return
	}
	if len(c.pending) > 0 {
		c.out, c.pending = c.pending, c.out[:0]
		c.startSend()
		return
	}
	c.idle()
	c.maybeClose()
}

// fail drops the connection: shutting the socket down ends the multishot
// recv, after which the fd is closed.
func (c *uringdEchoConn) fail() {
	c.pending = nil
	_ = unix.Shutdown(c.fd, unix.SHUT_RDWR)
	c.maybeClose()
}

func (c *uringdEchoConn) maybeClose() {
	if !c.recvArmed && !c.sending {
		c.close()
	}
}

func (c *uringdEchoConn) close() {
	if c.closed {
		return
	}
	c.closed = true
	unix.Close(c.fd)
	c.s.open.Add(-1)
}
