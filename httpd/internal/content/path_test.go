package content

import "testing"

func TestCleanPath(t *testing.T) {
	tests := []struct {
		raw    string
		rel    string
		dir    bool
		hidden bool
		err    error
	}{
		{"/", "", true, false, nil},
		{"", "", true, false, nil},
		{"/index.html", "index.html", false, false, nil},
		{"/a/b/c", "a/b/c", false, false, nil},
		{"/a/b/", "a/b", true, false, nil},
		{"//a///b//", "a/b", true, false, nil},
		{"/a/./b/.", "a/b", true, false, nil},
		{"/a/b/..", "a", true, false, nil},
		{"/a/b/../c", "a/c", false, false, nil},
		{"/a/../b/../c/", "c", true, false, nil},
		{"/a/..", "", true, false, nil},
		{"/a/../", "", true, false, nil},
		{"/./", "", true, false, nil},
		{"/.", "", true, false, nil},
		{"/...", "...", false, true, nil},
		{"/a..b", "a..b", false, false, nil},
		{"/..a", "..a", false, true, nil},

		// Percent-decoding, exactly once.
		{"/a%20b", "a b", false, false, nil},
		{"/%7euser/%C3%A9t%c3%a9", "~user/été", false, false, nil},
		{"/%252e%252e/x", "%2e%2e/x", false, false, nil},
		{"/%25", "%", false, false, nil},
		{"/a/%2e%2e/b", "b", false, false, nil},
		{"/a/.%2E/b", "b", false, false, nil},
		{"/a/%2e/b", "a/b", false, false, nil},
		{"/%3F%23", "?#", false, false, nil},
		{"/%2e%2e", "", false, false, ErrPathEscapes},
		{"/%2E%2E/etc/passwd", "", false, false, ErrPathEscapes},
		{"/%", "", false, false, ErrPathSyntax},
		{"/%2", "", false, false, ErrPathSyntax},
		{"/%2g", "", false, false, ErrPathSyntax},
		{"/%g2", "", false, false, ErrPathSyntax},

		// Escaping the root.
		{"/..", "", false, false, ErrPathEscapes},
		{"/../", "", false, false, ErrPathEscapes},
		{"/a/../..", "", false, false, ErrPathEscapes},
		{"/a/../../b", "", false, false, ErrPathEscapes},
		{"//..//", "", false, false, ErrPathEscapes},
		{"/./../a", "", false, false, ErrPathEscapes},

		// Separators.
		{"/a%2fb", "", false, false, ErrEncodedSeparator},
		{"/a%2Fb", "", false, false, ErrEncodedSeparator},
		{"/a%5cb", "", false, false, ErrEncodedSeparator},
		{"/..%2f..%2fetc", "", false, false, ErrEncodedSeparator},
		{"/a\\b", "", false, false, ErrPathBackslash},
		{"/..\\..\\", "", false, false, ErrPathBackslash},

		// Control bytes, NUL, and what the path cannot hold raw.
		{"/a%00.html", "", false, false, ErrPathControl},
		{"/a\x00", "", false, false, ErrPathControl},
		{"/a%0d%0aSet-Cookie:x", "", false, false, ErrPathControl},
		{"/a%7f", "", false, false, ErrPathControl},
		{"/a\tb", "", false, false, ErrPathControl},
		{"/a b", "", false, false, ErrPathSyntax},
		{"/a?b", "", false, false, ErrPathSyntax},
		{"/a#b", "", false, false, ErrPathSyntax},
		{"a/b", "", false, false, ErrPathSyntax},
		{"*", "", false, false, ErrPathSyntax},
		{"http://x/", "", false, false, ErrPathSyntax},

		// UTF-8.
		{"/\xc3\xa9", "é", false, false, nil},
		{"/%f0%9f%98%80", "😀", false, false, nil},
		{"/%c0%af", "", false, false, ErrPathUTF8},         // overlong '/'
		{"/%c0%ae%c0%ae/x", "", false, false, ErrPathUTF8}, // overlong ".."
		{"/%e0%80%ae", "", false, false, ErrPathUTF8},      // overlong '.', three bytes
		{"/%ed%a0%80", "", false, false, ErrPathUTF8},      // surrogate
		{"/%ff", "", false, false, ErrPathUTF8},            // not UTF-8
		{"/%c3", "", false, false, ErrPathUTF8},            // truncated
		{"/%c3/%a9", "", false, false, ErrPathUTF8},        // split across segments
		{"/%f4%90%80%80", "", false, false, ErrPathUTF8},   // above U+10FFFF
		{"/\xff/../a", "", false, false, ErrPathUTF8},      // even when removed later
		{"/%c3%a9%2e%2e", "é..", false, false, nil},

		// Dotfiles.
		{"/.git/config", ".git/config", false, true, nil},
		{"/a/.env", "a/.env", false, true, nil},
		{"/.well-known/acme-challenge/x", ".well-known/acme-challenge/x", false, true, nil},
		{"/%2egit/", ".git", true, true, nil},
		{"/.git/../index.html", "index.html", false, false, nil},
		{"/a./b.", "a./b.", false, false, nil},
	}
	for _, tt := range tests {
		p, err := CleanPath([]byte("keep"), []byte(tt.raw))
		if err != tt.err {
			t.Errorf("CleanPath(%q): err %v; want %v", tt.raw, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if string(p.Rel) != tt.rel || p.Dir != tt.dir || p.Hidden != tt.hidden {
			t.Errorf("CleanPath(%q) = %q dir=%v hidden=%v; want %q dir=%v hidden=%v",
				tt.raw, p.Rel, p.Dir, p.Hidden, tt.rel, tt.dir, tt.hidden)
		}
		checkCleanPath(t, tt.raw, p)
	}
}

func TestPathErrors(t *testing.T) {
	for err, status := range map[*PathError]int{
		ErrPathSyntax: 400, ErrPathControl: 400, ErrPathBackslash: 400,
		ErrEncodedSeparator: 404, ErrPathEscapes: 400, ErrPathUTF8: 400,
	} {
		if err.Status() != status || err.Error() == "" {
			t.Errorf("%v: status %d", err, err.Status())
		}
	}
}

// checkCleanPath checks the properties every accepted path has.
func checkCleanPath(t *testing.T, raw string, p Path) {
	t.Helper()
	rel := p.Rel
	if len(rel) > 0 && (rel[0] == '/' || rel[len(rel)-1] == '/') {
		t.Fatalf("CleanPath(%q) = %q: leading or trailing slash", raw, rel)
	}
	start := 0
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			c := rel[i]
			if c == 0 || c == '\\' || c < ' ' || c == 0x7f {
				t.Fatalf("CleanPath(%q) = %q: byte %#x", raw, rel, c)
			}
			continue
		}
		seg := string(rel[start:i])
		if len(rel) > 0 && (seg == "" || seg == "." || seg == "..") {
			t.Fatalf("CleanPath(%q) = %q: segment %q", raw, rel, seg)
		}
		start = i + 1
	}
}
