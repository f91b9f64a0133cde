// Package h1 parses HTTP/1.1 requests (RFC 9110, RFC 9112) strictly and
// without copying: Parse reads a request head from a byte slice into a
// reusable Request whose fields alias the slice, and ChunkedDecoder returns
// the data of a chunked body as spans of its input. Steady-state parsing
// allocates nothing, and refusing a request allocates nothing either.
//
// Every refusal is an *Error carrying the status to answer (400, 413, 414,
// 431, 501, 505); the connection is then to be closed. Input that ends
// early gives ErrIncomplete, unless it already breaks a rule or a limit
// (Limits), so a slow or hostile client cannot make the caller buffer
// without bound.
//
// # Strictness
//
// Where RFC 9112 lets a recipient choose between tolerating and refusing,
// this package refuses, because two parsers that tolerate differently are
// how requests get smuggled past a front end. The choices:
//
//   - Line ends are CRLF only; a bare LF or bare CR anywhere in the head, the
//     chunk-size lines or the trailers is a 400 (§2.2 allows a bare LF).
//   - Up to 4 empty lines (CRLF) before the request line are skipped (§2.2:
//     ignore at least one); more, or whitespace, is a 400.
//   - The method is any token (RFC 9110 §9: the handler decides which it
//     implements, answering 501 or 405 itself) of at most 32 bytes, else
//     400. 501 is kept for transfer codings.
//   - Exactly one SP separates the three parts of the request line.
//   - The request-target must fit the method: origin-form ("/..."),
//     absolute-form ("scheme://authority..."; userinfo or an empty host is
//     a 400), authority-form ("host:port") only for CONNECT, asterisk-form
//     only for OPTIONS. Control bytes, SP, DEL, bytes >= 0x80 and '#' are
//     refused; other printable ASCII is accepted, including characters
//     RFC 3986 excludes but browsers send unescaped ({}|\^`"<>). A '%' must
//     start %HH anywhere in the target. Nothing is decoded.
//   - The version is exactly "HTTP/1.0" or "HTTP/1.1". Other versions of the
//     form HTTP/d.d, among them the HTTP/2 preface "PRI * HTTP/2.0", get 505,
//     although RFC 9110 §2.5 would have HTTP/1.2+ served as 1.1: no such
//     version exists and a client claiming one is broken. Anything else
//     is a 400.
//   - Field names are tokens directly followed by ':' (whitespace before the
//     colon is a 400); values hold VCHAR, obs-text, SP and HTAB only, with
//     leading and trailing whitespace removed. Obsolete line folding is a
//     400 (§5.2 allows unfolding instead).
//   - Host is required in HTTP/1.1 (CONNECT included), at most one, and must
//     be uri-host [":" port] per RFC 3986 (reg-name, IPv4, IPv6 or IPvFuture
//     literal, numeric port; an empty Host is valid). For an absolute-form
//     target, Request.Authority names the host and Host is ignored but still
//     checked (§3.2.2).
//   - Content-Length is 1*DIGIT fitting an int64; a second Content-Length is
//     a 400 even with the same value (RFC 9110 §8.6 would allow it), and so
//     is a list like "5, 5". A value above MaxBodyBytes is a 413.
//   - Transfer-Encoding with Content-Length is a 400 (§6.1 allows going by
//     Transfer-Encoding and closing). Transfer-Encoding in HTTP/1.0 is a 400.
//     The coding list (several lines form one list) must end in "chunked"
//     (any case), which may appear once: otherwise 400 (§6.3). Each element
//     must be a bare token; empty elements and parameters are a 400, although
//     RFC 9110 §5.6.1 would skip empty elements. Codings before chunked are
//     not implemented: 501.
//   - Chunk sizes have at most 16 hex digits and fit an int64. Chunk
//     extensions must follow §7.1.1 (token names, token or quoted-string
//     values, whitespace only before ';' and around '=') and are discarded.
//     Trailer fields are checked like header fields, then discarded.
//
// The differential tests against net/http list every place where the two
// disagree, and why.
package h1
