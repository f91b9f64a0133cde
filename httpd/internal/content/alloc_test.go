package content

import (
	"strconv"
	"testing"
	"time"
)

// The hot paths allocate nothing: they run on the event loop for every
// request. Measured with AllocsPerRun, which is exact, not timed.
func TestZeroAllocs(t *testing.T) {
	var rbuf [DefaultMaxRanges]Range
	single := []byte("bytes=100-199")
	multi := []byte("bytes=500-599, 0-99, -100, 50-150")
	descending := []byte("bytes=") // DefaultMaxRanges specs, last first
	for i := DefaultMaxRanges; i > 0; i-- {
		descending = strconv.AppendInt(descending, int64(i*20), 10)
		descending = strconv.AppendInt(append(descending, '-'), int64(i*20+5), 10)
		descending = append(descending, ',')
	}
	cond := Conditions{
		Method:            []byte("GET"),
		IfMatch:           []byte(`"x", "6543210f.1a-3e8-1234"`),
		IfNoneMatch:       []byte(`W/"a", "b", "c"`),
		IfModifiedSince:   []byte("Sun, 06 Nov 1994 08:49:37 GMT"),
		IfUnmodifiedSince: []byte("Sunday, 06-Nov-94 08:49:37 GMT"),
		IfRange:           []byte("Sun Nov  6 08:49:37 1994"),
		Range:             single,
	}
	if rs, status := ParseRange(nil, descending, 10000, nil); status != 206 || len(rs) != DefaultMaxRanges {
		t.Fatalf("descending: %d ranges, status %d", len(rs), status) // it must reach the sort
	}
	meta := Meta{ETag: []byte(`"6543210f.1a-3e8-1234"`), ModTime: time.Unix(784111777, 0)}
	st := Stat{Ino: 0x1234, Size: 1000, ModTime: time.Unix(0x6543210f, 0x1a)}
	buf := make([]byte, 0, 4096)
	tab := NewMIMETable()
	for _, tt := range []struct {
		name string
		f    func()
	}{
		{"ParseRange single", func() { ParseRange(rbuf[:0], single, 10000, nil) }},
		{"ParseRange multi", func() { ParseRange(rbuf[:0], multi, 10000, nil) }},
		{"ParseRange 32 descending", func() { ParseRange(rbuf[:0], descending, 10000, nil) }},
		{"AppendContentRange", func() { AppendContentRange(buf[:0], Range{1, 2}, 3) }},
		{"Evaluate", func() { Evaluate(cond, meta) }},
		{"ParseHTTPDate", func() { ParseHTTPDate(cond.IfModifiedSince) }},
		{"ParseHTTPDate RFC 850", func() { ParseHTTPDate(cond.IfUnmodifiedSince) }},
		{"ParseHTTPDate asctime", func() { ParseHTTPDate(cond.IfRange) }},
		{"TypeByName", func() { TypeByName([]byte("static/App.JS")) }},
		{"MIMETable.TypeByName", func() { tab.TypeByName([]byte("video.webm")) }},
		{"Compressible", func() { Compressible("Image/SVG+XML; charset=utf-8") }},
		{"Negotiate", func() { Negotiate([]byte("gzip, deflate, br;q=0.9, zstd;q=0.9, *;q=0.1"), 0xff) }},
		{"CleanPath", func() { CleanPath(buf[:0], []byte("/static/%C3%A9t%C3%A9/./a//b/../index.html")) }},
		{"CleanPath refused", func() { CleanPath(buf[:0], []byte("/a/%2e%2e/%2e%2e/etc")) }},
		{"AppendETag", func() { AppendETag(buf[:0], st, Brotli) }},
		{"AppendHTTPDate", func() { AppendHTTPDate(buf[:0], st.ModTime) }},
	} {
		if n := testing.AllocsPerRun(200, tt.f); n != 0 {
			t.Errorf("%s: %v allocs per run", tt.name, n)
		}
	}
}
