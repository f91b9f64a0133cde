//go:build browser

// Loads the pages in headless Chromium. Not part of the default test run
// (it needs Chromium): go test -tags browser ./cmd/uringd/site

package site

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// dumpDOM loads url in headless Chromium, lets budget of virtual time
// pass (timers and polls run), and returns the DOM as serialized then.
func dumpDOM(t *testing.T, url string, budget time.Duration) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--no-first-run", "--autoplay-policy=no-user-gesture-required",
		"--user-data-dir="+t.TempDir(),
		"--virtual-time-budget="+strconv.Itoa(int(budget/time.Millisecond)),
		"--dump-dom", url)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	return string(out)
}

func TestBrowserStatusPage(t *testing.T) {
	srv := demoServer(t)
	dom := dumpDOM(t, srv.URL+"/status.html", 6*time.Second)
	m := regexp.MustCompile(`id="samples">(\d+)<`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no sample count in the DOM:\n%s", dom)
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Fatalf("%d samples after 6 s of polling, want several:\n%s", n, dom)
	}
	for _, id := range []string{"chart-requests", "chart-bytes", "chart-lag", "chart-offload"} {
		re := regexp.MustCompile(`<canvas id="` + id + `"[^>]*data-points="(\d+)"`)
		m := re.FindStringSubmatch(dom)
		if m == nil || m[1] == "0" {
			t.Errorf("canvas %s was not drawn: %v", id, m)
		}
	}
	if !regexp.MustCompile(`<td><span class="swatch"[^>]*></span>loop 1</td>`).MatchString(dom) {
		t.Errorf("no row for loop 1 in the table:\n%s", dom)
	}
	if regexp.MustCompile(`class="status-line error"`).MatchString(dom) {
		t.Errorf("the page shows an error:\n%s", dom)
	}
}

func TestBrowserVideoPage(t *testing.T) {
	srv := demoServer(t)
	dom := dumpDOM(t, srv.URL+"/video.html", 3*time.Second)
	// video.js writes the duration once the metadata (fetched by Range)
	// has loaded and parsed: the browser can play the clip.
	if !regexp.MustCompile(`id="position">0\.0 s of 24\.0 s<`).MatchString(dom) {
		t.Fatalf("the clip's metadata did not load:\n%s", dom)
	}
}
