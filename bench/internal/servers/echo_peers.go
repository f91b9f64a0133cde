package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/uringd/uringd/sched"
)

// GnetEcho is gnet v2's echo example: one event loop (no multicore), every
// readable byte written back from OnTraffic.
type GnetEcho struct {
	gnet.BuiltinEventEngine
	run gnetRunner
}

// OnBoot keeps the engine for Close.
func (e *GnetEcho) OnBoot(eng gnet.Engine) gnet.Action { return e.run.boot(eng) }

// Addr returns the listening address.
func (e *GnetEcho) Addr() string { return e.run.addr }

// Close stops the engine.
func (e *GnetEcho) Close() error { return e.run.stop() }

// OnTraffic echoes what arrived.
func (e *GnetEcho) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	_, _ = c.Write(buf)
	return gnet.None
}

// StartGnetEcho starts the gnet echo server.
func StartGnetEcho(addr string) (*GnetEcho, error) {
	e := &GnetEcho{}
	return e, e.run.start(e, addr)
}

// gnetRunner runs a gnet engine with one event loop and stops it.
type gnetRunner struct {
	eng   gnet.Engine
	addr  string
	ready chan struct{}
	done  chan error
}

// boot records the engine so stop can stop it.
func (g *gnetRunner) boot(eng gnet.Engine) gnet.Action {
	g.eng = eng
	close(g.ready)
	return gnet.None
}

func (g *gnetRunner) start(h gnet.EventHandler, addr string) error {
	// gnet binds the address itself; resolve port 0 first so Addr is known.
	if _, port, err := net.SplitHostPort(addr); err == nil && port == "0" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		addr = ln.Addr().String()
		ln.Close()
	}
	g.addr = addr
	g.ready = make(chan struct{})
	g.done = make(chan error, 1)
	go func() {
		g.done <- gnet.Run(h, "tcp://"+addr,
			gnet.WithMulticore(false), gnet.WithNumEventLoop(1),
			gnet.WithReuseAddr(true), gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(quietLogger{}))
	}()
	select {
	case <-g.ready:
		return nil
	case err := <-g.done:
		if err == nil {
			err = errors.New("gnet: engine stopped before booting")
		}
		return err
	case <-time.After(10 * time.Second):
		return errors.New("gnet: engine did not boot in 10s")
	}
}

// stop stops the engine and waits for Run to return.
func (g *gnetRunner) stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := g.eng.Stop(ctx)
	select {
	case <-g.done:
	case <-ctx.Done():
	}
	return err
}

// NetEcho is the plain Go echo server: a goroutine per connection reading
// into its own 4 KiB buffer and writing back what it read. It runs on any
// net.Listener: package net's, or sched's (ConnEcho).
type NetEcho struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
	after func() error // runs after Close (closing a loop)
}

// StartNetEcho starts the goroutine-per-connection echo server.
func StartNetEcho(addr string) (*NetEcho, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serveEcho(ln), nil
}

// StartConnEcho starts the same goroutine-per-connection server on
// sched's net.Listener: accepts, reads and writes go through one loop
// (default Config, as a library user gets it) and its io_uring.
func StartConnEcho(addr string) (*NetEcho, error) {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		return nil, err
	}
	ln, err := l.Listen("tcp", addr)
	if err != nil {
		_ = l.Close(context.Background())
		return nil, err
	}
	s := serveEcho(ln)
	s.after = func() error { return l.Close(context.Background()) }
	return s, nil
}

func serveEcho(ln net.Listener) *NetEcho {
	s := &NetEcho{ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s
}

func (s *NetEcho) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends
			continue
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *NetEcho) handle(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Addr returns the listening address.
func (s *NetEcho) Addr() string { return s.ln.Addr().String() }

// Close stops accepting, closes every connection and waits for their
// goroutines.
func (s *NetEcho) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.after != nil {
		err = errors.Join(err, s.after())
	}
	return err
}

// quietLogger keeps gnet's start-up chatter out of the harness's output
// and passes its errors on to stderr.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet: "+format+"\n", args...)
	os.Exit(1)
}
