package main

// End to end: config settings that must change what uringd does. Each
// sub-test sets one and checks its effect over HTTP or on disk.

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestE2ESettingsApplied(t *testing.T) {
	t.Parallel()
	// serve starts uringd on a config made of head plus the lines given,
	// with www (and outside, beside it) in a new directory.
	serve := func(t *testing.T, lines string) (p *proc, dir string) {
		dir = t.TempDir()
		writeFile(t, dir, "www/page.html", []byte(strings.Repeat("<p>compressible</p>\n", 200)))
		writeFile(t, dir, "www/style.css", []byte(strings.Repeat("p { margin: 0 }\n", 200)))
		writeFile(t, dir, "www/v.txt", []byte("v1\n"))
		writeFile(t, dir, "outside/s.txt", []byte("outside the root\n"))
		if err := os.Symlink("../outside/s.txt", filepath.Join(dir, "www", "link.txt")); err != nil {
			t.Fatal(err)
		}
		cfg := writeFile(t, dir, "uringd.toml", []byte("loops = 1\n[[listen]]\naddress = \"127.0.0.1:0\"\n"+lines))
		return startProc(t, procOpts{args: []string{"serve", "-config", cfg}}), dir
	}

	t.Run("dotfiles and symlinks", func(t *testing.T) {
		p, dir := serve(t, "[[mount]]\nroot = \"www\"\ndotfiles = \"deny\"\nsymlinks = \"never\"\n[access_log]\npath = \"off\"\n")
		writeFile(t, dir, "www/.env", []byte("SECRET=1\n"))
		c := httpClient(t)
		httpGet(t, c, p.baseURL()+"/.env", 403)
		httpGet(t, c, p.baseURL()+"/link.txt", 404)
		httpGet(t, c, p.baseURL()+"/v.txt", 200)
	})

	t.Run("symlinks follow", func(t *testing.T) {
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\nsymlinks = \"follow\"\n[access_log]\npath = \"off\"\n")
		if r := httpGet(t, httpClient(t), p.baseURL()+"/link.txt", 200); string(r.body) != "outside the root\n" {
			t.Errorf("GET /link.txt: %q", r.body)
		}
	})

	t.Run("compression.types", func(t *testing.T) {
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\n[compression]\ntypes = [\"text/css\"]\n[access_log]\npath = \"off\"\n")
		c := httpClient(t)
		if r := httpGet(t, c, p.baseURL()+"/style.css", 200, "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("style.css (a listed type) is not compressed")
		}
		if r := httpGet(t, c, p.baseURL()+"/page.html", 200, "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "" {
			t.Errorf("page.html (text/html, not listed) is compressed: %s", r.Header.Get("Content-Encoding"))
		}
	})

	t.Run("compression off", func(t *testing.T) {
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\n[compression]\non_the_fly = false\n[access_log]\npath = \"off\"\n")
		if r := httpGet(t, httpClient(t), p.baseURL()+"/page.html", 200, "Accept-Encoding", "gzip"); r.Header.Get("Content-Encoding") != "" {
			t.Errorf("on_the_fly = false, yet page.html is compressed: %s", r.Header.Get("Content-Encoding"))
		}
	})

	t.Run("cache.revalidate 0s", func(t *testing.T) {
		p, dir := serve(t, "[[mount]]\nroot = \"www\"\n[cache]\nrevalidate = \"0s\"\n[access_log]\npath = \"off\"\n")
		c := httpClient(t)
		httpGet(t, c, p.baseURL()+"/v.txt", 200)
		tmp := writeFile(t, dir, "www/v.tmp", []byte("v2\n"))
		if err := os.Rename(tmp, filepath.Join(dir, "www", "v.txt")); err != nil {
			t.Fatal(err)
		}
		if r := httpGet(t, c, p.baseURL()+"/v.txt", 200); string(r.body) != "v2\n" {
			t.Errorf("with revalidate 0s, a replaced file is served stale: %q", r.body)
		}
	})

	t.Run("cache.open_files 0", func(t *testing.T) {
		// No cache: every request opens the file. With one, the second
		// request would be a hit or, past cache.revalidate, a
		// revalidation.
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\n[cache]\nopen_files = 0\n[metrics]\naddress = \"127.0.0.1:0\"\n[access_log]\npath = \"off\"\n")
		c := httpClient(t)
		for range 2 {
			httpGet(t, c, p.baseURL()+"/v.txt", 200)
		}
		samples, _ := promSamples(t, string(httpGet(t, c, "http://"+p.metricsAddr()+"/metrics", 200).body))
		misses, n := promSum(samples, "uringd_file_cache_misses_total")
		hits, _ := promSum(samples, "uringd_file_cache_hits_total")
		revalidations, _ := promSum(samples, "uringd_file_cache_revalidations_total")
		if n != 1 || misses != 2 || hits != 0 || revalidations != 0 {
			t.Errorf("open_files = 0, two requests for one file: %v misses (%d samples), %v hits, %v revalidations; want 2, 0, 0", misses, n, hits, revalidations)
		}
	})

	t.Run("access_log.reopen_on_hup false", func(t *testing.T) {
		dir := t.TempDir()
		logPath := filepath.Join(dir, "access.log")
		p, _ := serve(t, fmt.Sprintf("[[mount]]\nroot = \"www\"\n[access_log]\nformat = \"common\"\npath = %q\nreopen_on_hup = false\n", logPath))
		c := httpClient(t)
		httpGet(t, c, p.baseURL()+"/v.txt?before", 200)
		p.waitFor("the first line", func() bool { return len(readLines(logPath)) == 1 })
		if err := os.Rename(logPath, logPath+".1"); err != nil {
			t.Fatal(err)
		}
		p.reload()
		httpGet(t, c, p.baseURL()+"/v.txt?after", 200)
		p.waitFor("the second line", func() bool { return len(readLines(logPath+".1"))+len(readLines(logPath)) == 2 })
		if _, err := os.Stat(logPath); err == nil || len(readLines(logPath+".1")) != 2 {
			t.Errorf("reopen_on_hup = false, yet SIGHUP created %s (%v)", logPath, err)
		}
	})

	t.Run("health and stats paths", func(t *testing.T) {
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\n[health]\npath = \"/hc\"\n[stats]\npath = \"\"\n[access_log]\npath = \"off\"\n")
		c := httpClient(t)
		if r := httpGet(t, c, p.baseURL()+"/hc", 200); string(r.body) != "ok\n" {
			t.Errorf("/hc: %q", r.body)
		}
		httpGet(t, c, p.baseURL()+"/.uringd/health", 404)
		httpGet(t, c, p.baseURL()+"/.uringd/stats", 404) // stats off
	})

	t.Run("max_conns", func(t *testing.T) {
		p, _ := serve(t, "[[mount]]\nroot = \"www\"\n[limits]\nmax_conns = 2\n[access_log]\npath = \"off\"\n")
		held := []*rawConn{dialRaw(t, "tcp", p.hostPort()), dialRaw(t, "tcp", p.hostPort())}
		for _, rc := range held {
			if st, _ := rc.get("/v.txt"); st != 200 {
				t.Fatalf("a connection within the limit: %d", st)
			}
		}
		// A third connection is refused (503, or closed at once), and
		// counted.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		if resp, err := c.Get(p.baseURL() + "/v.txt"); err == nil {
			resp.Body.Close()
			if resp.StatusCode != 503 {
				t.Errorf("a connection beyond max_conns = 2 was served: %s", resp.Status)
			}
		}
		held[0].c.Close()
		p.waitFor("a connection to be accepted again once one closed", func() bool {
			resp, err := c.Get(p.baseURL() + "/v.txt")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		// The connection of the last GET may not be closed on the
		// server's side yet: until it is, a new one can be refused too.
		var body []byte
		p.waitFor("a connection for the stats", func() bool {
			resp, err := c.Get(p.baseURL() + "/.uringd/stats")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, err = io.ReadAll(resp.Body)
			return err == nil && resp.StatusCode == 200
		})
		s := decodeStats(t, body)
		if s.Connections.Refused < 1 {
			t.Errorf("refused_total %d after a refused connection", s.Connections.Refused)
		}
	})
}
