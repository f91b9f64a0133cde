// Package content holds the HTTP semantics of httpd's static file server,
// as pure functions the event loop calls between its I/O: byte ranges and
// multipart/byteranges plans (RFC 9110 §14), conditional requests (§13),
// entity tags and HTTP-dates (§8.8, §5.6.7), MIME types, content-coding
// negotiation for precompressed sidecars and on-the-fly compression
// (§12.5.3), request path cleaning, and directory listings.
//
// Nothing here does I/O or keeps state between calls. Inputs are []byte
// that may alias the request buffer; outputs are appended to caller
// buffers (AppendX(dst, ...) style), so the common paths (a single range,
// conditionals, MIME lookup, negotiation, path cleaning, ETag and date
// formatting) allocate nothing. Every function accepts any input: hostile
// input yields a status or an error, never a panic.
//
// # Differences from net/http
//
// The differential tests (nethttp_test.go) run http.ServeContent on the
// same requests and list every place the two disagree. The deliberate
// ones:
//
//   - A malformed Range header, or one with a last-pos before its first-pos,
//     is ignored (200 with the whole body); net/http answers 416. RFC 9110
//     §14.2 lets a server ignore Range, and 416 means "no such range", not
//     "bad syntax".
//   - Range whitespace: OWS only around commas ("bytes=0 - 9" is ignored;
//     net/http accepts it). The unit is case-insensitive ("Bytes=" works;
//     net/http wants "bytes=").
//   - A last-pos or suffix-length beyond int64 saturates (valid syntax per
//     the grammar); net/http answers 416.
//   - "bytes=-0" is unsatisfiable (416); net/http serves a 206 with an
//     empty, invalid range.
//   - Multiple ranges are sorted and coalesced (overlapping or touching
//     ones merged), and more than RangeLimits.MaxRanges are ignored (200);
//     net/http sends them as asked unless their sum exceeds the size, then
//     ignores them all.
//   - Range on an empty file is ignored (200); net/http answers a suffix
//     range there with 206 and "Content-Range: bytes 0--1/0".
//   - Range on any method but GET is ignored (§14.2 defines it for GET
//     only), so HEAD gets a 200's headers; net/http answers 206 for any
//     method.
//   - "*" inside an If-Match or If-None-Match list is malformed (the grammar
//     allows it only alone); net/http treats it as a wildcard.
//   - If-Range holding more than one entity-tag is malformed and never
//     holds; net/http looks at the first tag only.
//   - A modification time of exactly the Unix epoch is a real time here;
//     net/http treats it as "unknown" and ignores date conditions.
//   - HTTP-dates with second 60 (a leap second) are accepted; net/http
//     refuses them and ignores the condition.
//   - An RFC 850 date's two-digit year is placed relative to the current
//     year (§5.6.7); net/http fixes 69-99 to 19xx and 00-68 to 20xx.
package content
