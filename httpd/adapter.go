package httpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/httpd/internal/h1"
)

// adapter runs a net/http.Handler for requests parsed on the loops: each
// request's handler runs on a goroutine of its own while its connection
// waits (responses leave in request order, as with net/http); the
// response is rendered on that goroutine and handed to the loop in one
// piece when the handler returns, or piece by piece when it flushes.
type adapter struct {
	srv *Server
	h   http.Handler
	// idle hands a request to a goroutine that has finished its previous
	// one. Reusing goroutines keeps their grown stacks: with a new
	// goroutine per request, growing its stack through ServeMux and the
	// handler took 11% of the adapter's CPU (net/http's connection
	// goroutines keep theirs across requests). Unbuffered: a send
	// succeeds only when a worker waits.
	idle     chan *exchange
	waiting  atomic.Int32  // workers waiting on idle
	spawned  atomic.Int64  // workers started
	quit     chan struct{} // closed at shutdown: waiting workers exit
	quitOnce sync.Once
}

// maxIdleWorkers bounds the goroutines kept waiting for a request; past
// a burst, the rest exit.
const maxIdleWorkers = 256

func newAdapter(s *Server, h http.Handler) *adapter {
	return &adapter{srv: s, h: h, idle: make(chan *exchange), quit: make(chan struct{})}
}

// run starts x's handler on a waiting worker, or on a new one.
func (a *adapter) run(x *exchange) {
	select {
	case a.idle <- x:
	default:
		a.spawned.Add(1)
		go a.work(x)
	}
}

// work runs x's handler, then the requests handed to it while it waits.
func (a *adapter) work(x *exchange) {
	for {
		x.run()
		if a.waiting.Add(1) > maxIdleWorkers {
			a.waiting.Add(-1)
			return
		}
		select {
		case x = <-a.idle:
			a.waiting.Add(-1)
		case <-a.quit:
			a.waiting.Add(-1)
			return
		}
	}
}

// stop makes waiting workers exit; those running a handler exit when it
// returns.
func (a *adapter) stop() { a.quitOnce.Do(func() { close(a.quit) }) }

// exchange is one request in the hands of a net/http handler.
type exchange struct {
	a  *adapter
	ld *loopData // the loop's, taken at start: c may be recycled once closed
	// c is the connection, to be touched only on the loop and only while
	// c.exchange == x (a closed connection's record is reused).
	c      *conn
	req    *http.Request
	cancel context.CancelFunc

	header      http.Header
	status      int
	wroteHeader bool
	headDone    bool // the status line and headers are rendered
	chunked     bool // the head was flushed without a length
	http10      bool
	head        bool
	closeAfter  bool
	out         []byte // rendered output not yet handed to the loop
	body        []byte // body not yet rendered (until the head is)
	written     int64
	declared    int64 // Content-Length the handler set, or -1
	// info is the request line and headers the access log needs, kept
	// here rather than on the connection: an idle connection holds none.
	info requestInfo

	// What WriteHeader took from the header map: as with net/http, later
	// changes to it do not reach the response, except trailers.
	fields    []byte   // the handler's fields, rendered
	hasType   bool     // Content-Type set (even empty: no sniffing)
	sniffed   string   // Content-Type detected from the first write
	ownServer bool     // the handler set Server
	ownDate   bool     // the handler set Date
	trailers  []string // field names the Trailer header announced

	// ack carries the loop's answer to a flushed piece: nil once the
	// connection's output is below its high-water mark (so a handler
	// writing to a client that does not read waits, as with net/http),
	// net.ErrClosed if the connection is gone.
	ack chan error

	mu       sync.Mutex
	done     bool // the handler returned
	hijacked bool
	// draining is set by the loop when Shutdown wants the connection
	// closed after this response, so its head says so.
	draining atomic.Bool
}

// serve starts the handler for a request; it runs on the loop.
func (a *adapter) serve(c *conn, req *h1.Request, body []byte) {
	hr, err := a.newRequest(c, req, body)
	if err != nil {
		c.ld.writeError(c.ec, http.StatusBadRequest)
		c.closeAfter = true
		c.responded()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, c.ec.LocalAddr())
	x := &exchange{
		a: a, ld: c.ld, c: c, req: hr.WithContext(ctx), cancel: cancel,
		header: make(http.Header), status: http.StatusOK,
		http10: req.ProtoMinor == 0, head: hr.Method == http.MethodHead,
		closeAfter: c.closeAfter, declared: -1,
	}
	x.info.capture(c.ld.loop.Now(), req)
	c.exchange = x
	a.run(x)
}

// connClosed runs on the loop when a connection with a handler in
// progress closes: the request's context is cancelled, as net/http does
// when the client goes away.
func (a *adapter) connClosed(c *conn) {
	if x := c.exchange; x != nil {
		x.cancel()
		c.exchange = nil
	}
	c.wakeWriter(net.ErrClosed)
}

// newRequest builds the *http.Request for a parsed head. The body was read
// by the loop; the handler gets a copy.
func (a *adapter) newRequest(c *conn, req *h1.Request, body []byte) (*http.Request, error) {
	target := string(req.Target)
	// CONNECT names an authority ("host:port"), which ParseRequestURI
	// would take for a scheme and an opaque part; net/http parses it
	// behind a scheme it then drops.
	authority := string(req.Method) == http.MethodConnect && !strings.HasPrefix(target, "/")
	raw := target
	if authority {
		raw = "http://" + target
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return nil, err
	}
	if authority {
		u.Scheme = ""
	}
	h := make(http.Header, len(req.Headers))
	for _, f := range req.Headers {
		k := http.CanonicalHeaderKey(string(f.Name))
		if k == "Host" {
			continue // net/http moves it to Request.Host
		}
		h[k] = append(h[k], string(f.Value))
	}
	hr := &http.Request{
		Method:        methodString(req.Method),
		URL:           u,
		Proto:         "HTTP/1." + strconv.Itoa(req.ProtoMinor),
		ProtoMajor:    1,
		ProtoMinor:    req.ProtoMinor,
		Header:        h,
		Host:          string(req.TargetHost()),
		RequestURI:    target,
		ContentLength: int64(len(body)),
		RemoteAddr:    c.remoteString(),
		Close:         c.closeAfter,
	}
	if req.Chunked {
		hr.TransferEncoding = []string{"chunked"}
	}
	if len(body) > 0 {
		// body is the loop's (the receive buffer, or a pooled one): the
		// handler's goroutine gets a copy of its own.
		own := bytes.Clone(body)
		hr.Body = io.NopCloser(bytes.NewReader(own))
		hr.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(own)), nil }
	} else {
		hr.Body = http.NoBody
	}
	return hr, nil
}

// methodString returns the common methods without allocating.
func methodString(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodPatch:
		return http.MethodPatch
	}
	return string(m)
}

func (c *conn) remoteString() string {
	if c.remote == "" {
		c.remote = c.ec.RemoteAddr().String()
	}
	return c.remote
}

// run calls the handler on the exchange's goroutine.
func (x *exchange) run() {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				x.abort()
				return
			}
			x.a.srv.ErrorLog.Error("httpd: handler panicked", "panic", p, "path", x.req.URL.Path)
			x.abort()
			return
		}
		x.finish()
	}()
	x.a.h.ServeHTTP(x, x.req)
}

// Header implements http.ResponseWriter.
func (x *exchange) Header() http.Header { return x.header }

// WriteHeader implements http.ResponseWriter.
func (x *exchange) WriteHeader(code int) {
	if x.wroteHeader || x.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic("httpd: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An interim response goes out at once; the real one follows.
		b := appendStatusLine(nil, code, false)
		b = appendHeader(b, x.header)
		b = append(b, "\r\n"...)
		x.send(b, false)
		return
	}
	x.wroteHeader = true
	x.status = code
	x.snapshot()
}

// snapshot takes the response's fields from the header map when the
// status is set, as net/http does. Content-Length (when valid),
// Transfer-Encoding and Connection are the server's to render; an
// invalid Content-Length is dropped, as net/http drops it.
func (x *exchange) snapshot() {
	h := x.header
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			x.declared = n
		}
	}
	if containsToken(h.Get("Connection"), "close") {
		x.closeAfter = true
	}
	_, x.hasType = h["Content-Type"]
	x.hasType = x.hasType || h.Get("Content-Encoding") != ""
	_, x.ownServer = h["Server"]
	_, x.ownDate = h["Date"]
	for _, v := range h["Trailer"] {
		for _, name := range strings.Split(v, ",") {
			if name = textproto.TrimString(name); name != "" {
				x.trailers = append(x.trailers, http.CanonicalHeaderKey(name))
			}
		}
	}
	b := x.fields[:0]
	for k, vs := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding":
			continue
		case "Connection":
			if x.status != http.StatusSwitchingProtocols {
				continue // the server's to render; a 101 keeps "Upgrade"
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		b = appendField(b, k, vs)
	}
	x.fields = b
}

// Write implements http.ResponseWriter.
func (x *exchange) Write(b []byte) (int, error) {
	if x.hijacked {
		return 0, http.ErrHijacked
	}
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(x.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if x.head && !x.hasType && x.sniffed == "" && !x.headDone && len(b) > 0 {
		// A HEAD keeps no body to sniff when the head is rendered: its
		// first write tells, as net/http does.
		x.sniffed = http.DetectContentType(b)
	}
	if x.declared >= 0 && x.written+int64(len(b)) > x.declared {
		return 0, http.ErrContentLength
	}
	x.written += int64(len(b))
	if x.head {
		return len(b), nil
	}
	x.body = append(x.body, b...)
	// Large bodies go to the loop in pieces, so the handler's memory stays
	// bounded.
	if len(x.body) >= 256<<10 {
		if err := x.FlushError(); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

// WriteString implements io.StringWriter.
func (x *exchange) WriteString(s string) (int, error) {
	return x.Write([]byte(s))
}

// Flush implements http.Flusher: what is buffered leaves now.
func (x *exchange) Flush() { _ = x.FlushError() }

// FlushError is Flush for http.ResponseController.
func (x *exchange) FlushError() error {
	if x.hijacked {
		return http.ErrHijacked
	}
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	if !x.headDone {
		x.renderHead(-1)
	}
	x.renderBody()
	out := x.out
	x.out = nil
	if err := x.send(out, false); err != nil {
		return err
	}
	// The request's context ends when the client goes away.
	return x.req.Context().Err()
}

// renderHead renders the head; n is the body length, or -1 when not known
// yet (chunked in HTTP/1.1, close-delimited in HTTP/1.0).
func (x *exchange) renderHead(n int64) {
	b := x.out
	b = appendStatusLine(b, x.status, x.http10)
	if !x.ownServer {
		b = append(b, x.a.srv.serverLine()...)
	}
	if !x.ownDate {
		b = append(b, "Date: "...)
		b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
		b = append(b, "\r\n"...)
	}
	if x.draining.Load() {
		x.closeAfter = true
	}
	switch {
	case !bodyAllowed(x.status):
	case x.declared >= 0:
		b = appendLength(b, x.declared)
	case n > 0, n == 0 && !x.head:
		b = appendLength(b, n)
	case x.head:
		// No body follows a HEAD's head, whatever its handler flushed: a
		// length it did not declare is not stated (net/http neither).
	case x.http10:
		x.closeAfter = true
	default:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
		x.chunked = true
	}
	if !x.hasType && x.sniffed == "" && len(x.body) > 0 {
		// From what is buffered, up to the 512 bytes the algorithm reads,
		// as net/http does.
		x.sniffed = http.DetectContentType(x.body[:min(len(x.body), 512)])
	}
	if x.sniffed != "" && bodyAllowed(x.status) {
		b = append(b, "Content-Type: "...)
		b = append(b, x.sniffed...)
		b = append(b, "\r\n"...)
	}
	switch {
	case x.status == http.StatusSwitchingProtocols:
		// The handler's Connection: Upgrade stands.
	case x.closeAfter:
		b = append(b, "Connection: close\r\n"...)
	case x.http10:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, x.fields...)
	b = append(b, "\r\n"...)
	x.out = b
	x.headDone = true
}

func appendLength(b []byte, n int64) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	return append(b, "\r\n"...)
}

// appendTrailers renders the trailer fields: those the Trailer header
// announced, and any set under http.TrailerPrefix.
func (x *exchange) appendTrailers(b []byte) []byte {
	for _, k := range x.trailers {
		b = appendField(b, k, x.header[k])
	}
	for k, vs := range x.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			b = appendField(b, http.CanonicalHeaderKey(name), vs)
		}
	}
	return b
}

// hasTrailers reports whether the response ends with trailer fields.
func (x *exchange) hasTrailers() bool {
	if len(x.trailers) > 0 {
		return true
	}
	for k := range x.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// renderBody moves the buffered body into the output.
func (x *exchange) renderBody() {
	if len(x.body) == 0 {
		return
	}
	if x.chunked {
		x.out = strconv.AppendInt(x.out, int64(len(x.body)), 16)
		x.out = append(x.out, "\r\n"...)
		x.out = append(x.out, x.body...)
		x.out = append(x.out, "\r\n"...)
	} else {
		x.out = append(x.out, x.body...)
	}
	x.body = x.body[:0]
}

// appendHeader renders header fields, dropping any that could inject
// lines.
func appendHeader(b []byte, h http.Header) []byte {
	for k, vs := range h {
		b = appendField(b, k, vs)
	}
	return b
}

// appendField renders one field's values, dropping a name or value that
// could inject lines.
func appendField(b []byte, k string, vs []string) []byte {
	if !validHeaderName(k) {
		return b
	}
	for _, v := range vs {
		if !validHeaderValue(v) {
			continue
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, v...)
		b = append(b, "\r\n"...)
	}
	return b
}

// finish completes the response after the handler returned.
func (x *exchange) finish() {
	x.mu.Lock()
	x.done = true
	hijacked := x.hijacked
	x.mu.Unlock()
	if hijacked {
		return
	}
	if !x.wroteHeader {
		x.WriteHeader(http.StatusOK)
	}
	if !x.headDone && x.declared < 0 && !x.http10 && !x.head && bodyAllowed(x.status) && x.hasTrailers() {
		// Trailers need the chunked framing, though the length is known.
		x.renderHead(-1)
	}
	switch {
	case !x.headDone:
		// Nothing sent yet: one piece with a Content-Length.
		n := x.written
		if x.declared >= 0 && x.declared != x.written && !x.head {
			x.closeAfter = true
		}
		x.renderHead(n)
		x.renderBody()
	case x.chunked:
		x.renderBody()
		x.out = append(x.out, "0\r\n"...)
		x.out = x.appendTrailers(x.out)
		x.out = append(x.out, "\r\n"...)
	default:
		x.renderBody()
		if x.declared >= 0 && x.declared != x.written && !x.head {
			x.closeAfter = true
		}
	}
	out := x.out
	x.out = nil
	x.send(out, true)
}

// abort ends the exchange without a proper response: a panicking
// handler. The connection is closed, as net/http does.
func (x *exchange) abort() {
	x.mu.Lock()
	x.done = true
	x.mu.Unlock()
	c := x.c
	x.ld.post(func() {
		if c.exchange != x {
			return
		}
		c.exchange = nil
		x.cancel()
		c.ec.Abort(errors.New("httpd: handler panicked"))
	})
}

// send hands b to the loop; last ends the exchange. A piece that is not
// the last waits until the connection's output is below its high-water
// mark: a client that does not read holds the handler, not memory.
func (x *exchange) send(b []byte, last bool) error {
	c := x.c
	closeAfter := x.closeAfter
	if last {
		x.ld.post(func() {
			if c.exchange != x {
				return // the connection closed meanwhile
			}
			if len(b) > 0 {
				c.ec.Write(b)
			}
			c.exchange = nil
			x.cancel()
			c.closeAfter = c.closeAfter || closeAfter
			c.ld.done(c, &x.info, x.status, x.written)
			c.responded()
		})
		return nil
	}
	if x.ack == nil {
		x.ack = make(chan error, 1)
	}
	err := x.ld.post(func() {
		if c.exchange != x {
			x.ack <- net.ErrClosed
			return
		}
		if len(b) > 0 {
			c.ec.Write(b)
		}
		if c.ec.Buffered() > c.ld.srv.highWater() {
			c.writer = x // OnWritable, OnDrained or the close answers
			return
		}
		x.ack <- nil
	})
	if err != nil {
		return net.ErrClosed
	}
	return <-x.ack
}

// wakeWriter lets a handler waiting on the connection's output go on.
func (c *conn) wakeWriter(err error) {
	if x := c.writer; x != nil && (err != nil || c.ec.Buffered() <= c.ld.srv.highWater()) {
		c.writer = nil
		x.ack <- err
	}
}

// Hijack implements http.Hijacker: the connection leaves the server and
// becomes the handler's, as a net.Conn on the same loop.
func (x *exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	x.mu.Lock()
	if x.done || x.hijacked {
		x.mu.Unlock()
		return nil, nil, http.ErrHijacked
	}
	x.hijacked = true
	x.mu.Unlock()
	type result struct {
		fd      int
		network string
		rest    []byte
		err     error
	}
	ch := make(chan result, 1)
	c := x.c
	if x.wroteHeader && !x.headDone {
		// A status set before the hijack (a 101 above all) goes out first,
		// as net/http sends it.
		x.renderHead(-1)
		x.renderBody()
	}
	out := x.out
	err := x.ld.post(func() {
		if c.exchange != x {
			ch <- result{fd: -1, err: net.ErrClosed}
			return
		}
		if len(out) > 0 {
			c.ec.Write(out)
		}
		// The record is recycled once Detach closes the connection: take
		// what is needed of it now.
		network := "tcp"
		if _, ok := c.ec.LocalAddr().(*net.UnixAddr); ok {
			network = "unix"
		}
		pending := append([]byte(nil), c.in...)
		c.in = c.in[:0]
		c.exchange = nil
		c.ec.Detach(func(fd int, rest []byte, err error) {
			ch <- result{fd, network, append(pending, rest...), err}
		})
	})
	if err != nil {
		return nil, nil, net.ErrClosed
	}
	r := <-ch
	if r.err != nil {
		return nil, nil, r.err
	}
	nc := x.ld.loop.NewConn(r.fd, r.network)
	var rd io.Reader = nc
	if len(r.rest) > 0 {
		rd = io.MultiReader(bytes.NewReader(r.rest), nc)
	}
	return nc, bufio.NewReadWriter(bufio.NewReader(rd), bufio.NewWriter(nc)), nil
}

// SetReadDeadline is for http.ResponseController. The loop has read the
// whole body before the handler runs, so there is nothing left to bound.
func (x *exchange) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline is for http.ResponseController: the connection is
// aborted if the response has not left by t.
func (x *exchange) SetWriteDeadline(t time.Time) error {
	c := x.c
	x.ld.post(func() {
		if c.exchange != x {
			return
		}
		// Kept for the rest of the response, after the handler returns.
		c.deadline, c.deadlineSet = t, true
		if t.IsZero() {
			c.ec.SetTimeout(0)
			return
		}
		c.ec.SetTimeout(max(time.Until(t), time.Nanosecond))
	})
	return nil
}

// EnableFullDuplex is for http.ResponseController; the body is read
// before the handler runs, so reading and writing never conflict.
func (x *exchange) EnableFullDuplex() error { return nil }

var (
	_ http.ResponseWriter = (*exchange)(nil)
	_ http.Flusher        = (*exchange)(nil)
	_ http.Hijacker       = (*exchange)(nil)
	_ io.StringWriter     = (*exchange)(nil)
)
