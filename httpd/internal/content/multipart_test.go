package content

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"strings"
	"testing"
)

// render concatenates a plan's segments, reading file ranges from file.
func render(p *MultipartPlan, file []byte) []byte {
	var b []byte
	for _, s := range p.Segments {
		if s.Data != nil {
			b = append(b, s.Data...)
		} else {
			b = append(b, file[s.File.Start:s.File.End()]...)
		}
	}
	return b
}

func TestNewBoundary(t *testing.T) {
	b1 := NewBoundary(rand.NewPCG(1, 2))
	b2 := NewBoundary(rand.NewPCG(1, 2))
	b3 := NewBoundary(rand.NewPCG(1, 3))
	if b1 != b2 || b1 == b3 {
		t.Fatalf("boundaries not deterministic per source: %s %s %s", b1[:], b2[:], b3[:])
	}
	for _, c := range b1 {
		if !strings.ContainsRune(hexDigits, rune(c)) {
			t.Fatalf("boundary %s has a non-hex byte", b1[:])
		}
	}
	src := rand.NewChaCha8([32]byte{})
	if first, second := NewBoundary(src), NewBoundary(src); first == second {
		t.Fatal("two draws from one source are equal")
	}
}

func TestMultipartPlan(t *testing.T) {
	file := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	size := int64(len(file))
	b := NewBoundary(rand.NewPCG(7, 7))
	ranges := []Range{{0, 3}, {10, 5}, {35, 1}}
	var p MultipartPlan
	if !p.Build(ranges, size, "text/plain; charset=utf-8", b) {
		t.Fatal("Build failed")
	}
	bs := string(b[:])
	if string(p.ContentType) != "multipart/byteranges; boundary="+bs {
		t.Fatalf("ContentType = %q", p.ContentType)
	}
	want := "--" + bs + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-2/36\r\n\r\n012" +
		"\r\n--" + bs + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-14/36\r\n\r\nabcde" +
		"\r\n--" + bs + "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 35-35/36\r\n\r\nz" +
		"\r\n--" + bs + "--\r\n"
	body := render(&p, file)
	if string(body) != want {
		t.Fatalf("body:\n%q\nwant\n%q", body, want)
	}
	if p.Length != int64(len(body)) {
		t.Fatalf("Length = %d, body has %d", p.Length, len(body))
	}
	if len(p.Segments) != 2*len(ranges)+1 {
		t.Fatalf("%d segments", len(p.Segments))
	}
	for i, s := range p.Segments {
		if (i%2 == 0) != (s.Data != nil) || s.Data != nil && len(s.Data) == 0 {
			t.Fatalf("segment %d: %+v", i, s)
		}
		if i%2 == 1 && s.File != ranges[i/2] {
			t.Fatalf("segment %d: %+v", i, s)
		}
	}

	// The body parses as multipart with the standard library's reader.
	_, params, err := mime.ParseMediaType(string(p.ContentType))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			if i != len(ranges) {
				t.Fatalf("%d parts", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(part)
		r := ranges[i]
		if string(data) != string(file[r.Start:r.End()]) ||
			part.Header.Get("Content-Range") != string(AppendContentRange(nil, r, size)) {
			t.Fatalf("part %d: %q %v", i, data, part.Header)
		}
	}

	// Reuse: a second, smaller plan from the same value, no type.
	if !p.Build([]Range{{1, 1}}, size, "", b) {
		t.Fatal("second Build failed")
	}
	want = "--" + bs + "\r\nContent-Range: bytes 1-1/36\r\n\r\n1\r\n--" + bs + "--\r\n"
	if got := string(render(&p, file)); got != want || p.Length != int64(len(want)) {
		t.Fatalf("second body %q (Length %d)", got, p.Length)
	}
}

func TestMultipartPlanRefuses(t *testing.T) {
	var b Boundary
	for _, tt := range []struct {
		name   string
		ranges []Range
		size   int64
		ct     string
	}{
		{"no ranges", nil, 10, "text/plain"},
		{"empty range", []Range{{0, 0}}, 10, "text/plain"},
		{"negative start", []Range{{-1, 2}}, 10, "text/plain"},
		{"past end", []Range{{5, 6}}, 10, "text/plain"},
		{"overflowing end", []Range{{5, math.MaxInt64}}, 10, "text/plain"},
		{"CRLF in type", []Range{{0, 1}}, 10, "text/plain\r\nX-Evil: 1"},
		{"overflowing total", []Range{{0, math.MaxInt64}, {0, math.MaxInt64}}, math.MaxInt64, ""},
		{"overflow by headers", []Range{{0, math.MaxInt64 - 10}}, math.MaxInt64, ""},
	} {
		p := MultipartPlan{}
		p.Build([]Range{{0, 1}}, 10, "", b)
		if p.Build(tt.ranges, tt.size, tt.ct, b) || len(p.Segments) != 0 || p.Length != 0 || p.ContentType != nil {
			t.Errorf("%s: Build succeeded or left state: %+v", tt.name, p)
		}
	}
}

func TestMultipartPlanAllocs(t *testing.T) {
	b := NewBoundary(rand.NewPCG(1, 1))
	ranges := []Range{{0, 10}, {20, 10}, {40, 10}}
	var p MultipartPlan
	p.Build(ranges, 100, "text/html; charset=utf-8", b)
	if n := testing.AllocsPerRun(100, func() {
		p.Build(ranges, 100, "text/html; charset=utf-8", b)
	}); n != 0 {
		t.Errorf("Build on a reused plan: %v allocs", n)
	}
}
