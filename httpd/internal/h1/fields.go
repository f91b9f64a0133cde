package h1

import "math"

// The fields the parser interprets: Host, Content-Length, Transfer-Encoding
// (framing, RFC 9112 §6), Connection, Expect and Upgrade. Everything else is
// only collected in Request.Headers.

// noteField records what a field line means for framing and connection
// handling. Per-line rules fail here; rules about the whole head wait for
// finish. It dispatches on the name's length so that most fields cost one
// switch.
func (r *Request) noteField(name, value []byte) error {
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			// RFC 9112 §3.2: more than one Host, or an invalid one: 400.
			r.hostCount++
			if r.hostCount > 1 {
				return errDupHost
			}
			if !validHostPort(value, false, false) {
				return errHost
			}
			r.Host = value
		}
	case 6:
		if equalFold(name, "expect") {
			for e, rest, ok := nextListElem(value); ok; e, rest, ok = nextListElem(rest) {
				if equalFold(e, "100-continue") {
					r.expectCont = true
				}
			}
		}
	case 7:
		if equalFold(name, "upgrade") && len(value) > 0 {
			r.upgradeSeen = true
		}
	case 10:
		if equalFold(name, "connection") {
			for e, rest, ok := nextListElem(value); ok; e, rest, ok = nextListElem(rest) {
				switch {
				case equalFold(e, "close"):
					r.connClose = true
				case equalFold(e, "keep-alive"):
					r.connKeepAlive = true
				case equalFold(e, "upgrade"):
					r.connUpgrade = true
				}
			}
		}
	case 14:
		if equalFold(name, "content-length") {
			// Stricter than RFC 9110 §8.6, which lets a recipient accept
			// repeated identical values: any second Content-Length (or a
			// list "5, 5") is refused, leaving no room for two parsers to
			// pick different lengths.
			if r.clSeen {
				return errDupContentLength
			}
			r.clSeen = true
			n, ok := parseContentLength(value)
			if !ok {
				return errContentLength
			}
			r.ContentLength = n
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			// HTTP/1.0 has no transfer codings: whatever the value, the
			// framing is faulty (RFC 9112 §6.1), so fail before parsing it.
			if r.ProtoMinor == 0 {
				return errTE10
			}
			r.teSeen = true
			return r.noteTransferEncoding(value)
		}
	}
	return nil
}

// noteTransferEncoding adds one Transfer-Encoding line to the coding list
// (several lines form one list, RFC 9110 §5.3). Each element must be a bare
// token: parameters and empty elements are refused, although RFC 9110
// §5.6.1 has recipients skip empty elements, because a front end that reads
// the list differently could frame the body differently (smuggling).
func (r *Request) noteTransferEncoding(value []byte) error {
	for e, rest, ok := nextListElem(value); ok; e, rest, ok = nextListElem(rest) {
		if len(e) == 0 {
			return errTESyntax
		}
		for _, c := range e {
			if !tchar[c] {
				return errTESyntax
			}
		}
		if r.teChunked {
			// Nothing may follow chunked (RFC 9112 §6.1), including itself.
			if equalFold(e, "chunked") {
				return errTEChunkedTwice
			}
			return errTEChunkedNotLast
		}
		if equalFold(e, "chunked") {
			r.teChunked = true
		} else {
			r.teUnknown = true
		}
	}
	return nil
}

// parseContentLength parses Content-Length = 1*DIGIT (RFC 9110 §8.6) into a
// non-negative int64: no sign, no inner whitespace, no list, no overflow.
func parseContentLength(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	const cutoff = math.MaxInt64 / 10
	var n int64
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		d := int64(c - '0')
		if n > cutoff || n == cutoff && d > math.MaxInt64%10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// finish applies the rules about the head as a whole and resolves framing
// and connection semantics.
func (r *Request) finish(lim *Limits) error {
	http11 := r.ProtoMinor == 1
	if http11 && r.hostCount == 0 {
		return errNoHost // RFC 9112 §3.2
	}
	if r.teSeen {
		// RFC 9112 §6.1 lets a server with both fields go by
		// Transfer-Encoding and close afterwards; refusing is the safe
		// reading when a front end might have used Content-Length.
		if r.clSeen {
			return errCLAndTE
		}
		// Without chunked last the length is unknown: 400 (RFC 9112 §6.3).
		// With chunked last but another coding before it the framing is
		// fine but we cannot decode it: 501 (RFC 9112 §6.1).
		if !r.teChunked {
			return errTEChunkedNotLast
		}
		if r.teUnknown {
			return errTEUnknown
		}
		r.Chunked = true
	} else if r.clSeen {
		if max := lim.bodyBytes(); max >= 0 && r.ContentLength > max {
			return errBodyTooLarge
		}
	}
	if http11 {
		r.KeepAlive = !r.connClose
		r.Expect100Continue = r.expectCont
		r.Upgrade = r.upgradeSeen && r.connUpgrade
	} else {
		r.KeepAlive = r.connKeepAlive && !r.connClose
	}
	return nil
}
