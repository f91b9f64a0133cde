package content

import (
	"math"
	"math/rand/v2"
)

// Boundary is the delimiter of one multipart/byteranges body: 32 lower-case
// hex digits (128 bits).
type Boundary [32]byte

// NewBoundary draws a boundary from src. It must be fresh for each response
// and unpredictable: someone who can place content in a served file and
// guess the boundary can make a client see forged parts. In production pass
// a rand.ChaCha8 seeded from crypto/rand (one per loop, no locking); tests
// pass a seeded source to get reproducible bodies.
func NewBoundary(src rand.Source) Boundary {
	var b Boundary
	for half := range 2 {
		v := src.Uint64()
		for i := range 16 {
			b[half*16+i] = hexDigits[v&0xf]
			v >>= 4
		}
	}
	return b
}

// Segment is one piece of a multipart body, sent in order: either bytes
// from memory (Data, never empty) or, when Data is nil, the bytes of the
// file in File (never empty), which the server can splice.
type Segment struct {
	Data []byte
	File Range
}

// MultipartPlan describes a multipart/byteranges response body (RFC 9110
// §14.6) before any of it is sent: the Content-Type and Content-Length
// header values, then the body as segments. Reuse one plan per connection:
// after the first responses, Build allocates nothing.
//
// The body is, for ranges r1..rn:
//
//	--B CRLF [Content-Type: T CRLF] Content-Range: bytes a-b/size CRLF CRLF <r1>
//	CRLF --B CRLF ... <rn>
//	CRLF --B-- CRLF
//
// (the CRLF before each delimiter belongs to the delimiter, RFC 2046 §5.1.1).
type MultipartPlan struct {
	// ContentType is the response's Content-Type value,
	// "multipart/byteranges; boundary=B".
	ContentType []byte
	// Length is the response's Content-Length: the sum of the segments.
	Length int64
	// Segments are the body in order: 2*len(ranges)+1 of them, alternating
	// part headers and file ranges, ending with the closing delimiter.
	Segments []Segment

	buf  []byte // ContentType and every Data segment point into it
	offs []int  // scratch for Build
}

// Build fills p for ranges of a representation of size bytes whose own
// type is partType ("" omits Content-Type from the parts). The ranges are
// used as given, in order (ParseRange's result when it answers 206).
// Build reports false, and leaves p empty, if there are no ranges, if a
// range is empty or not within [0, size), if partType holds a control byte
// (it would end the part header early), or if the body length would
// overflow an int64.
func (p *MultipartPlan) Build(ranges []Range, size int64, partType string, b Boundary) bool {
	p.ContentType, p.Length, p.Segments = nil, 0, p.Segments[:0]
	if len(ranges) == 0 {
		return false
	}
	for _, r := range ranges {
		if r.Start < 0 || r.Length <= 0 || r.Start > size-r.Length {
			return false
		}
	}
	for i := range len(partType) {
		if c := partType[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}

	// Lay the bytes out first and slice them after: appending may move buf.
	// offs holds where each Data segment starts in buf, then where the last
	// one ends.
	buf := append(p.buf[:0], "multipart/byteranges; boundary="...)
	buf = append(buf, b[:]...)
	ctEnd := len(buf)
	offs := p.offs[:0]
	var total int64
	for i, r := range ranges {
		offs = append(offs, len(buf))
		if i > 0 {
			buf = append(buf, "\r\n"...)
		}
		buf = append(buf, "--"...)
		buf = append(buf, b[:]...)
		buf = append(buf, "\r\n"...)
		if partType != "" {
			buf = append(buf, "Content-Type: "...)
			buf = append(buf, partType...)
			buf = append(buf, "\r\n"...)
		}
		buf = append(buf, "Content-Range: "...)
		buf = AppendContentRange(buf, r, size)
		buf = append(buf, "\r\n\r\n"...)
		if total > math.MaxInt64-r.Length {
			return false // only for overlapping ranges: ParseRange's cannot
		}
		total += r.Length
	}
	offs = append(offs, len(buf))
	buf = append(buf, "\r\n--"...)
	buf = append(buf, b[:]...)
	buf = append(buf, "--\r\n"...)
	offs = append(offs, len(buf))
	p.buf, p.offs = buf, offs // keep the capacity even on failure
	if int64(len(buf)-ctEnd) > math.MaxInt64-total {
		return false
	}

	for i, r := range ranges {
		p.Segments = append(p.Segments, Segment{Data: buf[offs[i]:offs[i+1]:offs[i+1]]}, Segment{File: r})
	}
	n := len(ranges)
	p.Segments = append(p.Segments, Segment{Data: buf[offs[n]:offs[n+1]:offs[n+1]]})
	p.ContentType = buf[:ctEnd:ctEnd]
	p.Length = total + int64(len(buf)-ctEnd)
	return true
}
