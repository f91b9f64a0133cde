package evnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testTimeout = 10 * time.Second

// echo is the smallest protocol: everything back.
type echo struct {
	opened, closed atomic.Int64
	closeErrs      chan error
}

func (e *echo) OnOpen(c *Conn)              { e.opened.Add(1) }
func (e *echo) OnData(c *Conn, data []byte) { c.Write(data) }
func (e *echo) OnClose(c *Conn, err error) {
	e.closed.Add(1)
	if e.closeErrs != nil {
		e.closeErrs <- err
	}
}

func startServer(t *testing.T, h Handler, cfg Config, network, addr string) (*Server, net.Addr) {
	t.Helper()
	if cfg.Loops == 0 && cfg.Group == nil {
		cfg.Loops = 2
	}
	s, err := NewServer(h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.Listen(network, addr)
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, a
}

func TestEchoManyConns(t *testing.T) {
	h := &echo{}
	_, addr := startServer(t, h, Config{}, "tcp", "127.0.0.1:0")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testTimeout))
			msg := make([]byte, 1+i*997)
			rand.Read(msg)
			for range 20 {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(got, msg) {
					errs <- errors.New("echo mismatch")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// closer writes a reply and closes: the peer must read the whole reply,
// then EOF.
type closer struct {
	reply []byte
}

func (h *closer) OnOpen(c *Conn) {}
func (h *closer) OnData(c *Conn, data []byte) {
	c.Write(h.reply)
	c.Close()
}
func (h *closer) OnClose(c *Conn, err error) {}

func TestCloseSendsEverythingFirst(t *testing.T) {
	reply := make([]byte, 8<<20)
	rand.Read(reply)
	_, addr := startServer(t, &closer{reply: reply}, Config{}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte("go"))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, reply) {
		t.Fatalf("read %d bytes, %v; want the %d-byte reply then EOF", len(got), err, len(reply))
	}
}

func TestUnixAndShutdown(t *testing.T) {
	h := &echo{closeErrs: make(chan error, 4)}
	path := filepath.Join(t.TempDir(), "s.sock")
	s, err := Listen("unix", path, h, Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("%q %v", buf, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("after Shutdown the client should read EOF: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
	if h.opened.Load() != 1 || h.closed.Load() != 1 {
		t.Errorf("opened %d closed %d", h.opened.Load(), h.closed.Load())
	}
}

// A second server on a port another one listens on fails with
// EADDRINUSE, as package net does, though each loop's listener has
// SO_REUSEPORT (which would otherwise let it join the first's group and
// take half its connections).
func TestListenPortInUse(t *testing.T) {
	_, addr := startServer(t, &echo{}, Config{}, "tcp", "127.0.0.1:0")
	s, err := NewServer(&echo{}, Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if a, err := s.Listen("tcp", addr.String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("second Listen on %s: %v, %v; want EADDRINUSE", addr, a, err)
	}
	// Nor beside a listener of package net's.
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	if a, err := s.Listen("tcp", nl.Addr().String()); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen on net's %s: %v, %v; want EADDRINUSE", nl.Addr(), a, err)
	}
}

// LoopStats counts the bytes each way and the connections open, per loop.
func TestLoopStats(t *testing.T) {
	s, addr := startServer(t, &echo{}, Config{}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("x"), 100_000)
	go c.Write(msg)
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	// The client may have every byte before the server's loop has run
	// the send's completion: the counters catch up.
	var in, out uint64
	var open int64
	deadline := time.Now().Add(testTimeout)
	for {
		in, out, open = 0, 0, 0
		for _, ls := range s.LoopStats() {
			in, out, open = in+ls.BytesIn, out+ls.BytesOut, open+ls.Open
		}
		if in >= uint64(len(msg)) && out >= uint64(len(msg)) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if in != uint64(len(msg)) || out != uint64(len(msg)) || open != 1 {
		t.Fatalf("in %d, out %d, open %d; want %d, %d, 1", in, out, open, len(msg), len(msg))
	}
	c.Close()
	deadline = time.Now().Add(testTimeout)
	for open != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		open = 0
		for _, ls := range s.LoopStats() {
			open += ls.Open
		}
	}
	if open != 0 {
		t.Fatalf("%d open after the client closed", open)
	}
}

// ReserveOutput: room not committed is never output (the next write takes
// its place), committed room goes out in order with writes, and no room
// is given while output waits behind a file range.
func TestReserveOutput(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("FILE")
	defer f.Close()
	refused := make(chan bool, 1)
	h := &hooks{data: func(c *Conn, b []byte) {
		room := c.ReserveOutput(8)
		copy(room, "XXXXXXXX") // never committed
		c.WriteString("abc")
		room = c.ReserveOutput(8)
		copy(room, "def-junk")
		c.CommitOutput(3)
		c.SendFile(int(f.Fd()), 0, 4, func(int64, error) {})
		refused <- c.ReserveOutput(4) == nil
		c.WriteString("!")
		c.Close()
	}}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	conn, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("go"))
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "abcdefFILE!" {
		t.Fatalf("got %q, %v; want %q", got, err, "abcdefFILE!")
	}
	if !<-refused {
		t.Fatal("ReserveOutput gave room while a file range was queued")
	}
}
