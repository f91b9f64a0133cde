package h1

// Header is one field line of the head, as received: Name is the field name
// (case preserved), Value the field value without surrounding whitespace.
// Both alias the buffer passed to Parse.
type Header struct {
	Name  []byte
	Value []byte
}

// Request is a parsed request head. Every byte slice aliases the buffer given
// to Parse: it is valid only while that buffer is unchanged, and must be
// copied to be kept longer. A Request is reused from request to request;
// its Headers keep their capacity, so steady-state parsing allocates
// nothing.
type Request struct {
	// Method is the request method, a token (RFC 9110 §9). Any token is
	// accepted: the handler decides which methods it implements.
	Method []byte
	// Target is the raw request-target (RFC 9112 §3.2), undecoded.
	Target []byte
	// Path is the path of the target, still percent-encoded. Origin-form:
	// the target up to '?'. Absolute-form: the path of the URI, empty if
	// the URI has none (treat as "/"). Asterisk-form: "*". Authority-form
	// (CONNECT): nil.
	Path []byte
	// Query is the part of the target after the first '?', undecoded; nil
	// when there is no '?', empty (non-nil) when '?' ends the target.
	Query []byte
	// Authority is the host[:port] of an absolute-form target or the whole
	// authority-form target of CONNECT; nil for origin and asterisk form.
	// When set it names the target host, not Host (RFC 9112 §3.2.2).
	Authority []byte
	// Host is the value of the Host header field, nil if there is none (only
	// possible in HTTP/1.0). Use TargetHost for the host the request is for.
	Host []byte
	// ProtoMajor and ProtoMinor are the HTTP version: 1.0 or 1.1.
	ProtoMajor, ProtoMinor int
	// Headers are the field lines in order of arrival, including Host,
	// Content-Length, Transfer-Encoding and Connection.
	Headers []Header
	// ContentLength is the Content-Length value, or -1 when the header is
	// absent. A request with neither Content-Length nor Chunked has no
	// body (RFC 9112 §6.3).
	ContentLength int64
	// Chunked is true when the body uses the chunked transfer coding;
	// decode it with ChunkedDecoder. ContentLength is then -1.
	Chunked bool
	// KeepAlive is true when the connection may stay open after the
	// response: HTTP/1.1 unless Connection has "close"; HTTP/1.0 only with
	// Connection "keep-alive" and no "close". (Close is !KeepAlive.)
	KeepAlive bool
	// Expect100Continue is true for an HTTP/1.1 request whose Expect field
	// has "100-continue" (RFC 9110 §10.1.1; ignored in HTTP/1.0). Other
	// expectations are left to the caller (Header("Expect")).
	Expect100Continue bool
	// Upgrade is true for an HTTP/1.1 request with an Upgrade field and
	// "upgrade" in Connection (RFC 9110 §7.8; ignored in HTTP/1.0). The
	// protocols offered are Header("Upgrade").
	Upgrade bool

	// Field state gathered while parsing, resolved at the end of the head.
	hostCount     int
	clSeen        bool
	teSeen        bool
	teChunked     bool // chunked seen in Transfer-Encoding (must be last)
	teUnknown     bool // a coding other than chunked seen
	upgradeSeen   bool
	connClose     bool
	connKeepAlive bool
	connUpgrade   bool
	expectCont    bool

	// Resume state after ErrIncomplete (see Parse). partial is set only
	// then. resume is the start of the first line not yet parsed (0: the
	// request line); scanned is how far input is known to hold no LF after
	// resume; headStart is where the field section begins.
	partial   bool
	resume    int
	scanned   int
	headStart int
	colon     int // offset of the colon in the unfinished field line, or 0

	// Progress of checkLinePrefix on an unfinished request line.
	chk      int
	chkMark  int
	chkPhase uint8
}

// Reset clears r for a new request and drops any partial-parse state,
// keeping the capacity of Headers. Parse resets r itself at the start of
// each request; call Reset only to abandon a partial head (for example
// before reusing r on another connection or another buffer).
func (r *Request) Reset() {
	clear(r.Headers) // drop the references into the old buffer
	*r = Request{Headers: r.Headers[:0], ContentLength: -1}
}

// Header returns the value of the first field named name (ASCII
// case-insensitive), or nil if there is none. It does not allocate.
func (r *Request) Header(name string) []byte {
	for i := range r.Headers {
		if equalFoldBoth(r.Headers[i].Name, name) {
			return r.Headers[i].Value
		}
	}
	return nil
}

// TargetHost returns the host the request is for: Authority when the target
// carries one (absolute- or authority-form), else Host (RFC 9112 §3.2.2).
func (r *Request) TargetHost() []byte {
	if r.Authority != nil {
		return r.Authority
	}
	return r.Host
}

// HasBody reports whether a body follows the head: a chunked body or a
// positive Content-Length.
func (r *Request) HasBody() bool {
	return r.Chunked || r.ContentLength > 0
}
