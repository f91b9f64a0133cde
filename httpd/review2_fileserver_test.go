package httpd

// Second adversarial review of the FileServer changes: requests holding
// their entries (hold/opened), sidecars owned by an evicted entry,
// verify() and changed(), OpenFiles < 0, and small caches under
// concurrent requests.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uringd/uringd/offload"
)

// An index file rewritten in place (same inode, new length) is caught
// when its body is read (a short or long read) or before it is spliced
// (verify's statx), and changed() starts the request over. It resets
// fr.index to -1 but keeps fr.dir (the request path ends in '/'), so
// have() takes the index file for a "file/" request: 404 for the site's
// front page instead of its new version.
func TestR2FileServerIndexRewrittenInPlace(t *testing.T) {
	for _, size := range []int{100, 100 << 10} { // read, then spliced (verify)
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			dir := t.TempDir()
			v1 := bytes.Repeat([]byte("1"), size)
			v2 := bytes.Repeat([]byte("2"), size+1000)
			fsWriteTree(t, dir, map[string][]byte{"index.html": v1, "sub/index.html": v1})
			fs := &FileServer{Root: dir, Revalidate: time.Hour}
			e := fsStartLoops(t, 1, fs)
			for _, p := range []string{"/", "/sub/"} {
				if resp, b := e.do(t, "GET", p); resp.StatusCode != 200 || !bytes.Equal(b, v1) {
					t.Fatalf("%s: %d, %d bytes", p, resp.StatusCode, len(b))
				}
			}
			for _, name := range []string{"index.html", "sub/index.html"} {
				if err := os.WriteFile(filepath.Join(dir, name), v2, 0o644); err != nil { // in place: O_TRUNC
					t.Fatal(err)
				}
			}
			for _, p := range []string{"/", "/sub/"} {
				resp, b := e.do(t, "GET", p)
				if resp.StatusCode != 200 || !bytes.Equal(b, v2) {
					t.Errorf("%s after the index was rewritten: %d, %d bytes (want 200, the new version)", p, resp.StatusCode, len(b))
				}
			}
		})
	}
}

// A request waiting for on-the-fly compression when the server is closed:
// the offload pool drops the result for a closed loop (its callback never
// runs), so the request never ends and never releases the entry it holds:
// with OpenFiles < 0 nothing else owns that descriptor, which stays open
// for good (with a cache, FileServer.Close cannot release a held entry
// either).
func TestR2FileServerCompressionInFlightAtClose(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("all work and no play makes jack a dull boy\n", 200))
	fsWriteTree(t, dir, map[string][]byte{"t.txt": text})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	// Hold the only CPU worker, so the compression job waits in the queue.
	started, gate := make(chan struct{}), make(chan struct{})
	blockerDone := make(chan struct{})
	go func() {
		defer close(blockerDone)
		pool.Do(context.Background(), offload.CPU, offload.Wait, func(context.Context) (any, error) {
			close(started)
			<-gate
			return nil, nil
		})
	}()
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
		<-blockerDone
	}()
	recv(t, started, "the blocking job")

	fs := &FileServer{Root: dir, OpenFiles: -1, Compression: &Compression{Pool: pool}, ErrorLog: quietLog()}
	s := &Server{Handler: fs, Loops: 1, ErrorLog: quietLog()}
	addr, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr.String())
	c.Write([]byte("GET /t.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"))
	waitFor(t, "the compression job to be queued", func() bool { return pool.Metrics()[offload.CPU].QueueDepth == 1 })
	if n := fsFdsUnder(dir); n != 2 {
		t.Fatalf("%d descriptors under the root with the request in progress, want 2 (root, t.txt)", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(gate)
	waitFor(t, "the compression job to run", func() bool { return pool.Metrics()[offload.CPU].Completed >= 2 })
	fs.Close()
	if !fsPoll(testTimeout, func() bool { return fsFdsUnder(dir) == 0 }) {
		t.Fatalf("%d descriptors under the root after the server and the file server closed: %q", fsFdsUnder(dir), fsListUnder(dir))
	}
}

// r2NoCacheTree is a tree with every feature: sidecars, a file for
// on-the-fly compression, a large file (spliced), an index, a listing.
func r2NoCacheTree(t *testing.T) (string, map[string][]byte) {
	dir := t.TempDir()
	a := []byte(strings.Repeat("sidecar text ", 300))
	files := map[string][]byte{
		"a.txt":         a,
		"a.txt.gz":      fsGzip(t, a),
		"t.js":          []byte(strings.Repeat("function f(){return 1}\n", 400)),
		"big.bin":       fsRand(3<<20, 7),
		"d/index.html":  []byte("<html>index</html>"),
		"list/x.txt":    []byte("x"),
		"list/y.txt":    []byte("y"),
		"list/.hidden":  []byte("h"),
		"small.bin":     fsRand(1000, 8),
		"sub/deep.html": []byte("<p>deep</p>"),
	}
	fsWriteTree(t, dir, files)
	return dir, files
}

// OpenFiles < 0: no cache. Every feature still works, and once each
// response is complete no descriptor under the root is left but the
// root's own.
func TestR2FileServerNoCache(t *testing.T) {
	checkFds(t)
	dir, files := r2NoCacheTree(t)
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	fs := &FileServer{Root: dir, OpenFiles: -1, Precompressed: true, Listing: true,
		Compression: &Compression{Pool: pool}}
	e := fsStartLoops(t, 1, fs)
	settled := func(what string) {
		t.Helper()
		if !fsPoll(testTimeout, func() bool { return fsFdsUnder(dir) == 1 }) {
			t.Fatalf("after %s: %d descriptors under the root, want only the root: %q", what, fsFdsUnder(dir), fsListUnder(dir))
		}
	}
	check := func(what string, ok bool, resp *http.Response, b []byte) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %d %v (%d bytes)", what, resp.StatusCode, resp.Header, len(b))
		}
		settled(what)
	}
	big := files["big.bin"]
	for round := range 2 {
		resp, b := e.do(t, "GET", "/a.txt")
		check("identity", resp.StatusCode == 200 && bytes.Equal(b, files["a.txt"]), resp, b)
		resp, b = e.do(t, "GET", "/a.txt", "Accept-Encoding", "gzip")
		dec, _ := fsGunzip(b)
		check("sidecar", resp.StatusCode == 200 && resp.Header.Get("Content-Encoding") == "gzip" && bytes.Equal(dec, files["a.txt"]), resp, b)
		resp, b = e.do(t, "GET", "/t.js", "Accept-Encoding", "gzip")
		dec, _ = fsGunzip(b)
		check("on the fly", resp.StatusCode == 200 && resp.Header.Get("Content-Encoding") == "gzip" && bytes.Equal(dec, files["t.js"]), resp, b)
		resp, b = e.do(t, "GET", "/big.bin")
		check("spliced", resp.StatusCode == 200 && bytes.Equal(b, big), resp, b)
		resp, b = e.do(t, "GET", "/big.bin", "Range", "bytes=100-199")
		check("range", resp.StatusCode == 206 && bytes.Equal(b, big[100:200]), resp, b)
		resp, b = e.do(t, "GET", "/big.bin", "Range", "bytes=0-9,2000000-2999999")
		_, parts := fsParts(t, resp, b)
		check("multipart", resp.StatusCode == 206 && len(parts) == 2 && bytes.Equal(parts[0], big[:10]) && bytes.Equal(parts[1], big[2000000:3000000]), resp, b)
		resp, b = e.do(t, "HEAD", "/big.bin")
		check("HEAD", resp.StatusCode == 200 && len(b) == 0 && resp.ContentLength == int64(len(big)), resp, b)
		resp, b = e.do(t, "GET", "/big.bin", "If-None-Match", resp.Header.Get("ETag"))
		check("304", resp.StatusCode == 304 && len(b) == 0, resp, b)
		resp, b = e.do(t, "GET", "/d/")
		check("index", resp.StatusCode == 200 && string(b) == "<html>index</html>", resp, b)
		if r := fsRawGet(t, e.addr, "GET", "/d?q=1"); r.status() != 301 || r.resp.Header.Get("Location") != "/d/?q=1" {
			t.Errorf("redirect: %q", r.raw)
		}
		settled("redirect")
		resp, b = e.do(t, "GET", "/list/")
		check("listing", resp.StatusCode == 200 && bytes.Contains(b, []byte("x.txt")) && bytes.Contains(b, []byte("y.txt")) && !bytes.Contains(b, []byte(".hidden")), resp, b)
		resp, b = e.do(t, "HEAD", "/list/")
		check("listing HEAD", resp.StatusCode == 200 && len(b) == 0, resp, b)
		resp, b = e.do(t, "GET", "/nope")
		check("404", resp.StatusCode == 404, resp, b)
		resp, b = e.do(t, "GET", "/small.bin/")
		check("file/", resp.StatusCode == 404, resp, b)
		if round == 0 {
			if st := fs.Stats(); st.Hits != 0 || st.Revalidations != 0 {
				t.Errorf("no cache, yet %+v", st)
			}
		}
	}
	// A client that goes away in the middle of a large body.
	r := fsDialSmallWindow(t, e.addr)
	r.Write([]byte(get("/big.bin")))
	fsWaitStalled(r)
	r.SetLinger(0)
	r.Close()
	settled("a reset mid-transfer")
}

// r2MixRequest is one request of the small-cache mix and its check.
type r2MixRequest struct {
	method, path string
	hdr          []string
	check        func(resp *http.Response, b []byte) bool
}

func r2Mix(files map[string][]byte) []r2MixRequest {
	big := files["big.bin"]
	eq := func(name string) func(*http.Response, []byte) bool {
		return func(resp *http.Response, b []byte) bool { return resp.StatusCode == 200 && bytes.Equal(b, files[name]) }
	}
	mix := []r2MixRequest{
		{"GET", "/a.txt", nil, eq("a.txt")},
		{"GET", "/a.txt", []string{"Accept-Encoding", "gzip"}, func(resp *http.Response, b []byte) bool {
			d, err := fsGunzip(b)
			return err == nil && resp.Header.Get("Content-Encoding") == "gzip" && bytes.Equal(d, files["a.txt"])
		}},
		{"GET", "/big.bin", nil, eq("big.bin")},
		{"GET", "/big.bin", []string{"Range", "bytes=1000-1999"}, func(resp *http.Response, b []byte) bool {
			return resp.StatusCode == 206 && bytes.Equal(b, big[1000:2000])
		}},
		{"HEAD", "/big.bin", nil, func(resp *http.Response, b []byte) bool {
			return resp.StatusCode == 200 && resp.ContentLength == int64(len(big))
		}},
		{"GET", "/d/", nil, func(resp *http.Response, b []byte) bool { return string(b) == "<html>index</html>" }},
		// Listings: TestR2FileServerListingTwice (a cached directory's
		// second listing is empty).
		{"GET", "/list/", nil, func(resp *http.Response, b []byte) bool { return resp.StatusCode == 200 }},
		{"GET", "/sub/deep.html", nil, eq("sub/deep.html")},
		{"GET", "/small.bin", nil, eq("small.bin")},
		{"GET", "/nope.txt", nil, func(resp *http.Response, b []byte) bool { return resp.StatusCode == 404 }},
	}
	for i := range 6 {
		name := fmt.Sprintf("m/f%d.css", i)
		mix = append(mix,
			r2MixRequest{"GET", "/" + name, []string{"Accept-Encoding", "gzip, br"}, func(resp *http.Response, b []byte) bool {
				d, err := fsGunzip(b)
				return err == nil && bytes.Equal(d, files[name])
			}},
			r2MixRequest{"GET", "/" + name, nil, eq(name)})
	}
	return mix
}

// A directory listed twice: the listing reads the directory through
// unix.Dup of the cached entry's descriptor, and a dup shares the open
// file's offset, so the first listing leaves it at the end and every
// later one (same cached entry: until it is evicted, revalidation keeps
// it) is empty. Concurrent listings split the entries between them.
func TestR2FileServerListingTwice(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"list/x.txt": []byte("x"), "list/y.txt": []byte("y")})
	fs := &FileServer{Root: dir, Listing: true}
	e := fsStartLoops(t, 1, fs)
	for i := range 3 {
		resp, b := e.do(t, "GET", "/list/")
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte("x.txt")) || !bytes.Contains(b, []byte("y.txt")) {
			t.Fatalf("listing %d: %d, entries missing:\n%s", i, resp.StatusCode, b)
		}
	}
}

// Small caches under concurrent requests on one loop: with room for one
// or two entries every request evicts others while they probe sidecars,
// look for index files, list directories, read and splice. Every answer
// is right, descriptors stay bounded, and Close leaves none behind.
func TestR2FileServerSmallCacheConcurrent(t *testing.T) {
	for _, open := range []int{1, 2} {
		t.Run(strconv.Itoa(open), func(t *testing.T) {
			dir, files := r2NoCacheTree(t)
			extra := map[string][]byte{}
			for i := range 6 {
				name := fmt.Sprintf("m/f%d.css", i)
				extra[name] = []byte(strings.Repeat(fmt.Sprintf(".c%d{x:y}\n", i), 100+i))
				extra[name+".gz"] = fsGzip(t, extra[name])
			}
			fsWriteTree(t, dir, extra)
			for k, v := range extra {
				files[k] = v
			}
			fs := &FileServer{Root: dir, OpenFiles: open, Precompressed: true, Listing: true, Revalidate: -1}
			e := fsStartLoops(t, 1, fs)
			mix := r2Mix(files)
			var wg sync.WaitGroup
			var mu sync.Mutex
			bad, maxFds := 0, 0
			for g := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rng := rand.New(rand.NewPCG(uint64(g), uint64(open)))
					for range 40 {
						m := mix[rng.IntN(len(mix))]
						resp, b, err := e.try(m.method, m.path, m.hdr...)
						n := fsFdsUnder(dir)
						mu.Lock()
						maxFds = max(maxFds, n)
						if err != nil || !m.check(resp, b) {
							if bad++; bad <= 5 {
								status := 0
								if resp != nil {
									status = resp.StatusCode
								}
								t.Errorf("%s %s %q: %d, %d bytes, %v: %.400q", m.method, m.path, m.hdr, status, len(b), err, b)
							}
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			// The cache's entries and their sidecars, the root, and what the
			// 12 requests in flight hold (an entry, an index, a sidecar each).
			if bound := 2*open + 1 + 12*3; maxFds > bound {
				t.Errorf("%d descriptors under the root at once, bound %d", maxFds, bound)
			}
			e.client.Transport.(*http.Transport).CloseIdleConnections()
			fs.Close()
			if !fsPoll(testTimeout, func() bool { return fsFdsUnder(dir) == 0 }) {
				t.Errorf("%d descriptors under the root after Close: %q", fsFdsUnder(dir), fsListUnder(dir))
			}
		})
	}
}

// A large sidecar being spliced to a slow client while another request
// revalidates its entry (Revalidate < 0: every request) and so drops the
// entry's sidecars: the transfer in progress keeps its descriptor and
// sends the whole sidecar; the second request gets it too.
func TestR2FileServerSidecarDroppedWhileSpliced(t *testing.T) {
	dir := t.TempDir()
	plain := []byte(strings.Repeat("x", 1000))
	side := fsRand(4<<20, 11) // stands for a compressed body: sent as it is
	fsWriteTree(t, dir, map[string][]byte{"s.txt": plain, "s.txt.gz": side})
	fs := &FileServer{Root: dir, Precompressed: true, Revalidate: -1}
	e := fsStartLoops(t, 1, fs)
	a := fsDialSmallWindow(t, e.addr)
	a.Write([]byte("GET /s.txt HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"))
	fsWaitStalled(a)
	for range 3 {
		resp, b := e.do(t, "GET", "/s.txt", "Accept-Encoding", "gzip")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, side) {
			t.Fatalf("second client: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(b))
		}
	}
	raw, err := io.ReadAll(a)
	if err != nil && !isClosedErr(err) {
		t.Fatal(err)
	}
	_, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !bytes.Equal(body, side) {
		t.Fatalf("the stalled transfer got %d bytes, want the whole sidecar (%d)", len(body), len(side))
	}
	e.client.Transport.(*http.Transport).CloseIdleConnections()
	fs.Close()
	if !fsPoll(testTimeout, func() bool { return fsFdsUnder(dir) == 0 }) {
		t.Errorf("%d descriptors under the root after Close: %q", fsFdsUnder(dir), fsListUnder(dir))
	}
}

// A large file rewritten in place between its statx and its splice is
// caught by verify: the response is the new version, whole, never the
// new bytes cut to the old length.
func TestR2FileServerVerifyBeforeSplice(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := fsRand(1<<20, 21), fsRand(1<<20+4096, 22)
	fsWriteTree(t, dir, map[string][]byte{"f.bin": v1})
	fs := &FileServer{Root: dir, Revalidate: time.Hour}
	e := fsStartLoops(t, 1, fs)
	if resp, b := e.do(t, "GET", "/f.bin"); resp.StatusCode != 200 || !bytes.Equal(b, v1) {
		t.Fatalf("v1: %d, %d bytes", resp.StatusCode, len(b))
	}
	if err := os.WriteFile(filepath.Join(dir, "f.bin"), v2, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, rg := range []string{"", "bytes=0-99,200-299"} {
		var hdr []string
		if rg != "" {
			hdr = []string{"Range", rg}
		}
		resp, b := e.do(t, "GET", "/f.bin", hdr...)
		switch {
		case rg == "" && (resp.StatusCode != 200 || !bytes.Equal(b, v2)):
			t.Errorf("after the rewrite: %d, %d bytes", resp.StatusCode, len(b))
		case rg != "":
			_, parts := fsParts(t, resp, b)
			if resp.StatusCode != 206 || len(parts) != 2 || !bytes.Equal(parts[0], v2[:100]) || !bytes.Equal(parts[1], v2[200:300]) {
				t.Errorf("multipart after the rewrite: %d", resp.StatusCode)
			}
		}
	}
}
