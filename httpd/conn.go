package httpd

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/uringd/uringd/evnet"
	"github.com/uringd/uringd/httpd/internal/h1"
	"github.com/uringd/uringd/sched"
)

// connHandler is the Server seen as the evnet.Handler of its connections.
type connHandler Server

// conn is one HTTP connection's state, owned by its loop. An idle
// keep-alive connection holds nothing but this small struct: input is
// parsed straight from the receive buffer, and only a request that
// arrives in pieces is copied.
type conn struct {
	ld    *loopData
	ec    *evnet.Conn
	state connState
	// in holds input not parsed yet: a head that arrived in pieces, or
	// pipelined requests queued behind a response in progress.
	in []byte
	// partial keeps the parser's progress on an unfinished head in in, so
	// a head that trickles in is scanned once, not again per piece.
	partial *h1.Request
	// bs holds a request whose body is still arriving; nil otherwise.
	bs *bodyState
	// requests counts requests on this connection.
	requests int
	// closeAfter is set once the response in progress is the last one.
	closeAfter bool
	// inServe is set while serve runs: a response completed inside it
	// does not resume parsing (serve's own loop goes on).
	inServe bool
	// exchange is the net/http handler's request in progress, if any;
	// writer is that exchange while it waits for the output to drain.
	exchange *exchange
	writer   *exchange
	// remote caches the peer's address as a string, for net/http.
	remote string
	// gen tells this connection from later ones that reuse the record: an
	// asynchronous response checks it before it writes.
	gen uint32
	// peerEOF: the client shut down its sending side; requests already
	// buffered are still served, then the connection closes.
	peerEOF bool
	// blocked: output is above the connection's high-water mark, so
	// pipelined requests wait (OnWritable resumes them).
	blocked bool
	// async is the native response in progress after its handler
	// returned, told when the client goes (Response.Closed).
	async *Response
	// deadline is a write deadline a net/http handler set
	// (ResponseController.SetWriteDeadline); it outlives the handler
	// for the rest of its response. deadlineSet tells a zero one (none)
	// from no call.
	deadline    time.Time
	deadlineSet bool
}

// bodyState is a request whose body is still arriving: the head bytes
// (parsed again once the body is complete) and the body so far (decoded,
// for chunked). It comes from the loop's pool for the body phase only,
// so that an idle connection does not carry it.
type bodyState struct {
	head    []byte
	body    []byte
	bodyLen int64 // Content-Length of that body, or -1 for chunked
	chunked h1.ChunkedDecoder
}

type connState uint8

const (
	stIdle    connState = iota // waiting for a request (idle timeout)
	stHead                     // a head has begun (header timeout)
	stBody                     // the body of a parsed head is arriving (read timeout)
	stBusy                     // a handler is producing the response; input waits
	stClosing                  // the last response is out; evnet closes
)

func (h *connHandler) srv() *Server { return (*Server)(h) }

// OnOpen implements evnet.Handler.
func (h *connHandler) OnOpen(ec *evnet.Conn) {
	s := h.srv()
	ld := s.loops[ec.Loop()]
	c := ld.newConn(ec)
	ec.Context = c
	ec.SetTimeout(s.idleTimeout())
	if s.ConnState != nil {
		s.ConnState(ec.RemoteAddr(), http.StateNew)
	}
}

// OnData implements evnet.Handler.
func (h *connHandler) OnData(ec *evnet.Conn, data []byte) {
	c := ec.Context.(*conn)
	switch c.state {
	case stBusy:
		// A response is in progress: keep what follows for later. A
		// client pipelining without limit is stopped by reading no more
		// once this backlog is a full head and body's worth.
		c.in = append(c.in, data...)
		if len(c.in) > c.ld.srv.maxBacklog() {
			ec.PauseRead()
		}
		return
	case stClosing:
		return
	case stBody:
		gen := c.gen
		n := c.feedBody(data)
		if c.gen != gen || c.state == stBody {
			return
		}
		data = data[n:]
	}
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		c.serve(c.in, true)
		return
	}
	c.serve(data, false)
}

// OnClose implements evnet.Handler.
func (h *connHandler) OnClose(ec *evnet.Conn, err error) {
	c, _ := ec.Context.(*conn)
	if c == nil {
		return
	}
	s := h.srv()
	if s.ConnState != nil {
		s.ConnState(ec.RemoteAddr(), http.StateClosed)
	}
	if c.state == stBusy && s.handler != nil {
		s.handler.connClosed(c)
	}
	if c.async != nil {
		c.async.gone.Store(true)
	}
	c.ld.freeConn(c)
	ec.Context = nil
}

// OnTimeout implements evnet.TimeoutHandler: the phase the connection is
// in has taken too long.
func (h *connHandler) OnTimeout(ec *evnet.Conn) {
	c := ec.Context.(*conn)
	switch c.state {
	case stHead, stBody:
		c.fail(http.StatusRequestTimeout, "request timeout")
	default:
		// Idle, or a response that does not leave: nothing more to say.
		ec.Abort(evnet.ErrTimeout)
	}
}

// OnDrained implements evnet.DrainHandler: a response has left, so the
// write timeout gives way to the idle one.
func (h *connHandler) OnDrained(ec *evnet.Conn) {
	c := ec.Context.(*conn)
	c.wakeWriter(nil)
	if c.state == stIdle {
		ec.SetTimeout(h.srv().idleTimeout())
		if c.blocked {
			c.resumeInput()
		}
	}
}

// OnEOF implements evnet.EOFHandler: the client shut down its sending
// side. A response in progress still goes out, and the connection closes
// after it; a net/http handler's context is cancelled, as net/http does
// when the client goes away. An unfinished request is dropped.
func (h *connHandler) OnEOF(ec *evnet.Conn) {
	c := ec.Context.(*conn)
	c.peerEOF = true
	if c.async != nil {
		c.async.gone.Store(true)
	}
	switch c.state {
	case stBusy:
		if c.exchange != nil {
			c.exchange.cancel()
		}
	case stClosing:
	case stIdle:
		if len(c.in) == 0 && !c.blocked {
			c.state = stClosing
			ec.Close()
		}
	default:
		// A request cut short by the half-close.
		c.state = stClosing
		ec.Close()
	}
}

// OnWritable implements evnet.WritableHandler: a client that fell behind
// reads again, so its waiting pipelined requests go on.
func (h *connHandler) OnWritable(ec *evnet.Conn) {
	c, ok := ec.Context.(*conn)
	if !ok {
		return
	}
	c.wakeWriter(nil)
	if c.blocked {
		c.resumeInput()
	}
}

// OnDrain implements evnet.Drainer for Shutdown: an idle connection closes
// now, a busy one after its response.
func (h *connHandler) OnDrain(ec *evnet.Conn) {
	c := ec.Context.(*conn)
	c.closeAfter = true
	if c.exchange != nil {
		c.exchange.draining.Store(true)
	}
	if c.state == stIdle && len(c.in) == 0 {
		c.state = stClosing
		ec.Close()
	}
}

// serve parses and serves the requests in buf, as many as are complete.
// owned says buf is c.in (else it is the receive buffer, which must be
// copied to be kept).
func (c *conn) serve(buf []byte, owned bool) {
	s := c.ld.srv
	gen := c.gen
	c.inServe = true
	defer func() {
		if c.gen == gen {
			c.inServe = false
		}
	}()
	for len(buf) > 0 && c.state != stClosing && c.state != stBusy {
		if c.ec.Buffered() > s.highWater() {
			// Responses pile up unread: the rest of the pipeline waits.
			c.blocked = true
			break
		}
		req := &c.ld.req
		partial := c.partial
		if partial != nil {
			req = partial
			c.partial = nil
		}
		n, err := h1.Parse(buf, req, &s.limits)
		if err == h1.ErrIncomplete {
			if partial == nil {
				// Keep the parser's progress in a request of the
				// connection's own, by parsing the kept bytes into it.
				partial = c.ld.getPartial()
				_, _ = h1.Parse(buf, partial, &s.limits)
			}
			c.partial = partial
			if c.state == stIdle {
				c.state = stHead
				c.ec.SetTimeout(s.readHeaderTimeout())
			}
			c.keep(buf, owned)
			return
		}
		if err != nil {
			if partial != nil {
				c.ld.putPartial(partial)
			}
			var he *h1.Error
			if errors.As(err, &he) {
				c.fail(he.Status, he.Reason)
			} else {
				c.fail(http.StatusBadRequest, err.Error())
			}
			return
		}
		// A complete head.
		switch {
		case !req.HasBody():
			c.dispatch(req, nil)
			buf = buf[n:]
		case !req.Chunked && int64(len(buf)-n) >= req.ContentLength:
			end := n + int(req.ContentLength)
			c.dispatch(req, buf[n:end])
			buf = buf[end:]
		default:
			// The body is still arriving: keep the head, collect the body.
			// feedBody takes all of rest unless the body ends in it.
			c.startBody(req, buf[:n])
			rest := buf[n:]
			buf = rest[c.feedBody(rest):]
		}
		if partial != nil {
			c.ld.putPartial(partial)
		}
		if c.gen != gen {
			// The handler ended the connection (a panic's abort) and
			// its record went back to the pool: nothing more is ours.
			return
		}
	}
	c.keep(buf, owned)
}

// keep stores the unparsed rest of the input in c.in.
func (c *conn) keep(buf []byte, owned bool) {
	if len(buf) == 0 {
		if c.in != nil {
			c.ld.putBuf(c.in)
			c.in = nil
		}
		return
	}
	if owned && len(c.in) > 0 && &buf[0] == &c.in[0] {
		return
	}
	if owned {
		// buf is a tail of c.in: move it to the front.
		c.in = c.in[:copy(c.in, buf)]
		return
	}
	if c.in == nil {
		c.in = c.ld.getBuf(len(buf))
	}
	c.in = append(c.in[:0], buf...)
}

// startBody keeps a head whose body has not fully arrived.
func (c *conn) startBody(req *h1.Request, head []byte) {
	s := c.ld.srv
	c.state = stBody
	bs := c.ld.getBodyState()
	c.bs = bs
	bs.head = append(c.ld.getBuf(len(head))[:0], head...)
	bs.body = c.ld.getBuf(0)
	bs.bodyLen = req.ContentLength
	if req.Chunked {
		bs.bodyLen = -1
		bs.chunked.Reset(&s.limits)
	}
	if req.Expect100Continue {
		c.ec.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	}
	c.ec.SetTimeout(s.readTimeout())
}

// feedBody adds body bytes from data and returns how many it used; once
// the body is complete it serves the request.
func (c *conn) feedBody(data []byte) int {
	bs := c.bs
	used := 0
	if bs.bodyLen >= 0 {
		need := int(bs.bodyLen) - len(bs.body)
		used = min(need, len(data))
		bs.body = append(bs.body, data[:used]...)
		if len(bs.body) < int(bs.bodyLen) {
			return used
		}
	} else {
		for {
			chunk, n, err := bs.chunked.Decode(data[used:])
			used += n
			bs.body = append(bs.body, chunk...)
			if err == nil {
				continue
			}
			if err == h1.ErrIncomplete {
				return used
			}
			if err != io.EOF {
				var he *h1.Error
				if errors.As(err, &he) {
					c.fail(he.Status, he.Reason)
				} else {
					c.fail(http.StatusBadRequest, err.Error())
				}
				return len(data)
			}
			break
		}
	}
	// Complete: parse the kept head again and serve.
	req := &c.ld.req
	if _, err := h1.Parse(bs.head, req, &c.ld.srv.limits); err != nil {
		c.fail(http.StatusBadRequest, "head changed")
		return len(data)
	}
	c.state = stIdle
	head, body := bs.head, bs.body
	bs.head, bs.body = nil, nil
	c.bs = nil
	ld := c.ld // c may be recycled by the time dispatch returns
	ld.putBodyState(bs)
	c.dispatch(req, body)
	ld.putBuf(head)
	ld.putBuf(body)
	return used
}

// fail answers a request that cannot be served and closes the connection:
// after a malformed request, where the next one starts is unknown.
func (c *conn) fail(status int, reason string) {
	if c.state == stClosing {
		return
	}
	c.state = stClosing
	c.ld.srv.ErrorLog.Debug("httpd: refusing request", "status", status, "reason", reason, "remote", c.ec.RemoteAddr().String())
	c.ld.writeError(c.ec, status)
	c.ec.Close()
}

// dispatch runs the handler for a complete request.
func (c *conn) dispatch(req *h1.Request, body []byte) {
	s := c.ld.srv
	c.requests++
	keep := req.KeepAlive && !s.DisableKeepAlives && !c.closeAfter &&
		(s.MaxRequestsPerConn <= 0 || c.requests < s.MaxRequestsPerConn)
	c.closeAfter = !keep
	// Like net/http's WriteTimeout, the response must be out within
	// WriteTimeout of the request's head: the handler's time counts.
	c.state = stBusy
	c.deadlineSet = false
	c.ec.SetTimeout(s.writeTimeout())
	if s.handler != nil {
		s.handler.serve(c, req, body)
		return
	}
	w := c.ld.getResponse(c, req)
	w.info.capture(c.ld.loop.Now(), req)
	r := &c.ld.request
	r.reset(c, req, body)
	w.inHandler = true
	c.runHandler(w, r)
	w.inHandler = false
	r.reset(nil, nil, nil)
	switch {
	case !w.async || w.finishLater:
		w.finish()
	case !w.done:
		c.async = w
	}
}

// runHandler calls the native handler; one that panics loses its
// connection (the loop recovers the panic and goes on).
func (c *conn) runHandler(w *Response, r *Request) {
	defer func() {
		if p := recover(); p != nil {
			c.ld.srv.ErrorLog.Error("httpd: handler panicked", "panic", p)
			if !w.async {
				// An asynchronous one may be in another goroutine's
				// hands: it is left to the GC, never handed to the next
				// request.
				c.ld.putResponse(w)
			}
			w.async, w.finishLater = true, false
			w.done = true
			c.state = stClosing
			if w.headerSent {
				// Part of this response is out: the client can only
				// learn it is cut short from a reset.
				c.ec.Abort(errHandlerPanic)
			} else {
				// Nothing of it is out: earlier pipelined responses
				// still leave, then the connection closes (net/http's way).
				c.ec.Close()
			}
		}
	}()
	c.ld.srv.Handler.ServeHTTP(w, r)
}

// responded runs when a response is complete: the connection either
// closes or goes on with the input that waited.
func (c *conn) responded() {
	s := c.ld.srv
	// The response must leave within the write timeout (or the deadline
	// its net/http handler set), the last one before a close too: a
	// client that never reads it is cut off. With nothing left to send,
	// no OnDrained will come: the connection is idle now.
	d := s.writeTimeout()
	if c.deadlineSet {
		c.deadlineSet = false
		d = 0 // none
		if !c.deadline.IsZero() {
			d = max(time.Until(c.deadline), time.Nanosecond)
		}
	}
	if c.ec.Buffered() == 0 && !c.closeAfter {
		d = s.idleTimeout()
	}
	c.ec.SetTimeout(d)
	if c.closeAfter {
		c.state = stClosing
		c.ec.Close()
		return
	}
	c.state = stIdle
	if c.inServe {
		return // serve's loop goes on with what is buffered
	}
	c.resumeInput()
}

// resumeInput serves buffered input after an asynchronous response or a
// drain, and closes after a client's half-close once nothing complete
// is left.
func (c *conn) resumeInput() {
	if c.state != stIdle {
		return
	}
	if c.ec.Buffered() > c.ld.srv.highWater() {
		// The client is not reading what it asked for: serve no more of
		// its pipeline until it does (OnWritable comes back here).
		c.blocked = true
		return
	}
	c.blocked = false
	gen := c.gen
	if len(c.in) > 0 {
		c.ec.ResumeRead()
		c.serve(c.in, true)
	}
	if c.gen != gen || !c.peerEOF {
		return
	}
	switch {
	case c.state == stIdle && len(c.in) == 0 && !c.blocked:
		// Every complete request of a half-closed client is answered.
		c.state = stClosing
		c.ec.Close()
	case c.state == stHead || c.state == stBody:
		// A request the client will never finish: no 408 after a wait.
		c.state = stClosing
		c.ec.Close()
	}
}

// highWater is the output level above which a connection's pipelined
// requests wait (evnet's own default).
func (s *Server) highWater() int { return 1 << 20 }

// errHandlerPanic is the close reason of a connection whose handler
// panicked.
var errHandlerPanic = errors.New("httpd: handler panicked")

// maxBacklog is how much pipelined input a busy connection buffers.
func (s *Server) maxBacklog() int {
	return max(s.limits.MaxHeaderBytes, h1.DefaultLimits.MaxHeaderBytes) + 64<<10
}

// loopData is the server's state on one loop: scratch objects reused for
// every request, and pools of buffers and connection records.
type loopData struct {
	srv      *Server
	loop     *sched.Loop
	req      h1.Request
	request  Request
	date     dateCache
	conns    []*conn
	bufs     [][]byte
	partials []*h1.Request
	bodies   []*bodyState
	resps    []*Response
	scratch  []byte // response heads are rendered here
	scratch2 []byte // header values are rendered here
	counters loopCounters
	info     AccessInfo
	index    int
}

// post runs fn on the loop, from any goroutine. It fails (and fn never
// runs) only when the loop has stopped.
func (ld *loopData) post(fn func()) error {
	p := postPool.Get().(*postOp)
	p.fn = fn
	p.op.Data = p
	p.op.PrepCall(runPost)
	if err := ld.loop.Post(&p.op); err != nil {
		p.fn = nil
		postPool.Put(p)
		return err
	}
	return nil
}

type postOp struct {
	op sched.Op
	fn func()
}

var postPool = sync.Pool{New: func() any { return new(postOp) }}

// runPost runs a posted function; if the loop is closing, the function
// still runs (its writes go nowhere) so that whoever waits on it is
// released.
func runPost(op *sched.Op, _ sched.Result) {
	p := op.Data.(*postOp)
	fn := p.fn
	p.fn = nil
	postPool.Put(p)
	fn()
}

func newLoopData(s *Server, l *sched.Loop) *loopData {
	return &loopData{srv: s, loop: l}
}

func (ld *loopData) newConn(ec *evnet.Conn) *conn {
	var c *conn
	if n := len(ld.conns); n > 0 {
		c = ld.conns[n-1]
		ld.conns = ld.conns[:n-1]
	} else {
		c = new(conn)
	}
	gen := c.gen + 1
	*c = conn{ld: ld, ec: ec, gen: gen}
	return c
}

func (ld *loopData) freeConn(c *conn) {
	if c.in != nil {
		ld.putBuf(c.in)
	}
	if bs := c.bs; bs != nil {
		if bs.head != nil {
			ld.putBuf(bs.head)
		}
		if bs.body != nil {
			ld.putBuf(bs.body)
		}
		bs.head, bs.body = nil, nil
		ld.putBodyState(bs)
	}
	if c.partial != nil {
		ld.putPartial(c.partial)
	}
	*c = conn{gen: c.gen + 1}
	if len(ld.conns) < 1024 {
		ld.conns = append(ld.conns, c)
	}
}

const (
	minBuf  = 4 << 10
	keepBuf = 64 << 10
)

func (ld *loopData) getBuf(n int) []byte {
	for i := len(ld.bufs) - 1; i >= 0; i-- {
		if cap(ld.bufs[i]) >= n {
			b := ld.bufs[i]
			ld.bufs[i] = ld.bufs[len(ld.bufs)-1]
			ld.bufs[len(ld.bufs)-1] = nil
			ld.bufs = ld.bufs[:len(ld.bufs)-1]
			return b[:0]
		}
	}
	return make([]byte, 0, max(n, minBuf))
}

func (ld *loopData) putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > keepBuf || len(ld.bufs) >= 256 {
		return
	}
	ld.bufs = append(ld.bufs, b[:0])
}

func (ld *loopData) getPartial() *h1.Request {
	if n := len(ld.partials); n > 0 {
		r := ld.partials[n-1]
		ld.partials = ld.partials[:n-1]
		return r
	}
	return new(h1.Request)
}

func (ld *loopData) getBodyState() *bodyState {
	if n := len(ld.bodies); n > 0 {
		bs := ld.bodies[n-1]
		ld.bodies = ld.bodies[:n-1]
		return bs
	}
	return new(bodyState)
}

// putBodyState takes back bs, whose buffers the caller has taken.
func (ld *loopData) putBodyState(bs *bodyState) {
	*bs = bodyState{}
	if len(ld.bodies) < 256 {
		ld.bodies = append(ld.bodies, bs)
	}
}

func (ld *loopData) putPartial(r *h1.Request) {
	r.Reset()
	if len(ld.partials) < 256 {
		ld.partials = append(ld.partials, r)
	}
}
