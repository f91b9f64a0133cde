package httpd

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fsCanary is in every file outside the served root (and in the name of
// one), and in no file inside it.
const fsCanary = "CANARY-outside-the-root-9d41"

// fsTraversalTree builds:
//
//	tmp/outside.txt, tmp/outside/{secret.txt,dir/secret2.txt,b.txt,<canary>.txt}
//	tmp/root/...: files, dotfiles, and links in and out of the root
//
// and returns the root.
func fsTraversalTree(t *testing.T) (root, outside string) {
	t.Helper()
	top := t.TempDir()
	root = filepath.Join(top, "root")
	outside = filepath.Join(top, "outside")
	canary := []byte(fsCanary + "\n")
	fsWriteTree(t, top, map[string][]byte{
		"outside.txt":                     canary,
		"outside/secret.txt":              canary,
		"outside/b.txt":                   canary,
		"outside/dir/secret2.txt":         canary,
		"outside/" + fsCanary + ".txt":    canary,
		"outside/index.html":              canary,
		"root/index.html":                 []byte("root index"),
		"root/a.txt":                      []byte("inside a"),
		"root/sub/index.html":             []byte("sub index"),
		"root/sub/b.txt":                  []byte("inside b"),
		"root/.hidden":                    []byte("dot hidden"),
		"root/.git/config":                []byte("dot git config"),
		"root/sub/.env":                   []byte("dot env"),
		"root/.well-known/x.txt":          []byte("dot well-known"),
		"root/%2e%2e/outside.txt":         []byte("literal percent name"),
		"root/weird name/index.html":      []byte("weird index"),
		"root/sub/deeper/index.html":      []byte("deeper index"),
		"root/sub/deeper/c.txt":           []byte("inside c"),
		"root/sub/deeper/deepest/d.txt":   []byte("inside d"),
		"root/chain-target-dir/inner.txt": []byte("inside inner"),
	})
	r := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }
	// Out of the root.
	fsSymlink(t, "../outside.txt", r("link-out-file"))
	fsSymlink(t, "../outside", r("link-out-dir"))
	fsSymlink(t, "../../outside.txt", r("sub/link-up-out"))
	fsSymlink(t, "../../../outside", r("sub/deeper/link-up-out-dir"))
	fsSymlink(t, "chain2", r("chain1"))
	fsSymlink(t, "sub/chain3", r("chain2"))
	fsSymlink(t, "../../outside.txt", r("sub/chain3"))
	fsSymlink(t, filepath.Join(top, "outside.txt"), r("link-abs-file"))
	fsSymlink(t, outside, r("link-abs-dir"))
	fsSymlink(t, "/proc/self/root"+filepath.Join(top, "outside.txt"), r("link-proc"))
	fsSymlink(t, "/proc/self/cwd", r("link-proc-cwd"))
	fsSymlink(t, "/etc/passwd", r("link-passwd"))
	fsSymlink(t, "loop-b", r("loop-a"))
	fsSymlink(t, "loop-a", r("loop-b"))
	// Inside the root.
	fsSymlink(t, "a.txt", r("link-in"))
	fsSymlink(t, "sub", r("link-in-dir"))
	fsSymlink(t, "../a.txt", r("sub/link-up"))
	fsSymlink(t, "chainin2", r("chainin1"))
	fsSymlink(t, "sub/chainin3", r("chainin2"))
	fsSymlink(t, "../a.txt", r("sub/chainin3"))
	fsSymlink(t, r("a.txt"), r("link-abs-inside")) // absolute, pointing inside
	fsSymlink(t, "chain-target-dir", r("link-dir-chain1"))
	return root, outside
}

// fsTraversalTargets are raw request-targets that try to reach outside
// the root; each must get a 4xx and none may carry a byte from outside.
func fsTraversalTargets(top string) []string {
	abs := filepath.Join(top, "outside.txt")
	return []string{
		"/../outside.txt",
		"/../../../../../../etc/passwd",
		"/%2e%2e/outside.txt",
		"/%2E%2E/outside.txt",
		"/.%2e/outside.txt",
		"/%2e./outside.txt",
		"/%2e%2e",
		"/..",
		"/sub/../../outside.txt",
		"/sub/%2e%2e/%2e%2e/outside.txt",
		"/sub/deeper/%2e%2e/%2e%2e/%2e%2e/outside.txt",
		"/./../outside.txt",
		"/%252e%252e/%252e%252e/outside.txt",
		"/..%2foutside.txt",
		"/%2e%2e%2foutside.txt",
		"/%2e%2e%2Foutside.txt",
		"/sub/..%2f..%2foutside.txt",
		"/sub%2f..%2f..%2foutside.txt",
		"/..%5coutside.txt",
		"/%5c..%5coutside.txt",
		"/..\\outside.txt",
		"/sub\\..\\..\\outside.txt",
		"/a.txt%00",
		"/a.txt%00.html",
		"/%00/../outside.txt",
		"/..%00/outside.txt",
		"/%c0%ae%c0%ae/outside.txt",
		"/%c0%ae%c0%ae%c0%afoutside.txt",
		"/%c0%af..%c0%afoutside.txt",
		"/%e0%80%ae%e0%80%ae/outside.txt",
		"/%f0%80%80%ae%f0%80%80%ae/outside.txt",
		"/%c1%9c..%c1%9coutside.txt",
		"/%u002e%u002e/outside.txt",
		"/%%32%65%%32%65/outside.txt",
		"/%2",
		"//outside.txt",
		"/" + abs,
		"/" + url.PathEscape(abs),
		"//" + strings.TrimPrefix(abs, "/"),
		"/%2f" + strings.TrimPrefix(abs, "/"),
		"/%2F" + strings.ReplaceAll(strings.TrimPrefix(abs, "/"), "/", "%2F"),
		"/etc/passwd",
		"/proc/self/environ",
		"/link-out-file",
		"/link-out-dir",
		"/link-out-dir/",
		"/link-out-dir/secret.txt",
		"/link-out-dir/dir/secret2.txt",
		"/link-out-dir%2fsecret.txt",
		"/link-out-dir/index.html",
		"/sub/link-up-out",
		"/sub/deeper/link-up-out-dir/secret.txt",
		"/sub/deeper/link-up-out-dir/",
		"/chain1",
		"/chain2",
		"/sub/chain3",
		"/link-abs-file",
		"/link-abs-dir/secret.txt",
		"/link-abs-dir/",
		"/link-proc",
		"/link-proc-cwd/",
		"/link-passwd",
		"/loop-a",
		"/link-abs-inside", // absolute: RESOLVE_BENEATH refuses it even pointing inside
		"http://x/../outside.txt",
		"http://x/%2e%2e/outside.txt",
		"http://x/link-out-file",
		"http://x/link-out-dir/secret.txt",
		"/" + strings.Repeat("a/../", 50) + "../outside.txt",
		"/" + strings.Repeat("%2e%2e/", 20) + "outside.txt",
		"/sub/.%2e/.%2e/outside.txt",
		"/sub/%2e%2e%2f%2e%2e%2foutside.txt",
		"/sub/..;/../outside.txt",
		"/.../outside.txt",
		"/..../outside.txt",
		"/%2e%2e%3boutside.txt",
	}
}

// TestFileServerTraversalRaw sends every traversal target over a raw TCP
// socket to both handlers under several policies: each gets a 4xx, and
// no response carries a byte of a file outside the root (nor the name of
// one, which a listing would show).
func TestFileServerTraversalRaw(t *testing.T) {
	root, _ := fsTraversalTree(t)
	top := filepath.Dir(root)
	configs := []struct {
		name string
		mk   func() *FileServer
	}{
		{"within-hide", func() *FileServer { return &FileServer{Root: root, Listing: true} }},
		{"never-hide", func() *FileServer { return &FileServer{Root: root, Listing: true, Symlinks: SymlinksNever} }},
		{"within-allow", func() *FileServer {
			return &FileServer{Root: root, Listing: true, Dotfiles: DotfilesAllow, Precompressed: true}
		}},
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			fsBoth(t, cfg.mk, func(t *testing.T, e *fsEnv) {
				for _, target := range fsTraversalTargets(top) {
					for _, method := range []string{"GET", "HEAD"} {
						// Twice: the second may come from the native cache.
						for range 2 {
							r := fsRawGet(t, e.addr, method, target, "Accept-Encoding", "br, gzip")
							if bytes.Contains(r.raw, []byte(fsCanary)) || bytes.Contains(r.raw, []byte("root:x:0:0")) {
								t.Fatalf("%s %q served bytes from outside the root:\n%s", method, target, r.raw)
							}
							if s := r.status(); s < 400 || s > 499 {
								t.Errorf("%s %q: status %d, want 4xx (%q)", method, target, s, r.raw)
							}
						}
					}
				}
				// A listing of the root shows link names but nothing
				// behind them.
				for _, p := range []string{"/sub/deeper/deepest/", "/chain-target-dir/"} {
					r := fsRawGet(t, e.addr, "GET", p)
					if r.status() != 200 || bytes.Contains(r.raw, []byte(fsCanary)) {
						t.Errorf("listing %s: %d %q", p, r.status(), r.raw)
					}
				}
				// Decoded once: %252e%252e names the directory "%2e%2e"
				// inside the root.
				for _, p := range []string{"/%252e%252e/outside.txt", "/%25%32%65%25%32%65/outside.txt", "/%252E%252E/outside.txt"} {
					want := 200
					if p == "/%252E%252E/outside.txt" {
						want = 404 // "%2E%2E" is another name
					}
					if r := fsRawGet(t, e.addr, "GET", p); r.status() != want || want == 200 && string(r.body) != "literal percent name" {
						t.Errorf("%s: %d %q", p, r.status(), r.body)
					}
				}
				// Still serving.
				if r := fsRawGet(t, e.addr, "GET", "/a.txt"); r.status() != 200 || string(r.body) != "inside a" {
					t.Fatalf("after the traversal attempts: %d %q", r.status(), r.raw)
				}
			})
		})
	}
}

// TestFileServerTraversalRawBytes sends request lines with bytes no
// client would send (NUL, CR inside the target, raw non-ASCII, tabs).
func TestFileServerTraversalRawBytes(t *testing.T) {
	root, _ := fsTraversalTree(t)
	fsBoth(t, func() *FileServer { return &FileServer{Root: root} }, func(t *testing.T, e *fsEnv) {
		for _, req := range []string{
			"GET /a.txt\x00/../../outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /\x00../outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /..\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /\xc0\xae\xc0\xae/outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /..\t/outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /../outside.txt\r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET ../outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			"GET /../outside.txt HTTP/1.0\r\n\r\n",
			"GET /%2e%2e/outside.txt HTTP/1.0\r\n\r\n",
		} {
			r := fsRaw(t, e.addr, "GET", req)
			if bytes.Contains(r.raw, []byte(fsCanary)) {
				t.Fatalf("%q served bytes from outside the root:\n%s", req, r.raw)
			}
			if s := r.status(); s != 0 && (s < 400 || s > 499) {
				t.Errorf("%q: status %d, want 4xx or no response", req, s)
			}
		}
	})
}

// TestFileServerSymlinkPolicies: links that stay inside the root are
// followed with SymlinksWithinRoot and refused with SymlinksNever; links
// that lead out, absolute links and loops are refused by both.
func TestFileServerSymlinkPolicies(t *testing.T) {
	root, _ := fsTraversalTree(t)
	cases := []struct {
		path           string
		within, never  int
		body           string // with SymlinksWithinRoot
		withinLocation string
	}{
		{"/a.txt", 200, 200, "inside a", ""},
		{"/link-in", 200, 404, "inside a", ""},
		{"/chainin1", 200, 404, "inside a", ""},
		{"/sub/link-up", 200, 404, "inside a", ""},
		{"/link-in-dir/b.txt", 200, 404, "inside b", ""},
		{"/link-in-dir/", 200, 404, "sub index", ""},
		{"/link-in-dir", 301, 404, "", "/link-in-dir/"},
		{"/link-dir-chain1/inner.txt", 200, 404, "inside inner", ""},
		{"/link-abs-inside", 404, 404, "", ""},
		{"/link-out-file", 404, 404, "", ""},
		{"/link-out-dir/secret.txt", 404, 404, "", ""},
		{"/chain1", 404, 404, "", ""},
		{"/loop-a", 404, 404, "", ""},
	}
	for _, pol := range []SymlinkPolicy{SymlinksWithinRoot, SymlinksNever} {
		name := map[SymlinkPolicy]string{SymlinksWithinRoot: "within", SymlinksNever: "never"}[pol]
		t.Run(name, func(t *testing.T) {
			fsBoth(t, func() *FileServer { return &FileServer{Root: root, Symlinks: pol} }, func(t *testing.T, e *fsEnv) {
				for range 2 {
					for _, c := range cases {
						want := c.within
						if pol == SymlinksNever {
							want = c.never
						}
						resp, body := e.do(t, "GET", c.path)
						if resp.StatusCode != want {
							t.Errorf("%s: %d, want %d (%q)", c.path, resp.StatusCode, want, body)
							continue
						}
						if bytes.Contains(body, []byte(fsCanary)) {
							t.Fatalf("%s: outside bytes: %q", c.path, body)
						}
						if want == 200 && string(body) != c.body {
							t.Errorf("%s: body %q, want %q", c.path, body, c.body)
						}
						if want == 301 && resp.Header.Get("Location") != c.withinLocation {
							t.Errorf("%s: Location %q", c.path, resp.Header.Get("Location"))
						}
					}
				}
			})
		})
	}
}

// TestFileServerDotfiles: paths with a dot segment (raw or %2e) under the
// three policies, and their listing.
func TestFileServerDotfiles(t *testing.T) {
	root, _ := fsTraversalTree(t)
	cases := []struct{ path, body string }{
		{"/.hidden", "dot hidden"},
		{"/%2ehidden", "dot hidden"},
		{"/%2Ehidden", "dot hidden"},
		{"/.git/config", "dot git config"},
		{"/%2egit/config", "dot git config"},
		{"/sub/.env", "dot env"},
		{"/sub/%2eenv", "dot env"},
		{"/.well-known/x.txt", "dot well-known"},
		{"/sub/../.hidden", "dot hidden"},
	}
	for _, pol := range []DotfilePolicy{DotfilesHide, DotfilesDeny, DotfilesAllow} {
		want := map[DotfilePolicy]int{DotfilesHide: 404, DotfilesDeny: 403, DotfilesAllow: 200}[pol]
		t.Run(strings.ToLower(map[DotfilePolicy]string{DotfilesHide: "Hide", DotfilesDeny: "Deny", DotfilesAllow: "Allow"}[pol]), func(t *testing.T) {
			fsBoth(t, func() *FileServer {
				return &FileServer{Root: root, Dotfiles: pol, Listing: true, Index: []string{"no-index"}}
			}, func(t *testing.T, e *fsEnv) {
				for _, c := range cases {
					for _, method := range []string{"GET", "HEAD"} {
						r := fsRawGet(t, e.addr, method, c.path)
						if r.status() != want {
							t.Errorf("%s %s: %d, want %d", method, c.path, r.status(), want)
							continue
						}
						if method == "GET" && (want == 200) != (string(r.body) == c.body) {
							t.Errorf("%s %s: body %q", method, c.path, r.body)
						}
						if want != 200 && bytes.Contains(r.raw, []byte(c.body)) {
							t.Errorf("%s %s: refused but leaks the content: %q", method, c.path, r.raw)
						}
					}
				}
				// The listing shows dot entries only when they are allowed.
				_, page := e.do(t, "GET", "/")
				for _, name := range []string{".hidden", ".git", ".well-known"} {
					if shown := bytes.Contains(page, []byte(">"+name)); shown != (pol == DotfilesAllow) {
						t.Errorf("listing of / shows %s: %v", name, shown)
					}
				}
			})
		})
	}
}

// TestFileServerSymlinkSwappedIn: a file, then a directory, that the
// cache knows are replaced by links out of the root. After the
// revalidation window the server must refuse them; no outside byte is
// ever served.
func TestFileServerSymlinkSwappedIn(t *testing.T) {
	for _, h := range fsHandlers {
		t.Run(h.name+"-swap", func(t *testing.T) {
			root, _ := fsTraversalTree(t)
			e := fsStart(t, h.native, &FileServer{Root: root, Revalidate: fsWindow})
			for _, p := range []string{"/a.txt", "/sub/b.txt"} {
				if resp, _ := e.do(t, "GET", p); resp.StatusCode != 200 {
					t.Fatalf("%s: %d", p, resp.StatusCode)
				}
			}
			// a.txt becomes a link out; sub becomes a link to the
			// outside directory (which has a b.txt).
			tmp := filepath.Join(root, "tmp-link")
			fsSymlink(t, filepath.Join(filepath.Dir(root), "outside.txt"), tmp)
			if err := os.Rename(tmp, filepath.Join(root, "a.txt")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(root, "sub"), filepath.Join(root, "sub-old")); err != nil {
				t.Fatal(err)
			}
			fsSymlink(t, "../outside", filepath.Join(root, "sub"))
			for _, p := range []string{"/a.txt", "/sub/b.txt"} {
				ok := fsPoll(testTimeout, func() bool {
					resp, body := e.do(t, "GET", p)
					if bytes.Contains(body, []byte(fsCanary)) {
						t.Fatalf("%s: served outside bytes after the swap", p)
					}
					return resp.StatusCode == 404
				})
				if !ok {
					t.Errorf("%s: still served after the swap", p)
				}
			}
		})
	}
}

// TestFileServerSymlinksFollow: with SymlinksFollow, links lead wherever
// they point (relative, absolute, chained, to a directory), but the
// request path itself still cannot climb out, magic links stay refused,
// and loops fail cleanly.
func TestFileServerSymlinksFollow(t *testing.T) {
	root, _ := fsTraversalTree(t)
	top := filepath.Dir(root)
	canary := fsCanary + "\n"
	cases := []struct {
		path   string
		status int
		body   string
	}{
		{"/link-in", 200, "inside a"},
		{"/link-abs-inside", 200, "inside a"},
		{"/link-out-file", 200, canary},
		{"/link-out-dir/secret.txt", 200, canary},
		{"/sub/link-up-out", 200, canary},
		{"/chain1", 200, canary},
		{"/link-abs-file", 200, canary},
		{"/link-abs-dir/dir/secret2.txt", 200, canary},
		{"/link-proc", 404, ""},
		{"/loop-a", 404, ""},
	}
	fsBoth(t, func() *FileServer { return &FileServer{Root: root, Symlinks: SymlinksFollow} }, func(t *testing.T, e *fsEnv) {
		for range 2 {
			for _, c := range cases {
				resp, body := e.do(t, "GET", c.path)
				if resp.StatusCode != c.status || c.status == 200 && string(body) != c.body {
					t.Errorf("%s: %d %q, want %d %q", c.path, resp.StatusCode, body, c.status, c.body)
				}
			}
			// No link in them: the path alone must not leave the root.
			for _, target := range fsTraversalTargets(top) {
				if strings.Contains(target, "link") || strings.Contains(target, "chain") || strings.Contains(target, "loop") {
					continue
				}
				r := fsRawGet(t, e.addr, "GET", target)
				if bytes.Contains(r.raw, []byte(fsCanary)) || bytes.Contains(r.raw, []byte("root:x:0:0")) {
					t.Fatalf("%q served bytes from outside the root:\n%s", target, r.raw)
				}
				if s := r.status(); s < 400 || s > 499 {
					t.Errorf("%q: status %d, want 4xx", target, s)
				}
			}
		}
	})
}
