package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/httpd"
)

// review3FdsUnder counts this process's descriptors on dir or beneath it.
func review3FdsUnder(pid int, dir string) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name()))
		if err == nil && (l == dir || strings.HasPrefix(l, dir+"/")) {
			n++
		}
	}
	return n
}

// TestReview3BuildRoutesPartialFailure: buildRoutes with good mounts and
// then a bad one (a root that cannot be opened) fails and closes the
// FileServers it had already opened; repeated, nothing leaks.
func TestReview3BuildRoutesPartialFailure(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{log: discardLogger()}
	mk := func(roots ...string) *config.Config {
		cfg := config.Default()
		cfg.Compression.OnTheFly = false
		for i, r := range roots {
			m := config.DefaultMount()
			m.Prefix = fmt.Sprintf("/m%d/", i)
			m.Root = filepath.Join(dir, r)
			cfg.Mounts = append(cfg.Mounts, m)
		}
		return cfg
	}
	pid := os.Getpid()
	before := review3FdsUnder(pid, dir)
	for _, roots := range [][]string{
		{"a", "b", "missing"},
		{"a", "file"},
		{"missing", "a"},
		{"a", "a", "b", "b", "nope/deeper"},
	} {
		for range 10 {
			r, err := d.buildRoutes(mk(roots...))
			if err == nil {
				r.close()
				t.Fatalf("%v: buildRoutes succeeded", roots)
			}
		}
		if n := review3FdsUnder(pid, dir); n != before {
			t.Errorf("%v: %d descriptors under the roots after failed builds, %d before", roots, n, before)
		}
	}
	r, err := d.buildRoutes(mk("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if n := review3FdsUnder(pid, dir); n != before+2 {
		t.Errorf("two mounts built: %d descriptors under the roots, want %d", n, before+2)
	}
	r.close()
	if n := review3FdsUnder(pid, dir); n != before {
		t.Errorf("after close: %d descriptors, want %d", n, before)
	}
}

// TestReview3AccessLogKeepOnHUP: with reopen_on_hup = false and the path
// unchanged, lines keep going to the file already open (renamed away),
// the format may still change; with it true, the path is reopened.
// Records written from many goroutines meanwhile (-race) all land.
func TestReview3AccessLogKeepOnHUP(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access.log")
	c := config.AccessLog{Path: p, Format: config.LogCommon, ReopenOnHUP: false}
	a, err := openAccessLog(c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	rec := func(target string) {
		a.record(&httpd.AccessInfo{Start: time.Now(), Method: []byte("GET"), Target: []byte(target), Proto: "HTTP/1.1", Status: 200, Bytes: 3})
	}
	rec("/one")
	a.flush()
	if err := os.Rename(p, p+".1"); err != nil {
		t.Fatal(err)
	}
	if err := a.reload(c); err != nil {
		t.Fatal(err)
	}
	rec("/two")
	c.Format = config.LogJSON
	if err := a.reload(c); err != nil {
		t.Fatal(err)
	}
	rec("/three")
	a.flush()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("reopen_on_hup=false reopened the path: %v", err)
	}
	lines := readLines(p + ".1")
	if len(lines) != 3 || !strings.Contains(lines[0], `"GET /one HTTP/1.1" 200 3`) ||
		!strings.Contains(lines[1], `"GET /two HTTP/1.1" 200 3`) || !strings.HasPrefix(lines[2], "{") || !strings.Contains(lines[2], `"target":"/three"`) {
		t.Errorf("rotated file:\n%s", strings.Join(lines, "\n"))
	}

	// reopen_on_hup = true: the path is opened again, while goroutines
	// keep logging.
	var wg sync.WaitGroup
	const writers, each = 4, 200
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				rec(fmt.Sprintf("/w%d/%d", w, i))
			}
		}()
	}
	c.ReopenOnHUP = true
	c.Format = config.LogCommon
	for range 5 {
		if err := a.reload(c); err != nil {
			t.Error(err)
		}
		c.ReopenOnHUP = !c.ReopenOnHUP
	}
	wg.Wait()
	a.flush()
	total := len(readLines(p)) + len(readLines(p+".1")) - 3
	if total != writers*each {
		t.Errorf("%d lines written by the goroutines, want %d", total, writers*each)
	}
	// A changed path is opened even with reopen_on_hup = false.
	c.ReopenOnHUP, c.Path = false, filepath.Join(dir, "other.log")
	if err := a.reload(c); err != nil {
		t.Fatal(err)
	}
	rec("/other")
	a.flush()
	if l := readLines(c.Path); len(l) != 1 || !strings.Contains(l[0], "/other") {
		t.Errorf("other.log: %q", l)
	}
}

// TestReview3E2EReloadGoodAndBadMount: a reloaded file with a good mount
// and a bad one is refused, the running mounts keep serving, and repeated
// refused reloads leak no descriptor in the daemon.
func TestReview3E2EReloadGoodAndBadMount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "A/v.txt", []byte("A\n"))
	writeFile(t, dir, "B/v.txt", []byte("B\n"))
	writeFile(t, dir, "plainfile", []byte("x"))
	cfgPath := filepath.Join(dir, "uringd.toml")
	head := "loops = 2\n\n[[listen]]\naddress = \"127.0.0.1:0\"\n\n[access_log]\npath = \"off\"\n\n"
	write := func(body string) { writeFile(t, dir, "uringd.toml", []byte(head+body)) }
	write("[[mount]]\nprefix = \"/\"\nroot = \"A\"\n")
	p := startProc(t, procOpts{args: []string{"serve", "-config", cfgPath}})
	c := httpClient(t)
	base := p.baseURL()
	httpGet(t, c, base+"/v.txt", 200)
	pid := p.cmd.Process.Pid
	fdsBefore := review3FdsUnder(pid, dir)

	for i, bad := range []string{
		"[[mount]]\nprefix = \"/\"\nroot = \"A\"\n\n[[mount]]\nprefix = \"/b/\"\nroot = \"B\"\n\n[[mount]]\nprefix = \"/x/\"\nroot = \"missing\"\n",
		"[[mount]]\nprefix = \"/\"\nroot = \"B\"\n\n[[mount]]\nprefix = \"/x/\"\nroot = \"plainfile\"\n",
		"[[mount]]\nprefix = \"/\"\nroot = \"B\"\n\n[compression]\ntypes = [\"text/*; q=1\"]\n",
	} {
		write(bad)
		out := p.in(t).reload()
		if !strings.Contains(out, `msg="reload refused`) {
			t.Errorf("bad config %d: reload log %s", i, out)
		}
		if r := httpGet(t, c, base+"/v.txt", 200); string(r.body) != "A\n" {
			t.Errorf("bad config %d: / serves %q, want the old root A", i, r.body)
		}
		httpGet(t, c, base+"/b/v.txt", 404)
	}
	c.Transport.(*http.Transport).CloseIdleConnections()
	if !pollUntil(func() bool { return review3FdsUnder(pid, dir) <= fdsBefore }) {
		t.Errorf("daemon descriptors under the test dir: %d after refused reloads, %d before", review3FdsUnder(pid, dir), fdsBefore)
	}
	write("[[mount]]\nprefix = \"/\"\nroot = \"A\"\n\n[[mount]]\nprefix = \"/b/\"\nroot = \"B\"\n")
	if out := p.in(t).reload(); !strings.Contains(out, `msg="configuration reloaded"`) {
		t.Fatalf("good reload: %s", out)
	}
	if r := httpGet(t, c, base+"/b/v.txt", 200); string(r.body) != "B\n" {
		t.Errorf("/b/v.txt after the good reload: %q", r.body)
	}
	p.stop()
}

func pollUntil(cond func() bool) bool {
	deadline := time.Now().Add(e2eWait)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestReview3E2EWireMetrics: the new wire metrics add up to exactly the
// bytes the only clients sent and received, and the per-loop open
// connections add up to the connections held open.
func TestReview3E2EWireMetrics(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "www/f.txt", []byte(strings.Repeat("f", 1000)))
	writeFile(t, dir, "uringd.toml", []byte("loops = 3\n\n[[listen]]\naddress = \"127.0.0.1:0\"\n\n[access_log]\npath = \"off\"\n\n[metrics]\naddress = \"127.0.0.1:0\"\n\n[[mount]]\nroot = \"www\"\n"))
	p := startProc(t, procOpts{args: []string{"serve", "-config", filepath.Join(dir, "uringd.toml")}})
	side := "http://" + p.metricsAddr()
	mc := httpClient(t)
	scrape := func() map[string]float64 {
		s, _ := promSamples(t, string(httpGet(t, mc, side+"/metrics", 200).body))
		return s
	}
	var sent, recv int64
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	const hold = 7
	for i := range hold + 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", p.hostPort())
			if err != nil {
				t.Error(err)
				return
			}
			c.SetDeadline(time.Now().Add(e2eWait))
			keep := i < hold
			req := "GET /f.txt HTTP/1.1\r\nHost: m\r\n\r\nGET /nope?i=" + strconv.Itoa(i) + " HTTP/1.1\r\nHost: m\r\n\r\n"
			if !keep {
				req += "GET /f.txt HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n"
			}
			if _, err := io.WriteString(c, req); err != nil {
				t.Error(err)
				return
			}
			cr := &review3Counter{r: c}
			br := bufio.NewReader(cr)
			n := 3
			if keep {
				n = 2
			}
			for range n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if !keep {
				io.Copy(io.Discard, br) // until the server closes
			}
			got := cr.n - int64(br.Buffered())
			mu.Lock()
			sent += int64(len(req))
			recv += got
			if keep {
				conns = append(conns, c)
			} else {
				c.Close()
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	check := func(wantOpen float64) (string, bool) {
		s := scrape()
		in, nIn := promSum(s, "uringd_network_receive_bytes_total")
		out, nOut := promSum(s, "uringd_network_transmit_bytes_total")
		open, nOpen := promSum(s, "uringd_loop_connections_open")
		total, _ := promSum(s, "uringd_connections_open")
		msg := fmt.Sprintf("in %v/%d (want %d), out %v/%d (want %d), loop open %v/%d (want %v), connections_open %v", in, nIn, sent, out, nOut, recv, open, nOpen, wantOpen, total)
		return msg, nIn == 3 && nOut == 3 && nOpen == 3 && in == float64(sent) && out == float64(recv) && open == wantOpen && total == wantOpen
	}
	var msg string
	first, _ := check(hold)
	t.Logf("first scrape: %s", first)
	if !pollUntil(func() bool { m, ok := check(hold); msg = m; return ok }) {
		t.Errorf("with %d connections held: %s", hold, msg)
	}
	for _, c := range conns {
		c.Close()
	}
	if !pollUntil(func() bool { m, ok := check(0); msg = m; return ok }) {
		t.Errorf("after closing: %s", msg)
	}
	p.stop()
}

type review3Counter struct {
	r io.Reader
	n int64
}

func (c *review3Counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// TestReview3E2ECacheZeroMeansNone: open_files = 0 and revalidate = "0s"
// mean no cache and a check on every request: a file rewritten in place
// is served new at once, and no descriptor of it stays open.
func TestReview3E2ECacheZeroMeansNone(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := writeFile(t, dir, "www/f.txt", []byte("version 1\n"))
	writeFile(t, dir, "uringd.toml", []byte("loops = 2\n\n[[listen]]\naddress = \"127.0.0.1:0\"\n\n[access_log]\npath = \"off\"\n\n[cache]\nopen_files = 0\nrevalidate = \"0s\"\n\n[[mount]]\nroot = \"www\"\n"))
	p := startProc(t, procOpts{args: []string{"serve", "-config", filepath.Join(dir, "uringd.toml")}})
	c := httpClient(t)
	for i := 2; i < 6; i++ {
		want := fmt.Sprintf("version %d\n", i)
		if err := os.WriteFile(f, []byte(want), 0o644); err != nil { // same size, same second
			t.Fatal(err)
		}
		if r := httpGet(t, c, p.baseURL()+"/f.txt", 200); string(r.body) != want {
			t.Errorf("after rewrite %d: %q", i, r.body)
		}
	}
	www := filepath.Join(dir, "www")
	if !pollUntil(func() bool { return review3FdsUnder(p.cmd.Process.Pid, www) == 1 }) { // the root only
		t.Errorf("daemon holds %d descriptors under the root, want 1 (the root)", review3FdsUnder(p.cmd.Process.Pid, www))
	}
	p.stop()
}

// TestReview3E2ESignalsAtAnnounce: SIGHUP and then SIGTERM sent the
// moment "serving on" is printed: the SIGHUP reloads (it does not kill
// the process) and the SIGTERM shuts down cleanly.
func TestReview3E2ESignalsAtAnnounce(t *testing.T) {
	t.Parallel()
	for i := range 3 {
		dir := t.TempDir()
		writeFile(t, dir, "www/f.txt", []byte("x"))
		writeFile(t, dir, "uringd.toml", []byte("[[listen]]\naddress = \"127.0.0.1:0\"\n\n[access_log]\npath = \"off\"\n\n[[mount]]\nroot = \"www\"\n"))
		p := startProc(t, procOpts{args: []string{"serve", "-config", filepath.Join(dir, "uringd.toml")}, noWait: true})
		p.waitFor("serving on", func() bool { return servingRE.MatchString(p.stdout.String()) })
		p.signal(syscall.SIGHUP)
		if i > 0 {
			p.waitFor("the reload", func() bool { return p.count(`msg="configuration reloaded"`) == 1 })
		}
		p.stop()
		if i > 0 && p.count(`msg="configuration reloaded"`) != 1 {
			t.Errorf("run %d: SIGHUP at announce not reloaded:\n%s", i, p.stderr.String())
		}
	}
}
