package h1

// Limits bounds what Parse and ChunkedDecoder accept, so that a client can
// make the server hold only a bounded amount of input per request. A zero
// field means the default (DefaultLimits); a nil *Limits means DefaultLimits.
type Limits struct {
	// MaxRequestLine is the longest request line, in bytes without its
	// CRLF, counting any empty lines before it. Longer: 414.
	// Default 8 KiB: nginx's large_client_header_buffers size.
	MaxRequestLine int
	// MaxHeaderBytes bounds the field section after the request line: all
	// field lines with their CRLFs and the final empty line. Larger: 431.
	// Default 32 KiB: nginx's total (4 buffers of 8 KiB); net/http's
	// 1 MiB lets one connection pin far more memory.
	MaxHeaderBytes int
	// MaxHeaders is the most field lines a head may have. More: 431.
	// Default 100: Apache's LimitRequestFields, h2o's limit.
	MaxHeaders int
	// MaxBodyBytes is the largest body accepted: a larger Content-Length
	// fails Parse with 413, and ChunkedDecoder fails with 413 once a chunk
	// would take the total past it. Negative: no limit.
	// Default 1 MiB: nginx's client_max_body_size.
	MaxBodyBytes int64
	// MaxChunkExtBytes bounds the chunk extensions of one chunk-size line
	// (everything between the size and the CRLF). Longer: 400.
	// Default 4 KiB.
	MaxChunkExtBytes int
	// MaxTrailerBytes bounds the trailer section of a chunked body (all
	// trailer lines with their CRLFs, and the final CRLF). Larger: 431.
	// Default 16 KiB.
	MaxTrailerBytes int
}

// DefaultLimits are the limits used for nil and zero fields.
var DefaultLimits = Limits{
	MaxRequestLine:   8 << 10,
	MaxHeaderBytes:   32 << 10,
	MaxHeaders:       100,
	MaxBodyBytes:     1 << 20,
	MaxChunkExtBytes: 4 << 10,
	MaxTrailerBytes:  16 << 10,
}

// maxMethod is the longest method accepted. No registered method comes near
// it (the longest in the IANA registry has 17 bytes); a longer token is
// more likely garbage than a method some handler implements.
const maxMethod = 32

func (l *Limits) requestLine() int {
	if l.MaxRequestLine > 0 {
		return l.MaxRequestLine
	}
	return DefaultLimits.MaxRequestLine
}

func (l *Limits) headerBytes() int {
	if l.MaxHeaderBytes > 0 {
		return l.MaxHeaderBytes
	}
	return DefaultLimits.MaxHeaderBytes
}

func (l *Limits) headers() int {
	if l.MaxHeaders > 0 {
		return l.MaxHeaders
	}
	return DefaultLimits.MaxHeaders
}

// bodyBytes returns the body limit, or -1 for none.
func (l *Limits) bodyBytes() int64 {
	switch {
	case l.MaxBodyBytes > 0:
		return l.MaxBodyBytes
	case l.MaxBodyBytes < 0:
		return -1
	}
	return DefaultLimits.MaxBodyBytes
}

func (l *Limits) chunkExtBytes() int {
	if l.MaxChunkExtBytes > 0 {
		return l.MaxChunkExtBytes
	}
	return DefaultLimits.MaxChunkExtBytes
}

func (l *Limits) trailerBytes() int {
	if l.MaxTrailerBytes > 0 {
		return l.MaxTrailerBytes
	}
	return DefaultLimits.MaxTrailerBytes
}
