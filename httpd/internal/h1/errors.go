package h1

import (
	"errors"
	"strconv"
)

// ErrIncomplete reports that the input ends before the request head (for
// Parse) or the chunked body (for ChunkedDecoder.Decode) does. Call again
// with more input. It is returned only while no limit has been exceeded: a
// partial head that is already too large fails with the limit's Error.
var ErrIncomplete = errors.New("h1: incomplete input")

// Error is a request the server must refuse, with the status code to answer.
// Parse and ChunkedDecoder.Decode return it as *Error; match it with
// errors.As. The values are shared and must not be modified.
type Error struct {
	// Status is the HTTP status code to send: 400, 413, 414, 431, 501 or 505.
	Status int
	// Reason says which rule the request broke, for logs.
	Reason string
	// Close is true when the connection must be closed after the error
	// response because the request's framing, and so where the next request
	// starts, is unknown. Every error from this package sets it: after a
	// refused head or a broken body the byte stream cannot be trusted.
	Close bool
}

// Error implements error.
func (e *Error) Error() string {
	return "h1: " + strconv.Itoa(e.Status) + " " + e.Reason
}

// newErr builds one of the package's preallocated errors, so that refusing a
// request allocates nothing (a flood of bad requests costs no garbage).
func newErr(status int, reason string) *Error {
	return &Error{Status: status, Reason: reason, Close: true}
}

// 400 Bad Request: malformed syntax.
var (
	errLeadingSpace      = newErr(400, "whitespace before the request line")
	errEmptyLines        = newErr(400, "too many empty lines before the request line")
	errBareLF            = newErr(400, "line ends in LF without CR")
	errBareCR            = newErr(400, "CR not followed by LF")
	errMethod            = newErr(400, "invalid method")
	errMethodLong        = newErr(400, "method too long")
	errRequestLine       = newErr(400, "malformed request line")
	errEmptyTarget       = newErr(400, "empty request-target")
	errTargetChar        = newErr(400, "invalid character in request-target")
	errFragment          = newErr(400, "fragment in request-target")
	errPercent           = newErr(400, "malformed percent-encoding in request-target")
	errTargetForm        = newErr(400, "request-target form not allowed for this method")
	errAbsoluteForm      = newErr(400, "malformed absolute-form request-target")
	errUserinfo          = newErr(400, "userinfo in request-target")
	errAuthority         = newErr(400, "malformed authority in request-target")
	errVersion           = newErr(400, "malformed HTTP-version")
	errFieldName         = newErr(400, "invalid field name")
	errSpaceBeforeColon  = newErr(400, "whitespace between field name and colon")
	errObsFold           = newErr(400, "obsolete line folding")
	errFieldValue        = newErr(400, "invalid character in field value")
	errNoHost            = newErr(400, "missing Host header")
	errDupHost           = newErr(400, "more than one Host header")
	errHost              = newErr(400, "malformed Host header")
	errContentLength     = newErr(400, "malformed Content-Length")
	errDupContentLength  = newErr(400, "more than one Content-Length header")
	errCLAndTE           = newErr(400, "both Content-Length and Transfer-Encoding")
	errTE10              = newErr(400, "Transfer-Encoding in an HTTP/1.0 request")
	errTESyntax          = newErr(400, "malformed Transfer-Encoding")
	errTEChunkedTwice    = newErr(400, "chunked applied more than once")
	errTEChunkedNotLast  = newErr(400, "chunked is not the final transfer coding")
	errChunkSize         = newErr(400, "malformed chunk size")
	errChunkSizeOverflow = newErr(400, "chunk size too large")
	errChunkExt          = newErr(400, "malformed chunk extension")
	errChunkExtLong      = newErr(400, "chunk extension too long")
	errChunkDataEnd      = newErr(400, "chunk data not followed by CRLF")
	errTrailer           = newErr(400, "malformed trailer field")
)

// The other statuses.
var (
	errBodyTooLarge    = newErr(413, "body larger than the limit")
	errLineTooLong     = newErr(414, "request line too long")
	errHeaderTooLarge  = newErr(431, "header section too large")
	errTooManyHeaders  = newErr(431, "too many header fields")
	errTrailerTooLarge = newErr(431, "trailer section too large")
	errTEUnknown       = newErr(501, "unsupported transfer coding")
	errVersionNotSupp  = newErr(505, "HTTP version not supported")
)
