package main

// End to end: uringd started as a user would, serving its bundled demo
// site.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/stats"
	demosite "github.com/uringd/uringd/cmd/uringd/site"
)

// TestE2EDemoSite starts uringd with no arguments, as the README's quick
// start does, and with -listen 127.0.0.1:0, and checks the demo site.
func TestE2EDemoSite(t *testing.T) {
	t.Parallel()
	t.Run("no arguments", func(t *testing.T) {
		// The default address is fixed: skip if something else has it.
		ln, err := net.Listen("tcp", "127.0.0.1:8080")
		if err != nil {
			t.Skipf("127.0.0.1:8080 is in use on this machine (%v): the no-argument start cannot be tested; the -listen 127.0.0.1:0 sub-test covers the rest", err)
		}
		ln.Close()
		p := startProc(t, procOpts{noWait: true})
		p.waitFor("uringd to serve or fail", func() bool {
			return servingRE.MatchString(p.stdout.String()) || p.exited()
		})
		if p.exited() && strings.Contains(p.stderr.String(), "address already in use") {
			t.Skipf("127.0.0.1:8080 was taken between the check and the start: %s", p.stderr.String())
		}
		if got, want := p.stdout.String(), "uringd: serving on http://127.0.0.1:8080/ (the bundled demo site)\n"; got != want {
			t.Fatalf("stdout %q, want %q", got, want)
		}
		p.urls = []string{"http://127.0.0.1:8080/"}
		// uringd's listeners use SO_REUSEPORT, so another uringd (say, a
		// concurrent run of these tests) may have bound the same port
		// after the check above and share its connections.
		if others := foreignListeners(t, p, 8080); len(others) > 0 {
			t.Skipf("another process also listens on port 8080 (sockets %v): the no-argument start cannot be tested alone", others)
		}
		// The site is unpacked under XDG_CACHE_HOME, not in the
		// working directory.
		matches, _ := filepath.Glob(filepath.Join(p.home, ".cache", "uringd", "site-*", "index.html"))
		if len(matches) != 1 {
			t.Errorf("the demo site is not unpacked under $XDG_CACHE_HOME/uringd: %v", matches)
		}
		if entries, _ := os.ReadDir(p.dir); len(entries) != 0 {
			t.Errorf("uringd wrote into its working directory: %v", entries)
		}
		checkDemoSite(t, p, 0)
		p.stop() // with idle keep-alive connections open
	})
	t.Run("listen 127.0.0.1:0", func(t *testing.T) {
		p := startProc(t, procOpts{args: []string{"serve", "-listen", "127.0.0.1:0", "-loops", "2"}})
		if !regexp.MustCompile(`^uringd: serving on http://127\.0\.0\.1:[1-9][0-9]*/ \(the bundled demo site\)\n$`).MatchString(p.stdout.String()) {
			t.Fatalf("stdout %q", p.stdout.String())
		}
		if strings.HasSuffix(p.baseURL(), ":0") {
			t.Fatalf("printed the configured port 0, not the bound one: %s", p.baseURL())
		}
		checkDemoSite(t, p, 2)
		p.stop()
	})
}

// embedded returns a demo site file as built into the binary.
func embedded(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(demosite.Files, name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkDemoSite checks the pages, the clip with ranges, the stats
// endpoint (loops: the loop count expected, 0 if any), health and 404s.
func checkDemoSite(t *testing.T, p *proc, loops int) {
	base := p.baseURL()
	c := httpClient(t)

	t.Run("pages", func(t *testing.T) {
		for _, tt := range []struct{ path, file, ctype string }{
			{"/", "index.html", "text/html"},
			{"/index.html", "index.html", "text/html"},
			{"/video.html", "video.html", "text/html"},
			{"/video.js", "video.js", "javascript"},
			{"/status.html", "status.html", "text/html"},
			{"/status.js", "status.js", "javascript"},
			{"/style.css", "style.css", "text/css"},
		} {
			// Identity first, then gzip (compressed on the fly in the
			// offload pool), decoded here.
			r := httpGet(t, c, base+tt.path, 200, "Accept-Encoding", "identity")
			if !bytes.Equal(r.body, embedded(t, tt.file)) {
				t.Errorf("GET %s: body differs from the embedded %s", tt.path, tt.file)
			}
			if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("GET %s: Content-Type %q, want %s", tt.path, ct, tt.ctype)
			}
			r = httpGet(t, c, base+tt.path, 200, "Accept-Encoding", "gzip")
			body := r.body
			if r.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatalf("GET %s: gzip: %v", tt.path, err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatalf("GET %s: gzip: %v", tt.path, err)
				}
			}
			if !bytes.Equal(body, embedded(t, tt.file)) {
				t.Errorf("GET %s (gzip accepted, Content-Encoding %q): body differs from the embedded %s",
					tt.path, r.Header.Get("Content-Encoding"), tt.file)
			}
		}
		if r := httpGet(t, c, base+"/", 200, "Accept-Encoding", "identity"); !bytes.Contains(r.body, []byte("uringd")) {
			t.Errorf("the home page does not mention uringd")
		}
	})

	t.Run("clip ranges", func(t *testing.T) {
		clip := embedded(t, "clip.webm")
		n := len(clip)
		full := httpGet(t, c, base+"/clip.webm", 200)
		if !bytes.Equal(full.body, clip) || full.Header.Get("Content-Type") != "video/webm" || full.Header.Get("Accept-Ranges") != "bytes" {
			t.Errorf("GET /clip.webm: %d bytes, Content-Type %q, Accept-Ranges %q; want the embedded %d bytes, video/webm, bytes",
				len(full.body), full.Header.Get("Content-Type"), full.Header.Get("Accept-Ranges"), n)
		}
		for _, tt := range []struct {
			rng        string
			start, end int // inclusive
		}{
			{"bytes=0-99", 0, 99},
			{"bytes=0-0", 0, 0},
			{"bytes=1000-", 1000, n - 1},
			{"bytes=-4096", n - 4096, n - 1},
			{fmt.Sprintf("bytes=%d-%d", n/2, n/2+65535), n / 2, n/2 + 65535},
			{fmt.Sprintf("bytes=%d-%d", n-10, n+1000), n - 10, n - 1}, // end past the file is clamped
			{"bytes=200000-1299999", 200000, 1299999},                 // large: spliced, not buffered
		} {
			r := httpGet(t, c, base+"/clip.webm", 206, "Range", tt.rng)
			if want := fmt.Sprintf("bytes %d-%d/%d", tt.start, tt.end, n); r.Header.Get("Content-Range") != want {
				t.Errorf("Range %s: Content-Range %q, want %q", tt.rng, r.Header.Get("Content-Range"), want)
			}
			if !bytes.Equal(r.body, clip[tt.start:tt.end+1]) {
				t.Errorf("Range %s: %d bytes that differ from the file's %d-%d", tt.rng, len(r.body), tt.start, tt.end)
			}
		}
		r := httpGet(t, c, base+"/clip.webm", 416, "Range", fmt.Sprintf("bytes=%d-", n+10))
		if want := fmt.Sprintf("bytes */%d", n); r.Header.Get("Content-Range") != want {
			t.Errorf("unsatisfiable range: Content-Range %q, want %q", r.Header.Get("Content-Range"), want)
		}
		// Two ranges: multipart/byteranges.
		r = httpGet(t, c, base+"/clip.webm", 206, "Range", "bytes=0-9,5000-5099")
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "multipart/byteranges" {
			t.Fatalf("two ranges: Content-Type %q (%v)", r.Header.Get("Content-Type"), err)
		}
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		for _, want := range [][2]int{{0, 9}, {5000, 5099}} {
			part, err := mr.NextPart()
			if err != nil {
				t.Fatalf("two ranges: part %v: %v", want, err)
			}
			got, _ := io.ReadAll(part)
			if !bytes.Equal(got, clip[want[0]:want[1]+1]) || part.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", want[0], want[1], n) {
				t.Errorf("two ranges: part %q with %d bytes, want %v", part.Header.Get("Content-Range"), len(got), want)
			}
		}
		if _, err := mr.NextPart(); err != io.EOF {
			t.Errorf("two ranges: a third part? %v", err)
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		for _, name := range []string{"clip.webm", "index.html"} {
			h := httpDo(t, c, "HEAD", base+"/"+name, "Accept-Encoding", "identity")
			if want := len(embedded(t, name)); h.StatusCode != 200 || h.ContentLength != int64(want) || len(h.body) != 0 {
				t.Errorf("HEAD /%s: %s, Content-Length %d, %d body bytes; want 200, %d, none", name, h.Status, h.ContentLength, len(h.body), want)
			}
		}
	})

	t.Run("health and 404s", func(t *testing.T) {
		r := httpGet(t, c, base+"/.uringd/health", 200)
		if string(r.body) != "ok\n" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("health: %q, Cache-Control %q", r.body, r.Header.Get("Cache-Control"))
		}
		for _, path := range []string{"/missing.html", "/nope/", "/nope/deep/file.js", "/.uringd", "/.uringd/", "/.uringd/healthz",
			"/.hidden", "/clip.webm/x", "/index.html/"} {
			httpGet(t, c, base+path, 404)
		}
		// Escapes from the root are never served.
		for _, path := range []string{"/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd"} {
			r := httpDo(t, c, "GET", base+path)
			if r.StatusCode == 200 || bytes.Contains(r.body, []byte("root:")) {
				t.Errorf("GET %s: %s %q", path, r.Status, tail(string(r.body), 100))
			}
		}
	})

	t.Run("stats", func(t *testing.T) {
		s1 := getStats(t, c, base+"/.uringd/stats")
		if s1.Version != stats.Version || !strings.HasPrefix(s1.ServerVersion, "uringd") || s1.UptimeSeconds <= 0 || s1.UnixMilli <= 0 {
			t.Errorf("stats header fields: %+v", s1)
		}
		if loops > 0 && len(s1.Loops) != loops {
			t.Errorf("%d loops in the stats, want %d", len(s1.Loops), loops)
		}
		for i, l := range s1.Loops {
			if l.ID != i || l.Lag.P50 < 0 || l.Lag.P99 < l.Lag.P50 || l.Lag.Max < 0 {
				t.Errorf("loop %d: %+v", i, l)
			}
		}
		if len(s1.Offload.Classes) != 2 || s1.Offload.Classes[0].Name != "cpu" || s1.Offload.Classes[1].Name != "blocking" || s1.Offload.Classes[0].QueueCap <= 0 {
			t.Errorf("offload classes: %+v", s1.Offload.Classes)
		}

		// Traffic: 20 requests on connections of their own, and a
		// compressed one (an offload job).
		const n = 20
		fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		page := embedded(t, "index.html")
		for range n {
			httpGet(t, fresh, base+"/index.html", 200, "Accept-Encoding", "identity")
		}
		httpGet(t, c, base+"/status.js", 200, "Accept-Encoding", "gzip")

		sum := func(s stats.Snapshot) (req, out uint64) {
			for _, l := range s.Loops {
				req += l.Requests
				out += l.BytesOut
			}
			return req, out
		}
		r1, o1 := sum(s1)
		s2 := statsUntil(t, c, base+"/.uringd/stats", func(s stats.Snapshot) bool {
			r2, o2 := sum(s)
			return r2-r1 >= n+1 && o2-o1 >= uint64(n*len(page))
		})
		if s2.UnixMilli < s1.UnixMilli || s2.UptimeSeconds <= s1.UptimeSeconds {
			t.Errorf("time went back: %d/%v then %d/%v", s1.UnixMilli, s1.UptimeSeconds, s2.UnixMilli, s2.UptimeSeconds)
		}
		r2, o2 := sum(s2)
		if r2-r1 < n+1 || o2-o1 < uint64(n*len(page)) {
			t.Errorf("after %d requests: requests_total %d -> %d, bytes_out_total %d -> %d", n+1, r1, r2, o1, o2)
		}
		if s2.Connections.Accepted-s1.Connections.Accepted < n || s2.Connections.Open < 1 {
			t.Errorf("after %d connections: connections %+v -> %+v", n, s1.Connections, s2.Connections)
		}
		if s2.Offload.Completed < s1.Offload.Completed {
			t.Errorf("offload completed_total went back: %d -> %d", s1.Offload.Completed, s2.Offload.Completed)
		}
	})

	t.Run("stats bytes_in, bytes_out and per-loop connections", func(t *testing.T) {
		// bytes_out_total counts every byte sent, heads included: between
		// two snapshots, at least every response the client got in
		// between, heads and bodies (counting bodies alone falls short by
		// the heads).
		first := httpGet(t, c, base+"/.uringd/stats", 200)
		s1 := decodeStats(t, first.body)
		page := httpGet(t, c, base+"/index.html", 200, "Accept-Encoding", "identity")
		wantOut := uint64(headLen(first.Response) + len(first.body) + headLen(page.Response) + len(page.body))
		wantIn := uint64(len("GET /index.html HTTP/1.1\r\n\r\n"))
		sum := func(s stats.Snapshot) (in, out uint64, conns int64) {
			for _, l := range s.Loops {
				in, out, conns = in+l.BytesIn, out+l.BytesOut, conns+l.Connections
			}
			return in, out, conns
		}
		in1, out1, _ := sum(s1)
		// A send is counted when its completion runs on its loop, which
		// can be after the client has read the bytes: poll, counting each
		// poll's response too.
		deadline := time.Now().Add(e2eWait)
		for {
			r := httpGet(t, c, base+"/.uringd/stats", 200)
			in2, out2, conns := sum(decodeStats(t, r.body))
			if in2-in1 >= wantIn && out2-out1 >= wantOut && conns >= 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a page: bytes_in_total %d -> %d (want %d more), bytes_out_total %d -> %d (want %d more, heads included), connections now %d (want the one kept alive)",
					in1, in2, wantIn, out1, out2, wantOut, conns)
			}
			wantOut += uint64(headLen(r.Response) + len(r.body))
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// statsUntil polls the stats until cond holds, and returns the last
// snapshot either way. The byte counters may lag what the client has
// seen: a send is counted when its completion runs on its loop, which
// can be after the client has read the bytes.
func statsUntil(t testing.TB, c *http.Client, url string, cond func(stats.Snapshot) bool) stats.Snapshot {
	t.Helper()
	deadline := time.Now().Add(e2eWait)
	for {
		s := getStats(t, c, url)
		if cond(s) || time.Now().After(deadline) {
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// headLen is at least the length of r's head as sent: its status line,
// header fields and blank line (net/http drops some fields, such as
// Transfer-Encoding, from r.Header).
func headLen(r *http.Response) int {
	n := len(r.Proto) + 1 + len(r.Status) + 2 + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// getStats fetches the stats document and checks it against the schema
// (decodeStats).
func getStats(t testing.TB, c *http.Client, url string) stats.Snapshot {
	t.Helper()
	r := httpGet(t, c, url, 200)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" || r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("stats: Content-Type %q, Cache-Control %q", ct, r.Header.Get("Cache-Control"))
	}
	return decodeStats(t, r.body)
}

// decodeStats decodes a stats document and checks it against the schema:
// every field of stats.Snapshot is present (no more, no fewer), with the
// JSON types the Go types imply.
func decodeStats(t testing.TB, body []byte) stats.Snapshot {
	t.Helper()
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("stats: not JSON: %v\n%s", err, body)
	}
	checkSchema(t, "stats", reflect.TypeFor[stats.Snapshot](), raw)
	var snap stats.Snapshot
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&snap); err != nil {
		t.Fatalf("stats: %v\n%s", err, body)
	}
	return snap
}

// checkSchema checks that v (decoded JSON) has the shape of Go type typ.
func checkSchema(t testing.TB, path string, typ reflect.Type, v any) {
	t.Helper()
	switch typ.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			t.Errorf("%s: %T, want an object", path, v)
			return
		}
		seen := map[string]bool{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			seen[name] = true
			fv, ok := obj[name]
			if !ok {
				t.Errorf("%s.%s: missing", path, name)
				continue
			}
			checkSchema(t, path+"."+name, f.Type, fv)
		}
		for k := range obj {
			if !seen[k] {
				t.Errorf("%s.%s: not in the schema", path, k)
			}
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			t.Errorf("%s: %T, want an array", path, v)
			return
		}
		for i, e := range arr {
			checkSchema(t, fmt.Sprintf("%s[%d]", path, i), typ.Elem(), e)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			t.Errorf("%s: %T, want a string", path, v)
		}
	case reflect.Int, reflect.Int64, reflect.Uint64, reflect.Float64:
		f, ok := v.(float64)
		if !ok {
			t.Errorf("%s: %T, want a number", path, v)
			return
		}
		if typ.Kind() != reflect.Float64 && f != float64(int64(f)) {
			t.Errorf("%s: %v, want an integer", path, f)
		}
		if (typ.Kind() == reflect.Uint64) && f < 0 {
			t.Errorf("%s: %v, want >= 0", path, f)
		}
	default:
		t.Fatalf("%s: checkSchema does not know %v", path, typ)
	}
}

// foreignListeners returns the inodes of the TCP sockets listening on
// port that p does not hold.
func foreignListeners(t *testing.T, p *proc, port int) []string {
	t.Helper()
	ours := map[string]bool{}
	fdDir := fmt.Sprintf("/proc/%d/fd", p.cmd.Process.Pid)
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if l, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && strings.HasPrefix(l, "socket:[") {
			ours[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var others []string
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st ... inode (field 9)
			if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
				continue
			}
			if !ours[f[9]] {
				others = append(others, f[9])
			}
		}
	}
	return others
}
