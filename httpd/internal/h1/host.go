package h1

import "bytes"

// Host syntax: uri-host [":" port] (RFC 9110 §7.2, RFC 3986 §3.2.2).

// validHostPort reports whether b is uri-host [":" port]. needHost rejects
// an empty host; needPort requires ":" and at least one digit.
func validHostPort(b []byte, needHost, needPort bool) bool {
	i := 0
	if len(b) > 0 && b[0] == '[' {
		j := bytes.IndexByte(b, ']')
		if j < 0 || !validIPLiteral(b[1:j]) {
			return false
		}
		i = j + 1
	} else {
		// reg-name (which covers IPv4address)
		for i < len(b) {
			c := b[i]
			if regNameChar[c] {
				i++
				continue
			}
			if c == '%' && i+2 < len(b) && hexVal[b[i+1]] >= 0 && hexVal[b[i+2]] >= 0 {
				i += 3
				continue
			}
			break
		}
		if needHost && i == 0 {
			return false
		}
	}
	if i == len(b) {
		return !needPort
	}
	if b[i] != ':' {
		return false
	}
	port := b[i+1:]
	if needPort && len(port) == 0 {
		return false
	}
	for _, c := range port {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// validIPLiteral checks what is between '[' and ']': an IPv6address or an
// IPvFuture ("v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )).
func validIPLiteral(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	if s[0] != 'v' && s[0] != 'V' {
		return validIPv6(s)
	}
	i := 1
	for i < len(s) && hexVal[s[i]] >= 0 {
		i++
	}
	if i == 1 || i+1 >= len(s) || s[i] != '.' {
		return false
	}
	for _, c := range s[i+1:] {
		if !regNameChar[c] && c != ':' {
			return false
		}
	}
	return true
}

// validIPv6 checks RFC 3986 IPv6address: eight 16-bit pieces of 1-4 hex
// digits, or fewer with one "::", the last two optionally an IPv4 address.
func validIPv6(s []byte) bool {
	pieces, ellipsis, i := 0, false, 0
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis, i = true, 2
		if i == len(s) {
			return true
		}
	}
	for {
		j := i
		for j < len(s) && j-i < 4 && hexVal[s[j]] >= 0 {
			j++
		}
		if j < len(s) && s[j] == '.' {
			if !validIPv4(s[i:]) {
				return false
			}
			pieces += 2
			break
		}
		if j == i {
			return false
		}
		pieces++
		if j == len(s) {
			break
		}
		if s[j] != ':' {
			return false
		}
		j++
		if j < len(s) && s[j] == ':' {
			if ellipsis {
				return false
			}
			ellipsis = true
			j++
			if j == len(s) {
				break
			}
		} else if j == len(s) {
			return false
		}
		if pieces >= 8 {
			return false
		}
		i = j
	}
	if ellipsis {
		return pieces <= 7
	}
	return pieces == 8
}

// validIPv4 checks dotted-decimal with four dec-octets 0-255 without
// leading zeros (RFC 3986 §3.2.2).
func validIPv4(s []byte) bool {
	for part := 0; part < 4; part++ {
		if part > 0 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
		n, v := 0, 0
		for n < len(s) && n < 3 && isDigit(s[n]) {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || v > 255 || n > 1 && s[0] == '0' {
			return false
		}
		s = s[n:]
	}
	return len(s) == 0
}
