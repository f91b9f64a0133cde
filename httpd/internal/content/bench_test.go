package content

import (
	"testing"
	"time"
)

func BenchmarkParseRangeSingle(b *testing.B) {
	var buf [DefaultMaxRanges]Range
	h := []byte("bytes=1048576-2097151")
	for b.Loop() {
		ParseRange(buf[:0], h, 1<<30, nil)
	}
}

func BenchmarkParseRangeMulti(b *testing.B) {
	var buf [DefaultMaxRanges]Range
	h := []byte("bytes=900-999, 0-99, 200-299, 150-250, -100, 500-")
	for b.Loop() {
		ParseRange(buf[:0], h, 1<<20, nil)
	}
}

func BenchmarkEvaluate(b *testing.B) {
	cond := Conditions{
		Method:          []byte("GET"),
		IfNoneMatch:     []byte(`"6543210f.1a-3e8-1234"`),
		IfModifiedSince: []byte("Sun, 06 Nov 1994 08:49:37 GMT"),
	}
	meta := Meta{ETag: []byte(`"6543210f.1a-3e8-1234"`), ModTime: time.Unix(784111777, 0)}
	for b.Loop() {
		Evaluate(cond, meta)
	}
}

func BenchmarkParseHTTPDate(b *testing.B) {
	v := []byte("Sun, 06 Nov 1994 08:49:37 GMT")
	for b.Loop() {
		ParseHTTPDate(v)
	}
}

func BenchmarkAppendHTTPDate(b *testing.B) {
	buf := make([]byte, 0, 64)
	t := time.Unix(784111777, 0)
	for b.Loop() {
		AppendHTTPDate(buf[:0], t)
	}
}

func BenchmarkAppendETag(b *testing.B) {
	buf := make([]byte, 0, 64)
	st := Stat{Ino: 1234567, Size: 98765, ModTime: time.Unix(1700000000, 123456789)}
	for b.Loop() {
		AppendETag(buf[:0], st, Identity)
	}
}

func BenchmarkTypeByName(b *testing.B) {
	name := []byte("assets/js/app.min.JS")
	for b.Loop() {
		TypeByName(name)
	}
}

func BenchmarkNegotiate(b *testing.B) {
	ae := []byte("gzip, deflate, br, zstd")
	avail := EncodingSet(0).Add(Gzip).Add(Brotli)
	for b.Loop() {
		Negotiate(ae, avail)
	}
}

func BenchmarkCleanPath(b *testing.B) {
	buf := make([]byte, 0, 256)
	raw := []byte("/assets/images/2024/photo%20gallery/IMG_0001.jpg")
	for b.Loop() {
		CleanPath(buf[:0], raw)
	}
}

func BenchmarkMultipartBuild(b *testing.B) {
	var p MultipartPlan
	ranges := []Range{{0, 100}, {1000, 100}, {5000, 100}}
	var bd Boundary
	for b.Loop() {
		p.Build(ranges, 1<<20, "application/pdf", bd)
	}
}
