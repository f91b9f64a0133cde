package content

import "bytes"

// Entity-tag parsing and comparison (RFC 9110 §8.8.3).

// parseETag reads the entity-tag at the start of b: whether it is weak, the
// opaque-tag with its quotes, and the bytes after it.
func parseETag(b []byte) (weak bool, opaque, rest []byte, ok bool) {
	if len(b) >= 2 && b[0] == 'W' && b[1] == '/' {
		weak, b = true, b[2:]
	}
	if len(b) < 2 || b[0] != '"' {
		return false, nil, nil, false
	}
	for i := 1; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return weak, b[:i+1], b[i+1:], true
		case c == 0x21 || 0x23 <= c && c != 0x7f:
			// etagc: "!" / %x23-7E / obs-text
		default:
			return false, nil, nil, false
		}
	}
	return false, nil, nil, false
}

// tag is a parsed entity-tag; an empty opaque means none (or an invalid one)
// and matches nothing.
type tag struct {
	weak   bool
	opaque []byte
}

// parseOwnETag parses the server's own tag; anything but exactly one
// entity-tag gives the empty tag.
func parseOwnETag(b []byte) tag {
	weak, opaque, rest, ok := parseETag(trimOWS(b))
	if !ok || len(rest) != 0 {
		return tag{}
	}
	return tag{weak, opaque}
}

// matches compares t with a received tag: strong comparison (both strong
// and equal) or weak comparison (equal opaque-tags).
func (t tag) matches(weak bool, opaque []byte, strong bool) bool {
	if len(t.opaque) == 0 || !bytes.Equal(t.opaque, opaque) {
		return false
	}
	return !strong || !t.weak && !weak
}

// isStar reports whether a precondition's value is "*".
func isStar(v []byte) bool {
	v = trimOWS(v)
	return len(v) == 1 && v[0] == '*'
}

// listMatches reports whether a member of the entity-tag list v matches t.
// Members are read in order and the first match wins; reading stops at the
// first malformed member (including a "*" inside a list, which the grammar
// allows only alone), so a malformed tail never matches. Empty members are
// skipped (RFC 9110 §5.6.1).
func listMatches(v []byte, t tag, strong bool) bool {
	for {
		for len(v) > 0 && (isOWS(v[0]) || v[0] == ',') {
			v = v[1:]
		}
		if len(v) == 0 {
			return false
		}
		weak, opaque, rest, ok := parseETag(v)
		if !ok {
			return false
		}
		if t.matches(weak, opaque, strong) {
			return true
		}
		for len(rest) > 0 && isOWS(rest[0]) {
			rest = rest[1:]
		}
		if len(rest) > 0 && rest[0] != ',' {
			return false
		}
		v = rest
	}
}
