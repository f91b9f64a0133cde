package content

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestParseRange(t *testing.T) {
	const big = "99999999999999999999999999"
	many := "bytes=" + strings.Repeat("0-0,", DefaultMaxRanges-1) + "0-0"
	tooMany := many + ",0-0"
	tests := []struct {
		header string
		size   int64
		want   []Range
		status int
	}{
		// RFC 9110 §14.1.2 examples, for a 10000-byte representation.
		{"bytes=0-499", 10000, []Range{{0, 500}}, 206},
		{"bytes=500-999", 10000, []Range{{500, 500}}, 206},
		{"bytes=-500", 10000, []Range{{9500, 500}}, 206},
		{"bytes=9500-", 10000, []Range{{9500, 500}}, 206},
		{"bytes=0-0,-1", 10000, []Range{{0, 1}, {9999, 1}}, 206},
		{"bytes=500-600,601-999", 10000, []Range{{500, 500}}, 206}, // adjacent: coalesced
		{"bytes=500-700,601-999", 10000, []Range{{500, 500}}, 206}, // overlapping: coalesced

		// Clamping to the representation.
		{"bytes=0-", 10, []Range{{0, 10}}, 206},
		{"bytes=5-100", 10, []Range{{5, 5}}, 206},
		{"bytes=-100", 10, []Range{{0, 10}}, 206},
		{"bytes=9-9", 10, []Range{{9, 1}}, 206},
		{"bytes=0-" + big, 10, []Range{{0, 10}}, 206},
		{"bytes=-" + big, 10, []Range{{0, 10}}, 206},

		// Unsatisfiable.
		{"bytes=10-", 10, nil, 416},
		{"bytes=10-20", 10, nil, 416},
		{"bytes=-0", 10, nil, 416},
		{"bytes=" + big + "-", 10, nil, 416},
		{"bytes=20-30,40-", 10, nil, 416},
		{"bytes=20-30,2-3", 10, []Range{{2, 2}}, 206}, // unsatisfiable dropped

		// Empty representation: Range ignored.
		{"bytes=0-", 0, nil, 200},
		{"bytes=-1", 0, nil, 200},
		{"bytes=0-0", 0, nil, 200},
		{"bytes=0-", -1, nil, 200},

		// Ignored: syntax, units.
		{"", 10, nil, 200},
		{"   ", 10, nil, 200},
		{"bytes=", 10, nil, 200},
		{"bytes=,", 10, nil, 200},
		{"bytes= , ,", 10, nil, 200},
		{"bytes", 10, nil, 200},
		{"=0-1", 10, nil, 200},
		{"items=0-1", 10, nil, 200},
		{"bytes =0-1", 10, nil, 200},
		{"bytes=0", 10, nil, 200},
		{"bytes=-", 10, nil, 200},
		{"bytes=--1", 10, nil, 200},
		{"bytes=1-0", 10, nil, 200}, // last < first: invalid (§14.1.1)
		{"bytes=0-1,5-2", 10, nil, 200},
		{"bytes=0 -1", 10, nil, 200},
		{"bytes=0- 1", 10, nil, 200},
		{"bytes=0-1x", 10, nil, 200},
		{"bytes=+1-2", 10, nil, 200},
		{"bytes=0x1-2", 10, nil, 200},
		{"bytes=0-1;", 10, nil, 200},
		{"bytes=0-1,bogus", 10, nil, 200},
		{"bytes=0-1,20-", 10, []Range{{0, 2}}, 206},
		{"bytes=0-1\x00", 10, nil, 200},

		// Case and whitespace.
		{"Bytes=0-1", 10, []Range{{0, 2}}, 206},
		{"BYTES=0-1", 10, []Range{{0, 2}}, 206},
		{" bytes=0-1 ", 10, []Range{{0, 2}}, 206},
		{"bytes= 0-1", 10, []Range{{0, 2}}, 206},
		{"bytes=0-1 ,\t3-4", 10, []Range{{0, 2}, {3, 2}}, 206},
		{"bytes=0-1,,3-4,", 10, []Range{{0, 2}, {3, 2}}, 206},
		{"bytes=0001-0002", 10, []Range{{1, 2}}, 206},

		// Coalescing and ordering.
		{"bytes=5-6,0-1", 10, []Range{{0, 2}, {5, 2}}, 206},
		{"bytes=0-1,2-3", 10, []Range{{0, 4}}, 206},
		{"bytes=0-1,3-4", 10, []Range{{0, 2}, {3, 2}}, 206},
		{"bytes=0-9,2-3", 10, []Range{{0, 10}}, 206},
		{"bytes=2-3,0-9", 10, []Range{{0, 10}}, 206},
		{"bytes=0-0,0-0,0-0", 10, []Range{{0, 1}}, 206},
		{"bytes=-1,0-", 10, []Range{{0, 10}}, 206},
		{"bytes=8-,1-2,4-5,0-0", 10, []Range{{0, 3}, {4, 2}, {8, 2}}, 206},

		// Limits.
		{many, 10, []Range{{0, 1}}, 206},
		{tooMany, 10, nil, 200},
	}
	for _, tt := range tests {
		got, status := ParseRange(nil, []byte(tt.header), tt.size, nil)
		if status != tt.status || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseRange(%q, %d) = %v, %d; want %v, %d", tt.header, tt.size, got, status, tt.want, tt.status)
		}
	}
}

func TestParseRangeLimits(t *testing.T) {
	lim := &RangeLimits{MaxRanges: 2}
	if got, status := ParseRange(nil, []byte("bytes=0-0,2-2"), 10, lim); status != 206 || len(got) != 2 {
		t.Errorf("2 ranges at limit 2: %v, %d", got, status)
	}
	// Counted before coalescing: three overlapping specs are over the limit.
	if got, status := ParseRange(nil, []byte("bytes=0-0,0-0,0-0"), 10, lim); status != 200 || len(got) != 0 {
		t.Errorf("3 ranges at limit 2: %v, %d", got, status)
	}
	// Empty elements do not count.
	if _, status := ParseRange(nil, []byte("bytes=0-0,,,,2-2"), 10, lim); status != 206 {
		t.Errorf("empty elements counted: %d", status)
	}
}

func TestParseRangeAppends(t *testing.T) {
	dst := []Range{{100, 1}}
	got, status := ParseRange(dst, []byte("bytes=3-4,0-1"), 10, nil)
	if status != 206 || fmt.Sprint(got) != "[{100 1} {0 2} {3 2}]" {
		t.Errorf("got %v, %d", got, status)
	}
	got, status = ParseRange(dst, []byte("bytes=0-1,x"), 10, nil)
	if status != 200 || len(got) != 1 {
		t.Errorf("syntax error after a range: %v, %d", got, status)
	}
	got, status = ParseRange(dst, []byte("bytes=20-"), 10, nil)
	if status != 416 || len(got) != 1 {
		t.Errorf("unsatisfiable: %v, %d", got, status)
	}
}

func TestParseRangeHuge(t *testing.T) {
	const size = math.MaxInt64
	got, status := ParseRange(nil, []byte("bytes=9223372036854775806-,-2"), size, nil)
	if status != 206 || fmt.Sprint(got) != "[{9223372036854775805 2}]" {
		t.Errorf("got %v, %d", got, status)
	}
	got, status = ParseRange(nil, []byte("bytes=0-"), size, nil)
	if status != 206 || got[0] != (Range{0, size}) {
		t.Errorf("got %v, %d", got, status)
	}
}

func TestAppendContentRange(t *testing.T) {
	for _, tt := range []struct {
		r    Range
		size int64
		want string
	}{
		{Range{0, 500}, 10000, "bytes 0-499/10000"},
		{Range{9999, 1}, 10000, "bytes 9999-9999/10000"},
		{Range{0, math.MaxInt64}, math.MaxInt64, "bytes 0-9223372036854775806/9223372036854775807"},
	} {
		if got := string(AppendContentRange([]byte("x"), tt.r, tt.size)); got != "x"+tt.want {
			t.Errorf("AppendContentRange(%v, %d) = %q", tt.r, tt.size, got)
		}
	}
	if got := string(AppendUnsatisfiedRange(nil, 1234)); got != "bytes */1234" {
		t.Errorf("AppendUnsatisfiedRange = %q", got)
	}
}
