package httpd

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/uringd/uringd/evnet"
	"github.com/uringd/uringd/httpd/internal/h1"
	"github.com/uringd/uringd/sched"
)

// ErrServerClosed is returned by ListenAndServe and Serve after Shutdown
// or Close, like http.ErrServerClosed.
var ErrServerClosed = http.ErrServerClosed

// Server is an HTTP/1.1 server on io_uring event loops. Its fields follow
// net/http's Server where they mean the same; set them before serving and
// do not change them after.
//
// Requests are parsed on the loops. A Handler runs on the loop too, with
// zero allocations on its path; an HTTPHandler (any net/http.Handler: a
// ServeMux, a router, middleware) runs on a goroutine per request while
// the loop does the parsing and the I/O. Exactly one of the two is set.
type Server struct {
	// Addr is the TCP address ListenAndServe listens on (default ":http").
	Addr string
	// Handler serves requests on the loop (see Handler).
	Handler Handler
	// HTTPHandler serves requests on goroutines through the net/http API.
	HTTPHandler http.Handler

	// ReadHeaderTimeout bounds the time from a request's first byte to the
	// end of its head (default 10 s): slowloris clients are cut off.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a request body once its head has
	// arrived (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds the time a response may take to leave, counted
	// from when it starts being sent (default 30 s): a client that reads
	// too slowly is cut off.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request (default 60 s).
	IdleTimeout time.Duration

	// MaxRequestLine, MaxHeaderBytes and MaxHeaders bound a request head
	// (414 and 431 beyond them); MaxBodyBytes bounds a body (413; default
	// 1 MiB, negative: no limit). Zero means the parser's defaults: 8 KiB
	// line, 32 KiB of fields, 100 fields.
	MaxRequestLine int
	MaxHeaderBytes int
	MaxHeaders     int
	MaxBodyBytes   int64
	// MaxRequestsPerConn closes a keep-alive connection after that many
	// requests (0: no limit).
	MaxRequestsPerConn int
	// DisableKeepAlives closes every connection after one response.
	DisableKeepAlives bool

	// MaxConns limits open connections; beyond it a connection gets a 503
	// and is closed (0: no limit).
	MaxConns int
	// Loops is the number of event loops (default GOMAXPROCS), unless Group
	// is set.
	Loops int
	// Group runs the server on existing loops (the caller closes them).
	Group *sched.Group
	// ServerName is sent in the Server header (default "uringd"; "-" to
	// send none).
	ServerName string
	// ErrorLog receives connection and handler errors (default
	// slog.Default()).
	ErrorLog *slog.Logger
	// ConnState, if set, is told when a connection opens and closes.
	ConnState func(net.Addr, http.ConnState)
	// AccessLog, if set, is called on the loop after each response has
	// been handed to its connection. It must not block: format into a
	// buffer that another goroutine writes out.
	AccessLog func(*AccessInfo)

	mu        sync.Mutex
	serverHdr string
	ev        *evnet.Server
	closed    bool
	serving   chan struct{} // closed by Shutdown/Close: Serve returns
	limits    h1.Limits
	loops     map[*sched.Loop]*loopData
	handler   *adapter
}

// Defaults of the timeouts.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 60 * time.Second
)

// refuseMessage is what a connection beyond MaxConns gets.
var refuseMessage = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 20\r\nConnection: close\r\nRetry-After: 1\r\n\r\nserver at capacity.\n")

// ListenAndServe listens on s.Addr (TCP) and serves until Shutdown or
// Close; it then returns ErrServerClosed.
func (s *Server) ListenAndServe() error {
	addr := s.Addr
	if addr == "" {
		addr = ":http"
	}
	if _, err := s.Listen("tcp", addr); err != nil {
		return err
	}
	return s.Serve()
}

// Listen adds a listener ("tcp", "tcp4", "tcp6" or "unix", as net.Listen)
// and starts accepting on it; it returns the bound address. It may be
// called several times.
func (s *Server) Listen(network, address string) (net.Addr, error) {
	ev, err := s.start()
	if err != nil {
		return nil, err
	}
	return ev.Listen(network, address)
}

// Serve blocks until Shutdown or Close, and returns ErrServerClosed.
func (s *Server) Serve() error {
	if _, err := s.start(); err != nil {
		return err
	}
	<-s.serving
	return ErrServerClosed
}

// start sets the server up on first use.
func (s *Server) start() (*evnet.Server, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrServerClosed
	}
	if s.ev != nil {
		return s.ev, nil
	}
	if s.ServerName != "" && s.ServerName != "-" {
		s.serverHdr = "Server: " + s.ServerName + "\r\n"
	}
	if (s.Handler == nil) == (s.HTTPHandler == nil) {
		return nil, errors.New("httpd: set exactly one of Server.Handler and Server.HTTPHandler")
	}
	if s.ErrorLog == nil {
		s.ErrorLog = slog.Default()
	}
	s.limits = h1.Limits{
		MaxRequestLine: s.MaxRequestLine,
		MaxHeaderBytes: s.MaxHeaderBytes,
		MaxHeaders:     s.MaxHeaders,
		MaxBodyBytes:   s.MaxBodyBytes,
	}
	if s.HTTPHandler != nil {
		s.handler = newAdapter(s, s.HTTPHandler)
	}
	s.serving = make(chan struct{})
	cfg := evnet.Config{
		Group:         s.Group,
		Loops:         s.Loops,
		MaxConns:      s.MaxConns,
		RefuseMessage: refuseMessage,
		Logger:        s.ErrorLog,
		// Pipelined requests and streaming handlers wait at this level,
		// which must be the one that makes evnet report OnWritable.
		WriteHighWater: s.highWater(),
	}
	// Net/http handlers run on goroutines that hand every response to the
	// loop: loops that are ordinary goroutines make that hand-off a
	// goroutine switch instead of a thread wake-up.
	cfg.SharedThreads = s.HTTPHandler != nil
	ev, err := evnet.NewServer((*connHandler)(s), cfg)
	if err != nil {
		return nil, err
	}
	s.loops = make(map[*sched.Loop]*loopData, ev.Group().Len())
	for i := range ev.Group().Len() {
		l := ev.Group().Loop(i)
		s.loops[l] = newLoopData(s, l)
		s.loops[l].index = i
	}
	s.ev = ev
	return ev, nil
}

// Addrs returns the addresses the server listens on.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	ev := s.ev
	s.mu.Unlock()
	if ev == nil {
		return nil
	}
	return ev.Addrs()
}

// Shutdown stops the server gracefully, like http.Server.Shutdown: it
// stops accepting, closes idle keep-alive connections, lets requests in
// progress finish (their connections close after the response), and waits
// until every connection has closed. If ctx ends first, the remaining
// connections are closed and Shutdown returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ev := s.ev
	s.mu.Unlock()
	if ev == nil {
		return nil
	}
	err := ev.Shutdown(ctx)
	if s.handler != nil {
		s.handler.stop()
	}
	close(s.serving)
	return err
}

// Close closes every connection at once and stops the server.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// Stats returns the connection counters.
func (s *Server) Stats() evnet.Stats {
	s.mu.Lock()
	ev := s.ev
	s.mu.Unlock()
	if ev == nil {
		return evnet.Stats{}
	}
	return ev.Stats()
}

func (s *Server) readHeaderTimeout() time.Duration {
	return durationOr(s.ReadHeaderTimeout, defaultReadHeaderTimeout)
}
func (s *Server) readTimeout() time.Duration  { return durationOr(s.ReadTimeout, defaultReadTimeout) }
func (s *Server) writeTimeout() time.Duration { return durationOr(s.WriteTimeout, defaultWriteTimeout) }
func (s *Server) idleTimeout() time.Duration  { return durationOr(s.IdleTimeout, defaultIdleTimeout) }

func durationOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}
