package main

// Helpers for the end-to-end tests (e2e_*_test.go, browser_test.go):
// they build the uringd binary once, start it as a child process on
// loopback with its own working, home and cache directories, and read
// what it prints. Every child is killed in t.Cleanup; a data race or a
// panic it reports fails the test that started it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// e2eWait bounds every wait for the daemon (start, a log line, exit).
// It is generous: the binary may be built with -race on a loaded
// 2-core machine. Tests never assert durations; this only keeps a hung
// daemon from hanging the test run.
const e2eWait = 60 * time.Second

var e2eBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBin.dir != "" {
		os.RemoveAll(e2eBin.dir)
	}
	os.Exit(code)
}

// uringdBinary builds ./cmd/uringd once per test run (with -race when
// the tests run with it, so that the daemon's own races are caught too)
// and returns the binary's path.
func uringdBinary(t testing.TB) string {
	t.Helper()
	e2eBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "uringd-e2e-bin-")
		if err != nil {
			e2eBin.err = err
			return
		}
		e2eBin.dir = dir
		bin := filepath.Join(dir, "uringd")
		args := []string{"build", "-o", bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, ".") // the test runs in cmd/uringd
		out, err := exec.Command("go", args...).CombinedOutput()
		if err != nil {
			e2eBin.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
			return
		}
		e2eBin.path = bin
	})
	if e2eBin.err != nil {
		t.Fatal(e2eBin.err)
	}
	return e2eBin.path
}

// lockedBuffer collects a child's output while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonEnv is the environment for a child: this one's, without what
// would make the child talk to systemd or unpack the demo site into the
// real cache, with HOME and XDG_CACHE_HOME in home.
func daemonEnv(home string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CACHE_HOME", "CACHE_DIRECTORY", "NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "GORACE":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		// A race in the daemon ends it at once with a distinct status.
		"GORACE=halt_on_error=1 exitcode=66")
	return append(env, extra...)
}

// proc is a running uringd child process.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	dir    string // working directory
	home   string // HOME; XDG_CACHE_HOME is home/.cache
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	exit   *procExit
	urls   []string // the "serving on" URLs, in listener order
}

// procExit is how the process ended; err is set before done closes.
type procExit struct{ err error }

// in returns p for use in subtest t (its failures go to t).
func (p *proc) in(t testing.TB) *proc {
	q := *p
	q.t = t
	return &q
}

type procOpts struct {
	args      []string
	dir       string // working directory (default: a new temporary one)
	listeners int    // "serving on" lines to wait for (default 1)
	env       []string
	noWait    bool // do not wait for the listeners (the start is expected to fail)
}

var servingRE = regexp.MustCompile(`(?m)^uringd: serving on (\S+)`)

// startProc starts uringd with o.args and waits until it has printed
// where it serves.
func startProc(t testing.TB, o procOpts) *proc {
	t.Helper()
	bin := uringdBinary(t)
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	if o.listeners == 0 {
		o.listeners = 1
	}
	home := t.TempDir()
	d := &proc{t: t, dir: o.dir, home: home, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{}), exit: &procExit{}}
	d.cmd = exec.Command(bin, o.args...)
	d.cmd.Dir = o.dir
	d.cmd.Env = daemonEnv(home, o.env...)
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	// Should the test binary die without its cleanups (a -timeout
	// panic), the daemon goes too.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.exit.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if !d.exited() {
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		errs := d.stderr.String()
		for _, bad := range []string{"WARNING: DATA RACE", "panic:", "fatal error:"} {
			if strings.Contains(errs, bad) {
				t.Errorf("uringd %s reported %q", strings.Join(o.args, " "), bad)
			}
		}
		if t.Failed() {
			t.Logf("uringd %s\n--- stdout:\n%s--- stderr (last 16 KiB):\n%s", strings.Join(o.args, " "), d.stdout.String(), tail(errs, 16<<10))
		}
	})
	if o.noWait {
		return d
	}
	d.waitFor("uringd to print where it serves", func() bool {
		return len(servingRE.FindAllString(d.stdout.String(), -1)) >= o.listeners
	})
	for _, m := range servingRE.FindAllStringSubmatch(d.stdout.String(), -1) {
		d.urls = append(d.urls, m[1])
	}
	return d
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitFor polls cond until it holds; it fails the test if the daemon
// exits or e2eWait passes first.
func (p *proc) waitFor(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if p.exited() {
			if cond() {
				return
			}
			p.t.Fatalf("uringd exited (%v) while waiting for %s", p.exit.err, what)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// signal sends sig to the daemon.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits for the daemon to exit and returns its exit status.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(e2eWait):
		p.t.Fatal("uringd did not exit")
	}
	var ee *exec.ExitError
	switch {
	case p.exit.err == nil:
		return 0
	case errors.As(p.exit.err, &ee):
		return ee.ExitCode()
	}
	p.t.Fatal(p.exit.err)
	return -1
}

// stop sends SIGTERM and expects the daemon to exit 0.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		p.t.Errorf("uringd exited %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(p.stderr.String(), `msg="shutting down"`) {
		p.t.Errorf("uringd did not log that it was shutting down")
	}
}

// count is the number of times s appears in the daemon's stderr.
func (p *proc) count(s string) int { return strings.Count(p.stderr.String(), s) }

// reload sends SIGHUP and waits for the daemon to log the outcome; it
// returns the log lines written meanwhile.
func (p *proc) reload() string {
	p.t.Helper()
	const ok, refused = `msg="configuration reloaded"`, `msg="reload refused`
	before := len(p.stderr.String())
	n := p.count(ok) + p.count(refused)
	p.signal(syscall.SIGHUP)
	p.waitFor("the reload to be logged", func() bool { return p.count(ok)+p.count(refused) > n })
	return p.stderr.String()[before:]
}

// baseURL is the first listener's URL, without the trailing slash.
func (p *proc) baseURL() string {
	p.t.Helper()
	if len(p.urls) == 0 || !strings.HasPrefix(p.urls[0], "http://") {
		p.t.Fatalf("no http listener: %v", p.urls)
	}
	return strings.TrimSuffix(p.urls[0], "/")
}

// hostPort is the first listener's address.
func (p *proc) hostPort() string {
	return strings.TrimPrefix(p.baseURL(), "http://")
}

var sideListenerRE = regexp.MustCompile(`msg="side listener" addr=(\S+)`)

// metricsAddr is the address the side (metrics) listener bound, as logged.
func (p *proc) metricsAddr() string {
	p.t.Helper()
	p.waitFor("the side listener's address", func() bool { return sideListenerRE.MatchString(p.stderr.String()) })
	return sideListenerRE.FindStringSubmatch(p.stderr.String())[1]
}

// httpClient is a client of its own (no connections shared between
// tests), with keep-alive.
func httpClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: e2eWait, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// unixClient is a client whose every connection goes to the Unix socket
// at path, whatever the URL's host.
func unixClient(t testing.TB, path string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: e2eWait}
}

// fetched is a finished exchange.
type fetched struct {
	*http.Response
	body []byte
}

// httpDo sends a request with the given headers (pairs) and reads the whole
// response.
func httpDo(t testing.TB, c *http.Client, method, url string, headers ...string) fetched {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return fetched{resp, body}
}

// httpGet is httpDo for a GET that must answer want.
func httpGet(t testing.TB, c *http.Client, url string, want int, headers ...string) fetched {
	t.Helper()
	r := httpDo(t, c, "GET", url, headers...)
	if r.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d; body %q", url, r.Status, want, tail(string(r.body), 300))
	}
	return r
}

// rawConn is one client connection driven by hand, to keep it alive
// across events such as a reload.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends one keep-alive GET on the connection and reads its answer.
func (rc *rawConn) get(path string) (int, []byte) {
	rc.t.Helper()
	_ = rc.c.SetDeadline(time.Now().Add(e2eWait))
	if _, err := fmt.Fprintf(rc.c, "GET %s HTTP/1.1\r\nHost: e2e.test\r\nUser-Agent: uringd-e2e-raw\r\n\r\n", path); err != nil {
		rc.t.Fatalf("writing GET %s on the kept-alive connection: %v", path, err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatalf("GET %s on the kept-alive connection: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("GET %s on the kept-alive connection: body: %v", path, err)
	}
	if resp.Close {
		rc.t.Fatalf("GET %s: the server closes the kept-alive connection (Connection: close)", path)
	}
	return resp.StatusCode, body
}

// writeFile writes data to dir/name, making directories.
func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// patterned returns n bytes that differ at every offset in a way a
// misplaced range would show: each 8-byte word holds its own index and
// seed.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.BigEndian.PutUint64(b[i:], uint64(i/8)<<8|uint64(seed))
	}
	return b[:n:n]
}

// readLines returns the lines of the file at path ("" when missing).
func readLines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// promSamples parses Prometheus text exposition into name{labels} ->
// value, and the families' TYPE lines.
func promSamples(t testing.TB, text string) (samples map[string]float64, types map[string]string) {
	t.Helper()
	samples, types = map[string]float64{}, map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "# TYPE "):
			f := strings.Fields(line)
			if len(f) == 4 {
				types[f[2]] = f[3]
			}
		case strings.HasPrefix(line, "#"):
		default:
			i := strings.LastIndexByte(line, ' ')
			if i < 0 {
				t.Fatalf("bad metrics line %q", line)
			}
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err != nil {
				t.Fatalf("bad metrics line %q: %v", line, err)
			}
			samples[line[:i]] = v
		}
	}
	return samples, types
}

// promSum adds the samples of metric name whose labels include every
// given label="value" pair.
func promSum(samples map[string]float64, name string, labels ...string) (sum float64, n int) {
	for k, v := range samples {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
			}
		}
		if ok {
			sum += v
			n++
		}
	}
	return sum, n
}
