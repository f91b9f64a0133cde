package h1

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// parseCase is one table row. head is the request head, body what follows
// it (a body or a next request). want is render() of the parsed request for
// a valid head; status is the expected error status otherwise.
type parseCase struct {
	name   string
	head   string
	body   string
	want   string
	status int
	lim    *Limits
}

func (c parseCase) input() []byte { return []byte(c.head + c.body) }

// render prints the parsed request compactly; defaults are left out (nil
// query and authority, cl=-1, false flags, keep-alive).
func render(r *Request) string {
	var b strings.Builder
	q := func(s []byte) string {
		if s == nil {
			return "nil"
		}
		return fmt.Sprintf("%q", s)
	}
	fmt.Fprintf(&b, "%s %q path=%s", r.Method, r.Target, q(r.Path))
	if r.Query != nil {
		fmt.Fprintf(&b, " query=%q", r.Query)
	}
	if r.Authority != nil {
		fmt.Fprintf(&b, " auth=%q", r.Authority)
	}
	fmt.Fprintf(&b, " host=%s %d.%d", q(r.Host), r.ProtoMajor, r.ProtoMinor)
	if r.ContentLength != -1 {
		fmt.Fprintf(&b, " cl=%d", r.ContentLength)
	}
	if r.Chunked {
		b.WriteString(" chunked")
	}
	if !r.KeepAlive {
		b.WriteString(" close")
	}
	if r.Expect100Continue {
		b.WriteString(" expect")
	}
	if r.Upgrade {
		b.WriteString(" upgrade")
	}
	b.WriteString(" [")
	for i, h := range r.Headers {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%q", h.Name, h.Value)
	}
	b.WriteString("]")
	return b.String()
}

const rl = "GET / HTTP/1.1\r\n" // a plain request line
const hh = "Host: h\r\n"        // a plain Host line

var validCases = []parseCase{
	{name: "minimal", head: rl + hh + "\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h"]`},
	{name: "query", head: "GET /a/b?x=1&y=%20&z=?/ HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "/a/b?x=1&y=%20&z=?/" path="/a/b" query="x=1&y=%20&z=?/" host="h" 1.1 [Host="h"]`},
	{name: "empty query", head: "GET /a? HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "/a?" path="/a" query="" host="h" 1.1 [Host="h"]`},
	{name: "pct path and sub-delims", head: "GET /%2Fa/b;c=d,e!$&'()*+:@~_-.x HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "/%2Fa/b;c=d,e!$&'()*+:@~_-.x" path="/%2Fa/b;c=d,e!$&'()*+:@~_-.x" host="h" 1.1 [Host="h"]`},
	{name: "unwise chars browsers send", head: "GET /{a}|b^`\"<>[\\] HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "/{a}|b^` + "`" + `\"<>[\\]" path="/{a}|b^` + "`" + `\"<>[\\]" host="h" 1.1 [Host="h"]`},
	{name: "double slash path", head: "GET //x HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "//x" path="//x" host="h" 1.1 [Host="h"]`},
	{name: "http/1.0 no host", head: "GET / HTTP/1.0\r\n\r\n",
		want: `GET "/" path="/" host=nil 1.0 close []`},
	{name: "http/1.0 keep-alive", head: "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		want: `GET "/" path="/" host=nil 1.0 [Connection="Keep-Alive"]`},
	{name: "http/1.0 keep-alive and close", head: "GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
		want: `GET "/" path="/" host=nil 1.0 close [Connection="keep-alive" Connection="close"]`},
	{name: "connection close in list", head: rl + hh + "Connection: foo, , CLOSE\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 close [Host="h" Connection="foo, , CLOSE"]`},
	{name: "connection closed is not close", head: rl + hh + "Connection: closed\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h" Connection="closed"]`},
	{name: "content-length body", head: "POST /f HTTP/1.1\r\n" + hh + "Content-Length: 5\r\n\r\n", body: "hello",
		want: `POST "/f" path="/f" host="h" 1.1 cl=5 [Host="h" Content-Length="5"]`},
	{name: "content-length leading zeros", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 007\r\n\r\n", body: "1234567",
		want: `POST "/" path="/" host="h" 1.1 cl=7 [Host="h" Content-Length="007"]`},
	{name: "content-length zero", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 0\r\n\r\n",
		want: `POST "/" path="/" host="h" 1.1 cl=0 [Host="h" Content-Length="0"]`},
	{name: "get with body", head: rl + hh + "Content-Length: 2\r\n\r\n", body: "ab",
		want: `GET "/" path="/" host="h" 1.1 cl=2 [Host="h" Content-Length="2"]`},
	{name: "chunked", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked\r\n\r\n", body: "5\r\nhello\r\n0\r\n\r\n",
		want: `POST "/" path="/" host="h" 1.1 chunked [Host="h" Transfer-Encoding="chunked"]`},
	{name: "chunked any case, trailing tab", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: ChUnKeD\t\r\n\r\n", body: "0\r\n\r\n",
		want: `POST "/" path="/" host="h" 1.1 chunked [Host="h" Transfer-Encoding="ChUnKeD"]`},
	{name: "OWS trimmed", head: rl + "Host: \t h \t\r\nX-A:b\r\nX-Empty:\r\nX-Sp:   \r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h" X-A="b" X-Empty="" X-Sp=""]`},
	{name: "inner whitespace and obs-text kept", head: rl + hh + "X: a \t b\r\nY: caf\xc3\xa9 \xff\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h" X="a \t b" Y="café \xff"]`},
	{name: "token names", head: rl + hh + "!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h" !#$%&'*+-.^_` + "`" + `|~09azAZ="v"]`},
	{name: "absolute-form", head: "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: other\r\n\r\n",
		want: `GET "http://example.com:8080/p?q=1" path="/p" query="q=1" auth="example.com:8080" host="other" 1.1 [Host="other"]`},
	{name: "absolute-form no path", head: "GET https://example.com HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "https://example.com" path="" auth="example.com" host="h" 1.1 [Host="h"]`},
	{name: "absolute-form query no path", head: "GET http://e.x?a HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "http://e.x?a" path="" query="a" auth="e.x" host="h" 1.1 [Host="h"]`},
	{name: "absolute-form ipv6", head: "GET http://[::1]:80/ HTTP/1.1\r\n" + hh + "\r\n",
		want: `GET "http://[::1]:80/" path="/" auth="[::1]:80" host="h" 1.1 [Host="h"]`},
	{name: "options asterisk", head: "OPTIONS * HTTP/1.1\r\n" + hh + "\r\n",
		want: `OPTIONS "*" path="*" host="h" 1.1 [Host="h"]`},
	{name: "options absolute", head: "OPTIONS http://h HTTP/1.1\r\n" + hh + "\r\n",
		want: `OPTIONS "http://h" path="" auth="h" host="h" 1.1 [Host="h"]`},
	{name: "connect", head: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		want: `CONNECT "example.com:443" path=nil auth="example.com:443" host="example.com:443" 1.1 [Host="example.com:443"]`},
	{name: "connect ipv6", head: "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n",
		want: `CONNECT "[2001:db8::1]:443" path=nil auth="[2001:db8::1]:443" host="[2001:db8::1]:443" 1.1 [Host="[2001:db8::1]:443"]`},
	{name: "extension method", head: "PURGE /x HTTP/1.1\r\n" + hh + "\r\n",
		want: `PURGE "/x" path="/x" host="h" 1.1 [Host="h"]`},
	{name: "method of 32 bytes", head: strings.Repeat("M", 32) + " / HTTP/1.1\r\n" + hh + "\r\n",
		want: strings.Repeat("M", 32) + ` "/" path="/" host="h" 1.1 [Host="h"]`},
	{name: "leading CRLFs ignored", head: "\r\n\r\n\r\n\r\n" + rl + hh + "\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h"]`},
	{name: "expect 100-continue", head: "PUT / HTTP/1.1\r\n" + hh + "Expect: 100-Continue\r\nContent-Length: 1\r\n\r\n", body: "x",
		want: `PUT "/" path="/" host="h" 1.1 cl=1 expect [Host="h" Expect="100-Continue" Content-Length="1"]`},
	{name: "expect ignored in 1.0", head: "PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", body: "x",
		want: `PUT "/" path="/" host=nil 1.0 cl=1 close [Expect="100-continue" Content-Length="1"]`},
	{name: "upgrade", head: rl + hh + "Connection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 upgrade [Host="h" Connection="keep-alive, Upgrade" Upgrade="websocket"]`},
	{name: "upgrade header without connection token", head: rl + hh + "Upgrade: websocket\r\n\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h" Upgrade="websocket"]`},
	{name: "upgrade ignored in 1.0", head: "GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
		want: `GET "/" path="/" host=nil 1.0 close [Connection="upgrade" Upgrade="websocket"]`},
	{name: "host ipv4 port", head: rl + "Host: 192.0.2.1:8080\r\n\r\n",
		want: `GET "/" path="/" host="192.0.2.1:8080" 1.1 [Host="192.0.2.1:8080"]`},
	{name: "host ipv6", head: rl + "Host: [::ffff:192.0.2.1]\r\n\r\n",
		want: `GET "/" path="/" host="[::ffff:192.0.2.1]" 1.1 [Host="[::ffff:192.0.2.1]"]`},
	{name: "host ipvfuture", head: rl + "Host: [v1.x:y]\r\n\r\n",
		want: `GET "/" path="/" host="[v1.x:y]" 1.1 [Host="[v1.x:y]"]`},
	{name: "host pct and sub-delims", head: rl + "Host: a%2Db_c~d!$&'()*+,;=\r\n\r\n",
		want: `GET "/" path="/" host="a%2Db_c~d!$&'()*+,;=" 1.1 [Host="a%2Db_c~d!$&'()*+,;="]`},
	{name: "host empty", head: rl + "Host:\r\n\r\n",
		want: `GET "/" path="/" host="" 1.1 [Host=""]`},
	{name: "host empty port", head: rl + "Host: h:\r\n\r\n",
		want: `GET "/" path="/" host="h:" 1.1 [Host="h:"]`},
	{name: "pipelined next request follows", head: rl + hh + "\r\n", body: rl + hh + "\r\n",
		want: `GET "/" path="/" host="h" 1.1 [Host="h"]`},
	{name: "max content-length unlimited", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 9223372036854775807\r\n\r\n",
		lim:  &Limits{MaxBodyBytes: -1},
		want: `POST "/" path="/" host="h" 1.1 cl=9223372036854775807 [Host="h" Content-Length="9223372036854775807"]`},
	{name: "content-length at limit", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 1048576\r\n\r\n",
		want: `POST "/" path="/" host="h" 1.1 cl=1048576 [Host="h" Content-Length="1048576"]`},
	{name: "request line at limit", head: "GET /" + strings.Repeat("a", 100-14) + " HTTP/1.1\r\n" + hh + "\r\n",
		lim:  &Limits{MaxRequestLine: 100},
		want: `GET "/` + strings.Repeat("a", 86) + `" path="/` + strings.Repeat("a", 86) + `" host="h" 1.1 [Host="h"]`},
	{name: "header bytes at limit", head: rl + hh + "X: 0123456789\r\n\r\n",
		lim:  &Limits{MaxHeaderBytes: len(hh + "X: 0123456789\r\n\r\n")},
		want: `GET "/" path="/" host="h" 1.1 [Host="h" X="0123456789"]`},
	{name: "header count at limit", head: rl + hh + "A: 1\r\nB: 2\r\n\r\n",
		lim:  &Limits{MaxHeaders: 3},
		want: `GET "/" path="/" host="h" 1.1 [Host="h" A="1" B="2"]`},
}

var invalidCases = []parseCase{
	// request line
	{name: "leading space", head: " GET / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "leading tab", head: "\tGET / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "leading bare LF", head: "\n" + rl + hh + "\r\n", status: 400},
	{name: "leading bare CR", head: "\r" + rl + hh + "\r\n", status: 400},
	{name: "two spaces after method", head: "GET  / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "two spaces after target", head: "GET /  HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "trailing space", head: "GET / HTTP/1.1 \r\n" + hh + "\r\n", status: 400},
	{name: "tab separator", head: "GET\t/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "no version", head: "GET /\r\n" + hh + "\r\n", status: 400},
	{name: "only method", head: "GET\r\n" + hh + "\r\n", status: 400},
	{name: "empty request line", head: "\r\n", status: 0}, // incomplete: an empty line is skipped
	{name: "method separator char", head: "G(T / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "method non-ascii", head: "G\xc9T / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "method too long", head: strings.Repeat("M", 33) + " / HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "version lower case", head: "GET / http/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "version HTTP/1", head: "GET / HTTP/1\r\n" + hh + "\r\n", status: 400},
	{name: "version HTTP/1.10", head: "GET / HTTP/1.10\r\n" + hh + "\r\n", status: 400},
	{name: "version HTTP/01.1", head: "GET / HTTP/01.1\r\n" + hh + "\r\n", status: 400},
	{name: "version HTTP/1.1x", head: "GET / HTTP/1.1x\r\n" + hh + "\r\n", status: 400},
	{name: "version garbage", head: "GET / FOO\r\n" + hh + "\r\n", status: 400},
	{name: "version 1.2", head: "GET / HTTP/1.2\r\n" + hh + "\r\n", status: 505},
	{name: "version 1.9", head: "GET / HTTP/1.9\r\n" + hh + "\r\n", status: 505},
	{name: "version 2.0", head: "GET / HTTP/2.0\r\n" + hh + "\r\n", status: 505},
	{name: "version 0.9", head: "GET / HTTP/0.9\r\n" + hh + "\r\n", status: 505},
	{name: "version 3.0", head: "GET / HTTP/3.0\r\n" + hh + "\r\n", status: 505},
	{name: "http2 preface", head: "PRI * HTTP/2.0\r\n\r\n", body: "SM\r\n\r\n", status: 505},
	{name: "http2 preface partial", head: "PRI * HTTP/2.0\r\n", status: 505},
	{name: "tls client hello", head: "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", status: 400},

	// request-target
	{name: "fragment", head: "GET /a#b HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "space in target", head: "GET /a b HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "NUL in target", head: "GET /a\x00 HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "tab in target", head: "GET /a\tb HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "DEL in target", head: "GET /a\x7f HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "non-ascii in target", head: "GET /caf\xc3\xa9 HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "CR in target", head: "GET /a\rb HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "bad percent", head: "GET /%zz HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "short percent", head: "GET /%4 HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "percent at end", head: "GET /% HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "bad percent in query", head: "GET /?a=%g0 HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "asterisk for GET", head: "GET * HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "asterisk-ish", head: "OPTIONS *x HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect origin-form", head: "CONNECT /x HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect no port", head: "CONNECT example.com HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect empty port", head: "CONNECT example.com: HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect absolute", head: "CONNECT http://h:1/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect empty target", head: "CONNECT  HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "connect asterisk", head: "CONNECT * HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "authority-form for GET", head: "GET example.com:443 HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "relative target", head: "GET a/b HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute userinfo", head: "GET http://u:p@h/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute empty host", head: "GET http:///p HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute only port", head: "GET http://:80/p HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute no slashes", head: "GET http:h/p HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute bad scheme", head: "GET 1ttp://h/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute bad port", head: "GET http://h:8a/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},
	{name: "absolute bad ipv6", head: "GET http://[::g]/ HTTP/1.1\r\n" + hh + "\r\n", status: 400},

	// line endings
	{name: "bare LF everywhere", head: "GET / HTTP/1.1\nHost: h\n\n", status: 400},
	{name: "bare LF after request line", head: "GET / HTTP/1.1\n" + hh + "\r\n", status: 400},
	{name: "bare LF after field", head: rl + "Host: h\n\r\n", status: 400},
	{name: "bare LF final", head: rl + hh + "\n", status: 400},
	{name: "bare CR in request line", head: "GET / HTTP/1.1\r\r\n" + hh + "\r\n", status: 400},
	{name: "bare CR in value", head: rl + "Host: h\rX: y\r\n\r\n", status: 400},
	{name: "bare CR final", head: rl + hh + "\rX\r\n", status: 400},
	{name: "LF in value", head: rl + hh + "X: a\nb\r\n\r\n", status: 400},
	{name: "LF in name", head: rl + hh + "X\n: a\r\n\r\n", status: 400},

	// field syntax
	{name: "space before colon", head: rl + "Host : h\r\n\r\n", status: 400},
	{name: "tab before colon", head: rl + hh + "X\t: a\r\n\r\n", status: 400},
	{name: "obs-fold", head: rl + hh + "X: a\r\n b\r\n\r\n", status: 400},
	{name: "obs-fold tab", head: rl + hh + "X: a\r\n\tb\r\n\r\n", status: 400},
	{name: "whitespace before first field", head: rl + " Host: h\r\n\r\n", status: 400},
	{name: "empty name", head: rl + hh + ": v\r\n\r\n", status: 400},
	{name: "no colon", head: rl + hh + "X\r\n\r\n", status: 400},
	{name: "name separator char", head: rl + hh + "X(y): v\r\n\r\n", status: 400},
	{name: "name NUL", head: rl + hh + "X\x00: v\r\n\r\n", status: 400},
	{name: "name non-ascii", head: rl + hh + "X\xe9: v\r\n\r\n", status: 400},
	{name: "value NUL", head: rl + hh + "X: a\x00b\r\n\r\n", status: 400},
	{name: "value CTL", head: rl + hh + "X: a\x01b\r\n\r\n", status: 400},
	{name: "value VT", head: rl + hh + "X: \x0bb\r\n\r\n", status: 400},
	{name: "value DEL", head: rl + hh + "X: a\x7f\r\n\r\n", status: 400},
	{name: "value CTL after 8 plain bytes", head: rl + hh + "X: 0123456789abcdef\x1f\r\n\r\n", status: 400},

	// Host
	{name: "missing host", head: rl + "\r\n", status: 400},
	{name: "missing host connect", head: "CONNECT h:443 HTTP/1.1\r\n\r\n", status: 400},
	{name: "missing host absolute-form", head: "GET http://h/ HTTP/1.1\r\n\r\n", status: 400},
	{name: "duplicate host", head: rl + hh + hh + "\r\n", status: 400},
	{name: "duplicate host 1.0", head: "GET / HTTP/1.0\r\n" + hh + hh + "\r\n", status: 400},
	{name: "duplicate host different case", head: rl + hh + "HOST: g\r\n\r\n", status: 400},
	{name: "host with space", head: rl + "Host: a b\r\n\r\n", status: 400},
	{name: "host with slash", head: rl + "Host: a/b\r\n\r\n", status: 400},
	{name: "host userinfo", head: rl + "Host: u@h\r\n\r\n", status: 400},
	{name: "host two colons", head: rl + "Host: a:1:2\r\n\r\n", status: 400},
	{name: "host bad port", head: rl + "Host: a:http\r\n\r\n", status: 400},
	{name: "host unclosed bracket", head: rl + "Host: [::1\r\n\r\n", status: 400},
	{name: "host ipv6 too many pieces", head: rl + "Host: [1:2:3:4:5:6:7:8:9]\r\n\r\n", status: 400},
	{name: "host ipv6 two ellipses", head: rl + "Host: [1::2::3]\r\n\r\n", status: 400},
	{name: "host ipv6 bad ipv4", head: rl + "Host: [::1.2.3.256]\r\n\r\n", status: 400},
	{name: "host bare ipv6", head: rl + "Host: ::1\r\n\r\n", status: 400},
	{name: "host bad percent", head: rl + "Host: a%zz\r\n\r\n", status: 400},
	{name: "host non-ascii", head: rl + "Host: caf\xc3\xa9\r\n\r\n", status: 400},

	// Content-Length
	{name: "cl negative", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: -1\r\n\r\n", status: 400},
	{name: "cl plus", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: +1\r\n\r\n", status: 400},
	{name: "cl inner space", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 1 2\r\n\r\n", status: 400},
	{name: "cl hex", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 0x10\r\n\r\n", status: 400},
	{name: "cl empty", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length:\r\n\r\n", status: 400},
	{name: "cl list", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 5, 5\r\n\r\n", body: "hello", status: 400},
	{name: "cl duplicate equal", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", body: "hello", status: 400},
	{name: "cl duplicate different", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", body: "hello!", status: 400},
	{name: "cl overflow", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 9223372036854775808\r\n\r\n", status: 400},
	{name: "cl huge", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 99999999999999999999999\r\n\r\n", status: 400},
	{name: "cl over body limit", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 1048577\r\n\r\n", status: 413},
	{name: "cl max int64 over default limit", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 9223372036854775807\r\n\r\n", status: 413},

	// Transfer-Encoding
	{name: "te and cl", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "cl and te", head: "POST / HTTP/1.1\r\n" + hh + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "te in 1.0", head: "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "te gzip only", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: gzip\r\n\r\n", status: 400},
	{name: "te gzip chunked", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: gzip, chunked\r\n\r\n", body: "0\r\n\r\n", status: 501},
	{name: "te two lines gzip chunked", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", body: "0\r\n\r\n", status: 501},
	{name: "te chunked gzip", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked, gzip\r\n\r\n", status: 400},
	{name: "te chunked identity", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked, identity\r\n\r\n", status: 400},
	{name: "te identity chunked", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: identity, chunked\r\n\r\n", body: "0\r\n\r\n", status: 501},
	{name: "te chunked twice", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked, chunked\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "te chunked two lines", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "te xchunked", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: xchunked\r\n\r\n", status: 400},
	{name: "te chunkedx", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunkedx\r\n\r\n", status: 400},
	{name: "te space before colon", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding : chunked\r\n\r\n", status: 400},
	{name: "te vertical tab", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding:\x0bchunked\r\n\r\n", status: 400},
	{name: "te form feed", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked\x0c\r\n\r\n", status: 400},
	{name: "te parameter", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked;q=1\r\n\r\n", status: 400},
	{name: "te trailing comma", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked,\r\n\r\n", status: 400},
	{name: "te leading comma", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: , chunked\r\n\r\n", body: "0\r\n\r\n", status: 400},
	{name: "te empty", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding:\r\n\r\n", status: 400},
	{name: "te quoted", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: \"chunked\"\r\n\r\n", status: 400},
	{name: "te obs-fold", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding:\r\n chunked\r\n\r\n", status: 400},
	{name: "te non-ascii", head: "POST / HTTP/1.1\r\n" + hh + "Transfer-Encoding: chunked\xa0\r\n\r\n", status: 400},

	// limits
	{name: "request line over limit", head: "GET /" + strings.Repeat("a", 87) + " HTTP/1.1\r\n" + hh + "\r\n",
		lim: &Limits{MaxRequestLine: 100}, status: 414},
	{name: "request line over default limit", head: "GET /" + strings.Repeat("a", 8<<10) + " HTTP/1.1\r\n" + hh + "\r\n", status: 414},
	{name: "request line over limit, bad method first", head: "G@T /" + strings.Repeat("a", 200) + " HTTP/1.1\r\n" + hh + "\r\n",
		lim: &Limits{MaxRequestLine: 100}, status: 400},
	{name: "leading CRLFs over line limit", head: "\r\n\r\nGET /" + strings.Repeat("a", 80) + " HTTP/1.1\r\n" + hh + "\r\n",
		lim: &Limits{MaxRequestLine: 94}, status: 414},
	{name: "too many leading CRLFs", head: strings.Repeat("\r\n", 5) + rl + hh + "\r\n", status: 400},
	{name: "header bytes over limit", head: rl + hh + "X: 0123456789\r\n\r\n",
		lim: &Limits{MaxHeaderBytes: len(hh+"X: 0123456789\r\n\r\n") - 1}, status: 431},
	{name: "header bytes over default limit", head: rl + hh + "Cookie: " + strings.Repeat("c", 32<<10) + "\r\n\r\n", status: 431},
	{name: "header count over limit", head: rl + hh + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n",
		lim: &Limits{MaxHeaders: 3}, status: 431},
	{name: "header count over default limit", head: rl + hh + strings.Repeat("X: y\r\n", 100) + "\r\n", status: 431},
	{name: "bad byte before header limit", head: rl + hh + "X: a\x00" + strings.Repeat("b", 100) + "\r\n\r\n",
		lim: &Limits{MaxHeaderBytes: 50}, status: 400},
}

// parseOne parses in with a fresh Request.
func parseOne(in []byte, lim *Limits) (*Request, int, error) {
	req := new(Request)
	n, err := Parse(in, req, lim)
	return req, n, err
}

func statusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func TestParseValid(t *testing.T) {
	for _, c := range validCases {
		t.Run(c.name, func(t *testing.T) {
			req, n, err := parseOne(c.input(), c.lim)
			if err != nil {
				t.Fatalf("Parse(%q) = %v", c.head, err)
			}
			if n != len(c.head) {
				t.Errorf("n = %d, want %d", n, len(c.head))
			}
			if got := render(req); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, c := range invalidCases {
		t.Run(c.name, func(t *testing.T) {
			_, n, err := parseOne(c.input(), c.lim)
			if c.status == 0 {
				if err != ErrIncomplete {
					t.Fatalf("Parse(%q) = %d, %v; want ErrIncomplete", c.head, n, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse(%q) = %d, %v; want status %d", c.head, n, err, c.status)
			}
			if e.Status != c.status || !e.Close || n != 0 {
				t.Fatalf("Parse(%q) = %d, %v; want status %d", c.head, n, err, c.status)
			}
		})
	}
}

func TestHeaderLookup(t *testing.T) {
	in := []byte(rl + "Host: h\r\nX-Thing: one\r\nx-thing: two\r\nContent-Type: text/plain\r\n\r\n")
	req, _, err := parseOne(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"x-THING": "one", "content-type": "text/plain", "HOST": "h"} {
		if got := req.Header(name); string(got) != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
	if got := req.Header("X-Missing"); got != nil {
		t.Errorf("Header(X-Missing) = %q", got)
	}
	if a := testing.AllocsPerRun(100, func() { req.Header("content-type") }); a != 0 {
		t.Errorf("Header allocates %v", a)
	}
	if got := req.TargetHost(); string(got) != "h" {
		t.Errorf("TargetHost = %q", got)
	}
}

func TestErrorText(t *testing.T) {
	_, _, err := parseOne([]byte("GET / HTTP/2.0\r\n\r\n"), nil)
	if got := err.Error(); got != "h1: 505 HTTP version not supported" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", ErrIncomplete), ErrIncomplete) {
		t.Error("ErrIncomplete is not errors.Is-able through wrapping")
	}
}
