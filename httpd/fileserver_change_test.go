package httpd

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// fsVersion says which version a response body is: "old", "new", or a
// description of what else it is.
func fsVersion(b, old, repl []byte) string {
	switch {
	case bytes.Equal(b, old):
		return "old"
	case bytes.Equal(b, repl):
		return "new"
	case len(b) <= len(repl) && bytes.Equal(b, repl[:len(b)]):
		return fmt.Sprintf("the first %d bytes of the new content (old length %d, new %d)", len(b), len(old), len(repl))
	}
	return fmt.Sprintf("%d bytes of neither version", len(b))
}

// fsAwaitNew polls GET path until it serves repl. Every complete 200 on
// the way must be exactly old or exactly repl; an incomplete one (the
// connection closed early, as for a large file changed under a splice)
// is allowed when torn is true.
func fsAwaitNew(t *testing.T, e *fsEnv, path string, old, repl []byte, torn bool) {
	t.Helper()
	ok := fsPoll(testTimeout, func() bool {
		resp, b, err := e.try("GET", path)
		if err != nil {
			if !torn {
				t.Fatalf("%s: %v", path, err)
			}
			return false
		}
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		if v := fsVersion(b, old, repl); v != "old" && v != "new" {
			t.Fatalf("%s: a complete response with %s, ETag %s", path, v, resp.Header.Get("ETag"))
		}
		if resp.Header.Get("Content-Length") != strconv.Itoa(len(b)) {
			t.Fatalf("%s: Content-Length %s for %d bytes", path, resp.Header.Get("Content-Length"), len(b))
		}
		return bytes.Equal(b, repl)
	})
	if !ok {
		t.Fatalf("%s: the new content never came", path)
	}
	for range 3 {
		if _, b := e.do(t, "GET", path); !bytes.Equal(b, repl) {
			t.Fatalf("%s: after the new content, %s", path, fsVersion(b, old, repl))
		}
	}
}

type fsChangeCase struct {
	name      string
	old, repl int // sizes
}

var fsChangeCases = []fsChangeCase{
	{"small-shrink", 5000, 3000},
	{"small-grow", 3000, 5000},
	{"large-shrink", 3 << 20, 2<<20 + 5},
	{"large-grow", 2<<20 + 5, 3 << 20},
	{"small-to-large", 3000, 1<<20 + 1},
	{"large-to-small", 1<<20 + 1, 3000},
}

// TestFileServerChangeRewrittenInPlace: the file is rewritten in place
// (same inode) with other content and size. After the revalidation window
// the new content is served, and no complete response is ever a mix (the
// new bytes cut to the old length, say).
func TestFileServerChangeRewrittenInPlace(t *testing.T) {
	for i, c := range fsChangeCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			old, repl := fsRand(c.old, uint64(200+i)), fsRand(c.repl, uint64(300+i))
			p := filepath.Join(dir, "f.bin")
			fsBoth(t, func() *FileServer {
				os.WriteFile(p, old, 0o644)
				return &FileServer{Root: dir, Revalidate: fsWindow}
			}, func(t *testing.T, e *fsEnv) {
				if _, b := e.do(t, "GET", "/f.bin"); !bytes.Equal(b, old) {
					t.Fatal("old content")
				}
				f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.Write(repl); err != nil {
					t.Fatal(err)
				}
				f.Close()
				fsAwaitNew(t, e, "/f.bin", old, repl, c.old > 64<<10)
			})
		})
	}
}

// TestFileServerChangeRenamedOver: a new file renamed over the old one
// (a new inode): each response is exactly one version, and after the
// window the new one.
func TestFileServerChangeRenamedOver(t *testing.T) {
	for i, c := range fsChangeCases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			old, repl := fsRand(c.old, uint64(400+i)), fsRand(c.repl, uint64(500+i))
			p := filepath.Join(dir, "f.bin")
			fsBoth(t, func() *FileServer {
				os.WriteFile(p, old, 0o644)
				return &FileServer{Root: dir, Revalidate: fsWindow}
			}, func(t *testing.T, e *fsEnv) {
				resp, b := e.do(t, "GET", "/f.bin")
				if !bytes.Equal(b, old) {
					t.Fatal("old content")
				}
				oldTag := resp.Header.Get("ETag")
				tmp := p + ".tmp"
				os.WriteFile(tmp, repl, 0o644)
				if err := os.Rename(tmp, p); err != nil {
					t.Fatal(err)
				}
				fsAwaitNew(t, e, "/f.bin", old, repl, false)
				resp, _ = e.do(t, "GET", "/f.bin", "If-None-Match", oldTag)
				if resp.StatusCode != 200 || resp.Header.Get("ETag") == oldTag {
					t.Fatalf("the old ETag still validates: %d", resp.StatusCode)
				}
			})
		})
	}
}

// TestFileServerChangeDeleted: a deleted file is 404 after the window
// (old content before it, nothing else), and served again once it is
// back.
func TestFileServerChangeDeleted(t *testing.T) {
	for _, size := range []int{3000, 2 << 20} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			dir := t.TempDir()
			old, repl := fsRand(size, 600), fsRand(size/2, 601)
			p := filepath.Join(dir, "f.bin")
			fsBoth(t, func() *FileServer {
				os.WriteFile(p, old, 0o644)
				return &FileServer{Root: dir, Revalidate: fsWindow}
			}, func(t *testing.T, e *fsEnv) {
				if _, b := e.do(t, "GET", "/f.bin"); !bytes.Equal(b, old) {
					t.Fatal("old content")
				}
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
				ok := fsPoll(testTimeout, func() bool {
					resp, b := e.do(t, "GET", "/f.bin")
					if resp.StatusCode == 200 && !bytes.Equal(b, old) {
						t.Fatalf("deleted file: %s", fsVersion(b, old, repl))
					}
					return resp.StatusCode == 404
				})
				if !ok {
					t.Fatal("the deleted file is still served")
				}
				os.WriteFile(p, repl, 0o644)
				fsAwaitNew(t, e, "/f.bin", old, repl, false)
			})
		})
	}
}

// TestFileServerChangeSidecar: a precompressed sidecar replaced, deleted
// or added while its file stays the same follows the change after the
// window, like the file itself would.
func TestFileServerChangeSidecar(t *testing.T) {
	dir := t.TempDir()
	css := bytes.Repeat([]byte("p { margin: 0 } "), 200)
	fsBoth(t, func() *FileServer {
		fsWriteTree(t, dir, map[string][]byte{"a.css": css, "a.css.br": []byte("old br"), "b.css": css})
		os.Remove(filepath.Join(dir, "b.css.br"))
		return &FileServer{Root: dir, Precompressed: true, Revalidate: fsWindow}
	}, func(t *testing.T, e *fsEnv) {
		br := func(p string) string {
			_, b := e.do(t, "GET", p, "Accept-Encoding", "br")
			return string(b)
		}
		if br("/a.css") != "old br" || br("/b.css") != string(css) {
			t.Fatal("first bodies")
		}
		tmp := filepath.Join(dir, "tmp")
		os.WriteFile(tmp, []byte("new br"), 0o644)
		os.Rename(tmp, filepath.Join(dir, "a.css.br"))
		os.WriteFile(filepath.Join(dir, "b.css.br"), []byte("b br"), 0o644)
		if !fsPoll(testTimeout, func() bool { return br("/a.css") == "new br" }) {
			t.Error("the replaced sidecar is still served")
		}
		if !fsPoll(testTimeout, func() bool { return br("/b.css") == "b br" }) {
			t.Error("the new sidecar is never served")
		}
		os.Remove(filepath.Join(dir, "a.css.br"))
		if !fsPoll(testTimeout, func() bool { return br("/a.css") == string(css) }) {
			t.Error("the deleted sidecar is still served")
		}
	})
}

// TestFileServerChangeIndexAppears: a directory answered with 403 (no
// index, no listing) serves its index once one is created.
func TestFileServerChangeIndexAppears(t *testing.T) {
	dir := t.TempDir()
	fsBoth(t, func() *FileServer {
		os.RemoveAll(filepath.Join(dir, "d"))
		fsWriteTree(t, dir, map[string][]byte{"d/x.txt": []byte("x")})
		return &FileServer{Root: dir, Revalidate: fsWindow}
	}, func(t *testing.T, e *fsEnv) {
		if resp, _ := e.do(t, "GET", "/d/"); resp.StatusCode != 403 {
			t.Fatalf("no index: %d", resp.StatusCode)
		}
		os.WriteFile(filepath.Join(dir, "d/index.html"), []byte("now indexed"), 0o644)
		if !fsPoll(testTimeout, func() bool {
			_, b := e.do(t, "GET", "/d/")
			return string(b) == "now indexed"
		}) {
			t.Fatal("the new index is never served")
		}
	})
}
