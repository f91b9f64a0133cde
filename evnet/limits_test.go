package evnet

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uringd/uringd/sched"
)

// echoCounter is an echo handler that counts open connections (and the
// most open at once) and where they live.
type echoCounter struct {
	open, maxOpen, opened, closed atomic.Int64
	mu                            sync.Mutex
	perLoop                       map[*sched.Loop]int
	errs                          chan error
}

func newEchoCounter() *echoCounter {
	return &echoCounter{perLoop: map[*sched.Loop]int{}, errs: make(chan error, 1<<14)}
}

func (e *echoCounter) OnOpen(c *Conn) {
	e.opened.Add(1)
	n := e.open.Add(1)
	for {
		m := e.maxOpen.Load()
		if n <= m || e.maxOpen.CompareAndSwap(m, n) {
			break
		}
	}
	e.mu.Lock()
	e.perLoop[c.Loop()]++
	e.mu.Unlock()
}
func (e *echoCounter) OnData(c *Conn, b []byte) { c.Write(b) }
func (e *echoCounter) OnClose(c *Conn, err error) {
	e.open.Add(-1)
	e.closed.Add(1)
	if err != nil && err != io.EOF {
		select {
		case e.errs <- err:
		default:
		}
	}
}

func echoOnce(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo %q: got %q, %v", msg, buf, err)
	}
}

// TestMaxConnsRefuses: the connection beyond MaxConns reads RefuseMessage
// and EOF and never reaches the handler; once clients leave, the count
// recovers and new connections are served.
func TestMaxConnsRefuses(t *testing.T) {
	checkLeaks(t)
	e := newEchoCounter()
	const max = 3
	s, addr := serve(t, e, Config{MaxConns: max, RefuseMessage: []byte("busy\n")}, "tcp", "127.0.0.1:0")
	var cs []net.Conn
	for i := range max {
		c := dial(t, addr)
		echoOnce(t, c, fmt.Sprint("conn", i))
		cs = append(cs, c)
	}
	for range 3 {
		c := dial(t, addr)
		if got := readAllNoReset(t, c); string(got) != "busy\n" {
			t.Fatalf("refused conn read %q", got)
		}
		c.Close()
	}
	if st := s.Stats(); st.Refused != 3 || st.Accepted != max || st.Open != max {
		t.Errorf("stats %+v", st)
	}
	if e.opened.Load() != max {
		t.Errorf("handler saw %d connections", e.opened.Load())
	}
	cs[0].Close()
	cs[1].Close()
	waitFor(t, "Conns() to drop", func() bool { return s.Conns() == max-2 })
	for i := range 2 {
		c := dial(t, addr)
		echoOnce(t, c, fmt.Sprint("again", i))
	}
	c := dial(t, addr)
	if got := readAllNoReset(t, c); string(got) != "busy\n" {
		t.Fatalf("refused conn read %q", got)
	}
}

// TestMaxConnsRefuseAfterRequest: a refused client whose request arrived
// before the server got round to refusing it must still read the whole
// refusal and then EOF, not a reset (listener.go's refuse promises it; an
// HTTP client that gets a reset may never see the 503). The loop is kept
// busy (a handler that blocks it briefly, on purpose) so the request is
// in the socket when the accept is handled.
func TestMaxConnsRefuseAfterRequest(t *testing.T) {
	checkLeaks(t)
	msg := []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
	stall := make(chan struct{})
	h := &hooks{data: func(c *Conn, b []byte) {
		<-stall // blocks the loop until the refused client has sent its request
		c.Write(b)
	}}
	_, addr := serve(t, h, Config{Loops: 1, MaxConns: 1, RefuseMessage: msg}, "tcp", "127.0.0.1:0")
	holder := dial(t, addr)
	resets := 0
	const rounds = 5
	for range rounds {
		holder.Write([]byte("x"))
		c := dial(t, addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
		stall <- struct{}{}
		got, err := io.ReadAll(c)
		if !bytes.Equal(got, msg) {
			t.Fatalf("refused client read %q, %v", got, err)
		}
		if err != nil {
			resets++
		}
		c.Close()
		io.ReadFull(holder, make([]byte, 1))
	}
	if resets > 0 {
		t.Errorf("%d of %d refused clients that had sent a request got a reset after the refusal instead of EOF", resets, rounds)
	}
}

// TestMaxConnsConcurrentAccepts: with two loops accepting on the shared
// port at once, no more than MaxConns connections may be open.
func TestMaxConnsConcurrentAccepts(t *testing.T) {
	checkLeaks(t)
	const max = 8
	for round := range 5 {
		e := newEchoCounter()
		s, err := NewServer(e, Config{Loops: 2, MaxConns: max})
		if err != nil {
			t.Fatal(err)
		}
		addr, err := s.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var conns []net.Conn
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
			}()
		}
		wg.Wait()
		waitFor(t, "every connection accepted or refused", func() bool {
			st := s.Stats()
			return st.Accepted+st.Refused == 64
		})
		st := s.Stats()
		for _, c := range conns {
			c.Close()
		}
		if err := shutdown(t, s, testTimeout); err != nil {
			t.Fatal(err)
		}
		if m := e.maxOpen.Load(); m > max || st.Accepted > max {
			t.Fatalf("round %d: %d connections open at once, %d accepted, MaxConns %d", round, m, st.Accepted, max)
		}
	}
}

// TestManyConnsSpreadOverLoops: 2,500 concurrent TCP connections, each
// echoing; every loop gets some (SO_REUSEPORT); all leave cleanly.
func TestManyConnsSpreadOverLoops(t *testing.T) {
	checkLeaks(t)
	e := newEchoCounter()
	s, addr := serve(t, e, Config{Loops: 2}, "tcp", "127.0.0.1:0")
	const n = 2500
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 200)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
			c.SetDeadline(time.Now().Add(3 * testTimeout))
			msg := fmt.Sprintf("hello %d", i)
			c.Write([]byte(msg))
			buf := make([]byte, len(msg))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
				errs <- fmt.Errorf("conn %d: %q %v", i, buf, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := s.Conns(); got != n {
		t.Errorf("Conns() = %d with %d clients connected", got, n)
	}
	e.mu.Lock()
	if len(e.perLoop) != 2 {
		t.Errorf("connections per loop: %v; want both loops used", e.perLoop)
	}
	t.Logf("per loop: %v", e.perLoop)
	e.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, "every connection to close", func() bool { return s.Conns() == 0 })
	if e.closed.Load() != n {
		t.Errorf("OnClose ran %d times, want %d", e.closed.Load(), n)
	}
	select {
	case err := <-e.errs:
		t.Errorf("a connection closed with %v", err)
	default:
	}
}

// TestUnixRoundRobin: a Unix listener's connections go to the loops in
// turn.
func TestUnixRoundRobin(t *testing.T) {
	checkLeaks(t)
	e := newEchoCounter()
	path := filepath.Join(t.TempDir(), "rr.sock")
	s, addr := serve(t, e, Config{Loops: 2}, "unix", path)
	for i := range 10 {
		c := dial(t, addr)
		echoOnce(t, c, fmt.Sprint("rr", i))
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.perLoop) != 2 {
		t.Fatalf("per loop %v", e.perLoop)
	}
	for l, n := range e.perLoop {
		if n != 5 {
			t.Errorf("loop %p got %d of 10 connections, want 5", l, n)
		}
	}
	_ = s
}

// TestENOBUFSPressure: one loop whose buffer ring is four 512-byte
// buffers, 64 connections sending at once: every byte echoes back in
// order and nobody is closed with ENOBUFS.
func TestENOBUFSPressure(t *testing.T) {
	for _, hw := range []int{0, 8 << 10} { // default, and throttling all the time
		t.Run(fmt.Sprint("highwater", hw), func(t *testing.T) {
			checkLeaks(t)
			e := newEchoCounter()
			s, addr := serve(t, e, Config{Loops: 1, WriteHighWater: hw,
				LoopConfig: sched.Config{Buffers: 4, BufferSize: 512}}, "tcp", "127.0.0.1:0")
			const n, size = 64, 256 << 10
			var wg sync.WaitGroup
			errs := make(chan error, 2*n)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", addr.String(), testTimeout)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(3 * testTimeout))
					off := int64(i) * 7919
					go func() {
						for sent := 0; sent < size; {
							b := patternChunk(off+int64(sent), min(size-sent, 3000))
							if _, err := c.Write(b); err != nil {
								errs <- err
								return
							}
							sent += len(b)
						}
					}()
					got := make([]byte, size)
					if _, err := io.ReadFull(c, got); err != nil {
						errs <- fmt.Errorf("conn %d: %v", i, err)
						return
					}
					if bad := patternCheck(off, got); bad >= 0 {
						errs <- fmt.Errorf("conn %d: corrupt at %d", i, bad-off)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			select {
			case err := <-e.errs:
				t.Errorf("a connection was closed with %v", err)
			default:
			}
			m := s.Group().Loop(0).Metrics()
			t.Logf("ENOBUFS re-arms %d", m.ENOBUFSRearms)
			if m.ENOBUFSRearms == 0 {
				t.Log("the buffer ring never ran dry")
			}
		})
	}
}
