package evnet

import (
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// listener is one address the server listens on, with its acceptors: one
// per loop for TCP (SO_REUSEPORT), one for a Unix socket.
type listener struct {
	srv       *Server
	network   string
	addr      net.Addr
	unlink    string // a Unix socket file to remove when the last acceptor ends
	acceptors []*acceptor
	spread    uint32 // round robin over loops for a single acceptor
}

// acceptor is a listening socket and the multishot accept on it, owned by
// one loop.
type acceptor struct {
	ln      *listener
	ls      *loopState
	fd      int
	op      sched.Op
	stopped bool // Shutdown began: the accept is cancelled, the socket closes when it ends
	retry   *sched.Timer
	backoff time.Duration
}

func (s *Server) openListener(network, address string) (*listener, error) {
	ln := &listener{srv: s, network: network}
	switch network {
	case "tcp", "tcp4", "tcp6":
		// SO_REUSEPORT would let this group join another process's
		// listeners on the port (same user) and take half its
		// connections. A plain bind first fails if anyone listens there;
		// it is closed before the group binds (a window of a few system
		// calls).
		if _, port, err := net.SplitHostPort(address); err == nil && port != "0" && port != "" {
			fd, err := sched.ListenSocket(network, address, false)
			if err != nil {
				return nil, err
			}
			unix.Close(fd)
		}
		// The first socket picks the port (for ":0"); the others bind to
		// the same one.
		for i, ls := range s.loops {
			fd, err := sched.ListenSocket(network, address, true)
			if err != nil {
				ln.closeAll()
				return nil, err
			}
			if i == 0 {
				sa, err := unix.Getsockname(fd)
				if err != nil {
					unix.Close(fd)
					return nil, os.NewSyscallError("getsockname", err)
				}
				ln.addr = sockaddrToNet(sa)
				if host, _, err := net.SplitHostPort(address); err == nil {
					address = net.JoinHostPort(host, strconv.Itoa(ln.addr.(*net.TCPAddr).Port))
				}
			}
			if err := s.tuneListener(fd); err != nil {
				unix.Close(fd)
				ln.closeAll()
				return nil, err
			}
			ln.acceptors = append(ln.acceptors, newAcceptor(ln, ls, fd))
		}
	case "unix":
		fd, err := sched.ListenSocket(network, address, false)
		if err != nil {
			return nil, err
		}
		ln.addr = &net.UnixAddr{Name: address, Net: "unix"}
		if address != "" && address[0] != '@' {
			ln.unlink = address
		}
		if err := unix.Listen(fd, s.cfg.Backlog); err != nil {
			unix.Close(fd)
			return nil, os.NewSyscallError("listen", err)
		}
		ln.acceptors = append(ln.acceptors, newAcceptor(ln, s.loops[0], fd))
	default:
		return nil, &net.OpError{Op: "listen", Net: network, Err: net.UnknownNetworkError(network)}
	}
	return ln, nil
}

// tuneListener sets what accepted sockets inherit: TCP_NODELAY.
func (s *Server) tuneListener(fd int) error {
	if !s.cfg.Nagle {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return os.NewSyscallError("setsockopt", err)
		}
	}
	if err := unix.Listen(fd, s.cfg.Backlog); err != nil {
		return os.NewSyscallError("listen", err)
	}
	return nil
}

func (ln *listener) closeAll() {
	for _, a := range ln.acceptors {
		a.closeFd()
	}
	ln.acceptors = nil
}

func newAcceptor(ln *listener, ls *loopState, fd int) *acceptor {
	a := &acceptor{ln: ln, ls: ls, fd: fd}
	a.op.PrepAcceptMultishot(fd, a.onAccept)
	return a
}

// start arms the accept, on the acceptor's loop: or closes the socket if
// Shutdown's drain got there first.
func (a *acceptor) start() {
	if a.stopped || a.ln.srv.state.Load() != srvRunning {
		a.stopped = true
		a.finish()
		return
	}
	if err := a.ls.loop.Submit(&a.op); err != nil {
		a.finish()
	}
}

// onAccept handles each accepted connection, and the end of the
// multishot: cancelled by Shutdown (close the socket) or ended by an
// error such as EMFILE (try again after a pause, as net/http does).
func (a *acceptor) onAccept(op *sched.Op, r sched.Result) {
	if r.Res >= 0 {
		a.backoff = 0
		a.ln.accepted(a.ls, int(r.Res))
		if r.More() {
			return
		}
	}
	if r.More() {
		return
	}
	// The multishot ended.
	if a.stopped || a.ln.srv.state.Load() != srvRunning {
		a.finish()
		return
	}
	if r.Res < 0 {
		a.ln.srv.logf("accept failed; retrying", "addr", a.ln.addr.String(), "err", r.Err(), "after", a.nextBackoff())
		if a.retry == nil {
			a.retry = a.ls.loop.NewTimer(a.rearm)
		}
		a.retry.Reset(a.backoff)
		return
	}
	a.rearm()
}

func (a *acceptor) nextBackoff() time.Duration {
	if a.backoff == 0 {
		a.backoff = 5 * time.Millisecond
	} else {
		a.backoff = min(2*a.backoff, time.Second)
	}
	return a.backoff
}

func (a *acceptor) rearm() {
	if a.stopped || a.ln.srv.state.Load() != srvRunning {
		a.finish()
		return
	}
	a.op.PrepAcceptMultishot(a.fd, a.onAccept)
	if err := a.ls.loop.Submit(&a.op); err != nil {
		a.finish()
	}
}

// stop cancels the accept; the socket is closed when it has ended. It
// runs on the acceptor's loop.
func (a *acceptor) stop() {
	if a.stopped {
		return
	}
	a.stopped = true
	if a.retry != nil && a.retry.Stop() {
		a.finish() // no accept was in flight
		return
	}
	if err := a.ls.loop.Cancel(&a.op); errors.Is(err, sched.ErrClosed) {
		a.finish()
	}
}

func (a *acceptor) finish() {
	if a.fd < 0 {
		return
	}
	a.closeFd()
	if a.ln.unlink != "" {
		_ = os.Remove(a.ln.unlink)
	}
	a.ln.srv.acceptors.Add(-1)
	a.ln.srv.checkDone()
}

func (a *acceptor) closeFd() {
	if a.fd >= 0 {
		unix.Close(a.fd)
		a.fd = -1
	}
}

// accepted places a new connection: on this loop for TCP, round robin
// for a Unix socket's single acceptor.
func (ln *listener) accepted(ls *loopState, fd int) {
	s := ln.srv
	if s.state.Load() != srvRunning {
		s.refused.Add(1)
		unix.Close(fd)
		return
	}
	if s.cfg.MaxConns > 0 && s.conns.Load() >= int64(s.cfg.MaxConns) {
		s.refuse(fd)
		return
	}
	s.conns.Add(1)
	s.accepted.Add(1)
	if len(ln.acceptors) == 1 && len(s.loops) > 1 {
		target := s.loops[ln.spread%uint32(len(s.loops))]
		ln.spread++
		if target != ls {
			target.post(func() { target.open(fd, ln) })
			return
		}
	}
	ls.open(fd, ln)
}

// refuse sends the refusal message without waiting and closes fd.
func (s *Server) refuse(fd int) {
	s.refused.Add(1)
	if msg := s.cfg.RefuseMessage; len(msg) > 0 {
		_, _ = unix.SendmsgN(fd, msg, nil, nil, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		// Half-close first, so the peer reads the message before the
		// close and is not reset while it still sends its request.
		_ = unix.Shutdown(fd, unix.SHUT_WR)
	}
	unix.Close(fd)
}

// sockaddrToNet converts a bound address.
func sockaddrToNet(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
