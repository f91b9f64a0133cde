package httpd

// Every timeout, end to end, with short settings: the tests assert what
// happens (a 408, a closed connection, a handler that learns its client is
// gone), never how long it took.

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const shortTimeout = 200 * time.Millisecond

// A head that never completes gets a 408 and the connection closes, also
// when its bytes keep trickling in.
func TestReadHeaderTimeout(t *testing.T) {
	forModes(t, func(s *Server) { s.ReadHeaderTimeout = shortTimeout }, func(t *testing.T, s *Server, addr string, log *served) {
		c := dial(t, addr)
		c.Write([]byte("GET /never HTTP/1.1\r\nHost: x\r\n"))
		br := bufio.NewReader(c)
		if r := mustResp(t, br, "GET"); r.StatusCode != 408 || !r.Close {
			t.Fatalf("stalled head: %v, want 408 and close", r)
		}
		expectEOF(t, br)

		// Slowloris: a byte at a time, forever.
		c2 := dial(t, addr)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			head := []byte("GET /slow HTTP/1.1\r\nHost: x\r\n")
			for i := 0; ; i++ {
				b := head[i%len(head)]
				if i >= len(head) {
					b = "X-Slow: aaaa\r\n"[(i-len(head))%14]
				}
				if _, err := c2.Write([]byte{b}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}()
		br2 := bufio.NewReader(c2)
		r, err := readResp(br2, "GET")
		close(stop)
		<-done
		if err != nil || r.StatusCode != 408 {
			t.Fatalf("trickled head: %v %v, want 408", r, err)
		}
		if got := log.get(); len(got) != 0 {
			t.Fatalf("served %q", got)
		}
		// The header timeout counts from a request's first byte, not
		// from the end of the last response: a keep-alive connection
		// idle for longer is still served.
		c3 := dial(t, addr)
		br3 := bufio.NewReader(c3)
		c3.Write([]byte(get("/first")))
		mustResp(t, br3, "GET")
		time.Sleep(2 * shortTimeout)
		c3.Write([]byte(get("/second")))
		if r := mustResp(t, br3, "GET"); string(r.body) != echoBody("GET", "/second", nil) {
			t.Fatalf("request after an idle pause: %v", r)
		}
	})
}

// A body that stalls gets a 408 and the connection closes.
func TestReadTimeoutBody(t *testing.T) {
	forModes(t, func(s *Server) { s.ReadTimeout = shortTimeout }, func(t *testing.T, s *Server, addr string, log *served) {
		for _, req := range []string{
			"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
			"POST /stall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
			"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n",
		} {
			c := dial(t, addr)
			c.Write([]byte(req))
			br := bufio.NewReader(c)
			r := mustResp(t, br, "POST")
			if r.StatusCode == 100 {
				r = mustResp(t, br, "POST")
			}
			if r.StatusCode != 408 || !r.Close {
				t.Fatalf("%q: %v, want 408 and close", req, r)
			}
			expectEOF(t, br)
		}
		if got := log.get(); len(got) != 0 {
			t.Fatalf("served %q", got)
		}
	})
}

// An idle keep-alive connection is closed (without a response), and so is
// a connection that never sends anything.
func TestIdleTimeout(t *testing.T) {
	forModes(t, func(s *Server) { s.IdleTimeout = shortTimeout }, func(t *testing.T, s *Server, addr string, log *served) {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		c.Write([]byte(get("/one")))
		mustResp(t, br, "GET")
		expectEOF(t, br)
		c2 := dial(t, addr)
		expectEOF(t, bufio.NewReader(c2))
		c.Close()
		c2.Close()
		waitOpen(t, s, 0)
	})
}

// dialSmallWindow connects with a tiny receive buffer, so that a client
// that does not read stops the server's sending almost at once.
func dialSmallWindow(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	d := net.Dialer{Timeout: testTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn)
}

// cutOff checks that the server closed a connection whose client never
// read a large response: the server forgets it, and the client can read
// only part of the response before the connection ends.
func cutOff(t *testing.T, s *Server, c *net.TCPConn, full int) {
	t.Helper()
	waitFor(t, "the connection to be accepted", func() bool { return s.Stats().Accepted > 0 })
	waitOpen(t, s, 0)
	n, err := io.Copy(io.Discard, c)
	if n >= int64(full) {
		t.Fatalf("the whole response (%d bytes) arrived: not cut off", n)
	}
	if err != nil && !isClosedErr(err) {
		t.Fatalf("reading the cut-off response: %v", err)
	}
}

// A client that never reads a large response is cut off, whether the
// connection would stay open after the response or not.
func TestWriteTimeout(t *testing.T) {
	const size = 10 << 20
	for _, tc := range []struct{ name, req string }{
		{"keep-alive", get("/big?n=" + strconv.Itoa(size))},
		{"connection-close", "GET /big?n=" + strconv.Itoa(size) + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"http10", "GET /big?n=" + strconv.Itoa(size) + " HTTP/1.0\r\n\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forModes(t, func(s *Server) { s.WriteTimeout = shortTimeout }, func(t *testing.T, s *Server, addr string, log *served) {
				c := dialSmallWindow(t, addr)
				c.Write([]byte(tc.req))
				cutOff(t, s, c, size)
			})
		})
	}
}

// streamUntilError is a net/http handler that streams 256 KiB pieces,
// pace apart, until a write or flush fails (or limit bytes went out), then
// reports how much it wrote and the error.
type streamResult struct {
	n   int
	err error
}

func streamUntilError(limit int, pace time.Duration, setup func(w http.ResponseWriter), res chan<- streamResult) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if setup != nil {
			setup(w)
		}
		rc := http.NewResponseController(w)
		piece := pattern(256 << 10)
		n := 0
		var err error
		for n < limit {
			if _, err = w.Write(piece); err != nil {
				break
			}
			n += len(piece)
			if err = rc.Flush(); err != nil {
				break
			}
			if err = r.Context().Err(); err != nil {
				break
			}
			time.Sleep(pace)
		}
		res <- streamResult{n, err}
	}
}

// A net/http handler streaming (slowly) to a client that never reads:
// WriteTimeout cuts the connection off and the handler learns it (a write
// or flush fails, or its context ends).
func TestWriteTimeoutStreamingHandler(t *testing.T) {
	const limit = 64 << 20
	res := make(chan streamResult, 1)
	s := &Server{HTTPHandler: streamUntilError(limit, 5*time.Millisecond, nil, res), WriteTimeout: shortTimeout}
	addr := serve(t, s)
	c := dialSmallWindow(t, addr)
	c.Write([]byte(get("/stream")))
	r := recv(t, res, "the streaming handler to stop")
	if r.err == nil {
		t.Fatalf("the handler wrote %d bytes to a client that reads nothing without an error", r.n)
	}
	cutOff(t, s, c, limit)
}

// A net/http handler writing as fast as it can to a client that never
// reads must be held back (its writes block, then fail on the write
// timeout), not have everything it writes buffered by the server.
func TestStreamingBackpressure(t *testing.T) {
	const limit = 64 << 20
	res := make(chan streamResult, 1)
	s := &Server{HTTPHandler: streamUntilError(limit, 0, nil, res), WriteTimeout: shortTimeout}
	addr := serve(t, s)
	c := dialSmallWindow(t, addr)
	c.Write([]byte(get("/stream")))
	r := recv(t, res, "the streaming handler to stop")
	if r.err == nil {
		t.Fatalf("the handler wrote %d bytes to a client that reads nothing without being held back", r.n)
	}
	cutOff(t, s, c, limit)
}

// http.ResponseController.SetWriteDeadline: a handler's own write
// deadline cuts off a client that does not read, and the handler learns
// it.
func TestResponseControllerSetWriteDeadline(t *testing.T) {
	const limit = 64 << 20
	res := make(chan streamResult, 1)
	setup := func(w http.ResponseWriter) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(shortTimeout)); err != nil {
			t.Errorf("SetWriteDeadline: %v", err)
		}
	}
	s := &Server{HTTPHandler: streamUntilError(limit, 5*time.Millisecond, setup, res)}
	addr := serve(t, s)
	c := dialSmallWindow(t, addr)
	c.Write([]byte(get("/stream")))
	r := recv(t, res, "the streaming handler to stop")
	if r.err == nil {
		t.Fatalf("the handler wrote %d bytes past its write deadline without an error", r.n)
	}
	cutOff(t, s, c, limit)
}

// A write deadline that is cleared again lets a reading client get
// everything.
func TestResponseControllerClearWriteDeadline(t *testing.T) {
	res2 := make(chan streamResult, 1)
	s2 := &Server{HTTPHandler: streamUntilError(4<<20, 0, func(w http.ResponseWriter) {
		rc := http.NewResponseController(w)
		rc.SetWriteDeadline(time.Now().Add(shortTimeout))
		rc.SetWriteDeadline(time.Time{})
	}, res2)}
	addr2 := serve(t, s2)
	cl := newClient(t, 1)
	resp, err := cl.Get("http://" + addr2 + "/")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * shortTimeout)
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if r := recv(t, res2, "handler"); r.err != nil || n != 4<<20 || err != nil {
		t.Fatalf("cleared deadline: handler %v, client read %d, %v", r, n, err)
	}
}

// Pipelined requests from a client that never reads: the server must stop
// producing responses once its output queue is full (as it stops reading),
// not answer every request already received into memory. Here 64 small
// GETs of 1 MiB each would otherwise pin 64 MiB per connection (and the
// input backlog admits thousands of such requests).
func TestPipelinedOutputBounded(t *testing.T) {
	forModes(t, func(s *Server) { s.WriteTimeout = shortTimeout }, func(t *testing.T, s *Server, addr string, log *served) {
		c := dialSmallWindow(t, addr)
		var req []byte
		for i := range 64 {
			req = append(req, get("/big?n=1048576&i="+strconv.Itoa(i))...)
		}
		c.Write(req)
		cutOff(t, s, c, 64<<20)
		if n := len(log.get()); n > 8 {
			t.Fatalf("the server produced %d MiB of responses for a client that read nothing", n)
		}
	})
}
