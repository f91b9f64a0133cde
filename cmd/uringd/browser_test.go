package main

// The demo site in a real headless browser, served by the uringd binary:
// the home page loads, the video plays (fetched with Range requests), and
// the live status page shows numbers that change.
//
// It needs Chromium, Node.js and playwright-core, so it runs only with
// URINGD_BROWSER_TEST=1 (.ci/run sets it), and then fails, never skips,
// when one of them is missing:
//
//	npm ci --prefix cmd/uringd/testdata/browser
//	URINGD_BROWSER_TEST=1 go test -run TestE2EBrowser ./cmd/uringd
//
// Why playwright-core from npm, driven by testdata/browser/demo.mjs, and
// not Go's chromedp: chromedp (with cdproto, easyjson, gobwas/ws...)
// would become a requirement of the main module's go.mod, which every
// user of the library downloads, for one test; playwright-core is a
// single npm package with no dependencies, pinned in package-lock.json
// and installed only where this test runs. Version 1.61.1 is the last to
// support Node 18, Debian 12's nodejs. The script only observes; the
// assertions are here, with the other end-to-end tests.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// browserResult is what demo.mjs prints.
type browserResult struct {
	Errors []string `json:"errors"`
	Index  *struct {
		Status  int      `json:"status"`
		Title   string   `json:"title"`
		Heading string   `json:"heading"`
		Links   []string `json:"links"`
	} `json:"index"`
	Video *struct {
		Status      int     `json:"status"`
		Played      string  `json:"played"`
		CurrentTime float64 `json:"currentTime"`
		Duration    float64 `json:"duration"`
		Error       *string `json:"error"`
		Position    string  `json:"position"`
		Buffered    string  `json:"buffered"`
	} `json:"video"`
	Status *struct {
		Status  int          `json:"status"`
		First   statusReport `json:"first"`
		Second  statusReport `json:"second"`
		History [][][]string `json:"history"` // the table at each sample after the first read
	} `json:"status"`
	Responses []struct {
		URL    string `json:"url"`
		Status int    `json:"status"`
		Range  string `json:"range"`
	} `json:"responses"`
	ConsoleErrors []string `json:"consoleErrors"`
}

type statusReport struct {
	Status      string         `json:"status"`
	StatusClass string         `json:"statusClass"`
	Uptime      string         `json:"uptime"`
	Conns       string         `json:"conns"`
	Accepted    string         `json:"accepted"`
	Server      string         `json:"server"`
	Samples     int            `json:"samples"`
	Rows        [][]string     `json:"rows"`
	Canvases    map[string]int `json:"canvases"`
}

func TestE2EBrowser(t *testing.T) {
	if os.Getenv("URINGD_BROWSER_TEST") != "1" {
		t.Skip("set URINGD_BROWSER_TEST=1 to run the demo site in headless Chromium (needs chromium, node and npm ci --prefix cmd/uringd/testdata/browser)")
	}
	t.Parallel()
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("URINGD_BROWSER_TEST=1 but Chromium is missing (%v): apt-get install chromium, or set CHROMIUM", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("URINGD_BROWSER_TEST=1 but node is missing: apt-get install nodejs npm")
	}
	scriptDir, err := filepath.Abs(filepath.Join("testdata", "browser"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(scriptDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Fatalf("URINGD_BROWSER_TEST=1 but playwright-core is not installed: npm ci --prefix cmd/uringd/testdata/browser (%v)", err)
	}

	logPath := filepath.Join(t.TempDir(), "access.log")
	p := startProc(t, procOpts{args: []string{"serve", "-listen", "127.0.0.1:0", "-access-log", logPath, "-access-log-format", "json"}})
	base := p.baseURL()

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(scriptDir, "demo.mjs"), base, t.TempDir())
	cmd.Dir = scriptDir
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.WaitDelay = 10 * time.Second
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node demo.mjs: %v\nstdout:\n%s\nstderr:\n%s", err, out, stderr.String())
	}
	var r browserResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("demo.mjs output: %v\n%s", err, out)
	}
	for _, e := range r.Errors {
		t.Errorf("in the browser: %s", e)
	}
	// The demo site has no favicon.ico: the browser's requests for it
	// are the only 404s allowed. The console reports them without a
	// URL; the access log has it.
	console404 := 0
	for _, e := range r.ConsoleErrors {
		if strings.Contains(e, "status of 404") {
			console404++
			continue
		}
		t.Errorf("browser console: %s", e)
	}
	var logged404 []string
	p.waitFor("the 404s in the access log", func() bool {
		logged404 = nil
		for _, line := range readLines(logPath) {
			if e, err := parseAccessLine("json", line); err == nil && e.status == 404 {
				logged404 = append(logged404, e.target)
			}
		}
		return len(logged404) >= console404
	})
	for _, target := range logged404 {
		if target != "/favicon.ico" {
			t.Errorf("the browser got 404 for %s", target)
		}
	}

	t.Run("index", func(t *testing.T) {
		if r.Index == nil {
			t.Fatal("the index page was not loaded")
		}
		if r.Index.Status != 200 || !strings.Contains(r.Index.Title, "uringd") || !strings.Contains(r.Index.Heading, "uringd") {
			t.Errorf("index: %+v", *r.Index)
		}
		for _, href := range []string{"video.html", "status.html"} {
			if !strings.Contains(strings.Join(r.Index.Links, " "), href) {
				t.Errorf("the index page does not link to %s: %v", href, r.Index.Links)
			}
		}
	})

	t.Run("video", func(t *testing.T) {
		v := r.Video
		if v == nil {
			t.Fatal("the video page did not play (see the errors above)")
		}
		if v.Status != 200 || v.Played != "playing" || v.CurrentTime <= 2.5 || v.Error != nil {
			t.Errorf("video: %+v", *v)
		}
		if v.Duration < 23.5 || v.Duration > 24.5 {
			t.Errorf("the clip's duration in the browser is %v s, want 24", v.Duration)
		}
		// video.js shows the position and what is buffered.
		if !strings.Contains(v.Position, "of 24.0 s") || v.Buffered == "none yet" {
			t.Errorf("video.js: position %q, buffered %q", v.Position, v.Buffered)
		}
		// The browser fetched the clip with Range requests: uringd
		// answered 206, and logged them.
		ranged := 0
		for _, resp := range r.Responses {
			if strings.HasSuffix(resp.URL, "/clip.webm") && resp.Status == 206 && strings.HasPrefix(resp.Range, "bytes=") {
				ranged++
			}
		}
		if ranged == 0 {
			t.Errorf("the browser saw no 206 answer to a Range request for clip.webm: %+v", r.Responses)
		}
		var logged []string
		p.in(t).waitFor("the clip's 206s in the access log", func() bool {
			logged = nil
			for _, line := range readLines(logPath) {
				e, err := parseAccessLine("json", line)
				if err == nil && e.target == "/clip.webm" && e.status == 206 && e.bytes > 0 {
					logged = append(logged, line)
				}
			}
			return len(logged) > 0
		})
	})

	t.Run("status", func(t *testing.T) {
		s := r.Status
		if s == nil {
			t.Fatal("the status page was not read (see the errors above)")
		}
		a, b := s.First, s.Second
		t.Logf("status page, first read: %+v", a)
		t.Logf("status page, second read: %+v", b)
		for _, rep := range []statusReport{a, b} {
			if rep.StatusClass != "status-line" || !strings.HasPrefix(rep.Status, "Updated ") || !strings.HasPrefix(rep.Server, "uringd") {
				t.Errorf("status line %q (class %q), server %q", rep.Status, rep.StatusClass, rep.Server)
			}
			if len(rep.Rows) == 0 {
				t.Errorf("no per-loop rows")
			}
			for _, row := range rep.Rows {
				if len(row) != 8 || !strings.HasPrefix(row[0], "loop ") {
					t.Errorf("per-loop row %q", row)
				}
			}
		}
		if b.Samples < a.Samples+2 {
			t.Errorf("samples %d then %d", a.Samples, b.Samples)
		}
		if a.Uptime == b.Uptime {
			t.Errorf("uptime did not change: %q", a.Uptime)
		}
		// 50 requests on connections of their own were made between the
		// reads: the accepted count grew by at least that many.
		if na, nb := countOf(t, a.Accepted), countOf(t, b.Accepted); nb < na+50 {
			t.Errorf("accepted %q then %q, want +50 or more", a.Accepted, b.Accepted)
		}
		// The traffic shows in the requests/s column of some sample
		// (the page's own polling alone makes about 1/s), and the charts
		// were drawn from the samples.
		peak := 0.0
		for _, rows := range s.History {
			sum := 0.0
			for _, row := range rows {
				if len(row) == 8 && row[1] != "–" {
					sum += countOf(t, row[1])
				}
			}
			peak = max(peak, sum)
		}
		if peak < 5 {
			t.Errorf("after 50 requests, the loops' requests/s peaked at %v: %q", peak, s.History)
		}
		for _, id := range []string{"chart-requests", "chart-bytes", "chart-lag", "chart-offload"} {
			if b.Canvases[id] <= a.Canvases[id] {
				t.Errorf("chart %s: %d points then %d", id, a.Canvases[id], b.Canvases[id])
			}
		}
	})
}

// countOf parses status.js's fmtNum output ("123", "1.2k", "12k").
func countOf(t *testing.T, s string) float64 {
	t.Helper()
	m := regexp.MustCompile(`^([0-9.]+)([kMG]?)$`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("%q is not a count", s)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	switch m[2] {
	case "k":
		v *= 1e3
	case "M":
		v *= 1e6
	case "G":
		v *= 1e9
	}
	return v
}
