package evnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/sched"
)

// Config configures a Server. The zero value is usable.
type Config struct {
	// Group runs the server's connections. Nil: the server starts Loops
	// loops of its own with LoopConfig and closes them when it is shut
	// down; their LockOSThread is set unless SharedThreads, since loops
	// that run only callbacks are fastest on threads of their own, while
	// loops that hand work to goroutines are not (see sched.Config).
	Group         *sched.Group
	Loops         int // default GOMAXPROCS
	LoopConfig    sched.Config
	SharedThreads bool
	// MaxConns limits open connections (0: no limit). A connection beyond
	// it is sent RefuseMessage, if any, and closed.
	MaxConns      int
	RefuseMessage []byte
	// WriteHighWater is how much queued output makes a connection stop
	// reading (default 1 MiB); it reads again below WriteLowWater
	// (default a quarter of the high water mark).
	WriteHighWater int
	WriteLowWater  int
	// Linger is how long a closed connection keeps reading and
	// discarding after it has sent everything and shut down its sending
	// side, so that a peer still sending does not get a reset that could
	// destroy the last response before it reads it (default 2 s; negative:
	// close at once).
	Linger time.Duration
	// Nagle leaves Nagle's algorithm on (by default TCP_NODELAY is set:
	// output is already coalesced per loop turn).
	Nagle bool
	// Backlog is the listen backlog (default 4096).
	Backlog int
	// Logger receives accept errors and the like (default slog.Default()).
	Logger *slog.Logger
}

func (c *Config) fill() {
	if c.WriteHighWater <= 0 {
		c.WriteHighWater = 1 << 20
	}
	if c.WriteLowWater <= 0 || c.WriteLowWater >= c.WriteHighWater {
		c.WriteLowWater = c.WriteHighWater / 4
	}
	if c.Linger == 0 {
		c.Linger = 2 * time.Second
	}
	if c.Backlog <= 0 {
		c.Backlog = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server states.
const (
	srvRunning int32 = iota
	srvDraining
	srvClosed
)

// Server accepts connections on its listeners and runs h for them.
type Server struct {
	cfg      Config
	h        Handler
	group    *sched.Group
	ownGroup bool
	loops    []*loopState

	mu        sync.Mutex
	listeners []*listener

	state      atomic.Int32
	conns      atomic.Int64 // open connections
	acceptors  atomic.Int64 // accept operations not yet finished
	refused    atomic.Uint64
	accepted   atomic.Uint64
	allDone    chan struct{} // closed once draining and nothing is left
	doneOnce   sync.Once
	shutdownMu sync.Mutex
}

// NewServer returns a server that runs h; add listeners with Listen.
func NewServer(h Handler, cfg Config) (*Server, error) {
	cfg.fill()
	s := &Server{cfg: cfg, h: h, group: cfg.Group, allDone: make(chan struct{})}
	if s.group == nil {
		lc := cfg.LoopConfig
		lc.LockOSThread = !cfg.SharedThreads
		if lc.Logger == nil {
			lc.Logger = cfg.Logger
		}
		g, err := sched.NewGroup(cfg.Loops, lc)
		if err != nil {
			return nil, err
		}
		s.group, s.ownGroup = g, true
	}
	for i := range s.group.Len() {
		s.loops = append(s.loops, newLoopState(s, s.group.Loop(i)))
	}
	return s, nil
}

// Listen starts a server for h on one address; see Server.Listen.
func Listen(network, address string, h Handler, cfg Config) (*Server, error) {
	s, err := NewServer(h, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := s.Listen(network, address); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Listen adds a listener: network is "tcp", "tcp4", "tcp6" or "unix" (a
// name starting with '@' is abstract), as for net.Listen. With TCP every
// loop gets a socket of its own on the port (SO_REUSEPORT); a Unix socket
// is accepted on one loop and its connections spread over all of them.
// It returns the address actually bound (the port chosen for ":0").
func (s *Server) Listen(network, address string) (net.Addr, error) {
	if s.state.Load() != srvRunning {
		return nil, ErrClosed
	}
	ln, err := s.openListener(network, address)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	for _, a := range ln.acceptors {
		s.acceptors.Add(1)
		// Started on the loop, where it is ordered with a drain: a drain
		// that runs first makes it close instead of accept. A loop that
		// has stopped (a Shutdown that finished meanwhile) runs nothing
		// more, so the socket closes here.
		if err := a.ls.postAlways(a.start); err != nil {
			a.finish()
		}
	}
	return ln.addr, nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	addrs := make([]net.Addr, len(s.listeners))
	for i, ln := range s.listeners {
		addrs[i] = ln.addr
	}
	return addrs
}

// Conns returns the number of open connections.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Stats is a snapshot of the server's counters.
type Stats struct {
	Open     int64  // connections open now
	Accepted uint64 // connections accepted since start
	Refused  uint64 // connections refused by MaxConns or shutdown
}

// LoopStats are one loop's share of a server's connections and traffic.
type LoopStats struct {
	Open     int64  // connections open on the loop now
	BytesIn  uint64 // bytes received since start
	BytesOut uint64 // bytes sent since start (files spliced included)
}

// LoopStats returns each loop's counters, in the order of Group.
func (s *Server) LoopStats() []LoopStats {
	out := make([]LoopStats, len(s.loops))
	for i, ls := range s.loops {
		out[i] = LoopStats{Open: ls.openConns.Load(), BytesIn: ls.bytesIn.Load(), BytesOut: ls.bytesOut.Load()}
	}
	return out
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	return Stats{Open: s.conns.Load(), Accepted: s.accepted.Load(), Refused: s.refused.Load()}
}

// Group returns the loops the server runs on.
func (s *Server) Group() *sched.Group { return s.group }

// Shutdown stops the server gracefully: it stops accepting, asks every
// connection's handler to finish (Drainer; without it, connections close
// once their output is sent), and waits until every connection is closed.
// If ctx ends first, the connections left are aborted (OnClose with
// ErrShutdown) and Shutdown returns ctx's error once they are gone.
// Loops the server started itself are closed last.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownMu.Lock()
	defer s.shutdownMu.Unlock()
	if s.state.CompareAndSwap(srvRunning, srvDraining) {
		for _, ls := range s.loops {
			ls.post(func() { ls.drain() })
		}
		s.checkDone()
	}
	var err error
	select {
	case <-s.allDone:
	case <-ctx.Done():
		err = ctx.Err()
		for _, ls := range s.loops {
			ls.post(func() { ls.abortAll() })
		}
		// Aborted connections go as soon as the kernel returns their
		// operations; a loop that has closed takes them with it. Bounded:
		// loops the server started are closed below whatever is left.
		t := time.NewTimer(abortGrace)
		select {
		case <-s.allDone:
		case <-s.loopsGone():
		case <-t.C:
		}
		t.Stop()
	}
	if s.state.Swap(srvClosed) != srvClosed {
		if s.ownGroup {
			err = errors.Join(err, s.group.Close(context.Background()))
			// The loops are gone: nothing else touches their pipes.
			for _, ls := range s.loops {
				ls.closePipes()
			}
		} else {
			for _, ls := range s.loops {
				ls.post(ls.closePipes)
			}
		}
	}
	return err
}

// abortGrace is how long Shutdown waits for aborted connections once its
// context has ended.
const abortGrace = time.Second

// loopsGone is closed when every loop of the server has exited.
func (s *Server) loopsGone() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		for _, ls := range s.loops {
			<-ls.loop.Done()
		}
		close(ch)
	}()
	return ch
}

// Close aborts every connection and stops the server at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// checkDone closes allDone once the server drains and nothing is left.
func (s *Server) checkDone() {
	if s.state.Load() != srvRunning && s.conns.Load() == 0 && s.acceptors.Load() == 0 {
		s.doneOnce.Do(func() { close(s.allDone) })
	}
}

func (s *Server) logf(msg string, args ...any) { s.cfg.Logger.Warn("evnet: "+msg, args...) }
