package content

// Encoding is a content coding the server can send (RFC 9110 §8.4.1).
type Encoding uint8

// The content codings, from no coding to the ones sidecars and the offload
// compressors provide.
const (
	Identity Encoding = iota
	Gzip
	Brotli
	Zstd
)

// String returns the coding's token, as sent in Content-Encoding ("gzip",
// "br", "zstd"; "identity", which is never sent).
func (e Encoding) String() string {
	switch e {
	case Identity:
		return "identity"
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	case Zstd:
		return "zstd"
	}
	return "invalid"
}

// Suffix returns the file name suffix of the coding's precompressed sidecar
// (".gz", ".br", ".zst"; "" for identity), as gzip, brotli and zstd name
// their output.
func (e Encoding) Suffix() string {
	switch e {
	case Gzip:
		return ".gz"
	case Brotli:
		return ".br"
	case Zstd:
		return ".zst"
	}
	return ""
}

// valid reports whether e is one of the constants.
func (e Encoding) valid() bool { return e <= Zstd }

// EncodingSet is a set of encodings: those a resource is available in
// (sidecars found, or codings the server would compress into on the fly).
// The zero value is the empty set.
type EncodingSet uint8

// Add returns s with e added.
func (s EncodingSet) Add(e Encoding) EncodingSet {
	if !e.valid() {
		return s
	}
	return s | 1<<e
}

// Has reports whether e is in s.
func (s EncodingSet) Has(e Encoding) bool { return e.valid() && s&(1<<e) != 0 }

// serverPreference is the order in which codings win ties in the client's
// q-values: brotli compresses text best, zstd decompresses fastest, gzip is
// understood everywhere; identity comes last.
var serverPreference = [...]Encoding{Brotli, Zstd, Gzip}

// Negotiate picks the coding to send from those available, given the
// request's Accept-Encoding value (RFC 9110 §12.5.3). Identity is always
// available (the file itself), whether or not available has it.
//
// The client's q-values decide; ties go to br, then zstd, then gzip, then
// identity. Coding names are case-insensitive and "x-gzip" is gzip (§8.4.1.3).
// A coding the header does not name gets the q of "*" if present, else is
// not acceptable, except identity, which stays acceptable at the lowest
// preference unless "identity;q=0", or "*;q=0" without an identity entry,
// excludes it. A coding named twice keeps its first q. Unknown codings are
// skipped. An empty value (or no field) gets identity: the client did not
// say it can decode anything, and tools such as curl send no field. A
// malformed value (a bad token, a parameter other than q, a bad qvalue) is
// treated as no field.
//
// ok is false when nothing is acceptable, not even identity: the caller
// may answer 406 (Not Acceptable) or, as §12.5.3 also allows, ignore the
// field and send identity, which Negotiate then returns.
func Negotiate(acceptEncoding []byte, available EncodingSet) (enc Encoding, ok bool) {
	q := [Zstd + 1]int{-1, -1, -1, -1} // per Encoding; -1: not named
	star := -1
	rest, more := acceptEncoding, true
	for more {
		var elem []byte
		elem, rest, more = nextElement(rest)
		if len(elem) == 0 {
			continue
		}
		name, weight, good := parseCoding(elem)
		if !good {
			return Identity, true
		}
		slot := &star
		switch {
		case equalFold(name, "*"):
		case equalFold(name, "gzip"), equalFold(name, "x-gzip"):
			slot = &q[Gzip]
		case equalFold(name, "br"):
			slot = &q[Brotli]
		case equalFold(name, "zstd"):
			slot = &q[Zstd]
		case equalFold(name, "identity"):
			slot = &q[Identity]
		default:
			continue
		}
		if *slot < 0 {
			*slot = weight
		}
	}

	best, bestQ := Identity, 0
	for _, e := range serverPreference {
		if !available.Has(e) {
			continue
		}
		w := q[e]
		if w < 0 {
			w = max(star, 0)
		}
		if w > bestQ {
			best, bestQ = e, w
		}
	}
	idQ := q[Identity]
	if idQ < 0 {
		idQ = star
		if idQ < 0 {
			idQ = 1 // acceptable by default, below any named coding
		}
	}
	if bestQ > 0 && bestQ >= idQ {
		return best, true
	}
	return Identity, idQ > 0
}

// parseCoding parses one Accept-Encoding member: a token with an optional
// weight (OWS ";" OWS "q=" qvalue), the q scaled to 0-1000.
func parseCoding(elem []byte) (name []byte, q int, ok bool) {
	i := 0
	for i < len(elem) && tchar[elem[i]] {
		i++
	}
	if i == 0 {
		return nil, 0, false
	}
	name, rest := elem[:i], elem[i:]
	for len(rest) > 0 && isOWS(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) == 0 {
		return name, 1000, true
	}
	if rest[0] != ';' {
		return nil, 0, false
	}
	rest = rest[1:]
	for len(rest) > 0 && isOWS(rest[0]) {
		rest = rest[1:]
	}
	if len(rest) < 2 || lower(rest[0]) != 'q' || rest[1] != '=' {
		return nil, 0, false
	}
	q, ok = parseQValue(rest[2:])
	return name, q, ok
}

// parseQValue parses a qvalue (RFC 9110 §12.4.2): "0" [ "." 0*3DIGIT ] or
// "1" [ "." 0*3"0" ], scaled to 0-1000.
func parseQValue(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 5 || b[0] != '0' && b[0] != '1' {
		return 0, false
	}
	q := int(b[0]-'0') * 1000
	if len(b) == 1 {
		return q, true
	}
	if b[1] != '.' {
		return 0, false
	}
	scale := 100
	for _, c := range b[2:] {
		if c < '0' || c > '9' || b[0] == '1' && c != '0' {
			return 0, false
		}
		q += int(c-'0') * scale
		scale /= 10
	}
	return q, true
}

// VaryAcceptEncoding reports whether responses for a resource available in
// the given codings must carry "Vary: Accept-Encoding": whenever any coding
// besides identity is available, since another Accept-Encoding could then
// have selected another representation (RFC 9110 §12.5.5). It applies to
// every response for the resource, whichever coding was chosen, including
// identity, 206, 304 (§15.4.5) and 406, so that caches never hand one
// client's coding to another.
func VaryAcceptEncoding(available EncodingSet) bool {
	return available.Has(Gzip) || available.Has(Brotli) || available.Has(Zstd)
}
