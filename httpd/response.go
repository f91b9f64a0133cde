package httpd

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/uringd/uringd/httpd/internal/h1"
	"github.com/uringd/uringd/sched"
)

// ErrResponseDone is returned by writes to a finished response.
var ErrResponseDone = errors.New("httpd: response already finished")

// Response writes the response to one request, on the connection's loop.
// The body is buffered and sent with a Content-Length when the response
// finishes; Flush sends what is there at once, with chunked encoding from
// then on (or with the length given to SetContentLength). Headers are
// added with Header; the server adds Date, Server, Content-Length or
// Transfer-Encoding, and Connection itself.
//
// A Response finishes when ServeHTTP returns, unless the handler called
// Async: it then finishes with Finish, on the loop (Post gets there from
// any goroutine). Responses on one connection leave in request order. An
// asynchronous response whose client has gone is finished all the same;
// its writes return net.ErrClosed and go nowhere (Closed tells). A
// Response must not be used once finished: it is recycled.
type Response struct {
	c *conn
	// ld and gen are taken at the start: once the client goes, c is
	// recycled for other connections, and gen tells them apart.
	ld            *loopData
	gen           uint32
	ownServer     bool        // the handler set Server
	ownDate       bool        // the handler set Date
	reserved      int         // head bytes in the room reserveBody took
	gone          atomic.Bool // the client has closed or half-closed
	status        int
	hdr           []byte // extra header lines, "Name: value\r\n" each
	body          []byte
	contentLength int64 // declared by SetContentLength, or -1
	written       int64 // body bytes sent or buffered
	head          bool  // a HEAD request: headers only
	http10        bool
	async         bool
	inHandler     bool // ServeHTTP has not returned yet
	finishLater   bool // Finish was called before ServeHTTP returned
	headerSent    bool
	chunked       bool
	done          bool
	info          requestInfo
}

func (ld *loopData) getResponse(c *conn, req *h1.Request) *Response {
	var w *Response
	if n := len(ld.resps); n > 0 {
		w = ld.resps[n-1]
		ld.resps = ld.resps[:n-1]
	} else {
		w = new(Response)
	}
	w.c, w.ld, w.gen = c, c.ld, c.gen
	w.gone.Store(c.peerEOF)
	w.ownServer, w.ownDate = false, false
	w.status = http.StatusOK
	w.hdr, w.body = w.hdr[:0], w.body[:0]
	w.contentLength, w.written = -1, 0
	w.head = string(req.Method) == http.MethodHead
	w.http10 = req.ProtoMinor == 0
	w.async, w.headerSent, w.chunked, w.done = false, false, false, false
	w.inHandler, w.finishLater = false, false
	return w
}

func (ld *loopData) putResponse(w *Response) {
	w.c = nil
	if cap(w.body) > keepBuf {
		w.body = nil
	}
	if len(ld.resps) < 1024 {
		ld.resps = append(ld.resps, w)
	}
}

// conn returns the response's connection, or nil once the client has
// gone (the record then belongs to the pool or to another connection).
func (w *Response) conn() *conn {
	if c := w.c; c != nil && c.gen == w.gen {
		return c
	}
	return nil
}

// Closed reports whether the client has gone: its connection closed, or
// it shut down its sending side (which HTTP clients do when they leave).
// An asynchronous handler can stop the work whose result nobody will
// read. It may be called from any goroutine until the response finishes.
func (w *Response) Closed() bool { return w.gone.Load() }

// SetStatus sets the status code (default 200). It has no effect once
// headers have been sent (after Flush).
func (w *Response) SetStatus(code int) {
	if !w.headerSent && code >= 100 && code <= 999 {
		w.status = code
	}
}

// Header adds a header field. A name that is not a token, or a value with
// CR, LF or NUL (which would let a client inject headers), is dropped;
// Content-Length and Transfer-Encoding are the server's (use
// SetContentLength). "Connection: close" makes this the connection's last
// response.
func (w *Response) Header(name, value string) {
	if w.headerSent || !validHeaderName(name) || !validHeaderValue(value) {
		return
	}
	switch len(name) {
	case len("Content-Length"), len("Transfer-Encoding"):
		if equalFold(name, "Content-Length") || equalFold(name, "Transfer-Encoding") {
			return
		}
	case len("Connection"):
		if equalFold(name, "Connection") {
			if c := w.conn(); c != nil && containsToken(value, "close") {
				c.closeAfter = true
			}
			return
		}
	case len("Server"):
		w.ownServer = w.ownServer || equalFold(name, "Server")
	case len("Date"):
		w.ownDate = w.ownDate || equalFold(name, "Date")
	}
	w.hdr = append(w.hdr, name...)
	w.hdr = append(w.hdr, ": "...)
	w.hdr = append(w.hdr, value...)
	w.hdr = append(w.hdr, "\r\n"...)
}

// HeaderBytes is Header with a byte-slice value.
func (w *Response) HeaderBytes(name string, value []byte) {
	w.Header(name, bytesToString(value))
}

// SetContentLength declares the body's length before it is written, so
// that a Flush sends it without chunked encoding.
func (w *Response) SetContentLength(n int64) {
	if !w.headerSent && n >= 0 {
		w.contentLength = n
	}
}

// Write adds b to the body.
func (w *Response) Write(b []byte) (int, error) {
	if w.done {
		return 0, ErrResponseDone
	}
	w.written += int64(len(b))
	if !bodyAllowed(w.status) || w.head {
		return len(b), nil
	}
	if w.headerSent && !w.chunked {
		// Streaming a declared length: straight to the connection.
		c := w.conn()
		if c == nil {
			return 0, net.ErrClosed
		}
		return c.ec.Write(b)
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

// WriteString adds s to the body.
func (w *Response) WriteString(s string) (int, error) {
	if w.done {
		return 0, ErrResponseDone
	}
	w.written += int64(len(s))
	if !bodyAllowed(w.status) || w.head {
		return len(s), nil
	}
	if w.headerSent && !w.chunked {
		c := w.conn()
		if c == nil {
			return 0, net.ErrClosed
		}
		return c.ec.WriteString(s)
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// Flush sends the headers and the body so far now (it still leaves at
// the end of the loop's current batch of callbacks, with whatever else is
// queued on the connection).
func (w *Response) Flush() {
	c := w.conn()
	if w.done || c == nil {
		return
	}
	if !w.headerSent {
		w.chunked = w.contentLength < 0 && !w.http10 && bodyAllowed(w.status) && !w.head
		if w.contentLength < 0 && w.http10 {
			c.closeAfter = true // the end of the body is the end of the connection
		}
		w.writeHead(w.contentLength)
	}
	w.flushBody()
}

func (w *Response) flushBody() {
	if len(w.body) == 0 {
		return
	}
	ec := w.c.ec
	if w.chunked {
		buf := w.ld.scratch[:0]
		buf = strconv.AppendInt(buf, int64(len(w.body)), 16)
		buf = append(buf, "\r\n"...)
		ec.Write(buf)
		ec.Write(w.body)
		ec.WriteString("\r\n")
		w.ld.scratch = buf
	} else {
		ec.Write(w.body)
	}
	w.body = w.body[:0]
}

// Async marks the response as finished later, with Finish: ServeHTTP may
// return before the work it waits for is done. Requests behind it on the
// connection wait.
func (w *Response) Async() { w.async = true }

// Finish completes an asynchronous response. It must run on the loop
// (from a callback, a timer, or a Post function).
func (w *Response) Finish() {
	if w.done {
		return
	}
	if w.inHandler {
		// Still inside ServeHTTP: the server finishes it when that
		// returns (it may go on to the next pipelined request, which
		// must not start while this handler runs).
		w.finishLater = true
		return
	}
	w.finish()
}

// Post runs fn on the response's loop, from any goroutine: how work done
// elsewhere comes back to finish an asynchronous response. If the client
// has gone by then, fn runs anyway (writes are discarded) so the handler
// can release what it holds.
func (w *Response) Post(fn func(w *Response)) {
	w.ld.post(func() { fn(w) })
}

// sendFile queues n bytes of file fd from off as body, after the
// headers (which must have been flushed with a declared length). done
// runs in any case, at once when the client has gone.
func (w *Response) sendFile(fd int, off, n int64, done func(int64, error)) {
	c := w.conn()
	if c == nil {
		done(0, net.ErrClosed)
		return
	}
	w.written += n
	c.ec.SendFile(fd, off, n, done)
}

// resetHeaders forgets the status and headers set so far (before they
// are sent).
func (w *Response) resetHeaders() {
	if !w.headerSent {
		w.status, w.hdr, w.contentLength = http.StatusOK, w.hdr[:0], -1
	}
}

// resetHeader removes the header lines named name set so far.
func (w *Response) resetHeader(name string) {
	out := w.hdr[:0]
	for rest := w.hdr; len(rest) > 0; {
		end := bytes.Index(rest, []byte("\r\n")) + 2
		line := rest[:end]
		rest = rest[end:]
		if colon := bytes.IndexByte(line, ':'); colon > 0 && equalFold(bytesToString(line[:colon]), name) {
			continue
		}
		out = append(out, line...)
	}
	w.hdr = out
}

// Loop returns the loop the response is written on.
func (w *Response) Loop() *sched.Loop { return w.ld.loop }

// finish sends what is left and hands the connection on.
func (w *Response) finish() {
	w.done = true
	c := w.conn()
	if c != nil && c.async == w {
		c.async = nil
	}
	if c == nil {
		// The client went while an asynchronous response was pending.
		w.ld.done(nil, &w.info, statusClientClosed, w.written)
		w.ld.putResponse(w)
		return
	}
	if !w.headerSent {
		n := w.contentLength
		if n < 0 || (n != w.written && !w.head) {
			// A declared length the body did not match is replaced by
			// what was written; a HEAD response keeps the declared one
			// (the body it describes is not sent).
			n = w.written
		}
		w.writeHead(n)
		if len(w.body) > 0 {
			c.ec.Write(w.body)
		}
	} else {
		w.flushBody()
		if w.chunked {
			c.ec.WriteString("0\r\n\r\n")
		} else if w.contentLength >= 0 && w.written != w.contentLength && !w.head {
			// Fewer bytes than declared: the framing is broken, and the
			// client can only learn it from the connection closing.
			c.closeAfter = true
		}
	}
	w.ld.done(c, &w.info, w.status, w.written)
	w.ld.putResponse(w)
	if c.ec.Closed() {
		return
	}
	c.responded()
}

// writeHead renders the status line and headers into the connection's
// output. n is the Content-Length to send (-1: none).
func (w *Response) writeHead(n int64) {
	w.headerSent = true
	b := w.appendHead(w.ld.scratch[:0], n)
	w.c.ec.Write(b)
	w.ld.scratch = b
}

// reserveBody reserves room at the end of the connection's output for
// the head, with Content-Length n, and up to room body bytes after it,
// and returns the body's part: the caller fills it at once and queues
// the head and n body bytes with commitBody (a file read straight into
// the output). Nothing is queued until then. It returns nil when the
// head has gone already, a body was written, or the connection cannot
// take it now.
func (w *Response) reserveBody(n int64, room int) []byte {
	c := w.conn()
	if c == nil || w.done || w.headerSent || len(w.body) > 0 || w.written > 0 {
		return nil
	}
	head := w.appendHead(w.ld.scratch[:0], n)
	w.ld.scratch = head
	out := c.ec.ReserveOutput(len(head) + room)
	if out == nil {
		return nil
	}
	copy(out, head)
	w.reserved = len(head)
	return out[len(head):]
}

// commitBody queues the head and the n body bytes filled after a
// reserveBody.
func (w *Response) commitBody(n int) {
	w.headerSent = true
	w.contentLength = int64(n)
	w.written = int64(n)
	w.c.ec.CommitOutput(w.reserved + n)
	w.reserved = 0
}

// appendHead renders the status line and headers; n is the
// Content-Length (-1: none).
func (w *Response) appendHead(b []byte, n int64) []byte {
	ld := w.ld
	b = appendStatusLine(b, w.status, w.http10)
	if !w.ownServer {
		b = append(b, ld.srv.serverLine()...)
	}
	if !w.ownDate {
		b = append(b, ld.date.line(ld.loop.Now())...)
	}
	switch {
	case !bodyAllowed(w.status):
	case w.chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	case n >= 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, "\r\n"...)
	}
	switch {
	case w.c.closeAfter:
		b = append(b, "Connection: close\r\n"...)
	case w.http10:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, w.hdr...)
	return append(b, "\r\n"...)
}

// statusClientClosed is what the access log records for a response whose
// client went away before it was complete (nginx's 499).
const statusClientClosed = 499

// bodyAllowed reports whether a response with this status has a body
// (RFC 9110 §6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// writeError sends a short error response that closes the connection.
func (ld *loopData) writeError(ec interface{ Write([]byte) (int, error) }, status int) {
	text := http.StatusText(status)
	b := ld.scratch[:0]
	b = appendStatusLine(b, status, false)
	b = ld.appendStdHeaders(b)
	b = append(b, "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(text)+1), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, text...)
	b = append(b, '\n')
	ec.Write(b)
	ld.scratch = b
}
