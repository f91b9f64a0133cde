package h1

import (
	"io"
	"math"
)

// ChunkedDecoder decodes a chunked request body (RFC 9112 §7.1) as it
// arrives, without copying: Decode hands back spans of its input. It is a
// byte-level state machine for the chunk-size lines and the trailer section
// (both short) and slices chunk data in one step, so any split of the input
// gives the same result.
//
// Trailer fields are checked for syntax and size, then discarded: they would
// outlive the buffers they arrive in, and RFC 9110 §6.5.1 lets a recipient
// ignore them. The handler never sees them.
//
// The zero value is ready to use with DefaultLimits; Reset sets other limits
// and readies the decoder for the next body.
type ChunkedDecoder struct {
	state      uint8
	digits     uint8 // hex digits of the current chunk-size
	size       int64 // current chunk-size, then the data bytes still due
	total      int64 // data bytes so far
	extBytes   int   // bytes of chunk-ext on the current size line
	trailerN   int   // bytes of the trailer section so far
	maxBody    int64 // -1: no limit
	maxExt     int
	maxTrailer int
	limited    bool  // limits loaded
	err        error // set once the body is found malformed
}

// Decoder states. The comments give what the state expects next.
const (
	csSize          uint8 = iota // HEXDIG of chunk-size
	csSizeMore                   // more HEXDIG, BWS, ';' or CR
	csExtBWS                     // after size or value: BWS then ';'
	csExtNameBWS                 // after ';': BWS then ext-name
	csExtName                    // ext-name tchar, BWS, '=', ';' or CR
	csExtAfterName               // BWS then '=' or ';'
	csExtValBWS                  // after '=': BWS then token or quoted-string
	csExtValToken                // token tchar, BWS, ';' or CR
	csExtQuoted                  // inside quoted-string
	csExtQuotedPair              // after '\' inside quoted-string
	csExtAfterQuote              // BWS, ';' or CR
	csSizeLF                     // LF ending the size line
	csData                       // chunk data
	csDataCR                     // CR after data
	csDataLF                     // LF after data
	csTrailerStart               // start of a trailer line, or CR of the final CRLF
	csTrailerName                // field-name tchar or ':'
	csTrailerValue               // field-value bytes or CR
	csTrailerLF                  // LF ending a trailer line
	csFinalLF                    // LF of the final CRLF
	csDone                       // body complete
	csFailed                     // malformed; err says why
)

// maxChunkDigits: 16 hex digits hold any int64; more (even leading zeros)
// is refused, as net/http does.
const maxChunkDigits = 16

// Reset readies d for a new body under lim (nil: DefaultLimits).
func (d *ChunkedDecoder) Reset(lim *Limits) {
	if lim == nil {
		lim = &DefaultLimits
	}
	*d = ChunkedDecoder{
		maxBody:    lim.bodyBytes(),
		maxExt:     lim.chunkExtBytes(),
		maxTrailer: lim.trailerBytes(),
		limited:    true,
	}
}

// Done reports whether the whole body, through the final CRLF, has been
// decoded.
func (d *ChunkedDecoder) Done() bool { return d.state == csDone }

// Total returns the number of data bytes decoded so far.
func (d *ChunkedDecoder) Total() int64 { return d.total }

// Decode consumes input from in and returns the next span of body data,
// which aliases in. It returns:
//
//   - (data, n, nil) with len(data) > 0: data is body data; call again with
//     in[n:] (which may be empty).
//   - (nil, n, io.EOF): the body ended at in[n]; what follows belongs to
//     the next request. Later calls return (nil, 0, io.EOF).
//   - (nil, len(in), ErrIncomplete): all of in was consumed (the decoder
//     keeps the state of a partial size line or trailer); call again with
//     the next input.
//   - (nil, n, *Error): the body is malformed (400), a chunk extension or
//     the trailer section is too long (400, 431), or the body would exceed
//     MaxBodyBytes (413, reported as soon as a chunk-size line takes the
//     total past it). Later calls return the same error.
func (d *ChunkedDecoder) Decode(in []byte) (data []byte, n int, err error) {
	if !d.limited {
		d.Reset(nil)
	}
	switch d.state {
	case csDone:
		return nil, 0, io.EOF
	case csFailed:
		return nil, 0, d.err
	}
	i := 0
	for i < len(in) {
		if d.state == csData {
			avail := len(in) - i
			if int64(avail) > d.size {
				avail = int(d.size)
			}
			d.size -= int64(avail)
			d.total += int64(avail)
			if d.size == 0 {
				d.state = csDataCR
			}
			return in[i : i+avail], i + avail, nil
		}
		if err := d.step(in[i]); err != nil {
			d.state, d.err = csFailed, err
			return nil, i, err
		}
		i++
		if d.state == csDone {
			return nil, i, io.EOF
		}
	}
	return nil, i, ErrIncomplete
}

// step advances the state machine over one byte outside chunk data.
func (d *ChunkedDecoder) step(c byte) error {
	// Count chunk-ext bytes: everything after the size digits before CR.
	if d.state >= csSizeMore && d.state <= csExtAfterQuote && c != '\r' && (d.state != csSizeMore || hexVal[c] < 0) {
		d.extBytes++
		if d.extBytes > d.maxExt {
			return errChunkExtLong
		}
	}
	if d.state >= csTrailerStart {
		d.trailerN++
		if d.trailerN > d.maxTrailer {
			return errTrailerTooLarge
		}
	}

	switch d.state {
	case csSize:
		v := hexVal[c]
		if v < 0 {
			if c == '\n' {
				return errBareLF
			}
			return errChunkSize
		}
		d.size, d.digits, d.extBytes, d.state = int64(v), 1, 0, csSizeMore
	case csSizeMore:
		if v := hexVal[c]; v >= 0 {
			if d.digits == maxChunkDigits || d.size > math.MaxInt64>>4 {
				return errChunkSizeOverflow
			}
			d.size = d.size<<4 | int64(v)
			d.digits++
			return nil
		}
		switch {
		case isOWS(c):
			d.state = csExtBWS
		case c == ';':
			d.state = csExtNameBWS
		case c == '\r':
			d.state = csSizeLF
		case c == '\n':
			return errBareLF
		default:
			return errChunkSize
		}

	// chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
	// (RFC 9112 §7.1.1). Whitespace must lead to ';' or '=': "5 \r\n" and
	// "5;a \r\n" are refused.
	case csExtBWS:
		switch {
		case isOWS(c):
		case c == ';':
			d.state = csExtNameBWS
		default:
			return errChunkExt
		}
	case csExtNameBWS:
		switch {
		case isOWS(c):
		case tchar[c]:
			d.state = csExtName
		default:
			return errChunkExt
		}
	case csExtName:
		switch {
		case tchar[c]:
		case isOWS(c):
			d.state = csExtAfterName
		case c == '=':
			d.state = csExtValBWS
		case c == ';':
			d.state = csExtNameBWS
		case c == '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}
	case csExtAfterName:
		switch {
		case isOWS(c):
		case c == '=':
			d.state = csExtValBWS
		case c == ';':
			d.state = csExtNameBWS
		default:
			return errChunkExt
		}
	case csExtValBWS:
		switch {
		case isOWS(c):
		case c == '"':
			d.state = csExtQuoted
		case tchar[c]:
			d.state = csExtValToken
		default:
			return errChunkExt
		}
	case csExtValToken:
		switch {
		case tchar[c]:
		case isOWS(c):
			d.state = csExtBWS
		case c == ';':
			d.state = csExtNameBWS
		case c == '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}
	case csExtQuoted:
		switch {
		case c == '"':
			d.state = csExtAfterQuote
		case c == '\\':
			d.state = csExtQuotedPair
		case qdtext[c]:
		default:
			return errChunkExt
		}
	case csExtQuotedPair:
		if !fieldValueChar[c] { // HTAB / SP / VCHAR / obs-text
			return errChunkExt
		}
		d.state = csExtQuoted
	case csExtAfterQuote:
		switch {
		case isOWS(c):
			d.state = csExtBWS
		case c == ';':
			d.state = csExtNameBWS
		case c == '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}

	case csSizeLF:
		if c != '\n' {
			return errBareCR
		}
		if d.size == 0 {
			d.state = csTrailerStart // last-chunk
			return nil
		}
		// Refuse an oversized body before any of its data arrives.
		if d.maxBody >= 0 && d.size > d.maxBody-d.total {
			return errBodyTooLarge
		}
		if d.size > math.MaxInt64-d.total {
			return errChunkSizeOverflow
		}
		d.state = csData
	case csDataCR:
		if c != '\r' {
			return errChunkDataEnd
		}
		d.state = csDataLF
	case csDataLF:
		if c != '\n' {
			return errChunkDataEnd
		}
		d.state = csSize

	// trailer-section = *( field-line CRLF ), then CRLF (RFC 9112 §7.1.2).
	case csTrailerStart:
		switch {
		case c == '\r':
			d.state = csFinalLF
		case tchar[c]:
			d.state = csTrailerName
		case c == '\n':
			return errBareLF
		default: // obs-fold, empty name, bad byte
			return errTrailer
		}
	case csTrailerName:
		switch {
		case tchar[c]:
		case c == ':':
			d.state = csTrailerValue
		case c == '\n':
			return errBareLF
		default: // includes whitespace before the colon
			return errTrailer
		}
	case csTrailerValue:
		switch {
		case fieldValueChar[c]:
		case c == '\r':
			d.state = csTrailerLF
		case c == '\n':
			return errBareLF
		default:
			return errTrailer
		}
	case csTrailerLF:
		if c != '\n' {
			return errBareCR
		}
		d.state = csTrailerStart
	case csFinalLF:
		if c != '\n' {
			return errBareCR
		}
		d.state = csDone
	}
	return nil
}
