package servers

import (
	"context"
	"time"

	"github.com/uringd/uringd/evnet"
	"github.com/uringd/uringd/sched"
)

// UringdEcho is an echo server on evnet, uringd's connection layer: one
// loop, a multishot accept, per connection a multishot recv drawing from
// the loop's provided buffer ring (an idle connection holds no read
// buffer) and output coalesced into one send per loop turn.
type UringdEcho struct {
	srv     *evnet.Server
	loop    *sched.Loop
	ownLoop bool
	addr    string
}

type echoHandler struct{}

func (echoHandler) OnOpen(*evnet.Conn)                {}
func (echoHandler) OnData(c *evnet.Conn, data []byte) { c.Write(data) }
func (echoHandler) OnClose(*evnet.Conn, error)        {}

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
	srv, err := evnet.NewServer(echoHandler{}, evnet.Config{Group: sched.GroupOf(l), Linger: -1})
	if err != nil {
		return nil, err
	}
	a, err := srv.Listen("tcp", addr)
	if err != nil {
		_ = srv.Close()
		return nil, err
	}
	return &UringdEcho{srv: srv, loop: l, addr: a.String()}, nil
}

// Addr returns the listening address.
func (s *UringdEcho) Addr() string { return s.addr }

// Conns returns the number of open connections.
func (s *UringdEcho) Conns() int { return s.srv.Conns() }

// Close closes every connection and the listener, then the loop if the
// server owns it.
func (s *UringdEcho) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if s.ownLoop {
		if cerr := s.loop.Close(ctx); err == nil {
			err = cerr
		}
	}
	return err
}
