package content

import "unicode/utf8"

// Path is a request path made ready to open relative to the root directory.
type Path struct {
	// Rel is the path relative to the root: segments joined by single
	// slashes, without a leading or trailing slash, "" for the root itself.
	// It holds no "." or ".." segment, NUL, control byte or backslash, and
	// is valid UTF-8. It aliases the dst given to CleanPath.
	Rel []byte
	// Dir is true when the request path ended in a slash, or in a "." or
	// ".." segment (which RFC 3986 §5.2.4 resolves to one): a directory was
	// asked for, so the server serves an index or listing, and redirects a
	// directory asked for without the slash.
	Dir bool
	// Hidden is true when a segment of Rel starts with a dot (.git, .env,
	// .well-known): for a policy that refuses dotfiles unless allowed.
	Hidden bool
}

// PathError is why CleanPath refused a path, with the status to answer.
// The values are the package's Err variables; compare with ==.
type PathError struct {
	reason string
	status int
}

// Error implements error.
func (e *PathError) Error() string { return "content: " + e.reason }

// Status is the HTTP status code to answer with.
func (e *PathError) Status() int { return e.status }

// The paths CleanPath refuses.
var (
	// ErrPathSyntax: not starting with '/', a '%' not followed by two hex
	// digits, or a raw space, '?' or '#' (the caller passed more than the
	// path, or an unparsed target). 400.
	ErrPathSyntax = &PathError{"malformed path", 400}
	// ErrPathControl: a NUL or other control byte, raw or percent-encoded.
	// No served file needs one, and echoed into a Location header or a log
	// line one could forge lines. 400.
	ErrPathControl = &PathError{"control byte in path", 400}
	// ErrPathBackslash: a raw backslash. Some clients and proxies treat it
	// as a separator, so two components could disagree about which file it
	// names; it is not a valid URI character either. 400.
	ErrPathBackslash = &PathError{"backslash in path", 400}
	// ErrEncodedSeparator: %2F or %5C (encoded slash or backslash). No file
	// name on Linux holds a slash, so %2F cannot name a file; it can only
	// hide a separator from whatever checked the raw path (a proxy rule).
	// %5C is refused with it for the reason backslash is. 404, as Apache
	// answers with AllowEncodedSlashes off: there is no such file.
	ErrEncodedSeparator = &PathError{"encoded slash or backslash in path", 404}
	// ErrPathEscapes: a ".." segment (raw or encoded as %2e%2e) that would
	// climb above the root. Refused rather than clamped to the root, as
	// nginx does: only a hostile or broken client sends one. 400.
	ErrPathEscapes = &PathError{"path climbs above the root", 400}
	// ErrPathUTF8: a segment that is not valid UTF-8 once decoded, overlong
	// forms included. URLs encode names as UTF-8 (RFC 3987); overlong forms
	// were long used to smuggle '/' and '.' past decoders, and invalid bytes
	// make logs ambiguous. A file whose name is not UTF-8 cannot be served
	// (AppendListing leaves it out). 400.
	ErrPathUTF8 = &PathError{"path is not valid UTF-8", 400}
)

// CleanPath turns the raw path of a request target (still percent-encoded,
// without the query: h1.Request.Path) into a path relative to the document
// root, appended to dst (which may be nil; its length is kept) and
// returned in Path.Rel. An empty rawPath is the root, as for an
// absolute-form target without a path.
//
// Each %HH is decoded exactly once: "%252e" is the name "%2e". Decoded dots
// count as dots, so "%2e%2e" is a ".." segment. Empty and "." segments are
// dropped (so "//" collapses); ".." removes the segment before it, and is
// refused with ErrPathEscapes when there is none. The other refusals are
// the Err variables of this package; each is a *PathError with its status.
//
// This is a first filter, to answer bad paths early and clearly. The guard
// that keeps the server inside the root is openat2 with RESOLVE_BENEATH,
// which also stops symbolic links from leading out.
func CleanPath(dst, rawPath []byte) (Path, error) {
	base := len(dst)
	out := dst
	if len(rawPath) == 0 {
		return Path{Rel: out[base:], Dir: true}, nil
	}
	if rawPath[0] != '/' {
		return Path{}, ErrPathSyntax
	}
	dir := false
	for i := 1; ; {
		sep := len(out) > base
		if sep {
			out = append(out, '/')
		}
		start := len(out)
		j := i
		for j < len(rawPath) && rawPath[j] != '/' {
			// Copy a run of plain bytes at once; stop at '/' or a byte
			// that needs a look.
			k := j
			for k < len(rawPath) && pathClass[rawPath[k]] == pathPlain {
				k++
			}
			out = append(out, rawPath[j:k]...)
			if j = k; j == len(rawPath) || rawPath[j] == '/' {
				break
			}
			switch pathClass[rawPath[j]] {
			case pathPercent:
				if j+2 >= len(rawPath) {
					return Path{}, ErrPathSyntax
				}
				hi, ok1 := unhex(rawPath[j+1])
				lo, ok2 := unhex(rawPath[j+2])
				if !ok1 || !ok2 {
					return Path{}, ErrPathSyntax
				}
				switch c := hi<<4 | lo; {
				case c == '/' || c == '\\':
					return Path{}, ErrEncodedSeparator
				case c < ' ' || c == 0x7f:
					return Path{}, ErrPathControl
				default:
					out = append(out, c)
				}
				j += 3
			case pathControl:
				return Path{}, ErrPathControl
			case pathBackslash:
				return Path{}, ErrPathBackslash
			default:
				return Path{}, ErrPathSyntax
			}
		}
		seg := out[start:]
		last := j >= len(rawPath)
		switch {
		case len(seg) == 0, len(seg) == 1 && seg[0] == '.':
			out = unappend(out, start, sep)
			dir = last
		case len(seg) == 2 && seg[0] == '.' && seg[1] == '.':
			out = unappend(out, start, sep)
			if len(out) == base {
				return Path{}, ErrPathEscapes
			}
			k := len(out) - 1
			for k > base && out[k] != '/' {
				k--
			}
			out = out[:k] // drops the separator too, or empties out[base:]
			dir = last
		default:
			if !utf8.Valid(seg) {
				return Path{}, ErrPathUTF8
			}
			dir = false
		}
		if last {
			break
		}
		i = j + 1
	}
	rel := out[base:]
	hidden := len(rel) > 0 && rel[0] == '.'
	for k := 1; k < len(rel) && !hidden; k++ {
		hidden = rel[k] == '.' && rel[k-1] == '/'
	}
	return Path{Rel: rel, Dir: dir, Hidden: hidden}, nil
}

// Byte classes for CleanPath's scan of the raw path.
const (
	pathPlain     = iota // copied as is (bytes >= 0x80 are checked as UTF-8 later)
	pathSlash            // ends a segment
	pathPercent          // starts %HH
	pathControl          // NUL, other C0 controls, DEL
	pathBackslash        // '\\'
	pathSyntax           // SP, '?', '#': not part of a path
)

var pathClass = func() (t [256]uint8) {
	for c := range 0x20 {
		t[c] = pathControl
	}
	t[0x7f] = pathControl
	t['/'] = pathSlash
	t['%'] = pathPercent
	t['\\'] = pathBackslash
	t[' '], t['?'], t['#'] = pathSyntax, pathSyntax, pathSyntax
	return t
}()

// unappend removes the segment started at start, and the separator before
// it if one was added.
func unappend(out []byte, start int, sep bool) []byte {
	if sep {
		return out[:start-1]
	}
	return out[:start]
}
