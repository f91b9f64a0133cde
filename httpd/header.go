package httpd

import (
	"net/http"
	"strconv"
	"time"
	"unsafe"
)

// statusLines caches "HTTP/1.1 200 OK\r\n" for the common codes.
var statusLines = func() map[int]string {
	m := make(map[int]string)
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	return m
}()

// appendStatusLine appends the status line. Responses to HTTP/1.0
// requests say HTTP/1.1 too, as RFC 9110 §6.2 allows (net/http does the
// same): the version is the server's.
func appendStatusLine(b []byte, code int, _ bool) []byte {
	if line, ok := statusLines[code]; ok {
		return append(b, line...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	return append(b, " status\r\n"...)
}

// appendStdHeaders appends Server and Date.
func (ld *loopData) appendStdHeaders(b []byte) []byte {
	b = append(b, ld.srv.serverLine()...)
	return append(b, ld.date.line(ld.loop.Now())...)
}

func (s *Server) serverLine() string {
	switch s.ServerName {
	case "":
		return "Server: uringd\r\n"
	case "-":
		return ""
	}
	return s.serverHdr // set by start: handler goroutines read it
}

// dateCache keeps the Date header line of the current second. Each loop
// has its own, so no lock is taken.
type dateCache struct {
	sec int64
	buf []byte
}

func (d *dateCache) line(now time.Time) []byte {
	if sec := now.Unix(); sec != d.sec || d.buf == nil {
		d.sec = sec
		d.buf = append(d.buf[:0], "Date: "...)
		d.buf = now.UTC().AppendFormat(d.buf, http.TimeFormat)
		d.buf = append(d.buf, "\r\n"...)
	}
	return d.buf
}

// validHeaderName reports whether name is a token (RFC 9110 §5.1).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isTokenChar[name[i]] {
			return false
		}
	}
	return true
}

// validHeaderValue refuses what would end the field line or the head: CR,
// LF and NUL.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\r', '\n', 0:
			return false
		}
	}
	return true
}

var isTokenChar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// equalFold compares ASCII strings case-insensitively.
func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x|0x20 != y|0x20 || (x|0x20) < 'a' || (x|0x20) > 'z' {
			if x != y {
				return false
			}
		}
	}
	return true
}

// containsToken reports whether the comma list v has token tok (ASCII
// case-insensitive).
func containsToken(v, tok string) bool {
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] != ',' {
			i++
		}
		item := v[:i]
		for len(item) > 0 && (item[0] == ' ' || item[0] == '\t') {
			item = item[1:]
		}
		for len(item) > 0 && (item[len(item)-1] == ' ' || item[len(item)-1] == '\t') {
			item = item[:len(item)-1]
		}
		if equalFold(item, tok) {
			return true
		}
		if i == len(v) {
			break
		}
		v = v[i+1:]
	}
	return false
}

// bytesToString views b as a string without copying; the caller must not
// keep the string past b's lifetime or change b meanwhile.
func bytesToString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
