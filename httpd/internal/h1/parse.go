package h1

import "bytes"

// Parse parses one request head (request line, field lines, empty line) from
// the start of buf into req and returns its length n: the body, if any, or
// the next pipelined request starts at buf[n:]. All slices in req alias buf.
//
// When buf ends inside the head, Parse returns ErrIncomplete, unless what
// has arrived already breaks a rule or exceeds a limit: then it fails at
// once, so a slow client cannot make the caller buffer without bound. Any
// prefix of an input gives either ErrIncomplete or an error with the same
// status as the whole input.
//
// After ErrIncomplete, call Parse again with the same req and a buf that
// starts with the same bytes followed by more (a larger copy is fine): it
// scans only the new bytes for line ends and checks lines as they complete,
// then parses the whole head once more when it is complete, so that no
// slice points into an old buffer. To parse anything else with a req that
// got ErrIncomplete, call req.Reset first.
//
// Failures are *Error values carrying the status to send. On any error req
// holds no usable request.
//
// lim may be nil for DefaultLimits. Parse does not allocate, except to grow
// req.Headers the first times it sees more fields than before.
func Parse(buf []byte, req *Request, lim *Limits) (n int, err error) {
	if lim == nil {
		lim = &DefaultLimits
	}
	if req.partial {
		if n, err, done := resume(buf, req, lim); done {
			return n, err
		}
	}
	req.Reset()
	return parseHead(buf, req, lim)
}

// resume continues after ErrIncomplete. done is false when the head is now
// complete, or when buf is not a continuation of the previous input; the
// caller then parses buf from the start.
func resume(buf []byte, req *Request, lim *Limits) (n int, err error, done bool) {
	req.partial = false
	if len(buf) < req.scanned || req.resume >= 2 && (buf[req.resume-1] != '\n' || buf[req.resume-2] != '\r') {
		return 0, nil, false
	}
	if bytes.IndexByte(buf[req.scanned:], '\n') < 0 {
		// No new line is complete: check only the new bytes of the
		// unfinished line, or, once a limit is crossed, find the error a
		// one-shot parse would report.
		if req.resume == 0 {
			if err := req.partialRequestLine(buf, lim.requestLine()); err != nil {
				return 0, err, true
			}
		} else if len(buf) >= req.headStart+lim.headerBytes() ||
			req.resume < len(buf) && buf[req.resume] != '\r' && len(req.Headers) >= lim.headers() {
			// A bad byte before the limit, or the limit.
			_, err := parseFields(buf, req.resume, req, lim)
			return 0, err, true
		} else if err := req.checkFieldPrefix(buf); err != nil {
			return 0, err, true
		}
		req.partial, req.scanned = true, len(buf)
		return 0, ErrIncomplete, true
	}
	if req.resume == 0 {
		return 0, nil, false // the request line is now complete
	}
	// Check the lines that completed; the fields seen before still count
	// (duplicates, number of fields).
	if _, err := parseFields(buf, req.resume, req, lim); err != nil {
		return 0, err, true
	}
	return 0, nil, false
}

// parseHead parses a head from buf[0] into the freshly reset req.
func parseHead(buf []byte, req *Request, lim *Limits) (int, error) {
	maxLine := lim.requestLine()
	pos := skipEmptyLines(buf)
	lf := bytes.IndexByte(buf[pos:], '\n')
	if lf < 0 {
		if err := req.partialRequestLine(buf, maxLine); err != nil {
			return 0, err
		}
		req.partial, req.resume, req.scanned = true, 0, len(buf)
		return 0, ErrIncomplete
	}
	lf += pos
	end := lf // end of the line's content
	if lf > pos && buf[lf-1] == '\r' {
		end--
	}
	if end > maxLine {
		return 0, req.longLineError(buf, pos, maxLine)
	}
	if end == lf {
		return 0, errBareLF
	}
	if end == pos {
		return 0, errEmptyLines
	}
	if err := parseRequestLine(buf[pos:end], req); err != nil {
		return 0, err
	}
	req.headStart = lf + 1
	n, err := parseFields(buf, lf+1, req, lim)
	if err != nil {
		return 0, err
	}
	if err := req.finish(lim); err != nil {
		return 0, err
	}
	return n, nil
}

// maxEmptyLines is how many empty lines may precede the request line.
// RFC 9112 §2.2: a server SHOULD ignore at least one (old clients send a
// CRLF after a POST body). A few are skipped; an endless stream of them is
// refused rather than buffered.
const maxEmptyLines = 4

// skipEmptyLines returns the offset of the request line. The empty lines
// count against MaxRequestLine.
func skipEmptyLines(buf []byte) int {
	pos := 0
	for pos+1 < len(buf) && buf[pos] == '\r' && buf[pos+1] == '\n' && pos < 2*maxEmptyLines {
		pos += 2
	}
	return pos
}

// partialRequestLine checks buf, which holds no LF of the request line yet:
// the limit, then the syntax of what has arrived.
func (r *Request) partialRequestLine(buf []byte, maxLine int) error {
	l := len(buf)
	if l > 0 && buf[l-1] == '\r' {
		l-- // may be the line's own CR
	}
	pos := skipEmptyLines(buf)
	if l > maxLine {
		return r.longLineError(buf, pos, maxLine)
	}
	if pos >= l {
		return nil
	}
	return r.checkLinePrefix(buf[pos:l])
}

// longLineError is the error for a request line (at buf[pos:]) longer than
// maxLine: 400 if its first maxLine bytes already break the syntax, as a
// shorter prefix would have reported, else 414.
func (r *Request) longLineError(buf []byte, pos, maxLine int) error {
	if pos < maxLine {
		if err := r.checkLinePrefix(buf[pos:maxLine]); err != nil {
			return err
		}
	}
	return errLineTooLong
}

// parseFields parses field lines from buf[pos] up to and including the empty
// line, appending to req.Headers, and returns the offset after the empty
// line. It is the hot loop of the parser. It looks at no byte past the
// MaxHeaderBytes limit, so a head too large fails the same way however it
// is split.
func parseFields(buf []byte, pos int, req *Request, lim *Limits) (int, error) {
	limitEnd := req.headStart + lim.headerBytes() // the section must end by here
	maxCount := lim.headers()
	b := buf
	if len(b) > limitEnd {
		b = b[:limitEnd]
	}
	for {
		if pos >= len(b) {
			return fieldsEnd(b, pos, 0, req, limitEnd)
		}
		if b[pos] == '\r' {
			if pos+1 == len(b) {
				return fieldsEnd(b, pos, 0, req, limitEnd)
			}
			if b[pos+1] != '\n' {
				return 0, errBareCR
			}
			return pos + 2, nil
		}
		if len(req.Headers) >= maxCount {
			return 0, errTooManyHeaders
		}

		// field-name ":" OWS field-value OWS CRLF (RFC 9112 §5)
		i := pos
		for i < len(b) && tchar[b[i]] {
			i++
		}
		if i == len(b) {
			return fieldsEnd(b, pos, 0, req, limitEnd)
		}
		if b[i] != ':' || i == pos {
			return 0, fieldNameError(b[pos], b[i], i == pos)
		}
		name := b[pos:i]
		i++
		for i < len(b) && isOWS(b[i]) {
			i++
		}
		vs := i
		// 8 bytes at a time to the first CTL or DEL; HTAB is the only one
		// allowed. The last few bytes of the buffer go byte by byte.
		for i+8 <= len(b) {
			m := ctlOrDel8(b[i:])
			if m == 0 {
				i += 8
				continue
			}
			i += firstFlagged(m)
			if b[i] != '\t' {
				break
			}
			i++
		}
		if i+8 > len(b) {
			for i < len(b) && fieldValueChar[b[i]] {
				i++
			}
		}
		if i == len(b) {
			return fieldsEnd(b, pos, pos+len(name), req, limitEnd)
		}
		if b[i] != '\r' {
			if b[i] == '\n' {
				return 0, errBareLF
			}
			return 0, errFieldValue
		}
		if i+1 == len(b) {
			return fieldsEnd(b, pos, pos+len(name), req, limitEnd)
		}
		if b[i+1] != '\n' {
			return 0, errBareCR
		}
		ve := i
		for ve > vs && isOWS(b[ve-1]) {
			ve--
		}
		value := b[vs:ve]
		req.Headers = append(req.Headers, Header{Name: name, Value: value})
		if err := req.noteField(name, value); err != nil {
			return 0, err
		}
		pos = i + 2
	}
}

// fieldNameError classifies a field line whose name is not followed by ':'.
// first is the line's first byte, stop the byte that ended the name.
func fieldNameError(first, stop byte, empty bool) error {
	if empty {
		switch first {
		case ' ', '\t':
			// obs-fold, or whitespace before the first field: RFC 9112
			// §5.2 and §2.2 allow rejecting either, the safe choice.
			return errObsFold
		case '\n':
			return errBareLF
		}
		return errFieldName
	}
	switch stop {
	case ' ', '\t':
		return errSpaceBeforeColon
	case '\n':
		return errBareLF
	}
	return errFieldName
}

// fieldsEnd handles b running out inside the field section, at the line
// starting at pos (whose colon is at colon, or 0 if none has arrived). If b
// reached the limit, the section is too large; otherwise the input is
// incomplete and the resume point is recorded.
func fieldsEnd(b []byte, pos, colon int, req *Request, limitEnd int) (int, error) {
	if len(b) >= limitEnd {
		return 0, errHeaderTooLarge
	}
	req.partial, req.resume, req.scanned, req.colon = true, pos, len(b), colon
	return 0, ErrIncomplete
}

// checkFieldPrefix checks the bytes that arrived since the last call in an
// unfinished field line (at buf[req.resume:], no LF yet), so that a bad
// byte fails as soon as it arrives, as it would in a one-shot parse,
// without rescanning the line. It reports only errors parseFields would
// report for any completion of the line.
func (r *Request) checkFieldPrefix(buf []byte) error {
	from := r.scanned
	if from >= len(buf) {
		return nil
	}
	if from > r.resume && buf[from-1] == '\r' {
		return errBareCR // its LF did not follow
	}
	if buf[r.resume] == '\r' {
		// The final CRLF: the byte after the CR, if any, is not an LF.
		if len(buf) > r.resume+1 {
			return errBareCR
		}
		return nil
	}
	for i := from; i < len(buf); i++ {
		c := buf[i]
		if r.colon == 0 {
			switch {
			case tchar[c]:
			case c == ':' && i > r.resume:
				r.colon = i
			default:
				return fieldNameError(buf[r.resume], c, i == r.resume)
			}
			continue
		}
		if !fieldValueChar[c] && !(c == '\r' && i == len(buf)-1) {
			if c == '\r' {
				return errBareCR
			}
			return errFieldValue
		}
	}
	return nil
}
