package h1

import (
	"encoding/binary"
	"math/bits"
)

// Character classes as 256-entry tables: one indexed load per byte in the hot
// loops instead of a chain of comparisons.

// tchar: RFC 9110 §5.6.2 token characters.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// fieldValueChar: RFC 9110 §5.5 field-vchar plus SP and HTAB (the characters
// allowed anywhere inside a field value; OWS is trimmed separately).
var fieldValueChar = func() (t [256]bool) {
	for c := 0x21; c <= 0xff; c++ {
		t[c] = c != 0x7f
	}
	t[' '], t['\t'] = true, true
	return t
}()

// Target byte classes. targetPlain: a byte that needs no further look;
// '%' and '?' need one; 0 ends or rejects the target. Every printable ASCII
// byte except '#' is accepted: RFC 3986 excludes a few more ("<>\^`{|}),
// but browsers send them unescaped in paths and queries, and they cannot
// change how the request is framed or routed.
const (
	targetBad     = 0
	targetPlain   = 1
	targetSpecial = 2
)

var targetClass = func() (t [256]uint8) {
	for c := 0x21; c <= 0x7e; c++ {
		t[c] = targetPlain
	}
	t['#'] = targetBad
	t['%'], t['?'] = targetSpecial, targetSpecial
	return t
}()

// regNameChar: RFC 3986 unreserved and sub-delims; '%' (pct-encoded) is
// checked by the caller.
var regNameChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=" {
		t[c] = true
	}
	return t
}()

// schemeChar: RFC 3986 §3.1 characters after the first letter of a scheme.
var schemeChar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	t['+'], t['-'], t['.'] = true, true, true
	return t
}()

// qdtext: RFC 9110 §5.6.4 characters allowed unescaped in a quoted-string.
var qdtext = func() (t [256]bool) {
	for c := 0x20; c <= 0xff; c++ {
		t[c] = c != '"' && c != '\\' && c != 0x7f
	}
	t['\t'] = true
	return t
}()

// hexVal maps a hex digit to its value and every other byte to -1.
var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

func isDigit(c byte) bool { return c-'0' < 10 }

func isAlpha(c byte) bool { return (c|0x20)-'a' < 26 }

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// ctlOrDel8 returns a mask with bit 7 of byte k set when b[k] (k < 8) is a
// control byte (< 0x20) or DEL (0x7f); bytes >= 0x80 (obs-text) are not
// flagged. Only the lowest flagged byte is exact (a borrow can flag bytes
// after it), which is all the caller uses. It lets the field-value scan
// move 8 bytes per step and jump straight to the CR, or to an HTAB.
func ctlOrDel8(b []byte) uint64 {
	x := binary.LittleEndian.Uint64(b)
	lt := (x - 0x20*ones) &^ x & highs // bytes < 0x20
	y := x ^ 0x7f*ones
	del := (y - ones) &^ y & highs // bytes == 0x7f
	return lt | del
}

// equalFold reports whether b equals lower, ignoring ASCII case in b.
// lower must be lower-case letters, digits and '-', and b must hold no
// control bytes other than HTAB (both hold for validated tokens and field
// values): then OR-ing 0x20 into b's bytes lower-cases letters and cannot
// turn any other byte of b into a byte of lower.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// equalFoldBoth reports whether a and b are equal ignoring ASCII case.
func equalFoldBoth(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x-'A' < 26 {
			x |= 0x20
		}
		if y-'A' < 26 {
			y |= 0x20
		}
		if x != y {
			return false
		}
	}
	return true
}

// trimOWS removes leading and trailing SP/HTAB.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && isOWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isOWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextListElem splits a comma-separated list (RFC 9110 §5.6.1): it returns
// the first element with OWS trimmed (possibly empty) and the rest after the
// comma. ok is false once list is exhausted.
func nextListElem(list []byte) (elem, rest []byte, ok bool) {
	if list == nil {
		return nil, nil, false
	}
	for i := 0; i < len(list); i++ {
		if list[i] == ',' {
			return trimOWS(list[:i]), list[i+1:], true
		}
	}
	return trimOWS(list), nil, true
}

// firstFlagged returns the index of the lowest byte flagged in a mask from
// ctlOrDel8.
func firstFlagged(m uint64) int { return bits.TrailingZeros64(m) >> 3 }
