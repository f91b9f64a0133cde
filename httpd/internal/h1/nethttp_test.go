package h1

// Differential testing against Go's net/http server.
//
// The reference is not http.ReadRequest alone but a real http.Server reading
// the bytes from an in-memory connection: the server calls ReadRequest and
// then applies the checks ReadRequest leaves to it (Host present and valid,
// header names and values, HTTP major version 1), so this compares what the
// two servers accept and what a handler would see.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// netResult is what net/http's server made of an input.
type netResult struct {
	accepted bool   // the handler ran and read the whole body
	status   int    // when refused: the status net/http answered (0: none)
	reason   string // when refused: the error text or body error
	method   string
	uri      string
	major    int
	minor    int
	host     string
	path     string
	rawQuery string
	header   http.Header
	cl       int64
	te       []string
	close    bool
	body     []byte
}

// memConn is a net.Conn that reads from a byte slice and records writes.
type memConn struct {
	mu     sync.Mutex
	r      *bytes.Reader
	out    bytes.Buffer
	closed chan struct{}
	once   sync.Once
}

func (c *memConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.r.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *memConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

func (c *memConn) LocalAddr() net.Addr              { return memAddr }
func (c *memConn) RemoteAddr() net.Addr             { return memAddr }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// oneConnListener hands out one connection, then blocks until it is closed
// and reports the listener closed, so Serve returns when the server is done
// with the connection.
type oneConnListener struct {
	conn *memConn
	used bool
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	if !l.used {
		l.used = true
		return l.conn, nil
	}
	<-l.conn.closed
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error   { return nil }
func (l *oneConnListener) Addr() net.Addr { return memAddr }

var discardLog = log.New(io.Discard, "", 0)

// netHTTP serves input with an http.Server and reports the first request.
// It returns once the handler has run, or once the server has closed the
// connection without running it. (After a handler that left a body unread
// the server lingers 500ms before closing; that goroutine ends on its own.)
func netHTTP(input []byte) netResult {
	conn := &memConn{r: bytes.NewReader(input), closed: make(chan struct{})}
	var res netResult
	var once sync.Once
	handled := make(chan struct{})
	srv := &http.Server{
		ErrorLog: discardLog,
		// Let "OPTIONS *" reach the handler instead of being answered by
		// the server itself.
		DisableGeneralOptionsHandler: true,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() {
				defer close(handled)
				res = netResult{
					method: r.Method, uri: r.RequestURI, major: r.ProtoMajor, minor: r.ProtoMinor,
					host: r.Host, path: r.URL.Path, rawQuery: r.URL.RawQuery,
					header: r.Header.Clone(), cl: r.ContentLength, te: r.TransferEncoding, close: r.Close,
				}
				body, err := io.ReadAll(r.Body)
				res.body = body
				if err != nil {
					res.reason = "body: " + err.Error()
				} else {
					res.accepted = true
				}
			})
		}),
	}
	go srv.Serve(&oneConnListener{conn: conn}) //nolint:errcheck // always ErrClosed
	select {
	case <-handled:
		return res
	case <-conn.closed:
	}
	select {
	case <-handled: // the handler ran just before the close
		return res
	default:
	}
	// Refused before the handler: the status line of the error reply.
	conn.mu.Lock()
	line, _, _ := bufio.NewReader(bytes.NewReader(conn.out.Bytes())).ReadLine()
	conn.mu.Unlock()
	res.reason = string(line)
	if f := bytes.Fields(line); len(f) >= 2 {
		res.status, _ = strconv.Atoi(string(f[1]))
	}
	return res
}

// ourResult is what this package makes of an input: the head, then the
// body read by ContentLength or ChunkedDecoder.
type ourResult struct {
	req     *Request
	n       int
	err     error // from Parse, or from reading the body (ErrIncomplete: truncated)
	body    []byte
	headErr bool // err came from Parse
}

func (r ourResult) accepted() bool { return r.err == nil }

func ours(input []byte) ourResult {
	req := new(Request)
	n, err := Parse(input, req, nil)
	res := ourResult{req: req, n: n, err: err, headErr: err != nil}
	if err != nil {
		return res
	}
	rest := input[n:]
	switch {
	case req.Chunked:
		var d ChunkedDecoder
		for {
			data, m, err := d.Decode(rest)
			res.body = append(res.body, data...)
			rest = rest[m:]
			if err == io.EOF {
				break
			}
			if err != nil {
				res.err = err
				break
			}
		}
	case req.ContentLength > 0:
		if int64(len(rest)) < req.ContentLength {
			res.err = ErrIncomplete
		} else {
			res.body = rest[:req.ContentLength]
		}
	}
	return res
}

// compareAccepted returns the first difference between two accepted
// results, or "".
func compareAccepted(o ourResult, n netResult) string {
	r := o.req
	diff := func(what string, ours, theirs any) string {
		return what + ": ours " + strconv.Quote(toString(ours)) + ", net/http " + strconv.Quote(toString(theirs))
	}
	if string(r.Method) != n.method {
		return diff("method", r.Method, n.method)
	}
	if string(r.Target) != n.uri {
		return diff("target", r.Target, n.uri)
	}
	if r.ProtoMajor != n.major || r.ProtoMinor != n.minor {
		return diff("version", strconv.Itoa(r.ProtoMinor), strconv.Itoa(n.minor))
	}
	if string(r.TargetHost()) != n.host {
		return diff("host", r.TargetHost(), n.host)
	}
	if p, err := url.PathUnescape(string(r.Path)); err != nil || p != n.path {
		return diff("path", r.Path, n.path)
	}
	if string(r.Query) != n.rawQuery {
		return diff("query", r.Query, n.rawQuery)
	}
	// net/http moves Transfer-Encoding to Request.TransferEncoding and Host
	// to Request.Host; both are compared above and below.
	h := http.Header{}
	for _, f := range r.Headers {
		k := textproto.CanonicalMIMEHeaderKey(string(f.Name))
		if k == "Host" || k == "Transfer-Encoding" {
			continue
		}
		h[k] = append(h[k], string(f.Value))
	}
	if !headersEqual(h, n.header) {
		return diff("headers", headerString(h), headerString(n.header))
	}
	wantCL := r.ContentLength
	if wantCL < 0 && !r.Chunked {
		wantCL = 0 // net/http: no body is ContentLength 0
	}
	if wantCL != n.cl {
		return diff("content-length", strconv.FormatInt(wantCL, 10), strconv.FormatInt(n.cl, 10))
	}
	if r.Chunked != slices.Equal(n.te, []string{"chunked"}) {
		return diff("chunked", strconv.FormatBool(r.Chunked), n.te)
	}
	if !bytes.Equal(o.body, n.body) {
		return diff("body", o.body, n.body)
	}
	if !r.KeepAlive != n.close {
		return diff("close", strconv.FormatBool(!r.KeepAlive), strconv.FormatBool(n.close))
	}
	return ""
}

func toString(v any) string {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case string:
		return v
	case []string:
		return "[" + string(bytes.Join(toBytes(v), []byte(" "))) + "]"
	}
	return "?"
}

func toBytes(ss []string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, []byte(s))
	}
	return out
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func headerString(h http.Header) string {
	var b bytes.Buffer
	h.Write(&b) //nolint:errcheck // bytes.Buffer
	return b.String()
}

// The allow-list: every way in which this package and net/http's server may
// disagree on whether to accept a request, and why. The differential tests
// fail on any disagreement not listed here.

// stricter maps each error with which we refuse requests that net/http
// accepts to the reason we do so on purpose.
var stricter = map[*Error]string{
	errBareLF: "RFC 9112 §2.2 lets a recipient accept a bare LF as a line end, and net/http does " +
		"(in the head and in trailers); we accept CRLF only, since parsers that disagree on " +
		"line ends are a request smuggling vector.",
	errObsFold: "net/http unfolds obs-fold lines (and trailer lines); RFC 9112 §5.2 allows rejecting " +
		"them with 400, which leaves no room for a front end to read the fold differently.",
	errDupContentLength: "RFC 9110 §8.6 allows accepting repeated identical Content-Length values, " +
		"as net/http does; we refuse any second Content-Length.",
	errCLAndTE: "net/http drops Content-Length and reads the body as chunked, as RFC 9112 §6.1 " +
		"allows; a request with both is the classic smuggling attempt, so we refuse it.",
	errTE10: "net/http ignores Transfer-Encoding in HTTP/1.0 requests (Go issue 12785); HTTP/1.0 has " +
		"no transfer codings, so we treat the framing as faulty (RFC 9112 §6.1).",
	errVersionNotSupp: "net/http serves HTTP/1.2-1.9 as 1.x (RFC 9110 §2.5) and hands \"PRI * HTTP/2.0\" " +
		"to handlers for h2c; we accept exactly HTTP/1.0 and HTTP/1.1 and answer 505 otherwise.",
	errMethodLong: "net/http accepts a method token of any length; we cap methods at 32 bytes " +
		"(longer than any registered method).",
	errFragment: "net/http parses and drops a #fragment; RFC 9112 §3.2 request-targets have none, " +
		"clients never send one.",
	errTargetChar: "net/http accepts bytes >= 0x80 in the request-target; RFC 3986 does not, and a raw " +
		"byte there can be decoded differently by different components.",
	errPercent: "net/http checks %-escapes only in the path; we require %HH everywhere in the target " +
		"(RFC 3986 pct-encoded).",
	errTargetForm: "net/http accepts any target form with any method (asterisk for GET, CONNECT with " +
		"a path); RFC 9112 §3.2.3-4 restricts authority-form to CONNECT and asterisk-form to OPTIONS.",
	errAuthority: "net/http accepts CONNECT targets without a port and absolute-form URIs with an " +
		"empty or malformed host; RFC 9112 §3.2.3 requires host:port and RFC 9110 §4.2.1 a host.",
	errAbsoluteForm: "net/http accepts targets like \"example.com:443\" (scheme \"example.com\") or " +
		"\"http:h/p\" for any method; we take absolute-form only as scheme://authority.",
	errNoHost: "net/http exempts CONNECT from the Host requirement; RFC 9112 §3.2 requires Host in " +
		"every HTTP/1.1 request.",
	errEmptyTarget: "net/http accepts CONNECT with an empty request-target (two spaces); the grammar " +
		"has no empty target.",
	errUserinfo: "RFC 9110 §4.2.4: userinfo in an http(s) URI should be treated as an error; net/http " +
		"accepts it.",
	errHost: "net/http checks Host by character class; we check RFC 3986 uri-host [\":\" port] " +
		"(one colon, numeric port, well-formed IP literals and %-escapes).",
	errLineTooLong:    "limits: request line 8 KiB (nginx) versus net/http's 1 MiB for the whole head.",
	errHeaderTooLarge: "limits: field section 32 KiB (nginx) versus net/http's 1 MiB for the whole head.",
	errTooManyHeaders: "limits: at most 100 fields (Apache); net/http counts only bytes.",
	errBodyTooLarge:   "limits: 1 MiB body by default (nginx); net/http has no body limit.",
	errChunkExt: "net/http trims whitespace after the chunk size and discards chunk extensions " +
		"unchecked; we apply the RFC 9112 §7.1.1 grammar (whitespace only before ';' or around '=').",
	errTrailer: "net/http reads trailers with textproto, which is laxer about field syntax (e.g. " +
		"obs-fold); we apply the same field syntax as in the head.",
}

// laxer lists the requests we accept and net/http refuses, each with a
// predicate recognizing it and the reason.
var laxer = []struct {
	why   string
	match func(in []byte, o ourResult, n netResult) bool
}{
	{
		"RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line; " +
			"net/http skips them only after a POST on the same connection.",
		func(in []byte, o ourResult, n netResult) bool { return bytes.HasPrefix(in, []byte("\r\n")) },
	},
	{
		"net/http answers 417 to any Expect other than 100-continue; RFC 9110 §10.1.1 makes that a " +
			"MAY, and the parser leaves other expectations to the server (Header(\"Expect\")).",
		func(in []byte, o ourResult, n netResult) bool { return n.status == 417 },
	},
	{
		"RFC 9112 §7.1.1 allows BWS before ';' in a chunk extension and RFC 9110 §5.6.3 says " +
			"recipients MUST accept it; net/http refuses whitespace between the size and ';'.",
		func(in []byte, o ourResult, n netResult) bool {
			return o.req.Chunked && strings.Contains(n.reason, "invalid byte in chunk length") &&
				bwsBeforeExt.Match(in[o.n:])
		},
	},
	{
		"net/http refuses a chunked body whose overhead (size lines, extensions) exceeds 16 KiB more " +
			"than its data; ours is bounded per chunk line (MaxChunkExtBytes) and costs no memory.",
		func(in []byte, o ourResult, n netResult) bool {
			return o.req.Chunked && strings.Contains(n.reason, "too much non-data")
		},
	},
}

var bwsBeforeExt = regexp.MustCompile(`(^|\r\n)[0-9A-Fa-f]+[ \t]+;`)

// disagreement returns "" when o and n agree on input in, or when their
// disagreement is allowed (then why is the allow-list reason), or a
// description of the unexplained difference.
func disagreement(in []byte, o ourResult, n netResult) (diff, why string) {
	switch {
	case o.accepted() && n.accepted:
		return compareAccepted(o, n), ""
	case !o.accepted() && !n.accepted:
		return "", ""
	case n.accepted:
		var e *Error
		if errors.As(o.err, &e) {
			if why, ok := stricter[e]; ok {
				return "", why
			}
		}
		return "we refuse (" + errString(o.err) + "), net/http accepts", ""
	default:
		for _, l := range laxer {
			if l.match(in, o, n) {
				return "", l.why
			}
		}
		return "we accept, net/http refuses (" + n.reason + ")", ""
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

// checkDifferential fails t if ours and net/http disagree on in without an
// allow-list entry, and returns the entry's reason if one applied.
func checkDifferential(t testing.TB, in []byte) string {
	t.Helper()
	o := ours(in)
	n := netHTTP(in)
	diff, why := disagreement(in, o, n)
	if diff != "" {
		t.Fatalf("input %q:\n%s", in, diff)
	}
	return why
}

// differentialInputs are the table inputs, the chunked table bodies wrapped
// in a request, and the committed fuzz corpora.
func differentialInputs(t testing.TB) map[string][]byte {
	inputs := map[string][]byte{}
	for _, c := range allCases() {
		inputs["table/"+c.name] = c.input()
	}
	for _, c := range chunkCases {
		inputs["chunked/"+c.name] = wrapChunked([]byte(c.in))
	}
	for _, target := range []string{"FuzzParse", "FuzzNetHTTP"} {
		for name, in := range readCorpus(t, target) {
			inputs[target+"/"+name] = in
		}
	}
	for name, in := range readCorpus(t, "FuzzChunked") {
		inputs["FuzzChunked/"+name] = wrapChunked(in)
	}
	// Inputs too large for the tables (whose every prefix is tested).
	inputs["big/content-length over body limit"] = append([]byte("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048577\r\n\r\n"), make([]byte, 1048577)...)
	inputs["big/chunked over body limit"] = wrapChunked(append(append([]byte("100001\r\n"), make([]byte, 0x100001)...), "\r\n0\r\n\r\n"...))
	inputs["big/chunk overhead"] = wrapChunked([]byte(strings.Repeat("1;"+strings.Repeat("e", 30)+"\r\nx\r\n", 1100) + "0\r\n\r\n"))
	return inputs
}

// wrapChunked puts a chunked body behind a request head.
func wrapChunked(body []byte) []byte {
	return append([]byte("POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"), body...)
}

// TestNetHTTPDifferential runs every known input through both servers. Each
// allow-list entry must be needed by at least one input, so the list stays
// exact.
func TestNetHTTPDifferential(t *testing.T) {
	used := map[string]int{}
	for name, in := range differentialInputs(t) {
		if why := checkDifferential(t, in); why != "" {
			used[why]++
			t.Logf("%s: allowed: %.60s...", name, why)
		}
	}
	for e, why := range stricter {
		if used[why] == 0 {
			t.Errorf("allow-list entry for %q is not exercised by any input", e.Reason)
		}
	}
	for _, l := range laxer {
		if used[l.why] == 0 {
			t.Errorf("allow-list entry %q is not exercised by any input", l.why)
		}
	}
}

// FuzzNetHTTP is the differential check on arbitrary input.
func FuzzNetHTTP(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDifferential(t, in)
	})
}
