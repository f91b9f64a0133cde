package httpd

// Helpers shared by the fileserver_*_test.go adversarial suites: both
// handlers (native on the loops, net/http via HTTPHandler) started the
// same way, a client that neither follows redirects nor decodes bodies,
// raw requests over TCP, deterministic file contents, and descriptor
// accounting (files under a directory, pipes) through /proc/self/fd.

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fsEnv is one file server under test, behind one of the two handlers.
type fsEnv struct {
	name   string // "native" or "nethttp"
	native bool
	addr   string
	base   string // "http://" + addr
	fs     *FileServer
	client *http.Client
	srv    *Server // the native server (nil for net/http)
}

// fsHandlers are the two ways a FileServer is served.
var fsHandlers = []struct {
	name   string
	native bool
}{{"native", true}, {"nethttp", false}}

// fsBoth runs f once per handler, each with a FileServer of its own built
// by mk (a FileServer initialises once and caches per loop).
func fsBoth(t *testing.T, mk func() *FileServer, f func(t *testing.T, e *fsEnv)) {
	t.Helper()
	for _, h := range fsHandlers {
		t.Run(h.name, func(t *testing.T) {
			f(t, fsStart(t, h.native, mk()))
		})
	}
}

// fsStart serves fs on 127.0.0.1 with the chosen handler. Cleanups close
// the client's connections, then the FileServer (its Close posts to the
// loops, so it must run before they stop), then the server.
func fsStart(t *testing.T, native bool, fs *FileServer) *fsEnv {
	t.Helper()
	if fs.ErrorLog == nil {
		fs.ErrorLog = quietLog()
	}
	e := &fsEnv{native: native, fs: fs}
	if native {
		e.name = "native"
		e.srv = &Server{Handler: fs}
		e.addr = serve(t, e.srv)
	} else {
		e.name = "nethttp"
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: fs.HTTPHandler(), ErrorLog: log.New(io.Discard, "", 0)}
		done := make(chan struct{})
		go func() { srv.Serve(ln); close(done) }()
		t.Cleanup(func() {
			srv.Close()
			<-done
		})
		e.addr = ln.Addr().String()
	}
	t.Cleanup(func() { fs.Close() })
	e.base = "http://" + e.addr
	tr := &http.Transport{DisableCompression: true, MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, Timeout: 4 * testTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// do sends a request (hdr: name, value pairs) and reads the whole body.
func (e *fsEnv) do(t testing.TB, method, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := e.try(method, path, hdr...)
	if err != nil {
		t.Fatalf("%s %s %s %q: %v", e.name, method, path, hdr, err)
	}
	return resp, body
}

// try is do returning the error (a truncated body, a reset).
func (e *fsEnv) try(method, path string, hdr ...string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(method, e.base+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b, err
}

// fsRawResult is what a raw request got back: every byte the server sent
// until it closed, and the response parsed from them (nil if none).
type fsRawResult struct {
	raw  []byte
	resp *http.Response
	body []byte
}

func (r fsRawResult) status() int {
	if r.resp == nil {
		return 0
	}
	return r.resp.StatusCode
}

// fsRaw writes request bytes as they are (no client cleans the path) on a
// new connection and reads until the server closes it. The request should
// carry "Connection: close" (fsRawGet adds it).
func fsRaw(t testing.TB, addr, method, request string) fsRawResult {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(c)
	if err != nil && !isClosedErr(err) {
		t.Fatalf("raw %q: %v", request, err)
	}
	res := fsRawResult{raw: raw}
	if resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method}); err == nil {
		res.resp = resp
		res.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	return res
}

// fsRawGet sends "METHOD target HTTP/1.1" with a Host and Connection: close.
func fsRawGet(t testing.TB, addr, method, target string, hdr ...string) fsRawResult {
	t.Helper()
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n")
	for i := 0; i+1 < len(hdr); i += 2 {
		b.WriteString(hdr[i] + ": " + hdr[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	return fsRaw(t, addr, method, b.String())
}

// fsRand returns n deterministic pseudo-random bytes for seed.
func fsRand(n int, seed uint64) []byte {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	s[2], s[3] = byte(seed>>16), byte(seed>>24)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// fsWriteTree writes files (slash-separated names) under dir.
func fsWriteTree(t testing.TB, dir string, files map[string][]byte) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// fsSymlink makes link (under dir) point to target, failing the test on
// error.
func fsSymlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func fsSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// fsFds returns the targets of this process's descriptors.
func fsFds() []string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(ents))
	for _, d := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + d.Name()); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// fsFdsUnder counts descriptors open on dir or anything beneath it
// (deleted files included).
func fsFdsUnder(dir string) int {
	n := 0
	for _, l := range fsFds() {
		if l == dir || strings.HasPrefix(l, dir+"/") {
			n++
		}
	}
	return n
}

// fsPipes counts pipe descriptors.
func fsPipes() int {
	n := 0
	for _, l := range fsFds() {
		if strings.HasPrefix(l, "pipe:[") {
			n++
		}
	}
	return n
}

// fsPoll polls cond every few milliseconds until it holds; it reports
// false after limit (never asserting how long it took).
func fsPoll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// fsWindow is the Revalidate of the change tests: short, so that polling
// sees the change soon; nothing asserts how soon.
const fsWindow = 50 * time.Millisecond
