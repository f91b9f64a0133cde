package content

import (
	"mime"
	"strings"
	"testing"
)

func TestTypeByName(t *testing.T) {
	for name, want := range map[string]string{
		"index.html":          "text/html; charset=utf-8",
		"INDEX.HTM":           "text/html; charset=utf-8",
		"a/b/style.css":       "text/css; charset=utf-8",
		"app.js":              "text/javascript; charset=utf-8",
		"mod.MJS":             "text/javascript; charset=utf-8",
		"data.json":           "application/json",
		"logo.svg":            "image/svg+xml",
		"p.png":               "image/png",
		"p.JpG":               "image/jpeg",
		"p.jpeg":              "image/jpeg",
		"p.gif":               "image/gif",
		"p.webp":              "image/webp",
		"p.avif":              "image/avif",
		"favicon.ico":         "image/x-icon",
		"m.wasm":              "application/wasm",
		"f.woff":              "font/woff",
		"f.woff2":             "font/woff2",
		"f.ttf":               "font/ttf",
		"f.otf":               "font/otf",
		"v.mp4":               "video/mp4",
		"v.webm":              "video/webm",
		"a.ogg":               "audio/ogg",
		"a.oga":               "audio/ogg",
		"v.ogv":               "video/ogg",
		"a.mp3":               "audio/mpeg",
		"a.m4a":               "audio/mp4",
		"a.flac":              "audio/flac",
		"a.wav":               "audio/wav",
		"live.m3u8":           "application/vnd.apple.mpegurl",
		"dash.mpd":            "application/dash+xml",
		"README.txt":          "text/plain; charset=utf-8",
		"feed.xml":            "application/xml",
		"doc.pdf":             "application/pdf",
		"a.zip":               "application/zip",
		"a.tar.gz":            "application/gzip",
		"noext":               DefaultType,
		"dir.d/noext":         DefaultType,
		"trailing.":           DefaultType,
		".html":               "text/html; charset=utf-8", // a dotfile is matched by what follows its dot
		"":                    DefaultType,
		"a.unknownextension1": DefaultType,
		"a.verylongextension": DefaultType,
		"a.h\xfftml":          DefaultType,
	} {
		if got := TypeByName([]byte(name)); got != want {
			t.Errorf("TypeByName(%q) = %q; want %q", name, got, want)
		}
	}
}

// Every built-in type is a valid media type, and every text type declares
// its charset.
func TestBuiltinTypes(t *testing.T) {
	for ext, ct := range builtinTypes {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil {
			t.Errorf(".%s: %q: %v", ext, ct, err)
		}
		if strings.HasPrefix(mt, "text/") && params["charset"] != "utf-8" {
			t.Errorf(".%s: %q has no charset", ext, ct)
		}
		if ext != strings.ToLower(ext) || len(ext) > maxExtLen {
			t.Errorf("bad key %q", ext)
		}
	}
}

func TestMIMETableSet(t *testing.T) {
	tab := NewMIMETable()
	if err := tab.Set(".MD", "text/x-markdown; charset=utf-8"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set("foo", "application/x-foo"); err != nil {
		t.Fatal(err)
	}
	if err := tab.Set("png", ""); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"a.md":   "text/x-markdown; charset=utf-8",
		"a.FOO":  "application/x-foo",
		"a.png":  DefaultType,
		"a.html": "text/html; charset=utf-8",
	} {
		if got := tab.TypeByName([]byte(name)); got != want {
			t.Errorf("TypeByName(%q) = %q; want %q", name, got, want)
		}
	}
	// The built-in table is untouched.
	if TypeByName([]byte("a.png")) != "image/png" || TypeByName([]byte("a.md")) != "text/markdown; charset=utf-8" {
		t.Error("Set changed the built-in table")
	}
	var nilTable *MIMETable
	if nilTable.TypeByName([]byte("a.css")) != "text/css; charset=utf-8" {
		t.Error("nil table is not the built-in one")
	}
	var zero MIMETable
	if zero.TypeByName([]byte("a.css")) != DefaultType || zero.Set("css", "text/css") != nil || zero.TypeByName([]byte("a.CSS")) != "text/css" {
		t.Error("zero table")
	}
	for _, bad := range [][2]string{
		{"", "text/plain"},
		{".", "text/plain"},
		{"a.b", "text/plain"},
		{"a/b", "text/plain"},
		{"a b", "text/plain"},
		{"\xff", "text/plain"},
		{"abcdefghijklmnopq", "text/plain"},
		{"x", "text/plain\r\nSet-Cookie: a=b"},
		{"x", "text/pl\xe4in"},
		{"x", "plain"},
	} {
		if err := tab.Set(bad[0], bad[1]); err == nil {
			t.Errorf("Set(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestCompressible(t *testing.T) {
	for _, ct := range []string{
		"text/html; charset=utf-8", "text/css", "TEXT/PLAIN", "text/javascript; charset=utf-8",
		"application/json", "application/manifest+json", "application/ld+json", "image/svg+xml",
		"application/xml", "application/rss+xml", "application/dash+xml", "application/wasm",
		"application/javascript", "application/vnd.apple.mpegurl", "font/ttf", "font/otf",
		" application/json ; charset=utf-8", "image/x-icon", "Application/JSON",
	} {
		if !Compressible(ct) {
			t.Errorf("Compressible(%q) = false", ct)
		}
	}
	for _, ct := range []string{
		"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "video/mp4",
		"video/webm", "audio/ogg", "audio/mpeg", "font/woff", "font/woff2", "application/zip",
		"application/gzip", "application/zstd", "application/pdf", "application/octet-stream",
		"application/epub+zip", "", "text", "application/jsonx", "application/json-seq",
		"xml", "application/x+xmlfoo",
	} {
		if Compressible(ct) {
			t.Errorf("Compressible(%q) = true", ct)
		}
	}
	// Every built-in type has a deliberate answer: spot-check the split.
	for ext, want := range map[string]bool{"html": true, "js": true, "svg": true, "wasm": true, "json": true, "m3u8": true, "mpd": true, "png": false, "mp4": false, "woff2": false, "gz": false} {
		if got := Compressible(builtinTypes[ext]); got != want {
			t.Errorf(".%s (%s): Compressible = %v", ext, builtinTypes[ext], got)
		}
	}
}
