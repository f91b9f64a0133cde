package httpd

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/uringd/uringd/offload"
)

func fsGzip(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func fsGunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func fsUnzstd(b []byte) ([]byte, error) {
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return io.ReadAll(zr)
}

// fsSidecarTree: a.css with .br and .gz sidecars, b.css with .gz only,
// c.png (not compressible) with a .gz that must be ignored.
func fsSidecarTree(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	css := bytes.Repeat([]byte("body { color: #123456; margin: 0 auto; }\n"), 80)
	files := map[string][]byte{
		"a.css":    css,
		"a.css.br": []byte("pretend brotli bytes of a.css"),
		"a.css.gz": fsGzip(t, css),
		"b.css":    css[:1500],
		"b.css.gz": fsGzip(t, css[:1500]),
		"c.png":    fsRand(3000, 7),
		"c.png.gz": fsGzip(t, fsRand(3000, 7)),
	}
	fsWriteTree(t, dir, files)
	return dir, files
}

// TestFileServerPrecompressed: Accept-Encoding picks the sidecar by the
// client's q-values (ties: br, zstd, gzip, identity), with
// Content-Encoding and Vary, and 406 when nothing is acceptable.
func TestFileServerPrecompressed(t *testing.T) {
	dir, files := fsSidecarTree(t)
	cases := []struct {
		ae     string
		status int
		enc    string // "" identity
	}{
		{"br", 200, "br"},
		{"gzip", 200, "gzip"},
		{"br;q=0, gzip", 200, "gzip"},
		{"gzip;q=0.5, br;q=0.9", 200, "br"},
		{"gzip;q=1, br;q=0.5", 200, "gzip"},
		{"*", 200, "br"},
		{"gzip, *;q=0.1", 200, "gzip"},
		{"identity;q=0", 406, ""},
		{"gzip, identity;q=0", 200, "gzip"},
		{"*;q=0", 406, ""},
		{"*;q=0, identity", 200, ""},
		{"zstd", 200, ""},
		{"deflate", 200, ""},
		{"x-gzip", 200, "gzip"},
		{"br;q=0, gzip;q=0", 200, ""},
		{"br;q=0, gzip;q=0, identity;q=0", 406, ""},
		{"", 200, ""},
		{"identity", 200, ""},
		{"gzip;q=0.000", 200, ""},
		{"gzip;q=2", 200, ""}, // malformed: as if absent
	}
	mk := func() *FileServer { return &FileServer{Root: dir, Precompressed: true, CacheControl: "max-age=1"} }
	fsBoth(t, mk, func(t *testing.T, e *fsEnv) {
		for range 2 {
			for _, c := range cases {
				resp, b := e.do(t, "GET", "/a.css", "Accept-Encoding", c.ae)
				if resp.StatusCode != c.status {
					t.Errorf("AE %q: %d, want %d", c.ae, resp.StatusCode, c.status)
					continue
				}
				if c.status != 200 {
					if bytes.Contains(b, files["a.css"][:40]) {
						t.Errorf("AE %q: 406 carries the file", c.ae)
					}
					continue
				}
				ce := resp.Header.Get("Content-Encoding")
				want := map[string][]byte{"": files["a.css"], "br": files["a.css.br"], "gzip": files["a.css.gz"]}[c.enc]
				if ce != c.enc || !bytes.Equal(b, want) {
					t.Errorf("AE %q: Content-Encoding %q, %d bytes; want %q, %d", c.ae, ce, len(b), c.enc, len(want))
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") {
					t.Errorf("AE %q: Content-Type %q", c.ae, resp.Header.Get("Content-Type"))
				}
				if c.enc != "" && resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("AE %q: Vary %q", c.ae, resp.Header.Get("Vary"))
				}
			}
		}
		// Each representation has its own validator; a 304 keeps Vary and
		// Content-Encoding.
		rb, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", "br")
		rg, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", "gzip")
		ri, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", "identity")
		tags := map[string]bool{rb.Header.Get("ETag"): true, rg.Header.Get("ETag"): true, ri.Header.Get("ETag"): true}
		if len(tags) != 3 {
			t.Errorf("representations share ETags: %v", tags)
		}
		resp, b := e.do(t, "GET", "/a.css", "Accept-Encoding", "br", "If-None-Match", rb.Header.Get("ETag"))
		if resp.StatusCode != 304 || len(b) != 0 || resp.Header.Get("Vary") != "Accept-Encoding" || resp.Header.Get("ETag") != rb.Header.Get("ETag") {
			t.Errorf("304 of the br sidecar: %d %v", resp.StatusCode, resp.Header)
		}
		// The identity tag does not validate the br representation.
		if resp, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", "br", "If-None-Match", ri.Header.Get("ETag")); resp.StatusCode != 200 {
			t.Errorf("identity ETag matched the br representation: %d", resp.StatusCode)
		}
		// A range of the coded representation.
		resp, b = e.do(t, "GET", "/a.css", "Accept-Encoding", "br", "Range", "bytes=0-6")
		if resp.StatusCode != 206 || string(b) != string(files["a.css.br"][:7]) || resp.Header.Get("Content-Encoding") != "br" {
			t.Errorf("range of br: %d %q %v", resp.StatusCode, b, resp.Header)
		}
		// Only a .gz: br is not there.
		resp, b = e.do(t, "GET", "/b.css", "Accept-Encoding", "br, gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, files["b.css.gz"]) {
			t.Errorf("b.css: %v", resp.Header)
		}
		if resp, _ := e.do(t, "GET", "/b.css", "Accept-Encoding", "br;q=1, identity;q=0.5"); resp.Header.Get("Content-Encoding") != "" {
			t.Errorf("b.css with br only: %v", resp.Header)
		}
		// A type that is not compressible ignores its sidecar.
		resp, b = e.do(t, "GET", "/c.png", "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, files["c.png"]) {
			t.Errorf("c.png: %v", resp.Header)
		}
	})
}

// TestFileServerPrecompressedCase: coding names are case-insensitive
// (RFC 9110 §8.4.1), on a server that has not seen the file yet.
func TestFileServerPrecompressedCase(t *testing.T) {
	dir, files := fsSidecarTree(t)
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir, Precompressed: true} }, func(t *testing.T, e *fsEnv) {
		resp, b := e.do(t, "GET", "/a.css", "Accept-Encoding", "BR, identity;q=0")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "br" || !bytes.Equal(b, files["a.css.br"]) {
			t.Errorf("AE BR: %d %v", resp.StatusCode, resp.Header)
		}
		resp, b = e.do(t, "GET", "/b.css", "Accept-Encoding", "GZIP")
		if resp.Header.Get("Content-Encoding") != "gzip" || !bytes.Equal(b, files["b.css.gz"]) {
			t.Errorf("AE GZIP: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// TestFileServerVaryAlways: once a resource has coded variants, every
// response for it says Vary: Accept-Encoding (RFC 9110 §12.5.5; the
// content package's VaryAcceptEncoding says so too: identity, 304 and
// 406 included), or a shared cache may hand a client the wrong one.
func TestFileServerVaryAlways(t *testing.T) {
	dir, _ := fsSidecarTree(t)
	fsBoth(t, func() *FileServer { return &FileServer{Root: dir, Precompressed: true} }, func(t *testing.T, e *fsEnv) {
		e.do(t, "GET", "/a.css", "Accept-Encoding", "br, gzip") // the sidecars are known
		for _, ae := range []string{"", "identity", "deflate", "identity;q=0", "*;q=0"} {
			resp, _ := e.do(t, "GET", "/a.css", "Accept-Encoding", ae)
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("AE %q: %d without Vary: Accept-Encoding", ae, resp.StatusCode)
			}
		}
	})
}

// TestFileServerCompressOnTheFly: with an offload pool, compressible
// files between MinSize and MaxSize go out gzip- or zstd-coded (the body
// decodes to the file), with a weak ETag and Vary; ranges, small, large
// and incompressible files go out as they are. The net/http handler
// leaves compression to the native one: identity there.
func TestFileServerCompressOnTheFly(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog; ", 500))
	files := map[string][]byte{
		"t.txt":     text,
		"j.json":    []byte(`{"k":"` + strings.Repeat("v", 4000) + `"}`),
		"small.txt": text[:500],
		"huge.txt":  bytes.Repeat(text, 100), // > 1 MiB
		"p.png":     fsRand(20000, 3),
	}
	fsWriteTree(t, dir, files)
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	mk := func() *FileServer { return &FileServer{Root: dir, Compression: &Compression{Pool: pool}} }
	fsBoth(t, mk, func(t *testing.T, e *fsEnv) {
		decode := map[string]func([]byte) ([]byte, error){"gzip": fsGunzip, "zstd": fsUnzstd}
		for _, c := range []struct{ path, ae, enc string }{
			{"/t.txt", "gzip", "gzip"},
			// zstd: TestFileServerCompressZstd.
			{"/t.txt", "gzip;q=1, zstd;q=0.5", "gzip"},
			{"/j.json", "gzip", "gzip"},
			{"/t.txt", "", ""},
			{"/t.txt", "br", ""},
			{"/small.txt", "gzip", ""},
			{"/huge.txt", "gzip", ""},
			{"/p.png", "gzip", ""},
		} {
			want := c.enc
			if !e.native {
				want = ""
			}
			for range 2 { // the second from the compressed cache
				resp, b := e.do(t, "GET", c.path, "Accept-Encoding", c.ae)
				ce := resp.Header.Get("Content-Encoding")
				if resp.StatusCode != 200 || ce != want {
					t.Errorf("%s AE %q: %d Content-Encoding %q, want %q", c.path, c.ae, resp.StatusCode, ce, want)
					continue
				}
				got := b
				if want != "" {
					var err error
					if got, err = decode[want](b); err != nil {
						t.Errorf("%s AE %q: decoding: %v", c.path, c.ae, err)
						continue
					}
					if !strings.HasPrefix(resp.Header.Get("ETag"), "W/") || resp.Header.Get("Vary") != "Accept-Encoding" {
						t.Errorf("%s AE %q: ETag %q Vary %q", c.path, c.ae, resp.Header.Get("ETag"), resp.Header.Get("Vary"))
					}
					if resp.Header.Get("Content-Length") == "" || len(b) >= len(files[c.path[1:]]) {
						t.Errorf("%s AE %q: %d coded bytes for %d", c.path, c.ae, len(b), len(files[c.path[1:]]))
					}
				}
				if !bytes.Equal(got, files[c.path[1:]]) {
					t.Errorf("%s AE %q: body differs (%d bytes, want %d)", c.path, c.ae, len(got), len(files[c.path[1:]]))
				}
			}
		}
		// A range gets identity bytes.
		resp, b := e.do(t, "GET", "/t.txt", "Accept-Encoding", "gzip", "Range", "bytes=10-99")
		if resp.StatusCode != 206 || resp.Header.Get("Content-Encoding") != "" || !bytes.Equal(b, text[10:100]) {
			t.Errorf("range with gzip accepted: %d %v %q", resp.StatusCode, resp.Header, b)
		}
		if !e.native {
			return
		}
		// The weak tag revalidates; it never satisfies If-Match.
		resp, _ = e.do(t, "GET", "/t.txt", "Accept-Encoding", "gzip")
		wtag := resp.Header.Get("ETag")
		if resp, b := e.do(t, "GET", "/t.txt", "Accept-Encoding", "gzip", "If-None-Match", wtag); resp.StatusCode != 304 || len(b) != 0 {
			t.Errorf("If-None-Match with the weak tag: %d", resp.StatusCode)
		}
		if resp, _ := e.do(t, "GET", "/t.txt", "Accept-Encoding", "gzip", "If-Match", wtag); resp.StatusCode != 412 {
			t.Errorf("If-Match with the weak tag: %d", resp.StatusCode)
		}
		// HEAD: the coded representation's headers, no body.
		r := fsRawGet(t, e.addr, "HEAD", "/t.txt", "Accept-Encoding", "gzip")
		if r.status() != 200 || r.resp.Header.Get("Content-Encoding") != "gzip" || len(r.body) != 0 {
			t.Errorf("HEAD with gzip: %q", r.raw)
		}
	})
}

// TestFileServerCompressZstd isolates the zstd coding: a client that takes
// gzip and zstd gets zstd, and the body decodes to the file (an encoder
// level the library refuses would fail every job and send identity).
func TestFileServerCompressZstd(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("zstd zstd zstd compress me; ", 400))
	fsWriteTree(t, dir, map[string][]byte{"z.txt": text})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	e := fsStart(t, true, &FileServer{Root: dir, Compression: &Compression{Pool: pool}})
	resp, b := e.do(t, "GET", "/z.txt", "Accept-Encoding", "gzip, zstd")
	if ce := resp.Header.Get("Content-Encoding"); ce != "zstd" {
		t.Fatalf("Content-Encoding %q, want zstd", ce)
	}
	if got, err := fsUnzstd(b); err != nil || !bytes.Equal(got, text) {
		t.Errorf("zstd body: %v", err)
	}
}

// TestFileServerCompressedChange: a compressed body cached by the native
// handler follows the file when it is replaced.
func TestFileServerCompressedChange(t *testing.T) {
	dir := t.TempDir()
	old := []byte(strings.Repeat("old text old text. ", 200))
	fsWriteTree(t, dir, map[string][]byte{"t.txt": old})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	e := fsStart(t, true, &FileServer{Root: dir, Revalidate: fsWindow, Compression: &Compression{Pool: pool}})
	get := func() []byte {
		resp, b := e.do(t, "GET", "/t.txt", "Accept-Encoding", "gzip")
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("not compressed: %v", resp.Header)
		}
		got, err := fsGunzip(b)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if !bytes.Equal(get(), old) {
		t.Fatal("first body")
	}
	repl := []byte(strings.Repeat("new text, longer than before. ", 300))
	tmp := filepath.Join(dir, "t.txt.tmp")
	os.WriteFile(tmp, repl, 0o644)
	if err := os.Rename(tmp, filepath.Join(dir, "t.txt")); err != nil {
		t.Fatal(err)
	}
	ok := fsPoll(testTimeout, func() bool {
		b := get()
		if !bytes.Equal(b, old) && !bytes.Equal(b, repl) {
			t.Fatalf("compressed body is neither version (%d bytes)", len(b))
		}
		return bytes.Equal(b, repl)
	})
	if !ok {
		t.Fatal("the new content never went out compressed")
	}
}

// TestFileServerCompressTypesAndLevel: Compression.Types limits on-the-fly
// compression to the types listed ("major/*" matching a whole top-level
// type) and a type left out gets no Vary; every zstd level decodes; bad
// settings are refused by Open.
func TestFileServerCompressTypesAndLevel(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("compress me, compress me; ", 200))
	fsWriteTree(t, dir, map[string][]byte{"s.css": text, "t.txt": text, "j.json": text})
	pool := offload.New(offload.Config{CPUWorkers: 1, BlockingWorkers: 1})
	t.Cleanup(func() { pool.Close(context.Background()) })
	e := fsStart(t, true, &FileServer{Root: dir, Compression: &Compression{Pool: pool, Types: []string{"text/css", "application/*"}}})
	for path, want := range map[string]string{"/s.css": "gzip", "/j.json": "gzip", "/t.txt": ""} {
		resp, b := e.do(t, "GET", path, "Accept-Encoding", "gzip")
		if ce := resp.Header.Get("Content-Encoding"); ce != want {
			t.Errorf("%s: Content-Encoding %q, want %q", path, ce, want)
		}
		if want == "" && (resp.Header.Get("Vary") != "" || !bytes.Equal(b, text)) {
			t.Errorf("%s: Vary %q, body %d bytes", path, resp.Header.Get("Vary"), len(b))
		}
	}
	for level := 1; level <= 4; level++ {
		e := fsStart(t, true, &FileServer{Root: dir, Compression: &Compression{Pool: pool, ZstdLevel: level}})
		resp, b := e.do(t, "GET", "/t.txt", "Accept-Encoding", "zstd")
		if got, err := fsUnzstd(b); resp.Header.Get("Content-Encoding") != "zstd" || err != nil || !bytes.Equal(got, text) {
			t.Errorf("zstd level %d: Content-Encoding %q, %v", level, resp.Header.Get("Content-Encoding"), err)
		}
	}
	for _, c := range []*Compression{{Pool: pool, ZstdLevel: 5}, {Pool: pool, GzipLevel: 10}, {Pool: pool, Types: []string{"text"}}, {Pool: pool, Types: []string{"text/html; charset=utf-8"}}} {
		fs := &FileServer{Root: dir, Compression: c}
		if err := fs.Open(); err == nil {
			t.Errorf("Open accepted %+v", *c)
		}
		fs.Close()
	}
	fs := &FileServer{Root: filepath.Join(dir, "missing")}
	if err := fs.Open(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing root: %v", err)
	}
}
