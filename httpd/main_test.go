package httpd

// Shared test scaffolding: TestMain (fd limit, goroutine leak check), the
// fd-count helper, servers that shut themselves down, the two flavours of
// the same test application (native on-loop handler and net/http adapter),
// and raw-socket helpers. Tests in this package do not run in parallel
// with each other (no t.Parallel), so process-wide fd counts are
// meaningful.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uringd/uringd/internal/leaktest"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// testTimeout bounds every single wait: a hang becomes a failure, never a
// stuck test binary.
const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	// The scale tests keep thousands of sockets open at once (both ends
	// are in this process).
	leaktest.RaiseFdLimit()
	leaktest.WarmNetpoll()
	// Loops that are goroutines exit on Shutdown, handler goroutines end
	// with their requests, and clients close their connections: any
	// goroutine left over at the end is a bug.
	goleak.VerifyTestMain(m)
}

var (
	fdCount     = leaktest.FdCount
	warmNetpoll = leaktest.WarmNetpoll
)

// checkFds fails the test unless the fd count is back to at most its
// value at the call within testTimeout of the test's end (servers and
// clients of earlier tests may still be closing). Call it first in a test.
func checkFds(t *testing.T) { leaktest.CheckFdsAtMost(t, testTimeout) }

// quietLog discards the server's log (panics and refused requests are
// expected in these tests).
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serve starts s on 127.0.0.1 with a quiet log (unless one is set) and
// shuts it down at the end of the test.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	if s.ErrorLog == nil {
		s.ErrorLog = quietLog()
	}
	return startNative(t, s)
}

// waitFor polls cond until it holds, failing the test after testTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOpen waits for the server's open-connection count to reach n.
func waitOpen(t testing.TB, s *Server, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d open connections", n), func() bool { return s.Stats().Open == n })
}

// recv waits for a value on ch, failing the test after testTimeout.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	timer := time.NewTimer(testTimeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", testTimeout, what)
		panic("unreachable")
	}
}

// newClient returns an http.Client with a transport of its own, whose
// connections are closed at the end of the test.
func newClient(t testing.TB, conns int) *http.Client {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// dial opens a raw connection with a deadline, closed at the end of the
// test.
func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c.(*net.TCPConn)
}

// rawResp is a response read off a raw connection, body included.
type rawResp struct {
	*http.Response
	body []byte
}

func (r rawResp) String() string {
	if r.Response == nil {
		return "<no response>"
	}
	return fmt.Sprintf("%d %v %q", r.StatusCode, r.Header, r.body)
}

// readResp reads one response to a request with the given method.
func readResp(br *bufio.Reader, method string) (rawResp, error) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	if err != nil {
		return rawResp{}, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return rawResp{resp, body}, err
}

// mustResp is readResp failing the test on error.
func mustResp(t testing.TB, br *bufio.Reader, method string) rawResp {
	t.Helper()
	r, err := readResp(br, method)
	if err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return r
}

// expectEOF reads until the connection ends: the server must have closed
// it (EOF or reset) with nothing more to read.
func expectEOF(t testing.TB, br *bufio.Reader) {
	t.Helper()
	b, err := io.ReadAll(br)
	if len(b) > 0 {
		t.Fatalf("expected the connection to close, read %q", b)
	}
	if err != nil && !isClosedErr(err) {
		t.Fatalf("expected the connection to close, got %v", err)
	}
}

// isClosedErr reports an error that means the peer closed or reset.
func isClosedErr(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE)
}

// roundTrip writes req on a new connection and reads responses until the
// server closes it (or n responses arrived, for keep-alive).
func roundTrip(t testing.TB, addr, req, method string, n int) ([]rawResp, bool) {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var out []rawResp
	for len(out) < n {
		r, err := readResp(br, method)
		if err != nil {
			if !isClosedErr(err) {
				t.Fatalf("after %d responses: %v", len(out), err)
			}
			return out, true
		}
		out = append(out, r)
	}
	return out, false
}

// served records the request targets a handler saw, in order.
type served struct {
	mu   sync.Mutex
	list []string
}

func (s *served) add(p string) {
	s.mu.Lock()
	s.list = append(s.list, p)
	s.mu.Unlock()
}

func (s *served) get() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.list...)
}

func (s *served) has(sub string) bool {
	for _, p := range s.get() {
		if strings.Contains(p, sub) {
			return true
		}
	}
	return false
}

// pattern returns n bytes of a recognizable pattern (so truncation or
// reordering shows up); every pattern is a prefix of the longer ones. The
// result is shared: do not modify it. (Handlers on the loop serve it
// without computing it, which under the race detector would take long
// enough to stall the loop.)
func pattern(n int) []byte {
	patternOnce.Do(func() {
		patternBuf = make([]byte, 16<<20)
		for i := range patternBuf {
			patternBuf[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[(i/7+i)%36]
		}
	})
	if n <= len(patternBuf) {
		return patternBuf[:n:n]
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[(i/7+i)%36]
	}
	return b
}

var (
	patternOnce sync.Once
	patternBuf  []byte
)

// The test application, in both flavours. Routes:
//
//	/close        answers "bye" with Connection: close
//	/big?n=N      N bytes of pattern(N), known length
//	/stream?n=N   "part0" ... "partN-1", each flushed (default 3)
//	/fixed        a fixed body with a Content-Type and an extra header
//	anything else echoes "METHOD TARGET LEN:BODY"
type mode struct {
	name string
	// server builds a server for the application; log records targets.
	server func(log *served) *Server
}

var modes = []mode{
	{"native", func(log *served) *Server { return &Server{Handler: nativeApp(log)} }},
	{"adapter", func(log *served) *Server { return &Server{HTTPHandler: adapterApp(log)} }},
}

func queryInt(q string, key string, def int) int {
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return def
}

const fixedBody = "<html>fixed body</html>\n"

func echoBody(method, target string, body []byte) string {
	return fmt.Sprintf("%s %s %d:%s", method, target, len(body), body)
}

func nativeApp(log *served) Handler {
	return HandlerFunc(func(w *Response, r *Request) {
		if log != nil {
			log.add(string(r.Target()))
		}
		switch string(r.Path()) {
		case "/close":
			w.Header("Connection", "close")
			w.WriteString("bye")
		case "/big":
			w.Header("Content-Type", "application/octet-stream")
			w.Write(pattern(queryInt(string(r.Query()), "n", 1<<20)))
		case "/stream":
			for i := range queryInt(string(r.Query()), "n", 3) {
				w.WriteString("part" + strconv.Itoa(i))
				w.Flush()
			}
		case "/fixed":
			w.Header("Content-Type", "text/html")
			w.Header("X-Extra", "1")
			w.WriteString(fixedBody)
		default:
			w.WriteString(echoBody(string(r.Method()), string(r.Target()), r.Body()))
		}
	})
}

func adapterApp(log *served) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if log != nil {
			log.add(r.RequestURI)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		switch r.URL.Path {
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		case "/big":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(pattern(queryInt(r.URL.RawQuery, "n", 1<<20)))
		case "/stream":
			for i := range queryInt(r.URL.RawQuery, "n", 3) {
				io.WriteString(w, "part"+strconv.Itoa(i))
				w.(http.Flusher).Flush()
			}
		case "/fixed":
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("X-Extra", "1")
			io.WriteString(w, fixedBody)
		default:
			io.WriteString(w, echoBody(r.Method, r.RequestURI, body))
		}
	})
}

// forModes runs f as a subtest for each flavour, each with a server of its
// own built by the flavour and adjusted by cfg.
func forModes(t *testing.T, cfg func(*Server), f func(t *testing.T, s *Server, addr string, log *served)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			log := &served{}
			s := m.server(log)
			if cfg != nil {
				cfg(s)
			}
			addr := serve(t, s)
			f(t, s, addr, log)
		})
	}
}

// get is a minimal raw GET.
func get(target string) string { return "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" }

// post is a raw POST with a Content-Length body.
func post(target, body string) string {
	return "POST " + target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// postChunked is a raw POST with body sent in chunks of the given sizes.
func postChunked(target, body string, sizes ...int) string {
	var b bytes.Buffer
	b.WriteString("POST " + target + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	rest := body
	for _, n := range sizes {
		n = min(n, len(rest))
		if n == 0 {
			continue
		}
		fmt.Fprintf(&b, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	if rest != "" {
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(rest), rest)
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

// ctxTimeout is a context that ends after testTimeout.
func ctxTimeout(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}
