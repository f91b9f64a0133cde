package httpd

import (
	"bytes"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fsCondTime is the condition file's mtime: not on a whole second, so
// that the 1-second resolution of HTTP dates is exercised.
var fsCondTime = time.Date(2024, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

func fsCondTree(t *testing.T) (string, []byte) {
	t.Helper()
	dir := t.TempDir()
	body := fsRand(1000, 1)
	fsWriteTree(t, dir, map[string][]byte{"c.bin": body, "empty.bin": nil})
	for _, n := range []string{"c.bin", "empty.bin"} {
		if err := os.Chtimes(filepath.Join(dir, n), fsCondTime, fsCondTime); err != nil {
			t.Fatal(err)
		}
	}
	return dir, body
}

// TestFileServerConditionals checks RFC 9110 §13's preconditions and
// §14's ranges, in the order of §13.2.2, against both handlers.
func TestFileServerConditionals(t *testing.T) {
	dir, body := fsCondTree(t)
	lm := fsCondTime.Truncate(time.Second)
	date := func(d time.Duration) string { return lm.Add(d).Format(http.TimeFormat) }
	type rg struct{ start, end int } // expected single range, inclusive
	cases := []struct {
		name   string
		method string
		hdr    []string // "{etag}" and "{wetag}" are replaced
		status int
		rng    *rg // 206: the expected range; 200: the whole file
	}{
		{"plain", "GET", nil, 200, nil},
		{"inm-own", "GET", []string{"If-None-Match", "{etag}"}, 304, nil},
		{"inm-weak-own", "GET", []string{"If-None-Match", "{wetag}"}, 304, nil},
		{"inm-other", "GET", []string{"If-None-Match", `"other"`}, 200, nil},
		{"inm-list", "GET", []string{"If-None-Match", `"a", W/"b" ,{etag}`}, 304, nil},
		{"inm-star", "GET", []string{"If-None-Match", "*"}, 304, nil},
		{"inm-star-head", "HEAD", []string{"If-None-Match", "*"}, 304, nil},
		{"inm-malformed", "GET", []string{"If-None-Match", `bogus, {etag}`}, 200, nil},
		{"im-own", "GET", []string{"If-Match", "{etag}"}, 200, nil},
		{"im-weak-own", "GET", []string{"If-Match", "{wetag}"}, 412, nil},
		{"im-other", "GET", []string{"If-Match", `"other"`}, 412, nil},
		{"im-list", "GET", []string{"If-Match", `"x", {etag}`}, 200, nil},
		{"im-star", "GET", []string{"If-Match", "*"}, 200, nil},
		{"ims-equal", "GET", []string{"If-Modified-Since", date(0)}, 304, nil},
		{"ims-before", "GET", []string{"If-Modified-Since", date(-time.Second)}, 200, nil},
		{"ims-after", "GET", []string{"If-Modified-Since", date(time.Hour)}, 304, nil},
		{"ims-invalid", "GET", []string{"If-Modified-Since", "yesterday"}, 200, nil},
		{"ims-rfc850", "GET", []string{"If-Modified-Since", lm.Format("Monday, 02-Jan-06 15:04:05 GMT")}, 304, nil},
		{"ims-asctime", "GET", []string{"If-Modified-Since", lm.Format(time.ANSIC)}, 304, nil},
		{"ims-head", "HEAD", []string{"If-Modified-Since", date(0)}, 304, nil},
		{"ius-equal", "GET", []string{"If-Unmodified-Since", date(0)}, 200, nil},
		{"ius-before", "GET", []string{"If-Unmodified-Since", date(-time.Second)}, 412, nil},
		{"ius-after", "GET", []string{"If-Unmodified-Since", date(time.Hour)}, 200, nil},
		{"ius-invalid", "GET", []string{"If-Unmodified-Since", "never"}, 200, nil},
		{"im-beats-ius", "GET", []string{"If-Match", "{etag}", "If-Unmodified-Since", date(-time.Hour)}, 200, nil},
		{"inm-beats-ims", "GET", []string{"If-None-Match", `"other"`, "If-Modified-Since", date(time.Hour)}, 200, nil},
		{"im-fails-first", "GET", []string{"If-Match", `"other"`, "If-None-Match", "{etag}"}, 412, nil},
		{"ius-fails-before-inm", "GET", []string{"If-Unmodified-Since", date(-time.Hour), "If-None-Match", "{etag}"}, 412, nil},
		{"range", "GET", []string{"Range", "bytes=0-9"}, 206, &rg{0, 9}},
		{"range-head", "HEAD", []string{"Range", "bytes=0-9"}, 200, nil},
		{"range-suffix", "GET", []string{"Range", "bytes=-10"}, 206, &rg{990, 999}},
		{"range-open", "GET", []string{"Range", "bytes=990-"}, 206, &rg{990, 999}},
		{"range-clamped", "GET", []string{"Range", "bytes=995-5000"}, 206, &rg{995, 999}},
		{"range-suffix-all", "GET", []string{"Range", "bytes=-5000"}, 206, &rg{0, 999}},
		{"range-one-byte", "GET", []string{"Range", "bytes=999-999"}, 206, &rg{999, 999}},
		{"range-coalesced", "GET", []string{"Range", "bytes=0-5,3-10"}, 206, &rg{0, 10}},
		{"range-adjacent", "GET", []string{"Range", "bytes=10-19,20-29,0-9"}, 206, &rg{0, 29}},
		{"range-dup", "GET", []string{"Range", "bytes=5-6, 5-6"}, 206, &rg{5, 6}},
		{"range-unsat-dropped", "GET", []string{"Range", "bytes=2000-3000,0-1"}, 206, &rg{0, 1}},
		{"range-unsat", "GET", []string{"Range", "bytes=1000-"}, 416, nil},
		{"range-unsat-suffix0", "GET", []string{"Range", "bytes=-0"}, 416, nil},
		{"range-bad-order", "GET", []string{"Range", "bytes=10-5"}, 200, nil},
		{"range-bad-unit", "GET", []string{"Range", "items=0-5"}, 200, nil},
		{"range-bad-syntax", "GET", []string{"Range", "bytes=abc"}, 200, nil},
		{"range-unit-case", "GET", []string{"Range", "BYTES=0-0"}, 206, &rg{0, 0}},
		{"ifrange-etag", "GET", []string{"Range", "bytes=0-9", "If-Range", "{etag}"}, 206, &rg{0, 9}},
		{"ifrange-weak", "GET", []string{"Range", "bytes=0-9", "If-Range", "{wetag}"}, 200, nil},
		{"ifrange-other", "GET", []string{"Range", "bytes=0-9", "If-Range", `"other"`}, 200, nil},
		{"ifrange-date", "GET", []string{"Range", "bytes=0-9", "If-Range", date(0)}, 206, &rg{0, 9}},
		{"ifrange-date-before", "GET", []string{"Range", "bytes=0-9", "If-Range", date(-time.Second)}, 200, nil},
		{"ifrange-date-after", "GET", []string{"Range", "bytes=0-9", "If-Range", date(time.Second)}, 200, nil},
		{"ifrange-garbage", "GET", []string{"Range", "bytes=0-9", "If-Range", "garbage"}, 200, nil},
		{"range-inm-own", "GET", []string{"Range", "bytes=0-9", "If-None-Match", "{etag}"}, 304, nil},
		{"range-im-own", "GET", []string{"Range", "bytes=0-9", "If-Match", "{etag}"}, 206, &rg{0, 9}},
		{"range-im-other", "GET", []string{"Range", "bytes=0-9", "If-Match", `"other"`}, 412, nil},
		{"range-unsat-inm", "GET", []string{"Range", "bytes=5000-", "If-None-Match", "{etag}"}, 304, nil},
	}
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir, CacheControl: "public, max-age=60"} }, func(t *testing.T, e *fsEnv) {
		resp, got := e.do(t, "GET", "/c.bin")
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != 200 || !bytes.Equal(got, body) || etag == "" || strings.HasPrefix(etag, "W/") {
			t.Fatalf("GET: %d %v", resp.StatusCode, resp.Header)
		}
		if resp.Header.Get("Last-Modified") != date(0) {
			t.Fatalf("Last-Modified %q, want %q", resp.Header.Get("Last-Modified"), date(0))
		}
		for _, c := range cases {
			hdr := make([]string, len(c.hdr))
			for i, v := range c.hdr {
				v = strings.ReplaceAll(v, "{wetag}", "W/"+etag)
				hdr[i] = strings.ReplaceAll(v, "{etag}", etag)
			}
			// Twice: the second is served from the native cache.
			for range 2 {
				r := fsRawGet(t, e.addr, c.method, "/c.bin", hdr...)
				resp, b := r.resp, r.body
				if resp == nil {
					t.Fatalf("%s: no response: %q", c.name, r.raw)
				}
				if resp.StatusCode != c.status {
					t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.status)
					continue
				}
				h := resp.Header
				switch c.status {
				case 200, 206:
					want := body
					if c.rng != nil {
						want = body[c.rng.start : c.rng.end+1]
						if cr := fmt.Sprintf("bytes %d-%d/1000", c.rng.start, c.rng.end); h.Get("Content-Range") != cr {
							t.Errorf("%s: Content-Range %q, want %q", c.name, h.Get("Content-Range"), cr)
						}
					} else if h.Get("Content-Range") != "" {
						t.Errorf("%s: 200 with Content-Range %q", c.name, h.Get("Content-Range"))
					}
					if cl := h.Get("Content-Length"); cl != strconv.Itoa(len(want)) && c.method != "HEAD" {
						// (HEAD: TestFileServerHeadContentLength)
						t.Errorf("%s: Content-Length %q, want %d", c.name, cl, len(want))
					}
					if c.method == "HEAD" {
						want = nil
					}
					if !bytes.Equal(b, want) {
						t.Errorf("%s: body of %d bytes, want %d", c.name, len(b), len(want))
					}
					if h.Get("ETag") != etag || h.Get("Accept-Ranges") != "bytes" {
						t.Errorf("%s: ETag %q Accept-Ranges %q", c.name, h.Get("ETag"), h.Get("Accept-Ranges"))
					}
				case 304:
					// §15.4.5: the validators and Cache-Control of a 200,
					// no body.
					if len(b) != 0 || h.Get("ETag") != etag || h.Get("Last-Modified") != date(0) ||
						h.Get("Cache-Control") != "public, max-age=60" {
						t.Errorf("%s: 304 with %v and %d body bytes", c.name, h, len(b))
					}
					if bytes.Contains(r.raw, body[:16]) {
						t.Errorf("%s: 304 carries the body", c.name)
					}
				case 416:
					if h.Get("Content-Range") != "bytes */1000" {
						t.Errorf("%s: Content-Range %q", c.name, h.Get("Content-Range"))
					}
					if bytes.Contains(r.raw, body[:16]) {
						t.Errorf("%s: 416 carries the file", c.name)
					}
				case 412:
					if bytes.Contains(r.raw, body[:16]) {
						t.Errorf("%s: 412 carries the file", c.name)
					}
				}
			}
		}
	})
}

// TestFileServerHeadContentLength: a HEAD gets the Content-Length a GET
// would (RFC 9110 §9.3.2: the same header fields), for a whole file, a
// large one and a range.
func TestFileServerHeadContentLength(t *testing.T) {
	dir, _ := fsCondTree(t)
	fsWriteTree(t, dir, map[string][]byte{"big.bin": fsRand(200<<10, 2)})
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir} }, func(t *testing.T, e *fsEnv) {
		for _, p := range []string{"/c.bin", "/big.bin", "/empty.bin"} {
			g := fsRawGet(t, e.addr, "GET", p)
			h := fsRawGet(t, e.addr, "HEAD", p)
			if h.status() != 200 || len(h.body) != 0 {
				t.Fatalf("HEAD %s: %d, %d body bytes", p, h.status(), len(h.body))
			}
			for _, k := range []string{"Content-Length", "Content-Type", "ETag", "Last-Modified", "Accept-Ranges"} {
				if g.resp.Header.Get(k) != h.resp.Header.Get(k) {
					t.Errorf("%s: %s GET %q HEAD %q", p, k, g.resp.Header.Get(k), h.resp.Header.Get(k))
				}
			}
		}
	})
}

// TestFileServerEmptyFileRanges: any Range on an empty file gets the
// (empty) file with 200.
func TestFileServerEmptyFileRanges(t *testing.T) {
	dir, _ := fsCondTree(t)
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir} }, func(t *testing.T, e *fsEnv) {
		for _, rng := range []string{"", "bytes=0-", "bytes=-5", "bytes=0-0", "bytes=5-10"} {
			resp, b := e.do(t, "GET", "/empty.bin", "Range", rng)
			if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("Content-Length") != "0" {
				t.Errorf("Range %q on an empty file: %d, %d bytes, %v", rng, resp.StatusCode, len(b), resp.Header)
			}
		}
	})
}

// fsParts reads a multipart/byteranges response into its parts'
// Content-Range values and bodies.
func fsParts(t *testing.T, resp *http.Response, body []byte) (ranges []string, parts [][]byte) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/byteranges" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q: %v", resp.Header.Get("Content-Type"), err)
	}
	if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
		t.Fatalf("multipart Content-Length %q for %d bytes", cl, len(body))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		ranges = append(ranges, p.Header.Get("Content-Range"))
		parts = append(parts, b)
	}
}

// fsSizes are file sizes around the small-file threshold (64 KiB), the
// splice chunk (1 MiB) and a few others.
var fsSizes = []int{0, 1, 100, 4096, 64<<10 - 1, 64 << 10, 64<<10 + 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 2<<20 + 3, 3<<20 + 17}

// TestFileServerBytesBySize compares what both handlers send, whole and
// in ranges (single, suffix, open-ended, across the thresholds,
// multipart), with the files by SHA-256.
func TestFileServerBytesBySize(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i, n := range fsSizes {
		files[fmt.Sprintf("f%d.bin", n)] = fsRand(n, uint64(100+i))
	}
	fsWriteTree(t, dir, files)
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir} }, func(t *testing.T, e *fsEnv) {
		for _, n := range fsSizes {
			name := fmt.Sprintf("/f%d.bin", n)
			data := files[name[1:]]
			for range 2 {
				resp, b := e.do(t, "GET", name)
				if resp.StatusCode != 200 || fsSum(b) != fsSum(data) || resp.Header.Get("Content-Length") != strconv.Itoa(n) {
					t.Fatalf("%s: %d, %d bytes (sha %s), want %d (sha %s)", name, resp.StatusCode, len(b), fsSum(b), n, fsSum(data))
				}
			}
			if n < 2 {
				continue
			}
			type span struct{ a, b int } // inclusive
			singles := map[string]span{
				"bytes=0-":                     {0, n - 1},
				"bytes=1-":                     {1, n - 1},
				fmt.Sprintf("bytes=1-%d", n-2): {1, n - 2},
				"bytes=-1":                     {n - 1, n - 1},
				fmt.Sprintf("bytes=-%d", n-1):  {1, n - 1},
				fmt.Sprintf("bytes=%d-", n/2):  {n / 2, n - 1},
				fmt.Sprintf("bytes=0-%d", min(n-1, 64<<10)):                                {0, min(n-1, 64<<10)},
				fmt.Sprintf("bytes=%d-%d", max(0, n-(64<<10)-1), n-1):                      {max(0, n-(64<<10)-1), n - 1},
				fmt.Sprintf("bytes=%d-%d", max(0, n/2-(1<<20)/2), min(n-1, n/2+(1<<20)/2)): {max(0, n/2-(1<<20)/2), min(n-1, n/2+(1<<20)/2)},
			}
			for h, s := range singles {
				resp, b := e.do(t, "GET", name, "Range", h)
				want := data[s.a : s.b+1]
				cr := fmt.Sprintf("bytes %d-%d/%d", s.a, s.b, n)
				if resp.StatusCode != 206 || fsSum(b) != fsSum(want) || resp.Header.Get("Content-Range") != cr {
					t.Errorf("%s %s: %d %q, %d bytes, want %d (%s)", name, h, resp.StatusCode, resp.Header.Get("Content-Range"), len(b), len(want), cr)
				}
			}
			if n < 100 {
				continue
			}
			// Multipart: in the order of the file, coalesced.
			third := n / 3
			h := fmt.Sprintf("bytes=%d-,0-9,%d-%d,5-12", n-7, third, 2*third)
			resp, b := e.do(t, "GET", name, "Range", h)
			if resp.StatusCode != 206 {
				t.Fatalf("%s %s: %d", name, h, resp.StatusCode)
			}
			crs, parts := fsParts(t, resp, b)
			wantSpans := []span{{0, 12}, {third, 2 * third}, {n - 7, n - 1}}
			if len(parts) != len(wantSpans) {
				t.Fatalf("%s %s: %d parts %q", name, h, len(parts), crs)
			}
			for i, s := range wantSpans {
				if crs[i] != fmt.Sprintf("bytes %d-%d/%d", s.a, s.b, n) || fsSum(parts[i]) != fsSum(data[s.a:s.b+1]) {
					t.Errorf("%s %s: part %d %q, %d bytes", name, h, i, crs[i], len(parts[i]))
				}
			}
		}
	})
}

// TestFileServerMIME: Content-Type by extension, case-insensitively, with
// the default for unknown ones and the Types overrides.
func TestFileServerMIME(t *testing.T) {
	dir := t.TempDir()
	want := map[string]string{
		"v.webm":    "video/webm",
		"v.mp4":     "video/mp4",
		"m.wasm":    "application/wasm",
		"f.woff2":   "font/woff2",
		"d.json":    "application/json",
		"D.JSON":    "application/json",
		"p.html":    "text/html; charset=utf-8",
		"s.css":     "text/css; charset=utf-8",
		"j.js":      "text/javascript; charset=utf-8",
		"i.svg":     "image/svg+xml",
		"x.unknown": "application/octet-stream",
		"noext":     "application/octet-stream",
		"a.tar.gz":  "application/gzip",
		"v.mkv":     "video/x-matroska",
		"c.custom":  "application/x-custom",
		".dotonly":  "application/octet-stream",
	}
	files := map[string][]byte{}
	for n := range want {
		files[n] = []byte("content of " + n)
	}
	fsWriteTree(t, dir, files)
	mk := func() *FileServer {
		return &FileServer{Root: dir, Dotfiles: DotfilesAllow, Types: map[string]string{".custom": "application/x-custom"}}
	}
	fsBoth(t, mk, func(t *testing.T, e *fsEnv) {
		for n, ct := range want {
			for _, method := range []string{"GET", "HEAD"} {
				resp, b := e.do(t, method, "/"+n)
				if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ct {
					t.Errorf("%s %s: %d Content-Type %q, want %q", method, n, resp.StatusCode, resp.Header.Get("Content-Type"), ct)
				}
				if method == "GET" && string(b) != "content of "+n {
					t.Errorf("%s: body %q", n, b)
				}
			}
		}
	})
}

// TestFileServerIndexAndRedirect: index files in subdirectories, the
// redirect of a directory without its slash keeping the query, 403 for a
// directory with neither index nor listing, and 404 for a file with a
// slash.
func TestFileServerIndexAndRedirect(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{
		"index.html":             []byte("root index"),
		"sub/index.html":         []byte("sub index"),
		"sub/deeper/index.htm":   []byte("deeper htm"),
		"sub/deeper/more/x.txt":  []byte("x"),
		"noindex/a.txt":          []byte("a"),
		"dirindex/index.html/ok": []byte("index.html is a directory"),
		"sp ace/index.html":      []byte("space index"),
		"a.txt":                  []byte("a file"),
	})
	mk := func() *FileServer { return &FileServer{Root: dir, Index: []string{"index.html", "index.htm"}} }
	fsBoth(t, mk, func(t *testing.T, e *fsEnv) {
		for _, c := range []struct{ path, body string }{
			{"/", "root index"}, {"/sub/", "sub index"}, {"/sub/deeper/", "deeper htm"},
			{"//sub//", "sub index"}, {"/sub/./", "sub index"}, {"/sub/deeper/../", "sub index"},
			{"/sp%20ace/", "space index"}, {"/index.html", "root index"}, {"/?x=1", "root index"},
		} {
			for range 2 {
				resp, b := e.do(t, "GET", c.path)
				if resp.StatusCode != 200 || string(b) != c.body || resp.Header.Get("Content-Type") == "" {
					t.Errorf("%s: %d %q", c.path, resp.StatusCode, b)
				}
			}
		}
		for _, c := range []struct{ target, loc string }{
			{"/sub", "/sub/"},
			{"/sub?x=1&y=%20z", "/sub/?x=1&y=%20z"},
			{"/sub/deeper?a", "/sub/deeper/?a"},
			{"/sub/deeper/more", "/sub/deeper/more/"},
			{"/sp%20ace", "/sp%20ace/"},
		} {
			r := fsRawGet(t, e.addr, "GET", c.target)
			if r.status() != 301 || r.resp.Header.Get("Location") != c.loc {
				t.Errorf("%s: %d Location %q, want 301 %q", c.target, r.status(), r.resp.Header.Get("Location"), c.loc)
			}
		}
		for _, c := range []struct {
			path   string
			status int
		}{{"/noindex/", 403}, {"/sub/deeper/more/", 403}, {"/a.txt/", 404}, {"/sub/index.html/", 404}, {"/missing/", 404}, {"/dirindex/", 403}} {
			if resp, _ := e.do(t, "GET", c.path); resp.StatusCode != c.status {
				t.Errorf("%s: %d, want %d", c.path, resp.StatusCode, c.status)
			}
		}
		if resp, _ := e.do(t, "POST", "/a.txt"); resp.StatusCode != 405 || !strings.Contains(resp.Header.Get("Allow"), "GET") {
			t.Errorf("POST: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// TestFileServerRedirectStaysOnHost: the slash redirect of a directory
// must not send the client to another host. A target starting with "//"
// whose ".." segments cancel the host part resolves to a directory, and
// the redirect built from the raw target is scheme-relative
// ("//evil.example/..."): an open redirect.
func TestFileServerRedirectStaysOnHost(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"sub/index.html": []byte("sub")})
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir} }, func(t *testing.T, e *fsEnv) {
		for _, target := range []string{"//evil.example/%2e%2e/sub", "//sub", "///evil.example/%2e%2e/sub", "/\\evil.example/../sub"} {
			r := fsRawGet(t, e.addr, "GET", target)
			if r.status() != 301 {
				continue // refusing is fine
			}
			loc := r.resp.Header.Get("Location")
			base, _ := url.Parse("http://127.0.0.1/")
			u, err := base.Parse(loc)
			if err != nil || u.Host != "127.0.0.1" {
				t.Errorf("GET %s: Location %q leaves the host", target, loc)
			}
		}
	})
}

// TestFileServerListing: with Listing, a directory without an index gets
// an HTML page with every name escaped (text and link), directories
// first, each group in byte order, and every link leads to its file;
// without Listing it gets 403.
func TestFileServerListing(t *testing.T) {
	dir := t.TempDir()
	names := []string{`q"uote.txt`, "<tag>.txt", "amp&amp;.txt", "sp ace.txt", "h#sh.txt", "q?mark.txt", "pct%41.txt",
		"Zed.txt", "apple.txt", "é.txt", "'single'.txt", "a+b.txt"}
	files := map[string][]byte{}
	for i, n := range names {
		files["list/"+n] = []byte(fmt.Sprintf("file %d", i))
	}
	files["list/zdir/x"] = []byte("x")
	files["list/adir/y"] = []byte("y")
	files["list/.dot"] = []byte("dot")
	fsWriteTree(t, dir, files)
	for _, listing := range []bool{true, false} {
		t.Run(fmt.Sprint("listing=", listing), func(t *testing.T) {
			fsBoth(t, func() *FileServer { return &FileServer{Root: dir, Listing: listing} }, func(t *testing.T, e *fsEnv) {
				resp, page := e.do(t, "GET", "/list/")
				if !listing {
					if resp.StatusCode != 403 || bytes.Contains(page, []byte("apple")) {
						t.Fatalf("without Listing: %d %q", resp.StatusCode, page)
					}
					return
				}
				if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("listing: %d %v", resp.StatusCode, resp.Header)
				}
				for _, raw := range []string{`q"uote`, "<tag>", "amp&amp;.txt", "'single'", ".dot"} {
					if bytes.Contains(page, []byte(raw)) {
						t.Errorf("listing holds %q unescaped:\n%s", raw, page)
					}
				}
				for _, esc := range []string{"q&#34;uote.txt", "&lt;tag&gt;.txt", "amp&amp;amp;.txt"} {
					if !bytes.Contains(page, []byte(esc)) {
						t.Errorf("listing lacks %q", esc)
					}
				}
				var hrefs []string
				for _, m := range regexp.MustCompile(`<a href="([^"]*)">`).FindAllStringSubmatch(string(page), -1) {
					if m[1] != "../" {
						hrefs = append(hrefs, m[1])
					}
				}
				sorted := append([]string(nil), names...)
				sort.Strings(sorted)
				wantOrder := append([]string{"adir/", "zdir/"}, sorted...)
				if len(hrefs) != len(wantOrder) {
					t.Fatalf("%d links, want %d: %q", len(hrefs), len(wantOrder), hrefs)
				}
				for i, h := range hrefs {
					name, err := url.PathUnescape(h)
					if err != nil || name != wantOrder[i] {
						t.Errorf("link %d: %q (%q), want %q", i, h, name, wantOrder[i])
					}
					if strings.ContainsAny(h, `"<>&#? '`) {
						t.Errorf("link %q holds a byte that changes its meaning", h)
					}
					if strings.HasSuffix(h, "/") {
						continue
					}
					// Follow the link, as a browser would resolve it.
					resp, b := e.do(t, "GET", "/list/"+h)
					if resp.StatusCode != 200 || string(b) != fileBody(names, name) {
						t.Errorf("link %q: %d %q", h, resp.StatusCode, b)
					}
				}
				// HEAD of a listing: headers only.
				r := fsRawGet(t, e.addr, "HEAD", "/list/")
				if r.status() != 200 || len(r.body) != 0 {
					t.Errorf("HEAD listing: %d %q", r.status(), r.raw)
				}
			})
		})
	}
}

func fileBody(names []string, name string) string {
	for i, n := range names {
		if n == name {
			return fmt.Sprintf("file %d", i)
		}
	}
	return "?"
}

// TestFileServerPrefix: Prefix strips whole segments only.
func TestFileServerPrefix(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"x": []byte("x file"), "index.html": []byte("root"), "sub/index.html": []byte("sub")})
	for _, prefix := range []string{"/static", "/static/"} {
		t.Run(strings.ReplaceAll(prefix, "/", "_"), func(t *testing.T) {
			fsBoth(t, func() *FileServer { return &FileServer{Root: dir, Prefix: prefix} }, func(t *testing.T, e *fsEnv) {
				for _, c := range []struct {
					target string
					status int
					body   string
				}{
					{"/static/x", 200, "x file"},
					{"/static//x", 200, "x file"},
					{"/static/", 200, "root"},
					{"/static/sub/", 200, "sub"},
					{"/staticx", 404, ""},
					{"/staticx/x", 404, ""},
					{"/static%2fx", 404, ""},
					{"/STATIC/x", 404, ""},
					{"/x", 404, ""},
					{"/", 404, ""},
					{"/stat", 404, ""},
				} {
					r := fsRawGet(t, e.addr, "GET", c.target)
					if r.status() != c.status || c.body != "" && string(r.body) != c.body {
						t.Errorf("%s: %d %q, want %d %q", c.target, r.status(), r.body, c.status, c.body)
					}
				}
				r := fsRawGet(t, e.addr, "GET", "/static/sub?q=1")
				if r.status() != 301 || r.resp.Header.Get("Location") != "/static/sub/?q=1" {
					t.Errorf("/static/sub: %d %q", r.status(), r.raw)
				}
				// The prefix alone names the root: its index, or a redirect
				// to the prefix with a slash.
				if r := fsRawGet(t, e.addr, "GET", "/static"); prefix == "/static" && r.status() != 200 && r.status() != 301 {
					t.Errorf("/static: %d", r.status())
				}
			})
		})
	}
}
