package load

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPickRange(t *testing.T) {
	sizes := []int64{4 << 20, 1 << 20, 3<<20 + 12345}
	const rs = 1 << 20
	rng := rand.New(rand.NewPCG(7, 0))
	seenFile := map[int]bool{}
	seenOff := map[int64]bool{}
	for range 2000 {
		f, a, b := PickRange(rng, sizes, rs)
		if f < 0 || f >= len(sizes) {
			t.Fatalf("file %d", f)
		}
		if a%rs != 0 || b != a+rs-1 || a < 0 || b >= sizes[f] {
			t.Fatalf("file %d (%d bytes): range %d-%d not an aligned %d-byte block inside it", f, sizes[f], a, b, rs)
		}
		seenFile[f] = true
		if f == 0 {
			seenOff[a] = true
		}
	}
	// Every file, and every block of the 4-block file, gets drawn; the
	// tail of file 2 that is not a whole block never does (checked above).
	if len(seenFile) != 3 || len(seenOff) != 4 {
		t.Fatalf("files drawn %v, offsets of file 0 %v", seenFile, seenOff)
	}
	// Deterministic per seed and stream.
	draw := func(seed, stream uint64) []int64 {
		r := rand.New(rand.NewPCG(seed, stream))
		var out []int64
		for range 20 {
			f, a, _ := PickRange(r, sizes, rs)
			out = append(out, int64(f), a)
		}
		return out
	}
	if !slices.Equal(draw(1, 2), draw(1, 2)) || slices.Equal(draw(1, 2), draw(1, 3)) {
		t.Fatal("PickRange is not a function of the generator's seed and stream")
	}
}

func TestAccountWindow(t *testing.T) {
	ms := time.Millisecond
	conns := [][]rangeSample{
		{
			{sent: 0, first: 2 * ms, done: 5 * ms, bytes: 100},         // warm-up: done before the window
			{sent: 8 * ms, first: 11 * ms, done: 12 * ms, bytes: 100},  // started before, done inside: counted
			{sent: 20 * ms, first: 21 * ms, done: 30 * ms, bytes: 100}, // done exactly at the end: not counted
		},
		{
			{sent: 10 * ms, first: 14 * ms, done: 20 * ms, bytes: 7}, // done at the start: counted
		},
		nil,
	}
	w := accountWindow(conns, 10*ms, 30*ms)
	if w.n != 2 || w.bytes != 107 {
		t.Fatalf("n %d bytes %d, want 2 and 107", w.n, w.bytes)
	}
	if !slices.Equal(w.ttfb, []time.Duration{3 * ms, 4 * ms}) || !slices.Equal(w.total, []time.Duration{4 * ms, 10 * ms}) {
		t.Fatalf("ttfb %v total %v", w.ttfb, w.total)
	}
	if s := Summarise(w.ttfb); s.N != 2 || s.P50 != 3000 || s.Max != 4000 {
		t.Fatalf("summary %+v", s)
	}
	if w := accountWindow(conns, 40*ms, 50*ms); w.n != 0 || len(w.ttfb) != 0 {
		t.Fatalf("empty window counted %+v", w)
	}
}

func TestReadRangeHead(t *testing.T) {
	in := "HTTP/1.1 206 Partial Content\r\ncontent-range:  bytes 0-9/100 \r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789"
	br := bufio.NewReader(strings.NewReader(in))
	h, err := readRangeHead(br)
	if err != nil || h.status != 206 || h.contentRange != "bytes 0-9/100" || h.contentLength != 10 || !h.close || h.chunked {
		t.Fatalf("%+v %v", h, err)
	}
	if err := h.check(0, 9, 100); err != nil {
		t.Fatal(err)
	}
	sum := sha256.New()
	if err := readBody(br, make([]byte, 4), h.contentLength, sum); err != nil || !bytes.Equal(sum.Sum(nil), sha(t, "0123456789")) {
		t.Fatalf("body: %v", err)
	}
	for _, c := range []struct {
		h    rangeHead
		want string
	}{
		{rangeHead{status: 200, contentLength: 10, contentRange: "bytes 0-9/100"}, "status 200"},
		{rangeHead{status: 206, contentLength: 10, contentRange: "bytes 0-9/101"}, "Content-Range"},
		{rangeHead{status: 206, contentLength: 9, contentRange: "bytes 0-9/100"}, "Content-Length 9"},
		{rangeHead{status: 206, contentLength: -1, contentRange: "bytes 0-9/100", chunked: true}, "chunked"},
	} {
		if err := c.h.check(0, 9, 100); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.h, err, c.want)
		}
	}
	for _, bad := range []string{"HTTP/1.1 abc\r\n\r\n", "SPDY 200\r\n\r\n", "HTTP/1.1 206\r\nContent-Length: -4\r\n\r\n", "HTTP/1.1 206\r\nno colon\r\n\r\n"} {
		if _, err := readRangeHead(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A body cut short is an error.
	if err := readBody(bufio.NewReader(strings.NewReader("abc")), make([]byte, 8), 5, nil); err == nil {
		t.Fatal("short body accepted")
	}
}

func sha(t *testing.T, s string) []byte {
	t.Helper()
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// rangeServer serves h with net/http on a loopback port.
func rangeServer(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func rangeFilesFor(t *testing.T) (string, []string) {
	dir := t.TempDir()
	var names []string
	for i := range 3 {
		b := make([]byte, 256<<10)
		for j := range b {
			b[j] = byte(j*31 + i*7 + j>>10)
		}
		name := "v" + string(rune('0'+i)) + ".bin"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	return dir, names
}

// TestRanges runs the client against net/http's FileServer: every
// response passes its checks, bodies are verified, the window counts
// whole ranges.
func TestRanges(t *testing.T) {
	dir, names := rangeFilesFor(t)
	addr := rangeServer(t, http.StripPrefix("/static/", http.FileServer(http.Dir(dir))))
	started := false
	res, err := Ranges(RangeConfig{Addr: addr, Conns: 4, Dir: dir, Files: names, Prefix: "/static/", RangeSize: 16 << 10,
		Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond, Seed: 1, VerifyEvery: 8}, func() { started = true })
	if err != nil {
		t.Fatal(err)
	}
	if !started || res.Requests <= 0 || res.Bytes != res.Requests*16<<10 || res.Bad != 0 || res.Errors != 0 || res.Verified < 4 || res.Conns != 4 {
		t.Fatalf("got %+v (started %v)", res, started)
	}
	if res.TTFB.N != int(res.Requests) || res.Latency.N != int(res.Requests) || res.TTFB.P50 <= 0 || res.Latency.P50 < res.TTFB.P50 {
		t.Fatalf("latencies %+v / %+v for %d requests", res.TTFB, res.Latency, res.Requests)
	}
}

// TestRangesCatchesWrongBytes: a server that sends the right headers but
// other bytes (here: another file's) is caught by the verification.
func TestRangesCatchesWrongBytes(t *testing.T) {
	dir, names := rangeFilesFor(t)
	fs := http.FileServer(http.Dir(dir))
	addr := rangeServer(t, http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == names[0] {
			r.URL.Path = names[1]
		}
		fs.ServeHTTP(w, r)
	})))
	res, err := Ranges(RangeConfig{Addr: addr, Conns: 2, Dir: dir, Files: names[:1], Prefix: "/static/", RangeSize: 16 << 10,
		Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, Seed: 1}, nil)
	if err == nil && res.Bad == 0 {
		t.Fatalf("wrong bytes not caught: %+v", res)
	}
	if res.Bad == 0 || !strings.Contains(res.FirstErr, "differ from the file") {
		t.Fatalf("got %+v, %v", res, err)
	}
	// A server without ranges (200, the whole file) fails the checks.
	addr = rangeServer(t, http.StripPrefix("/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Del("Range")
		fs.ServeHTTP(w, r)
	})))
	res, _ = Ranges(RangeConfig{Addr: addr, Conns: 2, Dir: dir, Files: names, Prefix: "/static/", RangeSize: 16 << 10,
		Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond, Seed: 1}, nil)
	if res.Bad == 0 || !strings.Contains(res.FirstErr, "status 200") {
		t.Fatalf("a 200 passed the checks: %+v", res)
	}
}
