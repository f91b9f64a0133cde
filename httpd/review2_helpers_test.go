package httpd

// Helpers of the second adversarial review (review2_*_test.go): the
// switch that keeps tests demonstrating known defects skipped unless
// HTTPD_RUN_BUGS=1, a net/http reference server for the same handler,
// raw exchanges over TCP, and loop-level observations (callback panics,
// state read on the loop itself).

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"testing"
	"time"
)

// r2NetHTTP serves h with net/http on 127.0.0.1, as the reference the
// adapter is compared with; it is closed at the end of the test.
func r2NetHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	return r2NetHTTPServer(t, &http.Server{Handler: h})
}

// r2NetHTTPServer is r2NetHTTP for a configured http.Server.
func r2NetHTTPServer(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorLog = log.New(io.Discard, "", 0)
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}

// r2Both returns the addresses of a net/http server and an adapter
// server running h, in that order, named for messages.
func r2Both(t *testing.T, h http.Handler, cfg func(*Server)) [2]struct{ name, addr string } {
	t.Helper()
	s := &Server{HTTPHandler: h}
	if cfg != nil {
		cfg(s)
	}
	return [2]struct{ name, addr string }{
		{"net/http", r2NetHTTP(t, h)},
		{"adapter", serve(t, s)},
	}
}

// r2Raw writes req on a new connection and returns every byte the server
// sends until it closes the connection (the request should make it close:
// Connection: close, or HTTP/1.0).
func r2Raw(t testing.TB, addr, req string) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil && !isClosedErr(err) {
		t.Fatalf("reading from %s: %v (after %q)", addr, err, b)
	}
	return b
}

// r2Responses parses the responses in raw, read for the given methods in
// order; it stops at the first that does not parse and returns the error.
func r2Responses(raw []byte, methods ...string) ([]rawResp, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	var out []rawResp
	for _, m := range methods {
		r, err := readResp(br, m)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	if rest, _ := io.ReadAll(br); len(rest) > 0 {
		return out, &r2Trailing{rest}
	}
	return out, nil
}

// r2Trailing is bytes left after the expected responses.
type r2Trailing struct{ rest []byte }

func (e *r2Trailing) Error() string { return "bytes after the last response: " + string(e.rest) }

// r2CallbackPanics returns how many loop callbacks of s have panicked.
func r2CallbackPanics(s *Server) uint64 {
	s.mu.Lock()
	ev := s.ev
	s.mu.Unlock()
	if ev == nil {
		return 0
	}
	var n uint64
	g := ev.Group()
	for i := range g.Len() {
		n += g.Loop(i).Metrics().CallbackPanics
	}
	return n
}

// r2OnLoop runs fn on ld's loop and waits for it.
func r2OnLoop(t testing.TB, ld *loopData, fn func()) {
	t.Helper()
	done := make(chan struct{})
	if err := ld.post(func() { fn(); close(done) }); err != nil {
		t.Fatalf("post: %v", err)
	}
	recv(t, done, "a function posted to the loop")
}

// r2Ctx is a context ending after d, cancelled at the end of the test.
func r2Ctx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
