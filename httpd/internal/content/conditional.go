package content

import "time"

// Conditions are the request's method and precondition fields, as received
// (values may alias the request buffer). An empty value means the field is
// absent: an empty If-Match or If-None-Match list is treated as no field,
// as net/http does. A field sent on several lines must be passed as one
// value joined with commas (RFC 9110 §5.3).
type Conditions struct {
	Method            []byte
	IfMatch           []byte
	IfNoneMatch       []byte
	IfModifiedSince   []byte
	IfUnmodifiedSince []byte
	IfRange           []byte
	Range             []byte
}

// Meta is the selected representation's validators: its entity tag as sent
// in ETag (from AppendETag; empty if none) and its modification time as
// sent in Last-Modified (zero if none).
type Meta struct {
	ETag    []byte
	ModTime time.Time
}

// Decision is the outcome of Evaluate.
type Decision struct {
	// Status is 0 to go on and serve the request, or the status to answer
	// with instead: 304 (Not Modified) or 412 (Precondition Failed).
	Status int
	// UseRange is true when the Range field is to be honoured (pass it to
	// ParseRange); false means serve the whole representation.
	UseRange bool
}

// Evaluate applies the preconditions of req to a representation with
// validators meta, in RFC 9110 §13.2.2's order:
//
//  1. If-Match, strong comparison ("*" matches any representation): false
//     gives 412.
//  2. Otherwise If-Unmodified-Since, when meta has a ModTime and the value is
//     a valid HTTP-date: modified after it gives 412.
//  3. If-None-Match, weak comparison ("*" matches): a match gives 304 for
//     GET and HEAD, 412 for other methods.
//  4. Otherwise, for GET and HEAD only, If-Modified-Since, when meta has a
//     ModTime and the value is a valid HTTP-date: not modified after it
//     gives 304.
//  5. Range is used only for GET (§14.2: the only method that defines it;
//     a HEAD gets the headers of a 200). With If-Range, only if it holds:
//     an entity-tag must match strongly (a weak one never does), an
//     HTTP-date must equal ModTime to the second. A malformed If-Range
//     never holds.
//
// Dates compare at one-second resolution: ModTime is truncated to the
// second, as Last-Modified carries it. A malformed date is ignored (§13.1.3,
// §13.1.4). A malformed entity-tag list is read up to its first bad member;
// so it fails If-Match (412: refusing is the safe side of a lost-update
// check) and fails to match If-None-Match (a full response). The caller
// decides which requests reach Evaluate: §13.2.1 has preconditions ignored
// when the response would not otherwise be 2xx or 412.
func Evaluate(req Conditions, meta Meta) Decision {
	getOrHead := string(req.Method) == "GET" || string(req.Method) == "HEAD"
	own := parseOwnETag(meta.ETag)
	hasTime := !meta.ModTime.IsZero()
	mod := meta.ModTime.Unix()

	if len(req.IfMatch) > 0 {
		if !isStar(req.IfMatch) && !listMatches(req.IfMatch, own, true) {
			return Decision{Status: 412}
		}
	} else if len(req.IfUnmodifiedSince) > 0 && hasTime {
		if t, ok := parseHTTPDate(req.IfUnmodifiedSince, 0); ok && mod > t {
			return Decision{Status: 412}
		}
	}

	if len(req.IfNoneMatch) > 0 {
		if isStar(req.IfNoneMatch) || listMatches(req.IfNoneMatch, own, false) {
			if getOrHead {
				return Decision{Status: 304}
			}
			return Decision{Status: 412}
		}
	} else if len(req.IfModifiedSince) > 0 && getOrHead && hasTime {
		if t, ok := parseHTTPDate(req.IfModifiedSince, 0); ok && mod <= t {
			return Decision{Status: 304}
		}
	}

	useRange := string(req.Method) == "GET" && len(trimOWS(req.Range)) > 0
	if useRange && len(req.IfRange) > 0 {
		useRange = ifRangeHolds(req.IfRange, own, meta.ModTime)
	}
	return Decision{UseRange: useRange}
}

// ifRangeHolds evaluates If-Range (RFC 9110 §13.1.5).
func ifRangeHolds(v []byte, own tag, mod time.Time) bool {
	v = trimOWS(v)
	if len(v) > 0 && v[0] == '"' || len(v) > 1 && v[0] == 'W' && v[1] == '/' {
		weak, opaque, rest, ok := parseETag(v)
		return ok && len(rest) == 0 && own.matches(weak, opaque, true)
	}
	t, ok := parseHTTPDate(v, 0)
	return ok && !mod.IsZero() && mod.Unix() == t
}
