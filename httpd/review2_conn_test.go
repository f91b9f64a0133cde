package httpd

// Second adversarial review of conn.go and response.go: a panicking
// native handler (connection aborted, Response recycled), the connection
// record freed under serve's feet, the timeout a keep-alive connection is
// left with, pipelining against the high-water mark with a half-close,
// Response.Closed, and request targets compared with net/http.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A native handler goes asynchronous (hands its Response to a goroutine)
// and then panics. runHandler puts the Response back in the loop's pool
// at once, so the next request on the loop gets the same *Response while
// the first handler's goroutine still holds it: that goroutine's
// Post/Write/Finish then answers another client's request.
func TestR2NativeAsyncPanicRecyclesResponse(t *testing.T) {
	wa := make(chan *Response, 1)
	wb := make(chan *Response, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		switch string(r.Path()) {
		case "/a":
			w.Async()
			wa <- w // a worker now owns it
			panic("r2: panic after going async")
		case "/b":
			w.Async()
			wb <- w
		}
	})
	s := &Server{Handler: h, Loops: 1}
	addr := serve(t, s)
	ca := dial(t, addr)
	ca.Write([]byte(get("/a")))
	wA := recv(t, wa, "handler a")
	expectEOF(t, bufio.NewReader(ca))

	cb := dial(t, addr)
	cb.Write([]byte(get("/b")))
	wB := recv(t, wb, "handler b")

	// A's worker comes back with its result, as a worker does.
	ran := make(chan struct{})
	wA.Post(func(w *Response) {
		defer close(ran)
		w.WriteString("result of A")
		w.Finish()
	})
	recv(t, ran, "A's posted function")
	wB.Post(func(w *Response) {
		w.WriteString("result of B")
		w.Finish()
	})
	r := mustResp(t, bufio.NewReader(cb), "GET")
	if string(r.body) != "result of B" {
		t.Fatalf("client B got %q (same Response: %v)", r.body, wA == wB)
	}
}

// Pipelined "GET /ok" and "GET /panic" in one segment: /ok's response is
// complete and queued when /panic's native handler panics. net/http sends
// it and then closes the connection; runHandler's Abort drops the queued
// output, so the client never learns that /ok was served.
func TestR2NativePanicDropsEarlierResponse(t *testing.T) {
	native := HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/panic" {
			panic("r2: native panic")
		}
		w.WriteString("ok")
	})
	ref := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("r2: net/http panic")
		}
		io.WriteString(w, "ok")
	})
	for _, srv := range []struct{ name, addr string }{
		{"net/http", r2NetHTTP(t, ref)},
		{"native", serve(t, &Server{Handler: native, Loops: 1})},
	} {
		raw := r2Raw(t, srv.addr, get("/ok")+get("/panic"))
		rs, _ := r2Responses(raw, "GET")
		if len(rs) != 1 || string(rs[0].body) != "ok" {
			t.Errorf("%s: %q, want /ok's response and then the connection closed", srv.name, raw)
		}
	}
}

// A native handler that panics while the connection serves requests that
// were buffered behind an asynchronous response, after the client
// half-closed: no receive is armed (EOF) and the earlier response is still
// queued (no send armed), so runHandler's Abort closes the connection at
// once and OnClose frees its record (freeConn zeroes it: state stIdle, ec
// nil) while serve is still iterating over the record's input. serve then
// dereferences the nil ec on the loop: the callback panics.
func TestR2NativePanicAfterEOFUsesFreedConn(t *testing.T) {
	ws := make(chan *Response, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		switch string(r.Path()) {
		case "/async":
			w.Async()
			ws <- w
		case "/panic":
			panic("r2: native panic")
		default:
			w.WriteString("x")
		}
	})
	s := &Server{Handler: h, Loops: 1}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/async") + get("/panic") + get("/x")))
	c.CloseWrite()
	w := recv(t, ws, "the async handler")
	waitFor(t, "the server to see the half-close", func() bool {
		eof := false
		r2OnLoop(t, w.ld, func() { eof = w.conn() != nil && w.conn().peerEOF })
		return eof
	})
	before := r2CallbackPanics(s)
	done := make(chan struct{})
	w.Post(func(w *Response) {
		defer close(done)
		w.WriteString("async")
		w.Finish()
	})
	recv(t, done, "the posted Finish")
	io.Copy(io.Discard, c)
	if n := r2CallbackPanics(s) - before; n != 0 {
		t.Fatalf("%d loop callbacks panicked while serving the buffered requests", n)
	}
}

// A keep-alive connection whose response ended with nothing left to
// write (the body went out with an earlier Flush: a declared length,
// streamed) keeps the write timeout that responded() arms, since no
// OnDrained follows to switch to the idle one: it is cut off after
// WriteTimeout of idleness instead of IdleTimeout.
func TestR2IdleTimeoutAfterEmptyLastPiece(t *testing.T) {
	adapter := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
	})
	ws := make(chan *Response, 1)
	native := HandlerFunc(func(w *Response, r *Request) {
		w.SetContentLength(5)
		w.WriteString("hello")
		w.Flush()
		w.Async()
		ws <- w
	})
	for _, s := range []*Server{{HTTPHandler: adapter}, {Handler: native}} {
		name := "adapter"
		if s.Handler != nil {
			name = "native"
		}
		t.Run(name, func(t *testing.T) {
			s.WriteTimeout, s.IdleTimeout = shortTimeout, time.Minute
			addr := serve(t, s)
			c := dial(t, addr)
			br := bufio.NewReader(c)
			for i := range 2 {
				c.Write([]byte(get("/")))
				r := mustResp(t, br, "GET")
				if string(r.body) != "hello" {
					t.Fatalf("response %d: %v", i, r)
				}
				if name == "native" {
					w := recv(t, ws, "the native handler")
					done := make(chan struct{})
					w.Post(func(w *Response) { w.Finish(); close(done) })
					recv(t, done, "Finish")
				}
				time.Sleep(5 * shortTimeout) // idle: well within IdleTimeout
			}
		})
	}
}

// Response.Closed is documented for asynchronous handlers, whose work
// runs elsewhere, but it reads the connection record and the evnet
// connection's flags, which the loop writes: called from the worker it
// is a data race (run with -race).
func TestR2NativeClosedOffLoopRace(t *testing.T) {
	if !r2Race {
		t.Skip("needs the race detector")
	}
	saw := make(chan bool, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		w.Async()
		go func() {
			deadline := time.Now().Add(testTimeout)
			for !w.Closed() && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			saw <- w.Closed()
			w.Post(func(w *Response) { w.Finish() })
		}()
	})
	s := &Server{Handler: h}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/")))
	waitOpen(t, s, 1)
	time.Sleep(20 * time.Millisecond)
	c.SetLinger(0) // a reset: see TestR2NativeClosedAfterClientFIN for a FIN
	c.Close()
	if !recv(t, saw, "the worker") {
		t.Fatal("Closed never reported the client gone")
	}
}

// A client that closes its connection normally (a FIN: a browser tab
// closed, a client library's timeout) while an asynchronous native
// response is pending: the adapter cancels the request's context then, as
// net/http does (TestAdapterContextCancelledOnDisconnect), but OnEOF keeps
// a busy native connection open for a possible half-close, so
// Response.Closed stays false until the response is written: the handler
// cannot stop the work nobody will read, which is what Closed is for.
func TestR2NativeClosedAfterClientFIN(t *testing.T) {
	ws := make(chan *Response, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		w.Async()
		ws <- w
	})
	s := &Server{Handler: h}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/")))
	w := recv(t, ws, "the handler")
	c.Close()
	waitFor(t, "the server to see the FIN", func() bool {
		eof := false
		r2OnLoop(t, w.ld, func() { eof = w.conn() == nil || w.conn().peerEOF })
		return eof
	})
	closed := false
	r2OnLoop(t, w.ld, func() { closed = w.Closed() })
	w.Post(func(w *Response) { w.Finish() })
	if !closed {
		t.Fatal("Closed is false after the client closed its connection")
	}
}

// On the loop, Closed tells an asynchronous handler that its client has
// gone, also once the connection's record serves another client.
func TestR2NativeClosedOnLoop(t *testing.T) {
	ws := make(chan *Response, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/slow" {
			w.Async()
			ws <- w
			return
		}
		w.WriteString("quick")
	})
	s := &Server{Handler: h, Loops: 1}
	addr := serve(t, s)
	a := dial(t, addr)
	a.Write([]byte(get("/slow")))
	w := recv(t, ws, "the async handler")
	closed := func() bool {
		var v bool
		r2OnLoop(t, w.ld, func() { v = w.Closed() })
		return v
	}
	if closed() {
		t.Fatal("Closed before the client went")
	}
	a.SetLinger(0)
	a.Close()
	waitOpen(t, s, 0)
	b := dial(t, addr) // reuses the record
	bb := bufio.NewReader(b)
	b.Write([]byte(get("/quick")))
	mustResp(t, bb, "GET")
	if !closed() {
		t.Fatal("Closed is false for a response whose client has gone")
	}
	done := make(chan struct{})
	w.Post(func(w *Response) {
		if _, err := w.WriteString("late"); err != nil {
			t.Errorf("buffered write to a gone client: %v", err)
		}
		w.Flush()
		w.Finish()
		close(done)
	})
	recv(t, done, "Finish")
	b.Write([]byte(get("/quick")))
	if r := mustResp(t, bb, "GET"); string(r.body) != "quick" {
		t.Fatalf("the other client got %v", r)
	}
}

// Pipelined requests for large responses from a client that reads
// nothing at first and has already shut down its sending side: the server
// stops at the high-water mark, then answers every request, in order, as
// the client reads, and closes after the last one (half-close and
// blocked pipelines together).
func r2PipelineHalfClose(t *testing.T, s *Server, addr string, log *served) {
	const n, size = 6, 1 << 20
	c := dialSmallWindow(t, addr)
	var req strings.Builder
	for i := range n {
		req.WriteString(get("/big?n=" + strconv.Itoa(size) + "&i=" + strconv.Itoa(i)))
	}
	c.Write([]byte(req.String()))
	c.CloseWrite()
	waitFor(t, "the first response", func() bool { return len(log.get()) > 0 })
	time.Sleep(50 * time.Millisecond)
	if got := len(log.get()); got >= n {
		t.Errorf("all %d responses were produced for a client that read nothing", got)
	}
	br := bufio.NewReader(c)
	for i := range n {
		r, err := readResp(br, "GET")
		if err != nil || len(r.body) != size || string(r.body[:64]) != string(pattern(64)) {
			t.Fatalf("response %d: %d bytes, %v (served %q)", i, len(r.body), err, log.get())
		}
	}
	expectEOF(t, br)
	if got := log.get(); len(got) != n || !strings.HasSuffix(got[n-1], "&i="+strconv.Itoa(n-1)) {
		t.Fatalf("served %q", got)
	}
}

func TestR2PipelineBlockedThenHalfCloseAdapter(t *testing.T) {
	log := &served{}
	s := &Server{HTTPHandler: adapterApp(log)}
	r2PipelineHalfClose(t, s, serve(t, s), log)
}

// With the native handler a response is complete inside serve, so serve
// stops on the high-water mark with the connection idle; resumeInput then
// takes the half-close for "nothing left" and closes the connection with
// the rest of the pipeline unanswered.
func TestR2PipelineBlockedThenHalfCloseNative(t *testing.T) {
	log := &served{}
	s := &Server{Handler: nativeApp(log)}
	r2PipelineHalfClose(t, s, serve(t, s), log)
}

// Request targets in the forms a proxy or a hostile client uses: the
// handler sees the same Method, URL, Host and RequestURI as under
// net/http, or both refuse the request.
func TestR2AdapterTargetsMatchNetHTTP(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s|scheme=%s|host=%s|path=%s|opaque=%s|Host=%s|URI=%s",
			r.Method, r.URL, r.URL.Scheme, r.URL.Host, r.URL.Path, r.URL.Opaque, r.Host, r.RequestURI)
	})
	srvs := r2Both(t, h, nil)
	for _, req := range []string{
		"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n",
		"CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n",
		"CONNECT example.com:443 HTTP/1.1\r\nHost: other.example\r\n",
		"GET http://h.example/p%20q?x=1 HTTP/1.1\r\nHost: other\r\n",
		"GET http://h.example:8080 HTTP/1.1\r\nHost: h.example:8080\r\n",
		"GET /a/../b/./c?x=%41&y HTTP/1.1\r\nHost: x\r\n",
		"GET //evil.example/x HTTP/1.1\r\nHost: x\r\n",
	} {
		var got [2]string
		for i, srv := range srvs {
			raw := r2Raw(t, srv.addr, req+"Connection: close\r\n\r\n")
			rs, err := r2Responses(raw, "GET")
			if err != nil {
				got[i] = "unparsable: " + err.Error()
				continue
			}
			got[i] = strconv.Itoa(rs[0].StatusCode)
			if rs[0].StatusCode == 200 {
				got[i] += " " + string(rs[0].body)
			}
		}
		if got[0] != got[1] {
			t.Errorf("%q:\nnet/http %s\nadapter  %s", req, got[0], got[1])
		}
	}
}

// Many concurrent streaming handlers on one loop, each with a client
// that reads slowly: every response arrives whole and in order, and the
// handlers' goroutines all end (TestMain checks for leaks).
func TestR2AdapterManySlowReaders(t *testing.T) {
	const clients, size = 8, 3 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		piece := pattern(size)
		for off := 0; off < size; off += 200 << 10 {
			if _, err := w.Write(piece[off:min(off+200<<10, size)]); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	s := &Server{HTTPHandler: h, Loops: 1}
	addr := serve(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := dialSmallWindow(t, addr)
			c.Write([]byte(get("/") + get("/")))
			br := bufio.NewReaderSize(c, 4096)
			for i := range 2 {
				r, err := readResp(br, "GET")
				if err != nil || len(r.body) != size || string(r.body) != string(pattern(size)) {
					errs <- fmt.Errorf("response %d: %d bytes, %v", i, len(r.body), err)
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

// HEAD with a declared length and no body written (the handler knows a
// HEAD needs none: http.ServeContent, hence http.FileServer, does exactly
// this): the response is complete, and net/http keeps the connection
// (shouldReuseConnection exempts HEAD). The adapter's finish (and the
// native Response, when flushed) take the missing body for a short one
// and close the connection after every such HEAD.
func TestR2HeadDeclaredLengthKeepsConnection(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"f.txt": []byte("file body")})
	native := HandlerFunc(func(w *Response, r *Request) {
		w.SetContentLength(9)
		w.Header("Content-Type", "text/plain")
		if string(r.Method()) != "HEAD" {
			w.WriteString("file body")
		}
		w.Flush()
	})
	for _, srv := range []struct{ name, addr string }{
		{"net/http", r2NetHTTP(t, http.FileServer(http.Dir(dir)))},
		{"adapter", serve(t, &Server{HTTPHandler: http.FileServer(http.Dir(dir))})},
		{"native", serve(t, &Server{Handler: native})},
	} {
		raw := r2Raw(t, srv.addr, "HEAD /f.txt HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /f.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		rs, err := r2Responses(raw, "HEAD", "GET")
		if err != nil || len(rs) != 2 || rs[0].ContentLength != 9 || string(rs[1].body) != "file body" {
			t.Errorf("%s: HEAD then GET on one connection: %v %v\n%q", srv.name, rs, err, raw)
		}
	}
}

// A handler that extends its write deadline (ResponseController) for a
// long download to a slow client: under net/http (same WriteTimeout) the
// deadline holds until the response is out. The adapter queues up to the
// high-water mark (1 MiB) and more after the handler returns, and
// responded() then replaces the handler's deadline with WriteTimeout: the
// client is cut off in the middle of the body. (The server's socket send
// buffer is made small, so that what is queued stays in the server's
// queue rather than in the kernel's, where no timeout applies.)
func TestR2AdapterWriteDeadlineOutlivesHandler(t *testing.T) {
	const size = 3 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x, ok := w.(*exchange); ok {
			done := make(chan struct{})
			x.ld.post(func() {
				unix.SetsockoptInt(x.c.ec.Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096)
				close(done)
			})
			<-done
		}
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(time.Minute))
		w.Header().Set("Content-Length", strconv.Itoa(size))
		p := pattern(size)
		for off := 0; off < size; off += 256 << 10 {
			w.Write(p[off : off+256<<10])
			w.(http.Flusher).Flush()
		}
	})
	for _, srv := range []struct{ name, addr string }{
		{"net/http", r2NetHTTPServer(t, &http.Server{Handler: h, WriteTimeout: shortTimeout})},
		{"adapter", serve(t, &Server{HTTPHandler: h, WriteTimeout: shortTimeout})},
	} {
		c := dialSmallWindow(t, srv.addr)
		c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
		var got []byte
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				break
			}
			time.Sleep(2 * time.Millisecond) // at most 2 MB/s
		}
		rs, err := r2Responses(got, "GET")
		if err != nil || len(rs[0].body) != size {
			t.Errorf("%s: %d bytes of %d: %v", srv.name, len(got), size, err)
		}
	}
}

// A client pipelines a request behind a slow one, sends only part of the
// second head and shuts down its sending side: the second request can
// never complete. Once the first response is out the connection should
// end (as when the half-close arrives with the connection idle: OnEOF
// closes a stHead connection at once). resumeInput instead parses the
// partial head into stHead and waits for the rest until
// ReadHeaderTimeout, then answers 408.
func TestR2HalfCloseWithPartialPipelinedHead(t *testing.T) {
	for _, name := range []string{"native", "adapter"} {
		t.Run(name, func(t *testing.T) {
			ws := make(chan *Response, 1)
			xs := make(chan *exchange, 1)
			release := make(chan struct{})
			s := &Server{ReadHeaderTimeout: time.Hour}
			if name == "native" {
				s.Handler = HandlerFunc(func(w *Response, r *Request) {
					w.Async()
					ws <- w
				})
			} else {
				s.HTTPHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					xs <- w.(*exchange)
					<-release
					io.WriteString(w, "slow")
				})
			}
			addr := serve(t, s)
			c := dial(t, addr)
			c.Write([]byte(get("/slow") + "GET /never HTTP/1.1\r\nHost: x\r\n"))
			c.CloseWrite()
			var ld *loopData
			var eof func() bool
			var finish func()
			if name == "native" {
				w := recv(t, ws, "the native handler")
				ld, eof = w.ld, func() bool { return w.conn() != nil && w.conn().peerEOF }
				finish = func() { w.Post(func(w *Response) { w.WriteString("slow"); w.Finish() }) }
			} else {
				x := recv(t, xs, "the adapter handler")
				ld, eof = x.ld, func() bool { return x.c.exchange == x && x.c.peerEOF }
				finish = func() { close(release) }
			}
			waitFor(t, "the server to see the half-close", func() bool {
				v := false
				r2OnLoop(t, ld, func() { v = eof() })
				return v
			})
			finish()
			br := bufio.NewReader(c)
			if r := mustResp(t, br, "GET"); string(r.body) != "slow" {
				t.Fatalf("first response: %v", r)
			}
			expectEOF(t, br)
		})
	}
}
