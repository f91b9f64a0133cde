package httpd

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// fsStartLoops is fsStart for the native handler with a given number of
// loops (one loop: every request shares one cache).
func fsStartLoops(t *testing.T, loops int, fs *FileServer) *fsEnv {
	t.Helper()
	if fs.ErrorLog == nil {
		fs.ErrorLog = quietLog()
	}
	e := &fsEnv{name: "native", native: true, fs: fs, srv: &Server{Handler: fs, Loops: loops}}
	e.addr = serve(t, e.srv)
	t.Cleanup(func() { fs.Close() })
	e.base = "http://" + e.addr
	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	e.client = &http.Client{Transport: tr, Timeout: 4 * testTimeout}
	return e
}

// TestFileServerConcurrentFirstRequests: requests for a file nobody asked
// for yet, arriving together on one loop, each get the whole file. (Each
// misses the cache, opens the file and inserts its entry, which evicts
// the entry of the request before it, still sending.)
func TestFileServerConcurrentFirstRequests(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{}
	for i := range 5 {
		files[fmt.Sprintf("f%d.bin", i)] = fsRand(3<<20+i, uint64(3000+i))
		files[fmt.Sprintf("s%d.bin", i)] = fsRand(30000+i, uint64(3100+i))
	}
	fsWriteTree(t, dir, files)
	e := fsStartLoops(t, 1, &FileServer{Root: dir})
	var wg sync.WaitGroup
	for name, data := range files {
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := fsRawGet(t, e.addr, "GET", "/"+name)
				if r.status() != 200 || !bytes.Equal(r.body, data) {
					t.Errorf("%s: %d, %d of %d bytes", name, r.status(), len(r.body), len(data))
				}
			}()
		}
	}
	wg.Wait()
}

// TestFileServerReplacedDuringTransfer: a client is slowly downloading a
// large file when the file is replaced (rename) and, after the window,
// another request revalidates it. The slow client must go on receiving
// the old file it was promised (its descriptor stays valid), and never a
// byte of the new one.
func TestFileServerReplacedDuringTransfer(t *testing.T) {
	dir := t.TempDir()
	const size = 8 << 20
	old, repl := fsRand(size, 3200), fsRand(size, 3201)
	p := filepath.Join(dir, "big.bin")
	os.WriteFile(p, old, 0o644)
	e := fsStartLoops(t, 1, &FileServer{Root: dir, Revalidate: fsWindow})
	c := fsDialSmallWindow(t, e.addr)
	io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %v", err, resp)
	}
	got := make([]byte, 1<<20)
	if _, err := io.ReadFull(resp.Body, got); err != nil {
		t.Fatal(err)
	}
	tmp := p + ".tmp"
	os.WriteFile(tmp, repl, 0o644)
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	// Another client sees the new file (its request evicts the old entry).
	if !fsPoll(testTimeout, func() bool {
		_, b := e.do(t, "GET", "/big.bin")
		return bytes.Equal(b, repl)
	}) {
		t.Fatal("the new file is never served")
	}
	rest, err := io.ReadAll(resp.Body)
	got = append(got, rest...)
	for i := range got {
		if got[i] != old[i] {
			what := "garbage"
			if got[i] == repl[i] && bytes.Equal(got[i:min(i+64, len(got))], repl[i:min(i+64, len(got))]) {
				what = "the NEW file's bytes"
			}
			t.Fatalf("the slow client got %s from byte %d on (%d bytes received, err %v)", what, i, len(got), err)
		}
	}
	if len(got) != size {
		t.Fatalf("the slow client got %d of %d bytes of the old file (%v)", len(got), size, err)
	}
}
