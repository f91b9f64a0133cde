package httpd

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func fileServerFixture(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"index.html":       []byte("<h1>home</h1>"),
		"a.txt":            []byte("hello, file"),
		"sub/index.html":   []byte("sub home"),
		"sub/b.css":        bytes.Repeat([]byte("body{}"), 500),
		".secret":          []byte("hidden"),
		"big.bin":          nil,
		"nodir/plain.json": []byte(`{"a":1}`),
	}
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	files["big.bin"] = big
	for name, data := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(filepath.Dir(dir), "outside.txt"), []byte("outside"), 0o644)
	os.Symlink("../outside.txt", filepath.Join(dir, "escape.txt"))
	os.Symlink("a.txt", filepath.Join(dir, "link.txt"))
	return dir, files
}

func fsGet(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestFileServerBasics(t *testing.T) {
	dir, files := fileServerFixture(t)
	fs := &FileServer{Root: dir}
	defer fs.Close()
	addr := startNative(t, &Server{Handler: fs})
	base := "http://" + addr
	for name, want := range map[string][]byte{"/a.txt": files["a.txt"], "/": files["index.html"], "/sub/": files["sub/index.html"],
		"/sub/b.css": files["sub/b.css"], "/big.bin": files["big.bin"], "/link.txt": files["a.txt"]} {
		for range 2 { // the second time from the cache
			resp, b := fsGet(t, base+name, nil)
			if resp.StatusCode != 200 || !bytes.Equal(b, want) {
				t.Fatalf("%s: %d, %d bytes, want %d", name, resp.StatusCode, len(b), len(want))
			}
		}
	}
	resp, _ := fsGet(t, base+"/sub", nil)
	if resp.StatusCode != 301 || resp.Header.Get("Location") != "/sub/" {
		t.Errorf("/sub: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, p := range []string{"/.secret", "/escape.txt", "/../outside.txt", "/%2e%2e/outside.txt", "/missing", "/a.txt/"} {
		if resp, b := fsGet(t, base+p, nil); resp.StatusCode/100 != 4 || strings.Contains(string(b), "outside") {
			t.Errorf("%s: %d %q", p, resp.StatusCode, b)
		}
	}
	resp, b := fsGet(t, base+"/a.txt", map[string]string{"Range": "bytes=7-"})
	if resp.StatusCode != 206 || string(b) != "file" || resp.Header.Get("Content-Range") != "bytes 7-10/11" {
		t.Errorf("range: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, b = fsGet(t, base+"/big.bin", map[string]string{"Range": "bytes=-100"})
	if resp.StatusCode != 206 || !bytes.Equal(b, files["big.bin"][len(files["big.bin"])-100:]) {
		t.Errorf("suffix range on the big file: %d %d", resp.StatusCode, len(b))
	}
	etag := resp.Header.Get("ETag")
	resp, b = fsGet(t, base+"/big.bin", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != 304 || len(b) != 0 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, b = fsGet(t, base+"/a.txt", map[string]string{"Range": "bytes=0-1,5-6"})
	if resp.StatusCode != 206 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "multipart/byteranges") || !strings.Contains(string(b), "he") {
		t.Errorf("multipart: %d %v %q", resp.StatusCode, resp.Header, b)
	}
	resp, _ = fsGet(t, base+"/a.txt", map[string]string{"Range": "bytes=100-"})
	if resp.StatusCode != 416 || resp.Header.Get("Content-Range") != "bytes */11" {
		t.Errorf("416: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestFileServerNetHTTP(t *testing.T) {
	dir, files := fileServerFixture(t)
	fs := &FileServer{Root: dir, Prefix: "/static"}
	defer fs.Close()
	srv := &http.Server{Handler: fs.HTTPHandler()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String() + "/static"
	resp, b := fsGet(t, base+"/big.bin", nil)
	if resp.StatusCode != 200 || !bytes.Equal(b, files["big.bin"]) {
		t.Fatalf("big: %d %d", resp.StatusCode, len(b))
	}
	resp, b = fsGet(t, base+"/a.txt", map[string]string{"Range": "bytes=0-4"})
	if resp.StatusCode != 206 || string(b) != "hello" {
		t.Fatalf("range: %d %q", resp.StatusCode, b)
	}
	if resp, _ := fsGet(t, base+"/escape.txt", nil); resp.StatusCode != 404 {
		t.Fatalf("escape: %d", resp.StatusCode)
	}
	if resp, b := fsGet(t, base+"/sub/", nil); resp.StatusCode != 200 || string(b) != "sub home" {
		t.Fatalf("index: %d %q", resp.StatusCode, b)
	}
}

// TestFileServerCloseConcurrent: Close may be called from several
// goroutines at once and again later (a daemon's reload and its shutdown
// can both close a mount): one closes, every call gets its result, and
// the root descriptor is closed once.
func TestFileServerCloseConcurrent(t *testing.T) {
	dir := t.TempDir()
	fsWriteTree(t, dir, map[string][]byte{"a.txt": []byte("a")})
	fs := &FileServer{Root: dir}
	e := fsStart(t, true, fs)
	e.do(t, "GET", "/a.txt")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fs.Close()
		}()
	}
	wg.Wait()
	for range 8 {
		if err := <-errs; err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if err := fs.Close(); err != nil {
		t.Errorf("Close again: %v", err)
	}
}
