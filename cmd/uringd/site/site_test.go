package site

import (
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/uringd/uringd/cmd/uringd/internal/stats"
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(Files, name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLinksResolve checks that every local src= and href= in the pages
// names an embedded file, so the site works when unpacked.
func TestLinksResolve(t *testing.T) {
	ref := regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	for _, page := range []string{"index.html", "video.html", "status.html"} {
		for _, m := range ref.FindAllStringSubmatch(readFile(t, page), -1) {
			target := m[1]
			if target == "./" || strings.Contains(target, "://") || strings.HasPrefix(target, "#") {
				continue
			}
			if _, err := fs.Stat(Files, target); err != nil {
				t.Errorf("%s links to %q, which is not embedded", page, target)
			}
		}
	}
}

func TestVideoPage(t *testing.T) {
	page := readFile(t, "video.html")
	if !strings.Contains(page, `<video id="clip" controls preload="metadata" src="clip.webm">`) {
		t.Error("video.html lacks the <video controls preload=metadata> of clip.webm")
	}
	clip := readFile(t, "clip.webm")
	if !strings.HasPrefix(clip, "\x1a\x45\xdf\xa3") || !strings.Contains(clip[:64], "webm") {
		t.Error("clip.webm is not a WebM file")
	}
	if len(clip) > 4<<20 {
		t.Errorf("clip.webm is %d bytes; keep it to a few MB", len(clip))
	}
}

// TestNoExternalResources keeps the site usable offline.
func TestNoExternalResources(t *testing.T) {
	for _, name := range []string{"index.html", "video.html", "status.html", "status.js", "video.js", "style.css"} {
		if s := readFile(t, name); strings.Contains(s, "http://") || strings.Contains(s, "https://") || strings.Contains(s, "@import") {
			t.Errorf("%s refers to something outside the site", name)
		}
	}
}

// jsonNames returns every JSON field name in t, recursively.
func jsonNames(t reflect.Type, into map[string]bool) {
	switch t.Kind() {
	case reflect.Slice, reflect.Pointer:
		jsonNames(t.Elem(), into)
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if name := strings.Split(f.Tag.Get("json"), ",")[0]; name != "" {
				into[name] = true
			}
			jsonNames(f.Type, into)
		}
	}
}

// TestStatusJSMatchesSchema checks that each stats field status.js reads
// is in the schema, so that renaming a field in schema.go without the page
// fails here.
func TestStatusJSMatchesSchema(t *testing.T) {
	names := map[string]bool{}
	jsonNames(reflect.TypeFor[stats.Snapshot](), names)
	js := readFile(t, "status.js")
	// Fields read as snap.x, l.x, p.x, c.x, snap.offload.x ...
	used := regexp.MustCompile(`\b(?:snap|l|p|c|prev)\.((?:[A-Za-z0-9_]+\.)*[A-Za-z0-9_]+)`).FindAllStringSubmatch(js, -1)
	if len(used) < 10 {
		t.Fatalf("found only %d field reads in status.js", len(used))
	}
	for _, m := range used {
		for _, field := range strings.Split(m[1], ".") {
			if field == "length" || field == "map" || field == "forEach" {
				break // an array method: the rest is not a field
			}
			if !names[field] {
				t.Errorf("status.js reads %q (in %s), which stats.Snapshot does not have", field, m[0])
			}
		}
	}
	if !strings.Contains(readFile(t, "status.html"), `data-stats-url="/.uringd/stats"`) {
		t.Error("status.html does not point at /.uringd/stats")
	}
}

// TestServedWithFakeStats serves the site and the fake stats endpoint
// over HTTP: pages and the clip (by range) come back, and the stats
// decode strictly into the schema with growing counters.
func TestServedWithFakeStats(t *testing.T) {
	srv := demoServer(t)
	for _, p := range []string{"/", "/video.html", "/status.html", "/status.js"} {
		res, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", p, res.Status)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/clip.webm", nil)
	req.Header.Set("Range", "bytes=1000-1999")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || len(body) != 1000 || !bytes.Equal(body, []byte(readFile(t, "clip.webm")[1000:2000])) {
		t.Errorf("range GET of clip.webm: %s, %d bytes", res.Status, len(body))
	}

	var last uint64
	for i := 0; i < 3; i++ {
		res, err := http.Get(srv.URL + "/.uringd/stats")
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(res.Body)
		dec.DisallowUnknownFields()
		var s stats.Snapshot
		err = dec.Decode(&s)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if s.Version != stats.Version || len(s.Loops) != 2 || s.Loops[0].Requests <= last {
			t.Fatalf("snapshot %+v", s)
		}
		last = s.Loops[0].Requests
	}
}
