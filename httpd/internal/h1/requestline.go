package h1

// Request line: method SP request-target SP HTTP-version (RFC 9112 §3).

// parseRequestLine parses line (without CRLF) into req.
func parseRequestLine(line []byte, req *Request) error {
	i := 0
	for i < len(line) && tchar[line[i]] {
		i++
	}
	if i == 0 {
		if len(line) > 0 && isOWS(line[0]) {
			return errLeadingSpace
		}
		return errMethod
	}
	if i > maxMethod {
		return errMethodLong
	}
	if i == len(line) || line[i] != ' ' {
		return errRequestLine
	}
	req.Method = line[:i]

	// request-target: scan to the next SP, noting the first '?' and checking
	// each '%' escape.
	i++
	start, q := i, -1
	for {
		for i < len(line) && targetClass[line[i]] == targetPlain {
			i++
		}
		if i == len(line) || targetClass[line[i]] == targetBad {
			break
		}
		if line[i] == '?' {
			if q < 0 {
				q = i - start
			}
			i++
			continue
		}
		// '%' HEXDIG HEXDIG; left encoded for the handler to decode.
		if i+2 >= len(line) || hexVal[line[i+1]] < 0 || hexVal[line[i+2]] < 0 {
			return errPercent
		}
		i += 3
	}
	if i == len(line) {
		return errRequestLine
	}
	if line[i] != ' ' {
		if line[i] == '#' {
			return errFragment // never sent by clients (RFC 9112 §3.2)
		}
		return errTargetChar
	}
	if i == start {
		return errEmptyTarget
	}
	target := line[start:i]

	// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. Well-formed
	// but other than 1.0/1.1: 505 (this includes the HTTP/2 preface
	// "PRI * HTTP/2.0"), checked before the target form so the preface gets
	// its 505.
	v := line[i+1:]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return errVersion
	}
	if v[5] != '1' || v[7] > '1' {
		return errVersionNotSupp
	}
	req.ProtoMajor, req.ProtoMinor = 1, int(v[7]-'0')

	req.Target = target
	connect := string(req.Method) == "CONNECT"
	switch {
	case target[0] == '/': // origin-form
		if connect {
			return errTargetForm
		}
		req.Path = target
		if q >= 0 {
			req.Path, req.Query = target[:q], target[q+1:]
		}
	case len(target) == 1 && target[0] == '*': // asterisk-form
		if string(req.Method) != "OPTIONS" {
			return errTargetForm
		}
		req.Path = target
	case connect: // authority-form, only for CONNECT: host ":" port
		if !validHostPort(target, true, true) {
			return errAuthority
		}
		req.Authority = target
	default:
		return parseAbsoluteForm(target, q, req)
	}
	return nil
}

// parseAbsoluteForm parses scheme "://" authority path-abempty ["?" query]
// (RFC 9112 §3.2.2). q is the index of the first '?' in target or -1.
func parseAbsoluteForm(target []byte, q int, req *Request) error {
	if !isAlpha(target[0]) {
		return errAbsoluteForm
	}
	i := 1
	for i < len(target) && schemeChar[target[i]] {
		i++
	}
	if len(target)-i < 3 || target[i] != ':' || target[i+1] != '/' || target[i+2] != '/' {
		return errAbsoluteForm
	}
	a := i + 3
	e := a
	for e < len(target) && target[e] != '/' && target[e] != '?' {
		e++
	}
	auth := target[a:e]
	for _, c := range auth {
		// RFC 9110 §4.2.4: userinfo is deprecated in http(s) URIs and its
		// presence should be treated as an error.
		if c == '@' {
			return errUserinfo
		}
	}
	// RFC 9110 §4.2.1: an http URI with an empty host is invalid.
	if !validHostPort(auth, true, false) {
		return errAuthority
	}
	req.Authority = auth
	if q >= 0 {
		req.Path, req.Query = target[e:q], target[q+1:]
	} else {
		req.Path = target[e:]
	}
	return nil
}

// Checking a request line before its LF arrives lets non-HTTP traffic (a
// TLS handshake, say) fail on its first bytes, and makes a request line
// that is too long fail with 400 rather than 414 when its start is already
// malformed, as a shorter prefix would have. The check resumes where the
// previous call stopped, so a line arriving byte by byte costs O(length).

// Phases of checkLinePrefix.
const (
	linePhaseMethod uint8 = iota
	linePhaseTarget
	linePhaseVersion
)

// checkLinePrefix checks p, the start of a request line without its LF (and
// without a final CR that may be the line's own), from where the previous
// call on the same line stopped. It reports only errors that
// parseRequestLine would report for any completion of the line.
func (r *Request) checkLinePrefix(p []byte) error {
	i := r.chk
	for i < len(p) {
		switch r.chkPhase {
		case linePhaseMethod:
			for i < len(p) && tchar[p[i]] {
				i++
			}
			if i > maxMethod {
				return errMethodLong
			}
			if i == len(p) {
				break
			}
			if i == 0 {
				if isOWS(p[0]) {
					return errLeadingSpace
				}
				return errMethod
			}
			if p[i] != ' ' {
				return errRequestLine
			}
			i++
			r.chkPhase, r.chkMark = linePhaseTarget, i
		case linePhaseTarget:
			for i < len(p) && targetClass[p[i]] != targetBad {
				i++
			}
			if i == len(p) {
				break
			}
			switch {
			case p[i] == '#':
				return errFragment
			case p[i] != ' ':
				return errTargetChar
			case i == r.chkMark:
				return errEmptyTarget
			}
			i++
			r.chkPhase, r.chkMark = linePhaseVersion, i
		default:
			const version = "HTTP/d.d"
			for ; i < len(p); i++ {
				j, c := i-r.chkMark, p[i]
				if j >= len(version) {
					return errVersion
				}
				if version[j] == 'd' && !isDigit(c) || version[j] != 'd' && c != version[j] {
					return errVersion
				}
			}
		}
	}
	r.chk = i
	return nil
}
