package servers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var requireIOURing = os.Getenv("URINGD_REQUIRE_IOURING") != ""

func start(t *testing.T, name string, opt Options) Server {
	t.Helper()
	s, err := Start(name, "127.0.0.1:0", opt)
	if err != nil {
		if name == "echo-uringd" && !requireIOURing && strings.Contains(err.Error(), "io_uring") {
			t.Skipf("io_uring unavailable: %v", err)
		}
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return s
}

// TestEchoServers checks every echo server byte for byte: many
// connections at once, messages from 1 byte to 256 KiB (several reads and
// short sends), and a connection that closes mid-stream.
func TestEchoServers(t *testing.T) {
	for _, name := range []string{"echo-uringd", "echo-gnet", "echo-net"} {
		t.Run(name, func(t *testing.T) {
			s := start(t, name, Options{})
			var wg sync.WaitGroup
			errs := make(chan error, 16)
			for c := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- echoConn(s.Addr(), c)
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			// A client that vanishes without reading leaves the server fine.
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write(bytes.Repeat([]byte{'x'}, 1<<20))
			c.Close()
			if err := echoConn(s.Addr(), 99); err != nil {
				t.Fatalf("after an abandoned connection: %v", err)
			}
		})
	}
}

func echoConn(addr string, seed int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	for i, n := range []int{1, 64, 4096, 16<<10 + 1, 256 << 10} {
		msg := make([]byte, n)
		for j := range msg {
			msg[j] = byte(seed*31 + i*7 + j)
		}
		werr := make(chan error, 1)
		go func() {
			_, err := c.Write(msg)
			werr <- err
		}()
		got := make([]byte, n)
		_, rerr := io.ReadFull(c, got)
		if err := errors.Join(<-werr, rerr); err != nil {
			return fmt.Errorf("conn %d, %d bytes: %w", seed, n, err)
		}
		if !bytes.Equal(got, msg) {
			return fmt.Errorf("conn %d: %d-byte message came back different", seed, n)
		}
	}
	return nil
}

// TestUringdEchoClosesConnections checks that the uringd echo server
// closes its side when the client goes (no fd leak).
func TestUringdEchoClosesConnections(t *testing.T) {
	s := start(t, "echo-uringd", Options{}).(*UringdEcho)
	for i := range 20 {
		if err := echoConn(s.Addr(), i); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.Conns() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, st := s.Conns(), s.srv.Stats(); n != 0 || st.Accepted != 20 {
		t.Fatalf("%d connections still open of %d accepted", n, st.Accepted)
	}
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func getRange(t *testing.T, url string, first, last int) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestHTTPServers checks one real response of each kind from each Go
// HTTP peer.
func TestHTTPServers(t *testing.T) {
	root := t.TempDir()
	file := bytes.Repeat([]byte("0123456789abcdef"), 4096+3)
	if err := os.WriteFile(filepath.Join(root, "f.bin"), file, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "g.bin"), file[:5000], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"http-uringd", "http-uringd-nethttp", "http-net", "http-fasthttp", "http-gnet", "http-nbio"} {
		t.Run(name, func(t *testing.T) {
			s := start(t, name, Options{Root: root})
			base := "http://" + s.Addr()
			if code, h, b := get(t, base+"/plaintext"); code != 200 || string(b) != PlaintextBody || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") || h.Get("Date") == "" {
				t.Errorf("/plaintext: %d %v %q", code, h, b)
			}
			if code, h, b := get(t, base+"/json"); code != 200 || string(b) != JSONBody || h.Get("Content-Type") != "application/json" {
				t.Errorf("/json: %d %v %q", code, h, b)
			}
			if name == "http-gnet" || name == "http-nbio" {
				return // no static files
			}
			if code, _, b := get(t, base+"/static/f.bin"); code != 200 || !bytes.Equal(b, file) {
				t.Errorf("/static/f.bin: %d, %d bytes", code, len(b))
			}
			if code, _, b := get(t, base+"/static/sub/g.bin"); code != 200 || !bytes.Equal(b, file[:5000]) {
				t.Errorf("/static/sub/g.bin: %d, %d bytes", code, len(b))
			}
			if code, _, _ := get(t, base+"/static/missing"); code != 404 {
				t.Errorf("/static/missing: %d", code)
			}
			// The video-like streams ask for ranges.
			code, h, b := getRange(t, base+"/static/f.bin", 4096, 3*4096-1)
			if want := fmt.Sprintf("bytes 4096-12287/%d", len(file)); code != 206 || h.Get("Content-Range") != want || !bytes.Equal(b, file[4096:3*4096]) {
				t.Errorf("/static/f.bin range: %d %q, %d bytes", code, h.Get("Content-Range"), len(b))
			}
		})
	}
}

// TestGnetHTTPWire drives the gnet responder with raw bytes: pipelining,
// requests split across writes, bodies, HEAD, Connection: close and bad
// input.
func TestGnetHTTPWire(t *testing.T) {
	s := start(t, "http-gnet", Options{})
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", s.Addr())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	read := func(br *bufio.Reader) (int, string, bool) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Close
	}
	c, br := dial()
	// Three pipelined requests, the last split mid-header, one with a body.
	_, _ = io.WriteString(c, "GET /json HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /plain")
	time.Sleep(20 * time.Millisecond)
	_, _ = io.WriteString(c, "text HTTP/1.1\r\nHo")
	time.Sleep(20 * time.Millisecond)
	_, _ = io.WriteString(c, "st: a\r\n\r\n")
	for i, want := range []string{JSONBody, PlaintextBody, PlaintextBody} {
		if code, body, _ := read(br); code != 200 || body != want {
			t.Fatalf("response %d: %d %q", i, code, body)
		}
	}
	// HEAD: headers only, then the connection still works.
	_, _ = io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(br, &http.Request{Method: "HEAD"})
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(PlaintextBody)) {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	if code, body, closing := read(br); code != 200 || body != PlaintextBody || !closing {
		t.Fatalf("close request: %d %q, Connection: close %v", code, body, closing)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("connection not closed after Connection: close: %v", err)
	}

	for req, status := range map[string]int{
		"GET / HTTP/1.1\r\n\r\n":                                                       400, // no Host
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n":                                            505,
		"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n":                                 400,
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n":  400,
		"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n":             501,
		"GET / HTTP/1.1\r\nHost: a\r\nX: " + strings.Repeat("a", MaxHead) + "\r\n\r\n": 431,
	} {
		c, br := dial()
		_, _ = io.WriteString(c, req)
		if code, _, _ := read(br); code != status {
			t.Errorf("%.40q: status %d, want %d", req, code, status)
		}
	}
}

func TestParseRequest(t *testing.T) {
	req, n, err := ParseRequest([]byte("GET /x HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nrest"))
	if err != nil || n != 52 || string(req.Target) != "/x" || req.Close {
		t.Fatalf("HTTP/1.0 keep-alive: %+v %d %v", req, n, err)
	}
	if req, _, err := ParseRequest([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil || !req.Close {
		t.Fatalf("HTTP/1.0: %+v %v", req, err)
	}
	if _, _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort")); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("partial body: %v", err)
	}
	if _, _, err := ParseRequest([]byte("GET / HTTP/1.1\r\nHost")); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("partial head: %v", err)
	}
	for _, bad := range []string{"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", "GET  HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", "GET / FTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"} {
		var he *HTTPError
		if _, _, err := ParseRequest([]byte(bad)); !errors.As(err, &he) || he.Status != 400 {
			t.Errorf("%q: %v, want 400", bad, err)
		}
	}
}

// TestHTTPPipelining sends 16 requests in one write to every Go HTTP
// peer, as the pipelined scenario's wrk script does, and reads 16
// responses in order.
func TestHTTPPipelining(t *testing.T) {
	for _, name := range []string{"http-uringd", "http-uringd-nethttp", "http-net", "http-fasthttp", "http-gnet", "http-nbio"} {
		t.Run(name, func(t *testing.T) {
			s := start(t, name, Options{})
			c, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			var reqs strings.Builder
			for i := range 16 {
				path := "/plaintext"
				if i%4 == 3 {
					path = "/json"
				}
				fmt.Fprintf(&reqs, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path)
			}
			if _, err := io.WriteString(c, reqs.String()); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			for i := range 16 {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("response %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := PlaintextBody
				if i%4 == 3 {
					want = JSONBody
				}
				if err != nil || resp.StatusCode != 200 || string(b) != want {
					t.Fatalf("response %d: %d %q %v", i, resp.StatusCode, b, err)
				}
			}
		})
	}
}
