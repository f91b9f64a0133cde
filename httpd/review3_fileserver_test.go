package httpd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/uringd/uringd/offload"
	"golang.org/x/sys/unix"
)

const review3Canary = "REVIEW3-OUTSIDE-CANARY"

// review3FollowTree builds top/root (served) and top/out (outside), plus
// top/x holding the canary, so that a ".." that reached the kernel after
// a link into out would read it.
func review3FollowTree(t *testing.T) (root, top string) {
	top = t.TempDir()
	root = filepath.Join(top, "root")
	fsWriteTree(t, top, map[string][]byte{
		"root/x":           []byte("inside x"),
		"root/sub/y":       []byte("inside y"),
		"out/inner/z":      []byte("outside z"),
		"out/secret":       []byte(review3Canary),
		"x":                []byte(review3Canary),
		"out/inner/target": []byte("outside target"),
	})
	fsSymlink(t, filepath.Join(top, "out"), filepath.Join(root, "outdir"))     // absolute, to a dir outside
	fsSymlink(t, "../out/inner", filepath.Join(root, "innerdir"))              // relative, to a dir outside
	fsSymlink(t, "loop-b", filepath.Join(root, "loop-a"))                      // a loop
	fsSymlink(t, "loop-a", filepath.Join(root, "loop-b"))                      //
	fsSymlink(t, "self", filepath.Join(root, "self"))                          // a link to itself
	fsSymlink(t, "/proc/self/root/etc/passwd", filepath.Join(root, "proc-rt")) // magic link in the middle
	fsSymlink(t, "/proc/self/cwd", filepath.Join(root, "proc-cwd"))            // magic link at the end (a dir)
	fsSymlink(t, "/proc/self/fd/0", filepath.Join(root, "proc-fd"))            // magic link to a descriptor
	return root, top
}

// TestReview3FollowHostilePaths: with SymlinksFollow, links may lead out,
// but nothing in the request path may climb: ".." after a link to a
// directory outside is resolved against the request path (it lands back
// in the root), encoded dots are dots, double slashes stay relative,
// magic links and loops fail.
func TestReview3FollowHostilePaths(t *testing.T) {
	root, _ := review3FollowTree(t)
	cases := []struct {
		target string
		status int
		body   string
	}{
		{"/outdir/secret", 200, review3Canary}, // the link itself may lead out
		{"/innerdir/z", 200, "outside z"},
		{"/outdir/../x", 200, "inside x"}, // lexical: root/x, never top/x
		{"/outdir/%2e%2e/x", 200, "inside x"},
		{"/outdir/%2E%2e/x", 200, "inside x"},
		{"/innerdir/../../x", 0, ""}, // would climb above the root
		{"/innerdir/%2e%2e/%2e%2e/x", 0, ""},
		{"/innerdir/..%2f..%2fx", 0, ""},
		{"/outdir/inner/../../x", 200, "inside x"},
		{"//x", 200, "inside x"},
		{"///etc/passwd", 404, ""}, // relative to the root, not "/"
		{"//outdir//secret", 200, review3Canary},
		{"/%2fetc/passwd", 0, ""},
		{"/sub/..%5c..%5cx", 0, ""},
		{"/loop-a", 404, ""},
		{"/self", 404, ""},
		{"/proc-rt", 404, ""},
		{"/proc-cwd/", 404, ""},
		{"/proc-cwd/x", 404, ""},
		{"/proc-fd", 404, ""},
		{"/sub/../sub/y", 200, "inside y"},
		{"/sub/./y", 200, "inside y"},
		{"/%2e/x", 200, "inside x"},
		{"/x%00", 0, ""},
		{"http://x/outdir/../x", 200, "inside x"}, // absolute-form targets
		{"http://x/innerdir/../../x", 0, ""},
		{"http://x//etc/passwd", 404, ""},
		{"/innerdir/..", 403, ""}, // the root itself: no index, no listing
	}
	fsBoth(t, func() *FileServer { return &FileServer{Root: root, Symlinks: SymlinksFollow} }, func(t *testing.T, e *fsEnv) {
		for range 2 { // second pass from the cache
			for _, c := range cases {
				r := fsRawGet(t, e.addr, "GET", c.target)
				if c.body != review3Canary && bytes.Contains(r.raw, []byte(review3Canary)) {
					t.Fatalf("%s %q served the outside canary:\n%s", e.name, c.target, r.raw)
				}
				if bytes.Contains(r.raw, []byte("root:x:0:0")) {
					t.Fatalf("%s %q served /etc/passwd", e.name, c.target)
				}
				s := r.status()
				switch {
				case c.status == 0:
					if s < 400 || s > 499 {
						t.Errorf("%s %q: status %d, want 4xx", e.name, c.target, s)
					}
				case s != c.status:
					t.Errorf("%s %q: status %d, want %d", e.name, c.target, s, c.status)
				case c.status == 200 && string(r.body) != c.body:
					t.Errorf("%s %q: body %q, want %q", e.name, c.target, r.body, c.body)
				}
			}
		}
	})
}

// TestReview3CompressTypesMatch: onTheFly's matching of Types: case,
// parameters, whitespace, wildcards, structured suffixes.
func TestReview3CompressTypesMatch(t *testing.T) {
	cases := []struct {
		types []string
		ctype string
		want  bool
	}{
		{[]string{"text/*"}, "text/html; charset=utf-8", true},
		{[]string{"TEXT/*"}, "text/plain", true},
		{[]string{"text/*"}, "Text/CSS", true},
		{[]string{"text/html"}, "TEXT/HTML ; charset=utf-8", true},
		{[]string{"text/html"}, "text/html", true},
		{[]string{"text/html"}, "text/htmlx", false},
		{[]string{"text/html"}, "text/plain", false},
		{[]string{"text/*"}, "textual/plain", false},
		{[]string{"text/*"}, "application/text", false},
		{[]string{"application/json"}, "application/ld+json", false},
		{[]string{"application/ld+json"}, "application/ld+json; profile=x", true},
		{[]string{"application/*"}, "application/vnd.api+json", true},
		{[]string{"image/svg+xml"}, "image/svg+xml", true},
		{[]string{"image/svg+xml"}, "image/svg", false},
		{[]string{"image/png"}, "image/png", true}, // listed although not deemed compressible
		{[]string{"text/css"}, "text/plain", false},
		{nil, "application/ld+json", true}, // default: Compressible
		{nil, "image/png", false},
	}
	for _, c := range cases {
		cz := &Compression{Types: c.types}
		if got := cz.onTheFly(c.ctype); got != c.want {
			t.Errorf("Types %q, %q: %v, want %v", c.types, c.ctype, got, c.want)
		}
	}
}

// TestReview3CompressTypesWildcardAll: a Types entry Open accepts must
// mean something: "*/*" passes the check in setup, so it should match
// every type (or be refused), not silently match none.
func TestReview3CompressTypesWildcardAll(t *testing.T) {
	dir := t.TempDir()
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	fs := &FileServer{Root: dir, Compression: &Compression{Pool: pool, Types: []string{"*/*"}}}
	err := fs.Open()
	fs.Close()
	if err == nil && !fs.Compression.onTheFly("text/plain") {
		t.Errorf("Open accepted Types [\"*/*\"], which then matches nothing")
	}
}

// TestReview3VaryMatrix: Vary: Accept-Encoding exactly when the response
// may depend on it: a type compressed on the fly, or a compressible type
// with Precompressed; never for a type neither applies to.
func TestReview3VaryMatrix(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("vary me please, vary me please. ", 200))
	fsWriteTree(t, dir, map[string][]byte{"a.txt": text, "a.png": text, "a.css": text, "small.txt": []byte("tiny")})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	type want struct {
		path, ae string
		ce       string
		vary     bool
	}
	cases := []struct {
		name  string
		types []string // nil with comp false: no Compression
		comp  bool
		pre   bool
		wants []want
	}{
		{"css-only", []string{"text/css"}, true, false, []want{
			{"/a.txt", "gzip", "", false},
			{"/a.txt", "", "", false},
			{"/a.css", "gzip", "gzip", true},
			{"/a.css", "", "", true},
			{"/a.css", "zstd", "zstd", true},
			{"/a.png", "gzip", "", false},
		}},
		{"png-listed", []string{"image/png"}, true, false, []want{
			{"/a.png", "gzip", "gzip", true},
			{"/a.png", "identity", "", true},
			{"/a.txt", "gzip", "", false},
		}},
		{"css-only+pre", []string{"text/css"}, true, true, []want{
			{"/a.txt", "gzip", "", true}, // a sidecar could exist
			{"/a.txt", "", "", true},
			{"/a.png", "gzip", "", false},
			{"/a.css", "br", "", true},
		}},
		{"default", nil, true, false, []want{
			{"/a.txt", "gzip", "gzip", true},
			{"/small.txt", "gzip", "", true},
			{"/a.png", "gzip", "", false},
		}},
		{"none", nil, false, false, []want{
			{"/a.txt", "gzip", "", false},
			{"/a.png", "gzip", "", false},
		}},
		{"pre-only", nil, false, true, []want{
			{"/a.txt", "gzip", "", true},
			{"/a.png", "gzip", "", false},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs := &FileServer{Root: dir, Precompressed: c.pre}
			if c.comp {
				fs.Compression = &Compression{Pool: pool, Types: c.types}
			}
			e := fsStart(t, true, fs)
			for range 2 {
				for _, w := range c.wants {
					var hdr []string
					if w.ae != "" {
						hdr = []string{"Accept-Encoding", w.ae}
					}
					resp, _ := e.do(t, "GET", w.path, hdr...)
					if resp.StatusCode != 200 {
						t.Errorf("%s AE %q: status %d", w.path, w.ae, resp.StatusCode)
						continue
					}
					if ce := resp.Header.Get("Content-Encoding"); ce != w.ce {
						t.Errorf("%s AE %q: Content-Encoding %q, want %q", w.path, w.ae, ce, w.ce)
					}
					if v := resp.Header.Get("Vary") == "Accept-Encoding"; v != w.vary {
						t.Errorf("%s AE %q: Vary %q, want it %v", w.path, w.ae, resp.Header.Values("Vary"), w.vary)
					}
				}
			}
		})
	}
}

// TestReview3OnTheFlyIdentityRefused: "gzip, identity;q=0" on a file the
// server would compress on the fly must get gzip, not 406.
func TestReview3OnTheFlyIdentityRefused(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("compress me now. ", 300))
	fsWriteTree(t, dir, map[string][]byte{"a.css": text})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	e := fsStart(t, true, &FileServer{Root: dir, Compression: &Compression{Pool: pool, Types: []string{"text/css"}}})
	resp, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", "gzip, identity;q=0")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("status %d, Content-Encoding %q; want 200 gzip", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
}

// TestReview3OpenConcurrentAndTwice: Open called from many goroutines
// while requests are served returns nil everywhere and changes nothing;
// a failing Open returns the same error every time.
func TestReview3OpenConcurrentAndTwice(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"f.txt": []byte("hello open")})
	for _, h := range fsHandlers {
		t.Run(h.name, func(t *testing.T) {
			fs := &FileServer{Root: dir}
			e := fsStart(t, h.native, fs)
			var wg sync.WaitGroup
			errs := make(chan error, 200)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 20 {
						if (g+i)%2 == 0 {
							if err := fs.Open(); err != nil {
								errs <- err
							}
							continue
						}
						resp, b, err := e.try("GET", "/f.txt")
						if err != nil {
							errs <- err
						} else if resp.StatusCode != 200 || string(b) != "hello open" {
							errs <- fmt.Errorf("status %d body %q", resp.StatusCode, b)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
	bad := &FileServer{Root: filepath.Join(dir, "missing")}
	e1, e2 := bad.Open(), bad.Open()
	if e1 == nil || e1 != e2 {
		t.Errorf("Open twice on a missing root: %v then %v", e1, e2)
	}
	bad.Close()
	bad.Close()
}

// TestReview3CloseAfterFailedOpen: a failed Open (bad setting after the
// root was opened, or a missing root) leaves no descriptor behind, and
// Close afterwards never closes a descriptor someone else now holds
// under the number the root had.
func TestReview3CloseAfterFailedOpen(t *testing.T) {
	dir := t.TempDir()
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	bads := []func() *FileServer{
		func() *FileServer { return &FileServer{Root: dir, Compression: &Compression{Pool: pool, ZstdLevel: 9}} },
		func() *FileServer {
			return &FileServer{Root: dir, Compression: &Compression{Pool: pool, GzipLevel: -1}}
		},
		func() *FileServer {
			return &FileServer{Root: dir, Compression: &Compression{Pool: pool, Types: []string{"text"}}}
		},
		func() *FileServer { return &FileServer{Root: dir, Compression: &Compression{}} },
		func() *FileServer { return &FileServer{Root: dir, Types: map[string]string{".x": "not a type"}} },
		func() *FileServer { return &FileServer{Root: filepath.Join(dir, "missing")} },
		func() *FileServer { return &FileServer{Root: ""} },
	}
	before := fsFdsUnder(dir)
	for i, mk := range bads {
		for range 20 {
			fs := mk()
			if err := fs.Open(); err == nil {
				t.Fatalf("case %d: Open succeeded", i)
			}
			// Whatever number the root had is free now: take it.
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			fs.Close()
			fs.Close()
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				t.Fatalf("case %d: Close after a failed Open closed another descriptor: %v", i, err)
			}
			f.Close()
		}
	}
	if after := fsFdsUnder(dir); after != before {
		t.Errorf("descriptors under the root: %d before, %d after failed Opens", before, after)
	}
	// A good one opened and closed repeatedly leaves nothing either.
	for range 20 {
		fs := &FileServer{Root: dir}
		if err := fs.Open(); err != nil {
			t.Fatal(err)
		}
		fs.Close()
	}
	if after := fsFdsUnder(dir); after != before {
		t.Errorf("descriptors under the root: %d before, %d after Open+Close", before, after)
	}
}

// TestReview3FollowIndexStaysInRoot: with SymlinksFollow only links may
// lead out ("links, and only links, lead out"): an Index entry that
// climbs ("../x") or is absolute must not be opened outside the root
// (Open should refuse it, or the open should fail).
func TestReview3FollowIndexStaysInRoot(t *testing.T) {
	root, top := review3FollowTree(t)
	for _, idx := range []string{"../x", filepath.Join(top, "x")} {
		fs := &FileServer{Root: root, Symlinks: SymlinksFollow, Index: []string{idx}}
		if fs.Open() != nil {
			fs.Close()
			continue // refused: fine
		}
		e := fsStart(t, true, fs)
		r := fsRawGet(t, e.addr, "GET", "/")
		if bytes.Contains(r.raw, []byte(review3Canary)) {
			t.Errorf("Index %q: GET / served the file outside the root", idx)
		}
	}
}
