package httpd

// The net/http adapter with what people run on it: ServeMux patterns, the
// chi router and its middleware, hand-written middleware, streaming
// (Flusher, ResponseController), the request context, Hijack, panics,
// large bodies both ways, http.FileServer.

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// httpGet fetches url with cl and returns the response with its body.
func httpGet(t *testing.T, cl *http.Client, method, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

func TestAdapterServeMuxPatterns(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "item %s", r.PathValue("id"))
	})
	mux.HandleFunc("POST /items/", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "created %s=%s", r.PostForm.Get("name"), r.PostForm.Get("value"))
	})
	mux.HandleFunc("GET /files/{path...}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "file %s", r.PathValue("path"))
	})
	mux.HandleFunc("example.com/host", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "host-specific "+r.Host)
	})
	mux.HandleFunc("/dir/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "dir "+r.URL.Path)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "root")
	})
	mux.HandleFunc("/query", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "q=%s proto=%s uri=%s remote-ok=%v", r.URL.Query().Get("q"), r.Proto, r.RequestURI,
			strings.HasPrefix(r.RemoteAddr, "127.0.0.1:"))
	})
	addr := serve(t, &Server{HTTPHandler: mux})
	base := "http://" + addr
	cl := newClient(t, 2)
	noRedirect := *cl
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	check := func(resp *http.Response, body []byte, status int, want string) {
		t.Helper()
		if resp.StatusCode != status || (want != "" && string(body) != want) {
			t.Fatalf("%s %s: %d %q, want %d %q", resp.Request.Method, resp.Request.URL, resp.StatusCode, body, status, want)
		}
	}
	resp, b := httpGet(t, cl, "GET", base+"/items/42")
	check(resp, b, 200, "item 42")
	resp, b = httpGet(t, cl, "GET", base+"/items/a%2Fb")
	check(resp, b, 200, "item a/b")
	resp, b = httpGet(t, cl, "HEAD", base+"/items/42")
	check(resp, b, 200, "")
	if resp.ContentLength != int64(len("item 42")) {
		t.Fatalf("HEAD Content-Length %d", resp.ContentLength)
	}
	resp, b = httpGet(t, cl, "DELETE", base+"/items/42")
	check(resp, b, 405, "")
	if allow := resp.Header.Get("Allow"); !strings.Contains(allow, "GET") {
		t.Fatalf("405 without Allow: %v", resp.Header)
	}
	resp, err := cl.PostForm(base+"/items/", url.Values{"name": {"n 1"}, "value": {"v&2"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	check(resp, b, 201, "created n 1=v&2")
	resp, b = httpGet(t, cl, "GET", base+"/files/a/b/c.txt")
	check(resp, b, 200, "file a/b/c.txt")
	resp, b = httpGet(t, cl, "GET", base+"/host", "Host", "example.com")
	check(resp, b, 200, "host-specific example.com")
	resp, b = httpGet(t, cl, "GET", base+"/host")
	check(resp, b, 404, "")
	resp, _ = httpGet(t, &noRedirect, "GET", base+"/dir")
	if resp.StatusCode != 301 && resp.StatusCode != 307 {
		t.Fatalf("GET /dir: %d, want a redirect", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/dir/" {
		t.Fatalf("redirect to %q", loc)
	}
	resp, b = httpGet(t, cl, "GET", base+"/dir/x/y")
	check(resp, b, 200, "dir /dir/x/y")
	resp, b = httpGet(t, cl, "GET", base+"/")
	check(resp, b, 200, "root")
	resp, b = httpGet(t, cl, "GET", base+"/nothing")
	check(resp, b, 404, "")
	resp, b = httpGet(t, cl, "GET", base+"/query?q=hello%20world&x=1")
	check(resp, b, 200, "q=hello world proto=HTTP/1.1 uri=/query?q=hello%20world&x=1 remote-ok=true")

	// Absolute-form target: the host comes from the target.
	resps, _ := roundTrip(t, addr, "GET http://example.com/host HTTP/1.1\r\nHost: other\r\n\r\n", "GET", 1)
	if len(resps) != 1 || string(resps[0].body) != "host-specific example.com" {
		t.Fatalf("absolute-form: %v", resps)
	}
}

func TestAdapterChiRouter(t *testing.T) {
	var logBuf syncBuffer
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(middleware.RequestLogger(&middleware.DefaultLogFormatter{Logger: log.New(&logBuf, "", 0), NoColor: true}))
	r.Use(middleware.SetHeader("X-Router", "chi"))
	r.Use(middleware.Compress(5, "text/plain"))
	r.Get("/users/{userID}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "user %s req %v", chi.URLParam(r, "userID"), middleware.GetReqID(r.Context()) != "")
	})
	r.Route("/api", func(r chi.Router) {
		r.Post("/echo", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
		})
		r.Get("/stream", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			for i := range 3 {
				fmt.Fprintf(w, "line %d\n", i)
				w.(http.Flusher).Flush()
			}
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "chi 404", http.StatusNotFound) })
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "chi 405", http.StatusMethodNotAllowed) })
	addr := serve(t, &Server{HTTPHandler: r})
	base := "http://" + addr
	cl := newClient(t, 2)

	resp, b := httpGet(t, cl, "GET", base+"/users/7")
	if resp.StatusCode != 200 || string(b) != "user 7 req true" || resp.Header.Get("X-Router") != "chi" {
		t.Fatalf("%d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, err := cl.Post(base+"/api/echo", "application/octet-stream", bytes.NewReader(pattern(300<<10)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(b, pattern(300<<10)) {
		t.Fatalf("echo through chi: %d bytes", len(b))
	}
	// Compressed streaming through chi's Compress (which needs Flusher).
	resp, b = httpGet(t, cl, "GET", base+"/api/stream", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("no gzip: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != "line 0\nline 1\nline 2\n" {
		t.Fatalf("gunzipped %q %v", plain, err)
	}
	resp, b = httpGet(t, cl, "GET", base+"/nope")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "chi 404") {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	resp, b = httpGet(t, cl, "DELETE", base+"/users/7")
	if resp.StatusCode != 405 || !strings.Contains(string(b), "chi 405") {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if s := logBuf.String(); !strings.Contains(s, `"GET http://`+addr+`/users/7 HTTP/1.1" from 127.0.0.1`) || !strings.Contains(s, " - 200 ") {
		t.Fatalf("chi's request log: %q", s)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// statusRecorder is the usual logging middleware's ResponseWriter wrapper.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = 200
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func TestAdapterMiddleware(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	logging := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &statusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			mu.Lock()
			logged = append(logged, fmt.Sprintf("%s %s %d %d", r.Method, r.URL.Path, rec.status, rec.bytes))
			mu.Unlock()
		})
	}
	recovery := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if p := recover(); p != nil {
					http.Error(w, fmt.Sprint("recovered: ", p), http.StatusInternalServerError)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w) // through the wrapper's Unwrap
		for i := range 3 {
			fmt.Fprintf(w, "%d", i)
			if err := rc.Flush(); err != nil {
				t.Errorf("Flush through middleware: %v", err)
			}
		}
	})
	addr := serve(t, &Server{HTTPHandler: recovery(logging(mux))})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	c.Write([]byte(get("/ok") + get("/panic") + get("/stream") + get("/ok")))
	for i, want := range []struct {
		status int
		body   string
	}{{200, "ok"}, {500, "recovered: boom\n"}, {200, "012"}, {200, "ok"}} {
		r := mustResp(t, br, "GET")
		if r.StatusCode != want.status || string(r.body) != want.body {
			t.Fatalf("response %d: %v, want %d %q", i, r, want.status, want.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(logged, ","); got != "GET /ok 200 2,GET /stream 200 3,GET /ok 200 2" {
		t.Fatalf("logged %q", got)
	}
}

// Server-sent events: the client receives each flush while the handler is
// still running. The handler does not go on until the client has
// acknowledged the first event, so the test cannot pass unless the first
// flush reached the client by itself.
func TestAdapterFlusherSSE(t *testing.T) {
	for _, how := range []string{"Flusher", "ResponseController"} {
		t.Run(how, func(t *testing.T) {
			ack := make(chan struct{})
			handlerErr := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				flush := func() error {
					if how == "Flusher" {
						w.(http.Flusher).Flush()
						return nil
					}
					return http.NewResponseController(w).Flush()
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Set("Cache-Control", "no-cache")
				io.WriteString(w, "data: one\n\n")
				if err := flush(); err != nil {
					handlerErr <- err
					return
				}
				select {
				case <-ack:
				case <-time.After(testTimeout):
					handlerErr <- errors.New("the client never got the first event")
					return
				}
				for i := range 3 {
					fmt.Fprintf(w, "data: more %d\n\n", i)
					flush()
				}
				handlerErr <- nil
			})
			addr := serve(t, &Server{HTTPHandler: h})
			cl := newClient(t, 1)
			resp, err := cl.Get("http://" + addr + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("%v", resp.Header)
			}
			br := bufio.NewReader(resp.Body)
			first, err := br.ReadString('\n')
			if err != nil || first != "data: one\n" {
				t.Fatalf("first event %q %v", first, err)
			}
			close(ack)
			rest, err := io.ReadAll(br)
			if err != nil || string(rest) != "\ndata: more 0\n\ndata: more 1\n\ndata: more 2\n\n" {
				t.Fatalf("rest %q %v", rest, err)
			}
			if err := recv(t, handlerErr, "handler"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAdapterResponseControllerMethods(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		errs <- errors.Join(
			rc.SetReadDeadline(time.Now().Add(time.Minute)),
			rc.SetWriteDeadline(time.Now().Add(time.Minute)),
			rc.EnableFullDuplex(),
			rc.Flush(),
		)
		io.WriteString(w, "done")
	})
	addr := serve(t, &Server{HTTPHandler: h})
	resp, b := httpGet(t, newClient(t, 1), "GET", "http://"+addr+"/")
	if err := recv(t, errs, "handler"); err != nil || resp.StatusCode != 200 || string(b) != "done" {
		t.Fatalf("%v %d %q", err, resp.StatusCode, b)
	}
}

// blockingHandler blocks requests other than /quick until released or
// until their context ends, and reports which.
type blockingHandler struct {
	started chan string
	result  chan error
	release chan struct{}
}

func newBlockingHandler() *blockingHandler {
	return &blockingHandler{started: make(chan string, 4), result: make(chan error, 4), release: make(chan struct{})}
}

func (h *blockingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/quick" {
		io.WriteString(w, "quick")
		return
	}
	h.started <- r.URL.Path
	select {
	case <-r.Context().Done():
		h.result <- r.Context().Err()
	case <-h.release:
		h.result <- nil
		io.WriteString(w, "released")
	case <-time.After(testTimeout):
		h.result <- errors.New("context never cancelled")
	}
}

// The request's context ends when the client goes away, and not before: a
// pipelined request arriving meanwhile does not end it.
func TestAdapterContextCancelledOnDisconnect(t *testing.T) {
	h := newBlockingHandler()
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)

	c := dial(t, addr)
	c.Write([]byte(get("/block")))
	recv(t, h.started, "handler start")
	c.Close()
	if err := recv(t, h.result, "handler result"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler saw %v, want context.Canceled", err)
	}

	c = dial(t, addr)
	br := bufio.NewReader(c)
	c.Write([]byte(get("/block")))
	recv(t, h.started, "handler start")
	c.Write([]byte(get("/quick")))
	time.Sleep(50 * time.Millisecond)
	close(h.release)
	if err := recv(t, h.result, "handler result"); err != nil {
		t.Fatalf("a pipelined request ended the context: %v", err)
	}
	if r := mustResp(t, br, "GET"); string(r.body) != "released" {
		t.Fatalf("%v", r)
	}
	if r := mustResp(t, br, "GET"); string(r.body) != "quick" {
		t.Fatalf("%v", r)
	}
	c.Close()
	waitOpen(t, s, 0)
}

// A client that resets its connection while the handler runs: the
// handler's context ends, and the server goes on.
func TestAdapterContextCancelledOnReset(t *testing.T) {
	h := newBlockingHandler()
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/block")))
	recv(t, h.started, "handler start")
	c.SetLinger(0)
	c.Close()
	if err := recv(t, h.result, "handler result"); !errors.Is(err, context.Canceled) {
		t.Fatalf("handler saw %v, want context.Canceled", err)
	}
	waitOpen(t, s, 0)
	if _, b := httpGet(t, newClient(t, 1), "GET", "http://"+addr+"/quick"); string(b) != "quick" {
		t.Fatalf("%q", b)
	}
}

// A handler that ignores its context and finishes after its client has
// gone (the common case: a client timing out on a slow handler).
func TestAdapterHandlerOutlivesConnection(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	done := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/quick" {
			io.WriteString(w, "quick")
			return
		}
		defer close(done)
		entered <- struct{}{}
		<-release
		io.WriteString(w, "too late")
	})
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)
	c := dial(t, addr)
	c.Write([]byte(get("/slow")))
	recv(t, entered, "handler start")
	c.SetLinger(0)
	c.Close()
	waitOpen(t, s, 0)
	close(release)
	recv(t, done, "handler end")
	other := dial(t, addr)
	obr := bufio.NewReader(other)
	other.Write([]byte(get("/quick")))
	if r := mustResp(t, obr, "GET"); string(r.body) != "quick" {
		t.Fatalf("%v", r)
	}
}

// Hijack: a websocket-like upgrade with 101 and a raw line echo over the
// hijacked connection, including bytes the client sent right behind the
// upgrade request in the same write, and bytes sent before the 101 came.
func TestAdapterHijackUpgrade(t *testing.T) {
	checkFds(t)
	handlerDone := make(chan error, 8)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			handlerDone <- err
			return
		}
		defer conn.Close()
		if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrHijacked) {
			handlerDone <- fmt.Errorf("Write after Hijack: %v", err)
			return
		}
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		if err := brw.Flush(); err != nil {
			handlerDone <- err
			return
		}
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				handlerDone <- fmt.Errorf("hijacked read: %v (got %q)", err, line)
				return
			}
			if line == "quit\n" {
				handlerDone <- nil
				return
			}
			brw.WriteString("echo: " + line)
			if err := brw.Flush(); err != nil {
				handlerDone <- err
				return
			}
		}
	})
	s := &Server{HTTPHandler: h}
	addr := serve(t, s)
	const upgrade = "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"

	for _, variant := range []string{"same-write", "separate-write"} {
		t.Run(variant, func(t *testing.T) {
			c := dial(t, addr)
			if variant == "same-write" {
				c.Write([]byte(upgrade + "early bird\n"))
			} else {
				c.Write([]byte(upgrade))
				c.Write([]byte("early bird\n"))
			}
			br := bufio.NewReader(c)
			r := mustResp(t, br, "GET")
			if r.StatusCode != 101 {
				t.Fatalf("%v", r)
			}
			expect := func(want string) {
				t.Helper()
				line, err := br.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("got %q %v, want %q", line, err, want)
				}
			}
			expect("echo: early bird\n")
			c.Write([]byte("hello\n"))
			expect("echo: hello\n")
			c.Write([]byte(strings.Repeat("z", 100000) + "\n"))
			expect("echo: " + strings.Repeat("z", 100000) + "\n")
			c.Write([]byte("quit\n"))
			if err := recv(t, handlerDone, "hijack handler"); err != nil {
				t.Fatal(err)
			}
			expectEOF(t, br)
		})
	}
	// net/http's client understands 101 and hands over the connection.
	req, _ := http.NewRequest("GET", "http://"+addr+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	// No Client.Timeout: it wraps the body in a reader that hides the
	// connection.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if resp.StatusCode != 101 || !ok {
		t.Fatalf("%d %T", resp.StatusCode, resp.Body)
	}
	rwc.Write([]byte("via client\n"))
	line, err := bufio.NewReader(rwc).ReadString('\n')
	if err != nil || line != "echo: via client\n" {
		t.Fatalf("%q %v", line, err)
	}
	rwc.Write([]byte("quit\n"))
	if err := recv(t, handlerDone, "hijack handler"); err != nil {
		t.Fatal(err)
	}
	rwc.Close()
	// A hijacked connection is no longer the server's.
	waitOpen(t, s, 0)
}

// logRecorder keeps the server's log records.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }
func (l *logRecorder) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			n++
		}
	}
	return n
}

// A panicking handler: its connection is closed without a (complete)
// response, the panic is logged (not for http.ErrAbortHandler), and the
// server goes on serving.
func TestAdapterPanic(t *testing.T) {
	checkFds(t)
	log := &served{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r.URL.Path)
		switch r.URL.Path {
		case "/panic":
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/partial":
			io.WriteString(w, "partial")
			w.(http.Flusher).Flush()
			panic("late boom")
		case "/partial-abort":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, strings.Repeat("p", 50))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	})
	rec := &logRecorder{}
	s := &Server{HTTPHandler: h, ErrorLog: slog.New(rec)}
	addr := serve(t, s)
	cl := newClient(t, 4)

	// Another client's keep-alive connection, opened before the panics.
	other := dial(t, addr)
	obr := bufio.NewReader(other)
	other.Write([]byte(get("/ok")))
	mustResp(t, obr, "GET")

	for _, p := range []string{"/panic", "/abort"} {
		resps, closed := roundTrip(t, addr, get(p)+get(p+"-after"), "GET", 2)
		if len(resps) != 0 || !closed {
			t.Fatalf("%s: %d responses, closed %v: want none and the connection closed", p, len(resps), closed)
		}
		if log.has(p + "-after") {
			t.Fatalf("%s: the request behind it was served", p)
		}
	}
	for _, p := range []string{"/partial", "/partial-abort"} {
		resp, err := cl.Get("http://" + addr + p)
		if err != nil {
			continue // not even the head: not complete either
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Fatalf("%s: the client read a complete response %q after the handler panicked", p, b)
		}
	}
	// The server and the other connection go on.
	other.Write([]byte(get("/ok")))
	if r := mustResp(t, obr, "GET"); string(r.body) != "ok" {
		t.Fatalf("%v", r)
	}
	if _, b := httpGet(t, cl, "GET", "http://"+addr+"/ok"); string(b) != "ok" {
		t.Fatalf("%q", b)
	}
	if n := rec.count("panic"); n != 2 {
		t.Fatalf("%d panics logged, want 2 (boom, late boom; not ErrAbortHandler): %q", n, rec.msgs)
	}
}

// Large responses (10 MiB) and request bodies up to MaxBodyBytes, both
// with a length and chunked.
func TestAdapterLargeBodies(t *testing.T) {
	const maxBody = 8 << 20
	const big = 10 << 20
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/download":
			w.Write(pattern(big))
		case "/download-declared":
			w.Header().Set("Content-Length", strconv.Itoa(big))
			io.Copy(w, bytes.NewReader(pattern(big))) // in 32 KiB pieces
		case "/download-small-writes":
			p := pattern(big)
			for len(p) > 0 {
				n := min(len(p), 1000)
				w.Write(p[:n])
				p = p[n:]
			}
		case "/upload":
			hsh := sha256.New()
			n, err := io.Copy(hsh, r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprintf(w, "%d %x", n, hsh.Sum(nil))
		}
	})
	addr := serve(t, &Server{HTTPHandler: h, MaxBodyBytes: maxBody})
	cl := newClient(t, 2)
	for _, p := range []string{"/download", "/download-declared", "/download-small-writes"} {
		resp, b := httpGet(t, cl, "GET", "http://"+addr+p)
		if resp.StatusCode != 200 || !bytes.Equal(b, pattern(big)) {
			t.Fatalf("%s: %d, %d bytes (equal %v)", p, resp.StatusCode, len(b), bytes.Equal(b, pattern(big)))
		}
		if p == "/download-declared" && resp.ContentLength != big {
			t.Fatalf("%s: Content-Length %d", p, resp.ContentLength)
		}
	}
	body := pattern(maxBody)
	sum := sha256.Sum256(body)
	want := fmt.Sprintf("%d %s", maxBody, hex.EncodeToString(sum[:]))
	for _, chunked := range []bool{false, true} {
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // unknown length: chunked
		}
		resp, err := cl.Post("http://"+addr+"/upload", "application/octet-stream", rd)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("chunked=%v: %d %q", chunked, resp.StatusCode, b)
		}
	}
	// One byte more: 413, however it is sent.
	for _, req := range []string{
		"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(maxBody+1) + "\r\n\r\n",
		postChunked("/upload", string(pattern(maxBody+1)), 1<<20),
	} {
		resps, closed := roundTrip(t, addr, req, "POST", 2)
		if len(resps) != 1 || resps[0].StatusCode != 413 || !closed {
			t.Fatalf("over MaxBodyBytes: %v, closed %v", resps, closed)
		}
	}
}

// 1xx interim responses and bodiless statuses keep the framing right.
func TestAdapterInterimAndBodilessResponses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/early-hints":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Set("X-Final", "1")
			io.WriteString(w, "final")
		case "/204":
			w.WriteHeader(204)
			if _, err := io.WriteString(w, "not allowed"); !errors.Is(err, http.ErrBodyNotAllowed) {
				panic(fmt.Sprint("write to 204: ", err))
			}
		case "/304":
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(304)
		default:
			io.WriteString(w, "plain")
		}
	})
	addr := serve(t, &Server{HTTPHandler: h})
	c := dial(t, addr)
	br := bufio.NewReader(c)
	c.Write([]byte(get("/early-hints") + get("/204") + get("/304") + get("/plain")))
	r := mustResp(t, br, "GET")
	if r.StatusCode != 103 || r.Header.Get("Link") == "" {
		t.Fatalf("interim: %v", r)
	}
	r = mustResp(t, br, "GET")
	if r.StatusCode != 200 || string(r.body) != "final" || r.Header.Get("X-Final") != "1" {
		t.Fatalf("final: %v", r)
	}
	for _, status := range []int{204, 304} {
		r = mustResp(t, br, "GET")
		if r.StatusCode != status || len(r.body) != 0 || r.Header.Get("Content-Length") != "" || r.TransferEncoding != nil {
			t.Fatalf("%d: %v", status, r)
		}
	}
	if r = mustResp(t, br, "GET"); string(r.body) != "plain" {
		t.Fatalf("after the bodiless ones: %v", r)
	}
}

// http.FileServer: ranges, conditional requests, HEAD.
func TestAdapterFileServer(t *testing.T) {
	dir := t.TempDir()
	content := pattern(1 << 20)
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, &Server{HTTPHandler: http.FileServer(http.Dir(dir))})
	cl := newClient(t, 1)
	u := "http://" + addr + "/f.bin"
	resp, b := httpGet(t, cl, "GET", u)
	if resp.StatusCode != 200 || !bytes.Equal(b, content) || resp.ContentLength != int64(len(content)) {
		t.Fatalf("full: %d %d", resp.StatusCode, len(b))
	}
	resp, b = httpGet(t, cl, "GET", u, "Range", "bytes=100-199")
	if resp.StatusCode != 206 || !bytes.Equal(b, content[100:200]) {
		t.Fatalf("range: %d %d", resp.StatusCode, len(b))
	}
	resp, b = httpGet(t, cl, "HEAD", u)
	if resp.StatusCode != 200 || len(b) != 0 || resp.ContentLength != int64(len(content)) {
		t.Fatalf("HEAD: %d %d %d", resp.StatusCode, len(b), resp.ContentLength)
	}
	resp, b = httpGet(t, cl, "GET", u, "If-Modified-Since", resp.Header.Get("Last-Modified"))
	if resp.StatusCode != 304 || len(b) != 0 {
		t.Fatalf("conditional: %d %d", resp.StatusCode, len(b))
	}
	if _, b = httpGet(t, cl, "GET", u); !bytes.Equal(b, content) {
		t.Fatal("GET after 304")
	}
}

// Request.GetBody must give the body again at any time during the
// handler, however long after the loop went on with other connections.
func TestAdapterGetBodyStable(t *testing.T) {
	proceed := make(chan struct{})
	results := make(chan string, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keep" {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
			return
		}
		want, _ := io.ReadAll(r.Body)
		<-proceed
		rc, err := r.GetBody()
		if err != nil {
			results <- err.Error()
			return
		}
		again, _ := io.ReadAll(rc)
		if bytes.Equal(again, want) {
			results <- ""
		} else {
			results <- fmt.Sprintf("GetBody gave %.40q..., want %.40q...", again, want)
		}
	})
	addr := serve(t, &Server{HTTPHandler: h, Loops: 1})
	// One body that arrives with its head, one that arrives in pieces.
	a := strings.Repeat("A", 3000)
	k1 := dial(t, addr)
	k1.Write([]byte(post("/keep", a)))
	k2 := dial(t, addr)
	head := "POST /keep HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(a)) + "\r\n\r\n"
	k2.Write([]byte(head + a[:10]))
	time.Sleep(20 * time.Millisecond)
	k2.Write([]byte(a[10:]))
	time.Sleep(20 * time.Millisecond)
	// Meanwhile the loop serves others.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testTimeout))
			br := bufio.NewReader(c)
			body := strings.Repeat(string(rune('B'+i)), 3000)
			for range 8 {
				c.Write([]byte(post("/other", body[:1000]) + "POST /other HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body[:5]))
				time.Sleep(time.Millisecond)
				c.Write([]byte(body[5:]))
				readResp(br, "POST")
				readResp(br, "POST")
			}
		}()
	}
	wg.Wait()
	close(proceed)
	for range 2 {
		if msg := recv(t, results, "handler"); msg != "" {
			t.Error(msg)
		}
	}
}

// A handler's own Content-Length that is not a number must not reach the
// wire next to the server's own framing.
func TestAdapterInvalidContentLengthFromHandler(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", r.URL.Query().Get("cl"))
		io.WriteString(w, "hello")
		w.(http.Flusher).Flush()
		io.WriteString(w, " world")
	})
	addr := serve(t, &Server{HTTPHandler: h})
	for _, cl := range []string{"abc", "-1", "5x"} {
		c := dial(t, addr)
		var raw bytes.Buffer
		br := bufio.NewReader(io.TeeReader(c, &raw))
		c.Write([]byte(get("/?cl=" + cl)))
		r, err := readResp(br, "GET")
		head, _, _ := strings.Cut(raw.String(), "\r\n\r\n")
		if strings.Contains(strings.ToLower(head), "content-length") {
			t.Errorf("cl=%q: the handler's Content-Length reached the wire:\n%s", cl, head)
		}
		if err != nil || string(r.body) != "hello world" {
			t.Errorf("cl=%q: %v %v", cl, r, err)
		}
		c.Close()
	}
}

// CONNECT's authority-form target is the request URL's host, as in
// net/http (proxies read r.URL.Host).
func TestAdapterConnectTarget(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Method + " " + r.URL.Host + " " + r.Host
	})
	addr := serve(t, &Server{HTTPHandler: h})
	roundTrip(t, addr, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "CONNECT", 1)
	if g := recv(t, got, "handler"); g != "CONNECT example.com:443 example.com:443" {
		t.Fatalf("handler saw %q", g)
	}
}

// Trailers declared by a handler are sent as trailers (net/http's
// Trailer header / http.TrailerPrefix protocol).
func TestAdapterTrailers(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body")
		if r.URL.Path == "/flushed" {
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "42")
		w.Header().Set(http.TrailerPrefix+"X-Late", "7")
	})
	addr := serve(t, &Server{HTTPHandler: h})
	cl := newClient(t, 1)
	for _, p := range []string{"/", "/flushed"} {
		resp, b := httpGet(t, cl, "GET", "http://"+addr+p)
		if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" || resp.Trailer.Get("X-Late") != "7" || resp.Header.Get("X-Sum") != "" {
			t.Errorf("%s: body %q, header %v, trailer %v", p, b, resp.Header, resp.Trailer)
		}
	}
}
