package httpd

// Second adversarial review of the net/http adapter (adapter.go): framing
// compared with net/http for the same handler, Hijack, back-pressure and
// the ways a handler can be left waiting, data races.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A HEAD request whose handler flushes: a HEAD response has no body, so
// nothing may follow its head. The adapter makes the response chunked
// (renderHead's default case does not exclude HEAD) and then finish sends
// the terminating "0\r\n\r\n" chunk after the head, which the client
// reads as the start of the next response.
func TestR2AdapterHeadFlushFraming(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		io.WriteString(w, " world")
	})
	for _, srv := range r2Both(t, h, nil) {
		raw := r2Raw(t, srv.addr, "HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n"+
			"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resps, err := r2Responses(raw, "HEAD", "GET")
		if err != nil || len(resps) != 2 || string(resps[1].body) != "hello world" {
			t.Errorf("%s: HEAD (flushed) then GET: %v, %v\n%q", srv.name, resps, err, raw)
		}
	}
}

// WriteHeader(101) and then Hijack, as github.com/coder/websocket does
// (Accept: w.WriteHeader(http.StatusSwitchingProtocols), then Hijack):
// net/http sends the 101 head, with the handler's Connection and Upgrade
// fields, when Hijack is called; the handler then speaks the new
// protocol on the connection. The adapter renders nothing at Hijack (only
// x.out, which is always empty there), and its snapshot drops the
// handler's Connection field in any case.
func TestR2AdapterHijackAfterWriteHeader101(t *testing.T) {
	checkFds(t)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "r2proto")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("r2proto hello")
		brw.Flush()
	})
	for _, srv := range r2Both(t, h, nil) {
		raw := r2Raw(t, srv.addr, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: r2proto\r\n\r\n")
		head, rest, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
		if !ok || !bytes.HasPrefix(head, []byte("HTTP/1.1 101 ")) || string(rest) != "r2proto hello" {
			t.Errorf("%s: got %q, want a 101 head and then the new protocol's bytes", srv.name, raw)
			continue
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), nil)
		if err != nil || resp.Header.Get("Upgrade") != "r2proto" || !strings.EqualFold(resp.Header.Get("Connection"), "upgrade") {
			t.Errorf("%s: 101 head %q: %v (a WebSocket client fails without Connection: Upgrade)", srv.name, head, err)
		}
	}
}

// Server.serverLine fills s.serverHdr lazily, without a lock, and the
// adapter calls it from every handler goroutine (renderHead): two
// responses rendered at once with a custom ServerName race on it (a torn
// string header can be read). Run under -race, which makes the race a
// failure.
func TestR2AdapterServerNameRace(t *testing.T) {
	if !r2Race {
		t.Skip("needs the race detector")
	}
	const n = 4
	arrived := make(chan struct{}, n)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "x")
	})
	s := &Server{HTTPHandler: h, ServerName: "r2-custom"}
	addr := serve(t, s)
	var conns []*net.TCPConn
	for range n {
		c := dial(t, addr)
		c.Write([]byte(get("/")))
		conns = append(conns, c)
	}
	for range n {
		recv(t, arrived, "handlers")
	}
	close(release) // every handler renders its head now
	for _, c := range conns {
		r := mustResp(t, bufio.NewReader(c), "GET")
		if r.Header.Get("Server") != "r2-custom" {
			t.Errorf("Server %q", r.Header.Get("Server"))
		}
	}
}

// Content-Type sniffing: net/http sniffs the first bytes of the body as
// it is buffered (up to 512 bytes, whatever the writes), the adapter only
// the first Write. A handler writing its body in small pieces gets
// another Content-Type than under net/http.
func TestR2AdapterSniffAcrossWrites(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/html":
			io.WriteString(w, "\n")
			io.WriteString(w, "<html><body>hi</body></html>")
		case "/png":
			w.Write(png[:4])
			w.Write(png[4:])
		}
	})
	want := map[string]string{"/html": "text/html; charset=utf-8", "/png": "image/png"}
	for _, srv := range r2Both(t, h, nil) {
		for path, ct := range want {
			raw := r2Raw(t, srv.addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			rs, err := r2Responses(raw, "GET")
			if err != nil || rs[0].Header.Get("Content-Type") != ct {
				t.Errorf("%s %s: %v %v, want Content-Type %q", srv.name, path, rs, err, ct)
			}
		}
	}
}

// r2FramingHandler exercises the header snapshot, sniffing and trailers.
func r2FramingHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/next":
			io.WriteString(w, "next")
		case "/sniff-after-writeheader":
			w.WriteHeader(http.StatusOK)
			io.WriteString(w, "<html><body>sniffed</body></html>")
		case "/late-headers":
			w.Header().Set("X-Early", "1")
			w.WriteHeader(http.StatusCreated)
			w.Header().Set("X-Late", "1")
			w.Header().Set("Content-Type", "application/x-late")
			w.Header().Set("Content-Length", "1")
			io.WriteString(w, "<html>late</html>")
		case "/empty-type":
			w.Header()["Content-Type"] = nil
			io.WriteString(w, "<html>no type</html>")
		case "/encoded":
			w.Header().Set("Content-Encoding", "x-r2")
			io.WriteString(w, "<html>coded</html>")
		case "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Pre", "p")
		case "/trailers-flush":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "bo")
			w.(http.Flusher).Flush()
			io.WriteString(w, "dy")
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Pre", "p")
		case "/trailers-cl":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "body")
			w.Header().Set("X-Sum", "42")
		case "/trailers-cl-flush":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("Content-Length", "4")
			io.WriteString(w, "bo")
			w.(http.Flusher).Flush()
			io.WriteString(w, "dy")
			w.Header().Set("X-Sum", "42")
		case "/trailers-204", "/trailers-304":
			w.Header().Set("Trailer", "X-Sum")
			if r.URL.Path == "/trailers-204" {
				w.WriteHeader(http.StatusNoContent)
			} else {
				w.WriteHeader(http.StatusNotModified)
			}
			w.Header().Set("X-Sum", "42")
			w.Header().Set(http.TrailerPrefix+"X-Pre", "p")
		case "/trailers-only":
			w.Header().Set("Trailer", "X-Sum")
			w.Header().Set("X-Sum", "42")
		case "/no-date":
			w.Header()["Date"] = nil // net/http: no Date field
			io.WriteString(w, "dateless")
		case "/own-date":
			w.Header().Set("Date", "Mon, 01 Jan 2024 00:00:00 GMT")
			io.WriteString(w, "dated")
		case "/prefix-only":
			io.WriteString(w, "body")
			w.Header().Set(http.TrailerPrefix+"X-Pre", "p")
		}
	})
}

// r2Summary is what must agree between net/http and the adapter for a
// response (the framing may differ; the pipelined request behind it
// checks that it is right).
//
// One difference is allowed: a TrailerPrefix field set after a response
// that net/http sends with a Content-Length (its length was known when
// the header was written: /prefix-only) is dropped by net/http, while
// the adapter chunks the response to send it, as TrailerPrefix's doc
// promises ("the values are sent in the trailers").
func r2Summary(path string, r rawResp) string {
	pre := r.Trailer.Get("X-Pre")
	if path == "/prefix-only" {
		pre = "(either)"
	}
	date := fmt.Sprint(len(r.Header["Date"]))
	if path == "/own-date" {
		date = r.Header.Get("Date")
	}
	return fmt.Sprintf("%d body=%q type=%q early=%q late=%q trailer-sum=%q trailer-pre=%q header-sum=%q date=%s",
		r.StatusCode, r.body, r.Header.Get("Content-Type"), r.Header.Get("X-Early"), r.Header.Get("X-Late"),
		r.Trailer.Get("X-Sum"), pre, r.Header.Get("X-Sum"), date)
}

// The header snapshot, sniffing and trailers agree with net/http for
// GET, HEAD and HTTP/1.0, and the framing is right: a request pipelined
// behind each is answered on the same connection.
func TestR2AdapterFramingMatchesNetHTTP(t *testing.T) {
	paths := []string{"/sniff-after-writeheader", "/late-headers", "/empty-type", "/encoded",
		"/trailers", "/trailers-flush", "/trailers-cl", "/trailers-cl-flush", "/trailers-204",
		"/trailers-304", "/trailers-only", "/prefix-only", "/no-date", "/own-date"}
	srvs := r2Both(t, r2FramingHandler(), nil)
	for _, p := range paths {
		for _, method := range []string{"GET", "HEAD"} {
			if method == "HEAD" && p == "/trailers-flush" {
				continue // TestR2AdapterHeadFlushFraming
			}
			var got [2]string
			for i, srv := range srvs {
				raw := r2Raw(t, srv.addr, method+" "+p+" HTTP/1.1\r\nHost: x\r\n\r\n"+
					"GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
				rs, err := r2Responses(raw, method, "GET")
				if err != nil || len(rs) != 2 || string(rs[1].body) != "next" {
					t.Errorf("%s %s %s: framing: %v %v\n%q", srv.name, method, p, rs, err, raw)
					continue
				}
				got[i] = r2Summary(p, rs[0])
			}
			if got[0] != got[1] {
				t.Errorf("%s %s:\nnet/http %s\nadapter  %s", method, p, got[0], got[1])
			}
		}
		// HTTP/1.0: no chunking, so no trailers; the body is whole.
		var got [2]string
		for i, srv := range srvs {
			raw := r2Raw(t, srv.addr, "GET "+p+" HTTP/1.0\r\n\r\n")
			rs, err := r2Responses(raw, "GET")
			if err != nil {
				t.Errorf("%s HTTP/1.0 %s: %v\n%q", srv.name, p, err, raw)
				continue
			}
			if len(rs[0].TransferEncoding) > 0 {
				t.Errorf("%s HTTP/1.0 %s: chunked response to HTTP/1.0\n%q", srv.name, p, raw)
			}
			got[i] = r2Summary(p, rs[0])
		}
		if got[0] != got[1] {
			t.Errorf("HTTP/1.0 %s:\nnet/http %s\nadapter  %s", p, got[0], got[1])
		}
	}
}

// r2StreamHandler streams 256 KiB pieces with Flush until an error and
// hands its ResponseWriter (the *exchange) to the test first.
type r2StreamHandler struct {
	xs  chan *exchange
	res chan error
}

func newR2StreamHandler() *r2StreamHandler {
	return &r2StreamHandler{xs: make(chan *exchange, 1), res: make(chan error, 1)}
}

func (h *r2StreamHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.xs <- w.(*exchange)
	piece := pattern(256 << 10)
	rc := http.NewResponseController(w)
	for range 1 << 10 { // 256 MiB at most
		if _, err := w.Write(piece); err != nil {
			h.res <- err
			return
		}
		if err := rc.Flush(); err != nil {
			h.res <- err
			return
		}
	}
	h.res <- errors.New("256 MiB written to a client that reads nothing")
}

// r2WaitBlocked waits until x waits in Flush for its connection's output
// to drain (the loop holds it as the connection's writer).
func r2WaitBlocked(t *testing.T, x *exchange) {
	t.Helper()
	waitFor(t, "the handler to wait in Flush", func() bool {
		blocked := false
		r2OnLoop(t, x.ld, func() { blocked = x.c != nil && x.c.exchange == x && x.c.writer == x })
		return blocked
	})
}

// A handler held in Flush by a client that reads nothing is released
// when the client goes away, when Shutdown's context ends, and by Close:
// never left waiting, and Shutdown never waits for it forever.
func TestR2AdapterFlushBlockedReleased(t *testing.T) {
	for _, how := range []string{"client-reset", "client-close", "shutdown-expires", "close"} {
		t.Run(how, func(t *testing.T) {
			checkFds(t)
			h := newR2StreamHandler()
			s := &Server{HTTPHandler: h, WriteTimeout: time.Hour}
			addr := serve(t, s)
			c := dialSmallWindow(t, addr)
			c.Write([]byte(get("/stream")))
			x := recv(t, h.xs, "the handler")
			r2WaitBlocked(t, x)
			switch how {
			case "client-reset":
				c.SetLinger(0)
				c.Close()
			case "client-close":
				c.Close()
			case "shutdown-expires":
				if err := s.Shutdown(r2Ctx(t, shortTimeout)); !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
				}
			case "close":
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			}
			if err := recv(t, h.res, "the handler to be released"); err == nil {
				t.Fatal("Flush reported no error")
			}
			waitOpen(t, s, 0)
		})
	}
}

// Shutdown with a handler held in Flush by a client that does read, but
// slowly: the handler finishes its response, whose head said keep-alive,
// and the connection closes after it; Shutdown returns nil.
func TestR2AdapterShutdownWhileFlushBlocked(t *testing.T) {
	const total = 4 << 20
	xs := make(chan *exchange, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		xs <- w.(*exchange)
		piece := pattern(256 << 10)
		for n := 0; n < total; n += len(piece) {
			w.Write(piece)
			w.(http.Flusher).Flush()
		}
	})
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)
	c := dialSmallWindow(t, addr)
	c.Write([]byte(get("/")))
	x := recv(t, xs, "the handler")
	r2WaitBlocked(t, x)
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctxTimeout(t)) }()
	br := bufio.NewReader(c)
	r := mustResp(t, br, "GET")
	if len(r.body) != total || !bytes.Equal(r.body, bytes.Repeat(pattern(256<<10), total/(256<<10))) {
		t.Fatalf("body: %d bytes, want %d", len(r.body), total)
	}
	expectEOF(t, br)
	if err := recv(t, shut, "Shutdown"); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// A hijacked connection belongs to the handler: Shutdown does not wait
// for it, and once the server's loops are gone a read on it ends with an
// error rather than hang; closing it releases the descriptor.
func TestR2AdapterHijackedConnAfterShutdown(t *testing.T) {
	checkFds(t)
	readErr := make(chan error, 1)
	hijacked := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			readErr <- err
			return
		}
		defer conn.Close()
		close(hijacked)
		_, err = conn.Read(make([]byte, 10))
		readErr <- err
	})
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/")))
	recv(t, hijacked, "the hijack")
	waitOpen(t, s, 0)
	if err := s.Shutdown(ctxTimeout(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := recv(t, readErr, "the hijacked read to end"); err == nil {
		t.Fatal("the read on the hijacked connection returned no error")
	}
}

// Bytes the client sent behind an upgrade request while the handler was
// still running reach the hijacked connection, all of them and in order,
// even when there are more than the busy connection buffers (it stops
// reading beyond maxBacklog, and what the receive had already taken is
// held by evnet: evnet's Detach hands over c.rest but not c.held).
func TestR2AdapterHijackKeepsBacklog(t *testing.T) {
	checkFds(t)
	const extra = 1 << 20
	data := pattern(extra)
	for attempt := range 5 {
		got := make(chan []byte, 1)
		proceed := make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-proceed
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				got <- nil
				return
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(testTimeout))
			b, err := io.ReadAll(brw)
			if err != nil {
				t.Logf("hijacked read: %v", err)
			}
			got <- b
		})
		s := &Server{HTTPHandler: h, Loops: 1}
		addr := serve(t, s)
		c := dial(t, addr)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Write(append([]byte("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: r2\r\nConnection: Upgrade\r\n\r\n"), data...))
			c.CloseWrite()
		}()
		// Let the loop buffer past maxBacklog and pause before the hijack.
		waitFor(t, "the loop to read past its backlog", func() bool {
			return s.ev.LoopStats()[0].BytesIn > uint64(s.maxBacklog())
		})
		time.Sleep(20 * time.Millisecond)
		close(proceed)
		b := recv(t, got, "the hijacker's read")
		wg.Wait()
		c.Close()
		if !bytes.Equal(b, data) {
			i := 0
			for i < len(b) && b[i] == data[i] {
				i++
			}
			t.Fatalf("attempt %d: the hijacker read %d bytes, first difference at %d of %d", attempt, len(b), i, extra)
		}
	}
}
