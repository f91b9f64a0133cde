package site

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	demo "github.com/uringd/uringd/cmd/uringd/site"
)

func TestUnpackWritesTheSite(t *testing.T) {
	cache := t.TempDir()
	root, err := Unpack(cache)
	if err != nil {
		t.Fatal(err)
	}
	_, hash := content()
	if root != filepath.Join(cache, "site-"+hash) {
		t.Errorf("root %s, want %s/site-%s", root, cache, hash)
	}
	for _, name := range []string{"index.html", "video.html", "status.html", "status.js", "clip.webm"} {
		want, _ := fs.ReadFile(demo.Files, name)
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s: %d bytes, %v; want the embedded %d bytes", name, len(got), err, len(want))
		}
	}
	if _, err := os.Stat(filepath.Join(root, "site.go")); err == nil {
		t.Error("the Go source was unpacked too")
	}
	leftovers, _ := filepath.Glob(filepath.Join(cache, ".site-*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary directories left: %v", leftovers)
	}
}

func TestUnpackReusesAnIntactCopy(t *testing.T) {
	cache := t.TempDir()
	root, err := Unpack(cache)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	index := filepath.Join(root, "index.html")
	if err := os.Chtimes(index, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := Unpack(cache); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(index)
	if err != nil || !st.ModTime().Equal(old) {
		t.Errorf("index.html was rewritten (mtime %v), want the copy reused", st.ModTime())
	}
}

func TestUnpackRepairs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(root string) error
	}{
		{"changed file", func(root string) error {
			return os.WriteFile(filepath.Join(root, "index.html"), []byte("defaced"), 0o644)
		}},
		{"truncated file", func(root string) error { return os.Truncate(filepath.Join(root, "clip.webm"), 100) }},
		{"missing file", func(root string) error { return os.Remove(filepath.Join(root, "status.js")) }},
		{"extra file", func(root string) error {
			return os.WriteFile(filepath.Join(root, "evil.html"), []byte("x"), 0o644)
		}},
		{"symlinked file", func(root string) error {
			p := filepath.Join(root, "style.css")
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Symlink("/etc/passwd", p)
		}},
		{"a file where the directory goes", func(root string) error {
			if err := os.RemoveAll(root); err != nil {
				return err
			}
			return os.WriteFile(root, []byte("x"), 0o644)
		}},
		{"a symlink where the directory goes", func(root string) error {
			if err := os.RemoveAll(root); err != nil {
				return err
			}
			return os.Symlink(os.TempDir(), root)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cache := t.TempDir()
			root, err := Unpack(cache)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(root); err != nil {
				t.Fatal(err)
			}
			files, _ := content()
			if verify(root, files) == nil {
				t.Fatal("verify accepted the broken copy")
			}
			root2, err := Unpack(cache)
			if err != nil || root2 != root {
				t.Fatalf("Unpack = %s, %v", root2, err)
			}
			if err := verify(root, files); err != nil {
				t.Fatalf("not repaired: %v", err)
			}
			leftovers, _ := filepath.Glob(filepath.Join(cache, ".site-*"))
			if len(leftovers) > 0 {
				t.Errorf("temporary directories left: %v", leftovers)
			}
		})
	}
}

// TestUnpackConcurrent starts many unpacks at once, as several daemons
// starting together would: all must succeed with the same complete copy.
func TestUnpackConcurrent(t *testing.T) {
	cache := t.TempDir()
	const n = 8
	roots := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			roots[i], errs[i] = Unpack(cache)
		}()
	}
	wg.Wait()
	files, _ := content()
	for i := range n {
		if errs[i] != nil || roots[i] != roots[0] {
			t.Errorf("unpack %d: %s, %v", i, roots[i], errs[i])
		}
	}
	if err := verify(roots[0], files); err != nil {
		t.Error(err)
	}
	entries, _ := os.ReadDir(cache)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("cache holds %s, want only the site", strings.Join(names, ", "))
	}
}

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("CACHE_DIRECTORY", "/var/cache/uringd:/var/cache/other")
	if d := DefaultCacheDir(); d != "/var/cache/uringd" {
		t.Errorf("with CACHE_DIRECTORY: %s", d)
	}
	t.Setenv("CACHE_DIRECTORY", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if d := DefaultCacheDir(); d != "/xdg/uringd" {
		t.Errorf("with XDG_CACHE_HOME: %s", d)
	}
}

func TestUnpackDefaultsToXDGCache(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("CACHE_DIRECTORY", "")
	t.Setenv("XDG_CACHE_HOME", xdg)
	root, err := Unpack("")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(root, filepath.Join(xdg, "uringd", "site-")) {
		t.Errorf("root %s is not under $XDG_CACHE_HOME/uringd", root)
	}
}

func TestIsUnpacked(t *testing.T) {
	root, err := Unpack(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !IsUnpacked(root) || IsUnpacked(t.TempDir()) || IsUnpacked(filepath.Join(filepath.Dir(root), "site-0000")) {
		t.Error("IsUnpacked is wrong")
	}
}
