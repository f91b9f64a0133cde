package main

// End to end: uringd serving directories given by flags and by a config
// file (several listeners and mounts, access logs, metrics).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestE2EServeRoot is `uringd serve -root DIR -listen 127.0.0.1:PORT`.
func TestE2EServeRoot(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	writeFile(t, root, "index.html", []byte("<h1>root index</h1>\n"))
	writeFile(t, root, "a/b/c.txt", []byte("deep\n"))
	writeFile(t, root, "noindex/x.txt", []byte("x\n"))
	writeFile(t, root, ".secret", []byte("hidden\n"))
	big := patterned(3<<20, 'r')
	writeFile(t, root, "big.bin", big)

	var p *proc
	var port int
	for attempt := 0; ; attempt++ {
		port = freePort(t)
		p = startProc(t, procOpts{args: []string{"serve", "-root", root, "-listen", "127.0.0.1:" + strconv.Itoa(port)}, noWait: true})
		p.waitFor("uringd to serve or fail", func() bool { return servingRE.MatchString(p.stdout.String()) || p.exited() })
		if !p.exited() || attempt == 2 || !strings.Contains(p.stderr.String(), "address already in use") {
			break
		}
	}
	if want := fmt.Sprintf("uringd: serving on http://127.0.0.1:%d/\n", port); p.stdout.String() != want {
		t.Fatalf("stdout %q, want %q (no demo site: a root was given)", p.stdout.String(), want)
	}
	if strings.Contains(p.stderr.String(), "demo site") {
		t.Errorf("with -root, uringd mentions the demo site: %s", p.stderr.String())
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := httpClient(t)
	if r := httpGet(t, c, base+"/", 200); string(r.body) != "<h1>root index</h1>\n" {
		t.Errorf("GET /: %q", r.body)
	}
	if r := httpGet(t, c, base+"/a/b/c.txt", 200); string(r.body) != "deep\n" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("GET /a/b/c.txt: %q %q", r.body, r.Header.Get("Content-Type"))
	}
	if r := httpGet(t, c, base+"/big.bin", 200); !bytes.Equal(r.body, big) {
		t.Errorf("GET /big.bin: %d bytes, not the file's %d", len(r.body), len(big))
	}
	if r := httpGet(t, c, base+"/big.bin", 206, "Range", "bytes=1048576-2097151"); !bytes.Equal(r.body, big[1<<20:2<<20]) {
		t.Errorf("GET /big.bin, second MiB: wrong bytes")
	}
	// No listing by default: the directory exists, listing it is
	// forbidden (Mount.Listing: "default false: 403").
	if r := httpDo(t, c, "GET", base+"/noindex/"); r.StatusCode != 403 || bytes.Contains(r.body, []byte("x.txt")) {
		t.Errorf("GET /noindex/ (no index, no listing): %s %q", r.Status, r.body)
	}
	httpGet(t, c, base+"/.secret", 404) // dotfiles hidden by default
	httpGet(t, c, base+"/missing", 404)
	// A directory without its slash is redirected to it.
	if r := httpDo(t, c, "GET", base+"/a"); r.StatusCode/100 != 3 || !strings.HasSuffix(r.Header.Get("Location"), "/a/") {
		t.Errorf("GET /a: %s, Location %q; want a redirect to /a/", r.Status, r.Header.Get("Location"))
	}
	// The demo site's special paths are still there.
	httpGet(t, c, base+"/.uringd/health", 200)
	getStats(t, c, base+"/.uringd/stats")
	p.stop()
}

// configFixture is a config file with two listeners (TCP, Unix socket),
// two mounts, the access log in a file and metrics on a side address.
type configFixture struct {
	dir, config, sock, log string
	site, files            string // the two mounts' roots
	big                    []byte // files/big.bin
}

func newConfigFixture(t *testing.T, format string) *configFixture {
	// Unix socket paths are limited to 107 bytes: keep dir short.
	dir, err := os.MkdirTemp("", "ue2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &configFixture{
		dir:    dir,
		config: filepath.Join(dir, "conf", "uringd.toml"),
		sock:   filepath.Join(dir, "u.sock"),
		log:    filepath.Join(dir, "logs", "access.log"),
		site:   filepath.Join(dir, "conf", "site"),
		files:  filepath.Join(dir, "files"),
		big:    patterned(2<<20, 'f'),
	}
	writeFile(t, f.site, "index.html", []byte("site index\n"))
	writeFile(t, f.site, "page.txt", []byte("site page\n"))
	writeFile(t, f.site, "filesX/y.txt", []byte("not the files mount\n"))
	writeFile(t, f.files, "a.txt", []byte("files a\n"))
	writeFile(t, f.files, "sub/b.txt", []byte("files b\n"))
	writeFile(t, f.files, "big.bin", f.big)
	if err := os.MkdirAll(filepath.Dir(f.log), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Dir(f.config), "uringd.toml", []byte(fmt.Sprintf(`# e2e test configuration
loops = 2

[[listen]]
network = "tcp"
address = "127.0.0.1:0"

[[listen]]
network = "unix"
address = %q
mode = "0660"

[[mount]]
prefix = "/"
root = "site"   # relative to this file

[[mount]]
prefix = "/files/"
root = %q
listing = true
cache_control = "public, max-age=60"

[access_log]
format = %q
path = %q

[metrics]
address = "127.0.0.1:0"
`, f.sock, f.files, format, f.log)))
	return f
}

// TestE2EConfigFile serves a config file's listeners and mounts, and
// checks the access log in each format and the metrics listener.
func TestE2EConfigFile(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "combined", "common"} {
		t.Run(format, func(t *testing.T) {
			f := newConfigFixture(t, format)
			p := startProc(t, procOpts{args: []string{"serve", "-config", f.config}, listeners: 2})
			if len(p.urls) != 2 || !strings.HasPrefix(p.urls[0], "http://127.0.0.1:") || p.urls[1] != "unix:"+f.sock {
				t.Fatalf("serving on %v, want the TCP address then unix:%s", p.urls, f.sock)
			}
			if st, err := os.Stat(f.sock); err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o660 {
				t.Fatalf("unix socket %s: %v %v, want a socket with mode 0660", f.sock, st.Mode(), err)
			}
			base := p.baseURL()
			tcp, unix := httpClient(t), unixClient(t, f.sock)

			// Each request is logged: expect lists what the log must hold.
			var expect []logged
			fetch := func(c *http.Client, url, target string, want int, headers ...string) fetched {
				t.Helper()
				agent := "e2e-" + format + "-" + strconv.Itoa(len(expect))
				r := httpGet(t, c, url+target, want, append([]string{"User-Agent", agent, "Referer", "http://ref.test/" + target, "Accept-Encoding", "identity"}, headers...)...)
				expect = append(expect, logged{target, want, len(r.body), agent})
				return r
			}
			for _, tt := range []struct {
				c      *http.Client
				url    string
				target string
				status int
				body   string
			}{
				{tcp, base, "/", 200, "site index\n"},
				{tcp, base, "/page.txt", 200, "site page\n"},
				{tcp, base, "/files/a.txt", 200, "files a\n"},
				{tcp, base, "/files/sub/b.txt", 200, "files b\n"},
				{tcp, base, "/filesX/y.txt", 200, "not the files mount\n"}, // a prefix ends at a "/"
				{tcp, base, "/files/page.txt", 404, ""},                    // the longest prefix wins, no fallback
				{tcp, base, "/page.txt/x", 404, ""},
				{unix, "http://uringd.sock", "/page.txt", 200, "site page\n"},
				{unix, "http://uringd.sock", "/files/a.txt", 200, "files a\n"},
				{unix, "http://uringd.sock", "/nope", 404, ""},
			} {
				r := fetch(tt.c, tt.url, tt.target, tt.status)
				if tt.body != "" && string(r.body) != tt.body {
					t.Errorf("GET %s: %q, want %q", tt.target, r.body, tt.body)
				}
				if cc := r.Header.Get("Cache-Control"); tt.status == 200 && (cc == "public, max-age=60") != strings.HasPrefix(tt.target, "/files/") {
					t.Errorf("GET %s: Cache-Control %q (the /files/ mount's policy only)", tt.target, cc)
				}
			}
			// The /files/ mount lists directories.
			if r := fetch(tcp, base, "/files/", 200); !bytes.Contains(r.body, []byte("a.txt")) || !bytes.Contains(r.body, []byte("sub/")) {
				t.Errorf("GET /files/: no listing: %q", r.body)
			}
			// Ranges are logged as 206 with the bytes sent.
			if r := fetch(tcp, base, "/files/big.bin", 206, "Range", "bytes=100-1123"); !bytes.Equal(r.body, f.big[100:1124]) {
				t.Errorf("range of big.bin: wrong bytes")
			}
			if r := fetch(unix, "http://uringd.sock", "/files/big.bin", 206, "Range", "bytes=1000000-"); !bytes.Equal(r.body, f.big[1000000:]) {
				t.Errorf("open range of big.bin: wrong bytes")
			}
			if r := fetch(tcp, base, "/files/big.bin", 200); !bytes.Equal(r.body, f.big) {
				t.Errorf("big.bin: wrong bytes")
			}
			// The health and stats paths are on every listener.
			httpGet(t, unix, "http://uringd.sock/.uringd/health", 200)
			getStats(t, unix, "http://uringd.sock/.uringd/stats")

			checkAccessLog(t, p, f.log, format, expect)
			if format == "json" {
				checkMetrics(t, p, len(expect))
			}
			p.stop()
		})
	}
}

var (
	commonRE   = regexp.MustCompile(`^(\S*) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(\S+) (\S+) (HTTP/1\.[01])" (\d{3}) (\d+|-)$`)
	combinedRE = regexp.MustCompile(`^(\S*) - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(\S+) (\S+) (HTTP/1\.[01])" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$`)
)

// logged is a request an access log must show.
type logged struct {
	target string
	status int
	bytes  int
	agent  string // User-Agent, unique per request
}

// accessEntry is one parsed access log line.
type accessEntry struct {
	remote, method, target, proto, referer, agent string
	status, bytes                                 int
}

// parseAccessLine parses a line of the given format.
func parseAccessLine(format, line string) (accessEntry, error) {
	var e accessEntry
	switch format {
	case "json":
		var j struct {
			Time      string  `json:"time"`
			Level     string  `json:"level"`
			Msg       string  `json:"msg"`
			Remote    string  `json:"remote"`
			Method    string  `json:"method"`
			Target    string  `json:"target"`
			Proto     string  `json:"proto"`
			Host      string  `json:"host"`
			Status    int     `json:"status"`
			Bytes     int     `json:"bytes"`
			Duration  float64 `json:"duration"`
			Referer   string  `json:"referer"`
			UserAgent string  `json:"user_agent"`
			Loop      *int    `json:"loop"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			return e, err
		}
		if _, err := time.Parse(time.RFC3339Nano, j.Time); err != nil || j.Msg != "request" || j.Loop == nil || j.Host == "" || j.Duration < 0 {
			return e, fmt.Errorf("time %q (%v), msg %q, loop %v, host %q, duration %v", j.Time, err, j.Msg, j.Loop, j.Host, j.Duration)
		}
		return accessEntry{j.Remote, j.Method, j.Target, j.Proto, j.Referer, j.UserAgent, j.Status, j.Bytes}, nil
	case "combined", "common":
		re := commonRE
		if format == "combined" {
			re = combinedRE
		}
		m := re.FindStringSubmatch(line)
		if m == nil {
			return e, fmt.Errorf("not in the %s format", format)
		}
		if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", m[2]); err != nil {
			return e, err
		}
		e = accessEntry{remote: m[1], method: m[3], target: m[4], proto: m[5]}
		e.status, _ = strconv.Atoi(m[6])
		if m[7] != "-" {
			e.bytes, _ = strconv.Atoi(m[7])
		}
		if format == "combined" {
			e.referer, e.agent = m[8], m[9]
		}
		return e, nil
	}
	return e, fmt.Errorf("unknown format %q", format)
}

// checkAccessLog waits until the log at path has a line for each
// expected request (it is written off the loops, every 100 ms) and
// checks each line's fields.
func checkAccessLog(t *testing.T, p *proc, path, format string, expect []logged) {
	t.Helper()
	want := len(expect)
	var lines []string
	p.waitFor(fmt.Sprintf("%d lines in %s", want, path), func() bool {
		lines = readLines(path)
		return len(lines) >= want
	})
	entries := map[string]accessEntry{} // by agent (unique per request); common: by order
	var ordered []accessEntry
	for _, line := range lines {
		e, err := parseAccessLine(format, line)
		if err != nil {
			t.Errorf("access log line %q: %v", line, err)
			continue
		}
		// Clients came over loopback TCP or the Unix socket (an unnamed
		// peer, "@"); the JSON format keeps the port.
		remote := e.remote
		if h, _, err := net.SplitHostPort(remote); err == nil && format == "json" {
			remote = h
		}
		if e.method != "GET" || e.proto != "HTTP/1.1" || remote != "127.0.0.1" && remote != "@" {
			t.Errorf("access log line %q: method %q, proto %q, remote %q", line, e.method, e.proto, e.remote)
		}
		entries[e.agent] = e
		ordered = append(ordered, e)
	}
	for i, x := range expect {
		var e accessEntry
		var ok bool
		if format == "common" { // no agent: the requests were sequential
			if ok = i < len(ordered); ok {
				e = ordered[i]
			}
		} else {
			e, ok = entries[x.agent]
		}
		if !ok {
			t.Errorf("no access log line for GET %s (%s)", x.target, x.agent)
			continue
		}
		if e.target != x.target || e.status != x.status || e.bytes != x.bytes {
			t.Errorf("access log for GET %s: target %q, status %d, bytes %d; want %d, %d", x.target, e.target, e.status, e.bytes, x.status, x.bytes)
		}
		if format != "common" && e.referer != "http://ref.test/"+x.target {
			t.Errorf("access log for GET %s: referer %q", x.target, e.referer)
		}
	}
}

// checkMetrics reads the side listener: /metrics after at least
// requests requests, /healthz, /readyz and /stats.
func checkMetrics(t *testing.T, p *proc, requests int) {
	t.Helper()
	side := "http://" + p.metricsAddr()
	c := httpClient(t)
	r := httpGet(t, c, side+"/metrics", 200)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("/metrics Content-Type %q", r.Header.Get("Content-Type"))
	}
	samples, types := promSamples(t, string(r.body))
	for name, typ := range map[string]string{
		"uringd_http_requests_total":            "counter",
		"uringd_http_response_body_bytes_total": "counter",
		"uringd_http_request_duration_seconds":  "histogram",
		"uringd_connections_open":               "gauge",
		"uringd_network_receive_bytes_total":    "counter",
		"uringd_network_transmit_bytes_total":   "counter",
		"uringd_loop_connections_open":          "gauge",
		"uringd_connections_accepted_total":     "counter",
		"uringd_connections_refused_total":      "counter",
		"uringd_loop_callback_lag_seconds":      "histogram",
		"uringd_loop_io_uring_enter_total":      "counter",
		"uringd_loop_sqes_total":                "counter",
		"uringd_loop_cqes_total":                "counter",
		"uringd_loop_cq_overflows_total":        "counter",
		"uringd_loop_callback_panics_total":     "counter",
		"uringd_offload_queue_depth":            "gauge",
		"uringd_offload_running":                "gauge",
		"uringd_offload_jobs_total":             "counter",
		"uringd_file_cache_hits_total":          "counter",
		"uringd_file_cache_misses_total":        "counter",
		"uringd_file_cache_revalidations_total": "counter",
		"go_goroutines":                         "gauge",
		"process_open_fds":                      "gauge",
	} {
		if types[name] != typ {
			t.Errorf("/metrics: %s has TYPE %q, want %s", name, types[name], typ)
		}
	}
	ok2xx, n := promSum(samples, "uringd_http_requests_total", `class="2xx"`)
	nf4xx, _ := promSum(samples, "uringd_http_requests_total", `class="4xx"`)
	if n != 2 || int(ok2xx+nf4xx) < requests || nf4xx < 3 {
		t.Errorf("/metrics: uringd_http_requests_total 2xx %v (%d loops), 4xx %v; want 2 loops and at least %d requests, 3 of them 404", ok2xx, n, nf4xx, requests)
	}
	if v, _ := promSum(samples, "uringd_http_response_body_bytes_total"); v < float64(2<<20) {
		t.Errorf("/metrics: uringd_http_response_body_bytes_total %v, want at least the 2 MiB of big.bin", v)
	}
	if v, _ := promSum(samples, "uringd_http_request_duration_seconds_count"); int(v) < requests {
		t.Errorf("/metrics: uringd_http_request_duration_seconds_count %v < %d", v, requests)
	}
	if v, _ := promSum(samples, "uringd_connections_accepted_total"); v < 2 {
		t.Errorf("/metrics: uringd_connections_accepted_total %v", v)
	}
	if v, n := promSum(samples, "uringd_loop_io_uring_enter_total"); v <= 0 || n != 2 {
		t.Errorf("/metrics: uringd_loop_io_uring_enter_total %v over %d loops", v, n)
	}
	for _, mount := range []string{"/", "/files"} {
		if v, n := promSum(samples, "uringd_file_cache_misses_total", `mount="`+mount+`"`); n != 1 || v < 1 {
			t.Errorf("/metrics: uringd_file_cache_misses_total{mount=%q} %v (%d samples)", mount, v, n)
		}
	}
	if r := httpGet(t, c, side+"/healthz", 200); string(r.body) != "ok\n" {
		t.Errorf("/healthz: %q", r.body)
	}
	if r := httpGet(t, c, side+"/readyz", 200); string(r.body) != "ready\n" {
		t.Errorf("/readyz: %q", r.body)
	}
	var snap struct {
		Loops []json.RawMessage `json:"loops"`
	}
	if r := httpGet(t, c, side+"/stats", 200); json.Unmarshal(r.body, &snap) != nil || len(snap.Loops) != 2 {
		t.Errorf("side /stats: %q", r.body)
	}
	httpGet(t, c, side+"/nope", 404)
}

// TestE2ESecondInstanceRefused starts uringd twice on one address: the
// second must fail ("address already in use"), not share the port.
func TestE2ESecondInstanceRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := startProc(t, procOpts{args: []string{"serve", "-root", dir, "-listen", "127.0.0.1:0"}})
	second := startProc(t, procOpts{args: []string{"serve", "-root", dir, "-listen", first.hostPort()}, noWait: true})
	second.waitFor("the second uringd to serve or fail", func() bool {
		return servingRE.MatchString(second.stdout.String()) || second.exited()
	})
	if !second.exited() {
		t.Fatalf("a second uringd on %s started: %q", first.hostPort(), second.stdout.String())
	}
	if code := second.wait(); code != 1 || !strings.Contains(second.stderr.String(), "address already in use") {
		t.Errorf("second uringd: exit %d, stderr %q", code, second.stderr.String())
	}
}
