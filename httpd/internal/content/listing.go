package content

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Entry is one directory entry to list.
type Entry struct {
	Name    string
	IsDir   bool
	Size    int64
	ModTime time.Time // zero: not shown
}

// AppendListing appends an HTML page listing a directory: urlPath is the
// directory's decoded URL path (as shown in the title, e.g. "/docs/"), and
// entries its contents, which the server has already filtered by its
// dotfile policy. The page must be served at a URL ending in '/' (redirect
// first), since its links are relative to it; a "../" link to the parent
// comes first, except at the root ("/" or "").
//
// Entries are sorted in place: directories first (as nginx's autoindex and
// most file managers show them), each group by name in byte order, which
// needs no locale and is the same on every machine. Names a request could
// not reach are left out rather than shown as dead links: empty, "." and
// "..", and names with '/', a backslash, a control byte or invalid UTF-8
// (see CleanPath). In a link every byte other than ALPHA, DIGIT, '-', '.',
// '_' and '~' is percent-encoded (so '?', '#', '%', ':' and spaces cannot
// change what the link means), which leaves nothing HTML-significant in
// the attribute; shown text is HTML-escaped.
func AppendListing(dst []byte, urlPath string, entries []Entry) []byte {
	slices.SortFunc(entries, func(a, b Entry) int {
		if a.IsDir != b.IsDir {
			if a.IsDir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	dst = append(dst, "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"+
		"<meta name=\"viewport\" content=\"width=device-width\">\n<title>Index of "...)
	dst = appendHTMLText(dst, urlPath)
	dst = append(dst, "</title>\n</head>\n<body>\n<h1>Index of "...)
	dst = appendHTMLText(dst, urlPath)
	dst = append(dst, "</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th><th>Modified (UTC)</th></tr></thead>\n<tbody>\n"...)
	if urlPath != "/" && urlPath != "" {
		dst = append(dst, "<tr><td><a href=\"../\">../</a></td><td>-</td><td></td></tr>\n"...)
	}
	for _, e := range entries {
		if !listable(e.Name) {
			continue
		}
		dst = append(dst, "<tr><td><a href=\""...)
		dst = appendPathEscaped(dst, e.Name)
		if e.IsDir {
			dst = append(dst, '/')
		}
		dst = append(dst, "\">"...)
		dst = appendHTMLText(dst, e.Name)
		if e.IsDir {
			dst = append(dst, '/')
		}
		dst = append(dst, "</a></td><td>"...)
		if e.IsDir {
			dst = append(dst, '-')
		} else {
			dst = strconv.AppendInt(dst, e.Size, 10)
		}
		dst = append(dst, "</td><td>"...)
		if !e.ModTime.IsZero() {
			dst = e.ModTime.UTC().AppendFormat(dst, "2006-01-02 15:04:05")
		}
		dst = append(dst, "</td></tr>\n"...)
	}
	return append(dst, "</tbody>\n</table>\n</body>\n</html>\n"...)
}

// listable reports whether a request could reach an entry of this name
// through CleanPath.
func listable(name string) bool {
	if name == "" || name == "." || name == ".." || !utf8.ValidString(name) {
		return false
	}
	for i := range len(name) {
		if c := name[i]; c < ' ' || c == 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

// appendPathEscaped appends s with every byte but RFC 3986's unreserved
// ones percent-encoded.
func appendPathEscaped(dst []byte, s string) []byte {
	for i := range len(s) {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' {
			dst = append(dst, c)
			continue
		}
		dst = append(dst, '%', "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&0xf])
	}
	return dst
}

// appendHTMLText appends s escaped for HTML text and attribute values;
// invalid UTF-8 and control characters become U+FFFD, so the page is valid
// UTF-8 whatever the caller passes.
func appendHTMLText(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1, r < ' ', r == 0x7f:
			dst = append(dst, "\uFFFD"...)
		case r == '&':
			dst = append(dst, "&amp;"...)
		case r == '<':
			dst = append(dst, "&lt;"...)
		case r == '>':
			dst = append(dst, "&gt;"...)
		case r == '"':
			dst = append(dst, "&#34;"...)
		case r == '\'':
			dst = append(dst, "&#39;"...)
		default:
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}
