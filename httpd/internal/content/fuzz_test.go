package content

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{
		"bytes=0-499", "bytes=-500", "bytes=9500-", "bytes=0-0,-1", "bytes=500-700,601-999",
		"bytes=1-0", "Bytes= 1-2 ,, 3-4", "bytes=99999999999999999999-", "bytes=-0", "items=1-2",
		"bytes=" + strings.Repeat("1-1,", 40),
	} {
		f.Add([]byte(s), int64(10000))
	}
	f.Add([]byte("bytes=0-"), int64(0))
	f.Add([]byte("bytes=0-"), int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, header []byte, size int64) {
		dst := []Range{{-7, -7}}
		got, status := ParseRange(dst, header, size, nil)
		if got[0] != (Range{-7, -7}) {
			t.Fatal("dst's contents changed")
		}
		rs := got[1:]
		switch status {
		case 200, 416:
			if len(rs) != 0 {
				t.Fatalf("status %d with ranges %v", status, rs)
			}
		case 206:
			if len(rs) == 0 || len(rs) > DefaultMaxRanges {
				t.Fatalf("206 with %d ranges", len(rs))
			}
		default:
			t.Fatalf("status %d", status)
		}
		for i, r := range rs {
			if r.Start < 0 || r.Length <= 0 || r.Start > size-r.Length {
				t.Fatalf("range %v outside [0, %d)", r, size)
			}
			if i > 0 && r.Start <= rs[i-1].End() {
				t.Fatalf("ranges %v not sorted, apart and coalesced", rs)
			}
		}
		want, wantStatus := refParseRange(string(header), size)
		if status != wantStatus || !slices.Equal(rs, want) {
			t.Fatalf("ParseRange(%q, %d) = %v, %d; reference %v, %d", header, size, rs, status, want, wantStatus)
		}
		if len(rs) > 1 {
			var p MultipartPlan
			if !p.Build(rs, size, "text/plain", NewBoundary(rand.NewPCG(1, 1))) {
				t.Fatalf("Build(%v, %d) failed", rs, size)
			}
			var n int64
			for _, s := range p.Segments {
				n += int64(len(s.Data)) + s.File.Length
			}
			if n != p.Length {
				t.Fatalf("plan Length %d, segments %d", p.Length, n)
			}
		}
	})
}

// refParseRange is ParseRange written the slow, obvious way, with strings
// and strconv, and a byte map for coalescing on small sizes.
func refParseRange(h string, size int64) ([]Range, int) {
	h = strings.Trim(h, " \t")
	unit, set, ok := strings.Cut(h, "=")
	if h == "" || size <= 0 || !ok || !strings.EqualFold(unit, "bytes") {
		return nil, 200
	}
	num := func(s string) (int64, bool) {
		if s == "" || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			n = math.MaxInt64 // only ErrRange is left
		}
		return n, true
	}
	var rs []Range
	specs := 0
	for _, spec := range strings.Split(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		if specs++; specs > DefaultMaxRanges {
			return nil, 200
		}
		first, last, ok := strings.Cut(spec, "-")
		if !ok {
			return nil, 200
		}
		if first == "" {
			n, ok := num(last)
			if !ok {
				return nil, 200
			}
			if n > 0 {
				rs = append(rs, Range{size - min(n, size), min(n, size)})
			}
			continue
		}
		a, ok := num(first)
		if !ok {
			return nil, 200
		}
		b := int64(math.MaxInt64)
		if last != "" {
			if b, ok = num(last); !ok || b < a {
				return nil, 200
			}
		}
		if a < size {
			rs = append(rs, Range{a, min(b, size-1) - a + 1})
		}
	}
	if specs == 0 {
		return nil, 200
	}
	if len(rs) == 0 {
		return nil, 416
	}
	slices.SortFunc(rs, func(x, y Range) int { return int(min(max(x.Start-y.Start, -1), 1)) })
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Start <= out[n-1].End() {
			out[n-1].Length = max(out[n-1].End(), r.End()) - out[n-1].Start
			continue
		}
		out = append(out, r)
	}
	return out, 206
}

func FuzzEvaluate(f *testing.F) {
	f.Add([]byte("GET"), []byte(`"a"`), []byte(`W/"a", "b"`), []byte("Sun, 06 Nov 1994 08:49:37 GMT"),
		[]byte("Sunday, 06-Nov-94 08:49:37 GMT"), []byte(`"a"`), []byte("bytes=0-1"), []byte(`"a"`), int64(784111777))
	f.Add([]byte("HEAD"), []byte("*"), []byte("*"), []byte("Sun Nov  6 08:49:37 1994"),
		[]byte(""), []byte("Sun, 06 Nov 1994 08:49:37 GMT"), []byte("bytes=0-1"), []byte(`W/"a"`), int64(0))
	f.Add([]byte("PUT"), []byte(`"a", *`), []byte(`,,"`), []byte("Sun, 31 Feb 1994 08:49:37 GMT"),
		[]byte("Sun, 06 Nov 1994 23:59:60 GMT"), []byte(`W/`), []byte(" "), []byte(`"`), int64(-1))
	f.Fuzz(func(t *testing.T, method, im, inm, ims, ius, ir, rng, etag []byte, mod int64) {
		meta := Meta{ETag: etag, ModTime: time.Unix(mod, 0)}
		d := Evaluate(Conditions{Method: method, IfMatch: im, IfNoneMatch: inm, IfModifiedSince: ims,
			IfUnmodifiedSince: ius, IfRange: ir, Range: rng}, meta)
		getOrHead := string(method) == "GET" || string(method) == "HEAD"
		switch {
		case d.Status != 0 && d.Status != 304 && d.Status != 412,
			d.Status == 304 && !getOrHead,
			d.Status != 0 && d.UseRange,
			d.UseRange && (string(method) != "GET" || len(trimOWS(rng)) == 0):
			t.Fatalf("Evaluate = %+v for %s", d, method)
		}
		if len(im) == 0 && len(inm) == 0 && len(ims) == 0 && len(ius) == 0 && d.Status != 0 {
			t.Fatalf("no precondition, status %d", d.Status)
		}
		// The date parser agrees with net/http on every date it accepts,
		// except the documented differences (leap seconds, RFC 850 years).
		for _, v := range [][]byte{ims, ius, ir} {
			checkDateAgainstNetHTTP(t, v)
		}
		// A tag Evaluate produced or was given that parses must survive
		// the comparisons it defines: it matches itself weakly, and
		// strongly unless weak.
		if own := parseOwnETag(etag); len(own.opaque) > 0 {
			if !listMatches(etag, own, false) || listMatches(etag, own, true) == own.weak {
				t.Fatalf("tag %q does not match itself", etag)
			}
		}
	})
}

func checkDateAgainstNetHTTP(t *testing.T, v []byte) {
	sec, ok := parseHTTPDate(v, 2026)
	if !ok {
		return
	}
	tv := trimOWS(v)
	if bytes.Contains(tv, []byte(":60")) || bytes.Contains(tv, []byte("-")) {
		return // leap second; RFC 850 (net/http's fixed century)
	}
	want, err := http.ParseTime(string(tv))
	if err != nil || want.Unix() != sec {
		t.Fatalf("date %q: ours %d, net/http %v, %v", v, sec, want, err)
	}
	// And formatting it back gives a date that parses to the same second.
	back := AppendHTTPDate(nil, time.Unix(sec, 0))
	if sec2, ok := parseHTTPDate(back, 2026); !ok || sec2 != sec {
		t.Fatalf("date %q: formatted back as %q, parsed %d, %v", v, back, sec2, ok)
	}
}

func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"gzip, deflate, br, zstd", "br;q=0.5, gzip;q=1.0", "*;q=0", "identity;q=0", "*;q=0, identity",
		"x-gzip;Q=0.001", "gzip;q=1.5", " , ,gzip ;\tq=0", "identity;q=0, gzip;q=0",
	} {
		f.Add([]byte(s), uint8(0xff))
	}
	f.Fuzz(func(t *testing.T, ae []byte, avail uint8) {
		set := EncodingSet(avail)
		enc, ok := Negotiate(ae, set)
		if enc != Identity && (!set.Has(enc) || !ok) {
			t.Fatalf("Negotiate(%q, %b) = %v, %v", ae, avail, enc, ok)
		}
		// Names and q are case-insensitive (ASCII only: bytes.ToUpper would
		// turn "ı" into a token "I").
		upper := make([]byte, len(ae))
		for i, c := range ae {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			upper[i] = c
		}
		if e2, ok2 := Negotiate(upper, set); e2 != enc || ok2 != ok {
			t.Fatalf("Negotiate(%q) = %v, %v but upper-cased %v, %v", ae, enc, ok, e2, ok2)
		}
		// Codings the client did not accept are never chosen: with only
		// the chosen coding available, the choice stands.
		if e3, ok3 := Negotiate(ae, EncodingSet(0).Add(enc)); e3 != enc || ok3 != ok {
			t.Fatalf("Negotiate(%q) with only %v = %v, %v", ae, enc, e3, ok3)
		}
	})
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b/../c/", "/%2e%2e/etc/passwd", "/a%2fb", "//a//./b", "/.git/config", "/%c0%af",
		"/a\\b", "/a%00", "/%252e%252e", "/\xc3\xa9/%C3%A9", "/a/../../b", "/..%5c..",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := CleanPath([]byte("pre"), raw)
		if err != nil {
			if _, ok := err.(*PathError); !ok || p.Rel != nil {
				t.Fatalf("CleanPath(%q): %v with %+v", raw, err, p)
			}
			return
		}
		checkCleanPath(t, string(raw), p)
		rel := string(p.Rel)
		if !strings.HasPrefix(string(raw), "/") && len(raw) > 0 {
			t.Fatalf("CleanPath(%q) accepted a path without a leading slash", raw)
		}
		// What path.Clean makes of the decoded path, unless the path
		// climbed (refused here, clamped there).
		if path.Clean("/"+rel) != "/"+rel && rel != "" {
			t.Fatalf("CleanPath(%q) = %q, not clean", raw, rel)
		}
		if len(raw) > 0 && !bytes.ContainsRune(raw, '%') {
			if want := strings.TrimPrefix(path.Clean(string(raw)), "/"); rel != want {
				t.Fatalf("CleanPath(%q) = %q; path.Clean gives %q", raw, rel, want)
			}
		}
		hidden := strings.HasPrefix(rel, ".") || strings.Contains(rel, "/.")
		if hidden != p.Hidden {
			t.Fatalf("CleanPath(%q) = %q, Hidden %v", raw, rel, p.Hidden)
		}
		// Encoding each segment again and cleaning gives the same path.
		var again []byte
		for _, seg := range strings.Split(rel, "/") {
			again = appendPathEscaped(append(again, '/'), seg)
		}
		if p.Dir {
			again = append(again, '/')
		}
		p2, err := CleanPath(nil, again)
		if err != nil || string(p2.Rel) != rel || p2.Dir != p.Dir || p2.Hidden != p.Hidden {
			t.Fatalf("CleanPath(%q) = %+v; re-encoded %q gives %+v, %v", raw, p, again, p2, err)
		}
	})
}
