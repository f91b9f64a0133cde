package httpd

import (
	"net"

	"github.com/uringd/uringd/httpd/internal/h1"
	"github.com/uringd/uringd/sched"
)

// Handler responds to HTTP requests on the connection's loop. ServeHTTP
// must not block: every connection of the loop waits for it. Work that
// takes long goes to a goroutine or an offload job, with the response
// made asynchronous (Response.Async) and finished when the work comes back
// to the loop (Response.Post).
type Handler interface {
	ServeHTTP(w *Response, r *Request)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(w *Response, r *Request)

// ServeHTTP calls f(w, r).
func (f HandlerFunc) ServeHTTP(w *Response, r *Request) { f(w, r) }

// Header is one request header field as received.
type Header = h1.Header

// Request is a request as the loop parsed it. Its byte slices alias the
// connection's input and are valid only until ServeHTTP returns: copy what
// an asynchronous response needs later. Nothing in it allocates.
type Request struct {
	c    *conn
	req  *h1.Request
	body []byte
}

func (r *Request) reset(c *conn, req *h1.Request, body []byte) {
	r.c, r.req, r.body = c, req, body
}

// Method returns the request method.
func (r *Request) Method() []byte { return r.req.Method }

// Target returns the raw request-target, undecoded.
func (r *Request) Target() []byte { return r.req.Target }

// Path returns the path of the target, still percent-encoded.
func (r *Request) Path() []byte { return r.req.Path }

// Query returns the query of the target (after '?'), undecoded; nil if
// there is none.
func (r *Request) Query() []byte { return r.req.Query }

// Host returns the host the request is for (the target's authority, or
// the Host header).
func (r *Request) Host() []byte { return r.req.TargetHost() }

// Proto returns the HTTP version.
func (r *Request) Proto() (major, minor int) { return r.req.ProtoMajor, r.req.ProtoMinor }

// Header returns the first value of the header field name (ASCII
// case-insensitive), or nil.
func (r *Request) Header(name string) []byte { return r.req.Header(name) }

// Headers returns every header field in order of arrival.
func (r *Request) Headers() []Header { return r.req.Headers }

// Body returns the whole request body (decoded if it was chunked). The
// server reads it before calling the handler, up to Server.MaxBodyBytes.
func (r *Request) Body() []byte { return r.body }

// RemoteAddr returns the client's address.
func (r *Request) RemoteAddr() net.Addr { return r.c.ec.RemoteAddr() }

// Loop returns the loop the request is served on, for timers and offload
// jobs whose results come back to it.
func (r *Request) Loop() *sched.Loop { return r.c.ld.loop }
