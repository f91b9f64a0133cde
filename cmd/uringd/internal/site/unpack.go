// Package site unpacks the embedded demo site (package
// github.com/uringd/uringd/cmd/uringd/site) to a cache directory, so that
// uringd serves it from disk like any other root.
package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	demo "github.com/uringd/uringd/cmd/uringd/site"
)

// DefaultCacheDir is where Unpack("") puts the site: $CACHE_DIRECTORY
// (set by systemd's CacheDirectory=), else os.UserCacheDir()/uringd
// ($XDG_CACHE_HOME/uringd or ~/.cache/uringd), else a directory for this
// user under os.TempDir().
func DefaultCacheDir() string {
	if d := os.Getenv("CACHE_DIRECTORY"); d != "" {
		// systemd lists one directory per CacheDirectory= entry.
		first, _, _ := strings.Cut(d, ":")
		return first
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "uringd")
	}
	return filepath.Join(os.TempDir(), "uringd-"+strconv.Itoa(os.Geteuid()))
}

// file is one embedded file.
type file struct {
	name string // slash-separated path in the site
	data []byte
}

// content returns the site's files in name order, and a hash of names and
// contents that names the unpacked directory: a new build with other
// content gets a directory of its own.
var content = sync.OnceValues(func() ([]file, string) {
	var files []file
	err := fs.WalkDir(demo.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(demo.Files, p)
		files = append(files, file{name: p, data: data})
		return err
	})
	if err != nil {
		panic("site: reading the embedded files: " + err.Error()) // an embed.FS does not fail
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
	}
	return files, hex.EncodeToString(h.Sum(nil))[:16]
})

// IsUnpacked reports whether root is a directory Unpack returns: the
// demo site of this build.
func IsUnpacked(root string) bool {
	_, hash := content()
	return filepath.Base(root) == "site-"+hash
}

// Unpack makes sure cacheDir/site-<hash> holds exactly the demo site and
// returns that directory. cacheDir "" means DefaultCacheDir().
//
// A directory left by an earlier start is reused if it is intact: every
// file present with the embedded content and nothing else. Otherwise the
// site is written to a temporary directory next to it and renamed into
// place, so that no reader ever sees a half-written site, and starts
// racing each other all end up with the same complete directory.
func Unpack(cacheDir string) (root string, err error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	files, hash := content()
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("site: %w", err)
	}
	root = filepath.Join(cacheDir, "site-"+hash)
	// A few rounds: each lost race to another start leaves its complete
	// directory in place, which the next round accepts.
	for range 3 {
		if verify(root, files) == nil {
			return root, nil
		}
		if err := install(cacheDir, root, files); err != nil {
			return "", fmt.Errorf("site: unpacking to %s: %w", root, err)
		}
	}
	if err := verify(root, files); err != nil {
		return "", fmt.Errorf("site: %s: %w", root, err)
	}
	return root, nil
}

// install writes the files to a new temporary directory in cacheDir and
// renames it to root, first moving aside (then removing) whatever broken
// copy is there.
func install(cacheDir, root string, files []file) error {
	tmp, err := os.MkdirTemp(cacheDir, ".site-tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // nothing left once renamed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		p := filepath.Join(tmp, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.data, 0o644); err != nil {
			return err
		}
	}
	err = os.Rename(tmp, root)
	if err == nil || !isExists(err) {
		return err
	}
	// root exists. If another start has just put a good copy there, keep
	// it; if it is broken, move it aside atomically (so a racing start
	// never removes a good copy) and try once more.
	if verify(root, files) == nil {
		return nil
	}
	old, err := os.MkdirTemp(cacheDir, ".site-old-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(old)
	if err := os.Rename(root, filepath.Join(old, "site")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, root); err != nil && !isExists(err) {
		return err
	}
	return nil
}

// isExists reports whether a rename failed because the target exists.
func isExists(err error) bool {
	return errors.Is(err, fs.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.ENOTDIR)
}

// verify checks that root is a directory of this user's holding exactly
// files, byte for byte.
func verify(root string, files []file) error {
	st, err := os.Lstat(root)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", root)
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok && int(s.Uid) != os.Geteuid() {
		// In a shared cache (the temporary directory fallback) another
		// user could have planted it.
		return fmt.Errorf("%s belongs to uid %d", root, s.Uid)
	}
	want := make(map[string][]byte, len(files))
	for _, f := range files {
		want[f.name] = f.data
	}
	seen := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			return nil
		}
		data, ok := want[name]
		if !ok || !d.Type().IsRegular() {
			return fmt.Errorf("unexpected %s", name)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("%s differs from the embedded file", name)
		}
		seen++
		return nil
	})
	if err != nil {
		return err
	}
	if seen != len(files) {
		return fmt.Errorf("%d of %d files present", seen, len(files))
	}
	return nil
}
