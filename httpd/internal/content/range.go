package content

import (
	"math"
	"slices"
	"strconv"
)

// Range is a byte range of a representation: Length bytes from offset
// Start. ParseRange returns only ranges with Length > 0 inside the
// representation.
type Range struct {
	Start  int64
	Length int64
}

// End is the offset just past the range.
func (r Range) End() int64 { return r.Start + r.Length }

// DefaultMaxRanges is the default RangeLimits.MaxRanges. Browsers and media
// players send one range; download managers and PDF readers a handful. 32
// leaves room for those while bounding the parts (and so the SQEs and part
// headers) one request can cost.
const DefaultMaxRanges = 32

// RangeLimits bounds the work a Range header can cause. A nil *RangeLimits,
// or a zero field, means the default.
type RangeLimits struct {
	// MaxRanges is the most range-specs a Range header may list, counted
	// before coalescing (like nginx's max_ranges and Apache's MaxRanges).
	// A header with more is ignored and the whole representation is
	// served with 200, as both of those servers do: refusing it with 416
	// would tell the client that its ranges do not exist, which is false.
	// Default DefaultMaxRanges.
	MaxRanges int
}

// maxRanges returns the effective limit.
func (l *RangeLimits) maxRanges() int {
	if l == nil || l.MaxRanges <= 0 {
		return DefaultMaxRanges
	}
	return l.MaxRanges
}

// ParseRange interprets a Range header value (RFC 9110 §14.2) for a
// representation of size bytes. It appends the selected ranges to dst and
// returns the extended slice and the status to answer with:
//
//   - 200: serve the whole representation; nothing was appended. This is the
//     answer for an empty header, a unit other than "bytes", any syntax
//     error anywhere in the header (§14.2 lets a server ignore Range, and
//     ignoring is safer than guessing what a broken client meant), more
//     range-specs than lim allows, and any Range on an empty representation
//     (every range of 0 bytes is unsatisfiable, but clients such as media
//     players send "bytes=0-" on every request; a 416 for an empty file
//     would break them, so the file is served as a 200 instead).
//   - 206: at least one range was appended; serve those (one range: a
//     single-part 206 with AppendContentRange; more: a multipart/byteranges
//     body, see MultipartPlan).
//   - 416: every range-spec was valid but none overlaps the representation;
//     nothing was appended. Send Content-Range with AppendUnsatisfiedRange.
//
// Unsatisfiable specs next to satisfiable ones are dropped. The appended
// ranges are sorted by Start, within [0, size), and coalesced: ranges that
// overlap or touch become one (§14.2 allows it). So however a client orders
// or repeats its ranges, the response carries each byte at most once and
// reads the file front to back. This departs from §15.3.7.2's SHOULD to
// keep the client's order; each part's Content-Range still says where it
// belongs.
//
// Grammar: the unit is matched case-insensitively (§14.1: units are
// case-insensitive); OWS is allowed around the commas of the list and empty
// list elements are skipped (§5.6.1), but not inside a range-spec
// ("0 - 9" is a syntax error). A last-pos before its first-pos is a syntax
// error (§14.1.1). Numbers too large for an int64 saturate: they are valid
// syntax, so a huge first-pos is unsatisfiable, a huge last-pos or
// suffix-length reaches the end of the representation. A suffix-length of
// 0 is unsatisfiable (§14.1.1).
//
// With room in dst for MaxRanges more ranges (such as a
// [DefaultMaxRanges]Range array's [:0]), ParseRange never allocates.
func ParseRange(dst []Range, header []byte, size int64, lim *RangeLimits) ([]Range, int) {
	base := len(dst)
	h := trimOWS(header)
	if len(h) == 0 || size <= 0 {
		return dst, 200
	}
	eq := -1
	for i, c := range h {
		if c == '=' {
			eq = i
			break
		}
	}
	if eq < 0 || !equalFold(h[:eq], "bytes") {
		return dst, 200
	}
	limit := lim.maxRanges()
	specs := 0
	rest, more := h[eq+1:], true
	for more {
		var elem []byte
		elem, rest, more = nextElement(rest)
		if len(elem) == 0 {
			continue
		}
		if specs++; specs > limit {
			return dst[:base], 200
		}
		r, ok, valid := parseRangeSpec(elem, size)
		if !valid {
			return dst[:base], 200
		}
		if ok {
			dst = append(dst, r)
		}
	}
	switch {
	case specs == 0:
		return dst, 200 // "bytes=" or "bytes=,": range-set needs one spec
	case len(dst) == base:
		return dst, 416
	}
	return coalesce(dst, base), 206
}

// parseRangeSpec parses one range-spec. valid reports the syntax; ok that the
// range overlaps [0, size), in which case r is the part that does.
func parseRangeSpec(spec []byte, size int64) (r Range, ok, valid bool) {
	if spec[0] == '-' {
		n, i := parseDigits(spec[1:])
		if i == 0 || 1+i != len(spec) {
			return Range{}, false, false
		}
		if n == 0 {
			return Range{}, false, true
		}
		n = min(n, size)
		return Range{Start: size - n, Length: n}, true, true
	}
	first, i := parseDigits(spec)
	if i == 0 || i == len(spec) || spec[i] != '-' {
		return Range{}, false, false
	}
	last := int64(math.MaxInt64)
	if tail := spec[i+1:]; len(tail) > 0 {
		var j int
		last, j = parseDigits(tail)
		if j != len(tail) || last < first {
			return Range{}, false, false
		}
	}
	if first >= size {
		return Range{}, false, true
	}
	last = min(last, size-1)
	return Range{Start: first, Length: last - first + 1}, true, true
}

// parseDigits reads the leading decimal digits of b, saturating at
// math.MaxInt64, and returns the value and how many bytes it read.
func parseDigits(b []byte) (int64, int) {
	var n int64
	i := 0
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			n = math.MaxInt64
		} else {
			n = n*10 + d
		}
	}
	return n, i
}

// coalesce sorts rs[base:] by Start and merges ranges that overlap or touch,
// returning rs shortened to the merged ranges.
func coalesce(rs []Range, base int) []Range {
	tail := rs[base:]
	if len(tail) > 1 && !slices.IsSortedFunc(tail, cmpStart) {
		slices.SortFunc(tail, cmpStart)
	}
	out := base
	for _, r := range tail {
		if out > base && r.Start <= rs[out-1].End() {
			prev := &rs[out-1]
			prev.Length = max(prev.End(), r.End()) - prev.Start
			continue
		}
		rs[out] = r
		out++
	}
	return rs[:out]
}

func cmpStart(a, b Range) int {
	switch {
	case a.Start < b.Start:
		return -1
	case a.Start > b.Start:
		return 1
	}
	return 0
}

// AppendContentRange appends the Content-Range value for range r of a
// representation of size bytes: "bytes first-last/size" (RFC 9110 §14.4).
// It is for a single-part 206 and for each part of a multipart one.
func AppendContentRange(dst []byte, r Range, size int64) []byte {
	dst = append(dst, "bytes "...)
	dst = strconv.AppendInt(dst, r.Start, 10)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, r.End()-1, 10)
	dst = append(dst, '/')
	return strconv.AppendInt(dst, size, 10)
}

// AppendUnsatisfiedRange appends the Content-Range value a 416 response
// carries: "bytes */size" (RFC 9110 §14.4), so the client learns the size.
func AppendUnsatisfiedRange(dst []byte, size int64) []byte {
	dst = append(dst, "bytes */"...)
	return strconv.AppendInt(dst, size, 10)
}
