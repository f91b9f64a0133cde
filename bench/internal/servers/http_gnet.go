package servers

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// GnetHTTP is a minimal but correct HTTP/1.1 responder on gnet v2 (gnet
// has no HTTP layer): it parses each request's head (request line, header
// syntax, Host, Content-Length, Transfer-Encoding, Connection), skips
// bodies, answers every complete request of a read in one write
// (pipelining), keeps connections alive unless asked not to, and answers
// malformed input with a 4xx/5xx and a close. "/json" serialises Message
// per request; everything else gets PlaintextBody.
type GnetHTTP struct {
	gnet.BuiltinEventEngine
	run     gnetRunner
	out     []byte // response scratch; OnTraffic runs on the one event loop
	dateSec int64
	date    []byte
}

// StartGnetHTTP starts the gnet HTTP responder.
func StartGnetHTTP(addr string) (*GnetHTTP, error) {
	h := &GnetHTTP{}
	return h, h.run.start(h, addr)
}

// OnBoot keeps the engine for Close.
func (h *GnetHTTP) OnBoot(eng gnet.Engine) gnet.Action { return h.run.boot(eng) }

// Addr returns the listening address.
func (h *GnetHTTP) Addr() string { return h.run.addr }

// Close stops the engine.
func (h *GnetHTTP) Close() error { return h.run.stop() }

// OnTraffic answers every complete request that has arrived.
func (h *GnetHTTP) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	out := h.out[:0]
	consumed, action := 0, gnet.None
	for consumed < len(in) {
		req, n, err := ParseRequest(in[consumed:])
		if errors.Is(err, ErrIncomplete) {
			break
		}
		if err != nil {
			var he *HTTPError
			status := http.StatusBadRequest
			if errors.As(err, &he) {
				status = he.Status
			}
			out = h.appendResponse(out, status, "text/plain", []byte(http.StatusText(status)), true, false)
			consumed = len(in)
			action = gnet.Close
			break
		}
		consumed += n
		if string(req.Target) == "/json" {
			b, _ := json.Marshal(Message{Message: "Hello, World!"})
			out = h.appendResponse(out, 200, "application/json", b, req.Close, req.Head)
		} else {
			out = h.appendResponse(out, 200, "text/plain", []byte(PlaintextBody), req.Close, req.Head)
		}
		if req.Close {
			consumed = len(in)
			action = gnet.Close
			break
		}
	}
	if consumed > 0 { // gnet's Discard(0) would drop everything buffered
		_, _ = c.Discard(consumed)
	}
	if len(out) > 0 {
		_, _ = c.Write(out)
	}
	h.out = out
	return action
}

func (h *GnetHTTP) appendResponse(out []byte, status int, ctype string, body []byte, closing, head bool) []byte {
	if now := time.Now().Unix(); now != h.dateSec || h.date == nil {
		h.dateSec = now
		h.date = time.Unix(now, 0).UTC().AppendFormat(h.date[:0], http.TimeFormat)
	}
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\nServer: gnet\r\nDate: "...)
	out = append(out, h.date...)
	out = append(out, "\r\nContent-Type: "...)
	out = append(out, ctype...)
	out = append(out, "\r\nContent-Length: "...)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	if closing {
		out = append(out, "\r\nConnection: close"...)
	}
	out = append(out, "\r\n\r\n"...)
	if !head {
		out = append(out, body...)
	}
	return out
}

// Request is what ParseRequest extracts from a request head.
type Request struct {
	Method, Target []byte
	Close          bool // the connection closes after the response
	Head           bool // a HEAD request: no body in the response
}

// ErrIncomplete means more bytes are needed.
var ErrIncomplete = errors.New("http: incomplete request")

// HTTPError is a request that must be refused with Status.
type HTTPError struct {
	Status int
	Reason string
}

func (e *HTTPError) Error() string { return strconv.Itoa(e.Status) + " " + e.Reason }

func bad(status int, reason string) error { return &HTTPError{Status: status, Reason: reason} }

// MaxHead bounds a request head (request line and header fields).
const MaxHead = 8 << 10

// ParseRequest parses the request at the start of b (RFC 9112) and
// returns it with its length, body included. It returns ErrIncomplete
// when b holds only part of it, or an *HTTPError.
func ParseRequest(b []byte) (Request, int, error) {
	var req Request
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) > MaxHead {
			return req, 0, bad(431, "request head too large")
		}
		return req, 0, ErrIncomplete
	}
	if end+4 > MaxHead {
		return req, 0, bad(431, "request head too large")
	}
	head := b[:end+2] // every line ends in CRLF
	nl := bytes.Index(head, []byte("\r\n"))
	line := head[:nl]
	rest := head[nl+2:]
	sp1 := bytes.IndexByte(line, ' ')
	sp2 := bytes.LastIndexByte(line, ' ')
	if sp1 <= 0 || sp2 <= sp1+1 {
		return req, 0, bad(400, "malformed request line")
	}
	req.Method, req.Target = line[:sp1], line[sp1+1:sp2]
	version := line[sp2+1:]
	for _, c := range req.Method {
		if !isTokenChar(c) {
			return req, 0, bad(400, "malformed method")
		}
	}
	for _, c := range req.Target {
		if c <= ' ' || c == 0x7f {
			return req, 0, bad(400, "malformed target")
		}
	}
	switch string(version) {
	case "HTTP/1.1":
	case "HTTP/1.0":
		req.Close = true
	default:
		if bytes.HasPrefix(version, []byte("HTTP/")) {
			return req, 0, bad(505, "unsupported version")
		}
		return req, 0, bad(400, "malformed version")
	}
	req.Head = string(req.Method) == "HEAD"
	bodyLen, hosts, haveCL, haveTE := 0, 0, false, false
	for len(rest) > 0 {
		nl := bytes.Index(rest, []byte("\r\n"))
		field := rest[:nl]
		rest = rest[nl+2:]
		if field[0] == ' ' || field[0] == '\t' {
			return req, 0, bad(400, "obsolete line folding")
		}
		if bytes.IndexByte(field, '\r') >= 0 || bytes.IndexByte(field, '\n') >= 0 {
			return req, 0, bad(400, "bare CR or LF")
		}
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			return req, 0, bad(400, "malformed header field")
		}
		name, value := field[:colon], bytes.Trim(field[colon+1:], " \t")
		for _, c := range name {
			if !isTokenChar(c) {
				return req, 0, bad(400, "malformed header name")
			}
		}
		switch {
		case asciiEqualFold(name, "host"):
			hosts++
		case asciiEqualFold(name, "content-length"):
			n, ok := parseDigits(value)
			if !ok || (haveCL && n != bodyLen) {
				return req, 0, bad(400, "invalid Content-Length")
			}
			bodyLen, haveCL = n, true
		case asciiEqualFold(name, "transfer-encoding"):
			haveTE = true
		case asciiEqualFold(name, "connection"):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				if asciiEqualFold(tok, "close") {
					req.Close = true
				} else if asciiEqualFold(tok, "keep-alive") && string(version) == "HTTP/1.0" {
					req.Close = false
				}
			}
		}
	}
	if haveTE {
		if haveCL {
			return req, 0, bad(400, "both Content-Length and Transfer-Encoding")
		}
		return req, 0, bad(501, "Transfer-Encoding not implemented")
	}
	if string(version) == "HTTP/1.1" && hosts != 1 {
		return req, 0, bad(400, "exactly one Host required")
	}
	total := end + 4 + bodyLen
	if len(b) < total {
		return req, 0, ErrIncomplete
	}
	return req, total, nil
}

func isTokenChar(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseDigits parses a Content-Length: 1*DIGIT, bounded.
func parseDigits(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
