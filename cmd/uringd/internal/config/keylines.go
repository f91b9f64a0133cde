package config

import (
	"slices"
	"strconv"
	"strings"
)

// keyLines maps each key of a TOML document to the line that defines it.
// Paths join keys with "." and number the elements of arrays of tables:
// "mount[1].root". BurntSushi/toml keeps key positions private and does
// not number array elements, so errors about the second [[mount]] would
// otherwise point at the wrong one.
type keyLines map[string]int

// line returns the line of path, or of its nearest ancestor that has one
// (a key inside an inline table is found by its table), or 0.
func (k keyLines) line(path string) int {
	for ; path != ""; path = parentKey(path) {
		if n, ok := k[path]; ok {
			return n
		}
	}
	return 0
}

// linesOf returns the lines of every numbered path that reads unnumbered
// as key (for "mount.indx": the lines of mount[0].indx, mount[1].indx...).
func (k keyLines) linesOf(key string) []int {
	var lines []int
	for p, n := range k {
		if stripIndexes(p) == key {
			lines = append(lines, n)
		}
	}
	slices.Sort(lines)
	return lines
}

func stripIndexes(p string) string {
	var b strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// indexKeys scans a TOML document for table headers and key/value lines.
// It does not validate: the decoder does that. It only has to track enough
// (strings, multi-line strings and arrays, comments) not to mistake a
// value's text for a key.
func indexKeys(src string) keyLines {
	s := &keyScanner{src: src, line: 1, out: keyLines{}, arrays: map[string]int{}, at: -1}
	s.run()
	return s.out
}

// valueKeyAt returns the path of the key whose value (from after its "="
// to the end of its last line) holds byte offset off of src, or "" when
// off is elsewhere: in a table header, in a key, on a line of its own.
func valueKeyAt(src string, off int) string {
	s := &keyScanner{src: src, line: 1, out: keyLines{}, arrays: map[string]int{}, at: off}
	s.run()
	return s.atKey
}

type keyScanner struct {
	src    string
	pos    int
	line   int
	table  string         // resolved path of the current table ("" at top level)
	arrays map[string]int // resolved array-of-tables path -> elements so far
	out    keyLines
	at     int    // an offset to find the value of (valueKeyAt); -1: none
	atKey  string // the key whose value holds at
}

func (s *keyScanner) peek(off int) byte {
	if s.pos+off < len(s.src) {
		return s.src[s.pos+off]
	}
	return 0
}

func (s *keyScanner) run() {
	for s.pos < len(s.src) {
		s.skipSpace()
		switch c := s.peek(0); {
		case c == 0:
			return
		case c == '\n':
			s.newline()
		case c == '#':
			s.skipComment()
		case c == '[':
			s.header()
		default:
			s.keyValue()
		}
	}
}

func (s *keyScanner) newline() {
	s.pos++
	s.line++
}

func (s *keyScanner) skipSpace() {
	for c := s.peek(0); c == ' ' || c == '\t' || c == '\r'; c = s.peek(0) {
		s.pos++
	}
}

func (s *keyScanner) skipComment() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// header reads [a.b] or [[a.b]] and makes it the current table.
func (s *keyScanner) header() {
	line := s.line
	array := s.peek(1) == '['
	s.pos++
	if array {
		s.pos++
	}
	keys := s.keyPath()
	s.skipLine()
	if len(keys) == 0 {
		return
	}
	path := s.resolve(keys[:len(keys)-1], "")
	last := join(path, keys[len(keys)-1])
	if array {
		n := s.arrays[last]
		s.arrays[last] = n + 1
		last += "[" + strconv.Itoa(n) + "]"
	}
	s.table = last
	s.out[last] = line
}

// resolve appends keys to base, numbering each one that names an array of
// tables with its current (last) element, as TOML does.
func (s *keyScanner) resolve(keys []string, base string) string {
	p := base
	for _, k := range keys {
		p = join(p, k)
		if n, ok := s.arrays[p]; ok {
			p += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	return p
}

func join(base, k string) string {
	if base == "" {
		return k
	}
	return base + "." + k
}

// keyValue reads key = value, recording the key's line, and skips the
// value, which may span lines.
func (s *keyScanner) keyValue() {
	line := s.line
	keys := s.keyPath()
	if len(keys) == 0 || s.peek(0) != '=' {
		s.skipValue()
		return
	}
	s.pos++
	path := s.resolve(keys, s.table)
	s.out[path] = line
	start := s.pos
	s.skipValue()
	// The value's end includes the newline that ends it, where the
	// decoder reports a value cut short.
	if s.at >= start && s.at <= s.pos {
		s.atKey = path
	}
}

// keyPath reads a dotted key (bare, "basic" or 'literal' parts) and stops
// at '=', ']' or the end of the line.
func (s *keyScanner) keyPath() []string {
	var keys []string
	for {
		s.skipSpace()
		var k string
		switch c := s.peek(0); {
		case c == '"':
			k = s.quoted('"')
		case c == '\'':
			k = s.quoted('\'')
		case isBare(c):
			start := s.pos
			for isBare(s.peek(0)) {
				s.pos++
			}
			k = s.src[start:s.pos]
		default:
			return keys
		}
		keys = append(keys, k)
		s.skipSpace()
		if s.peek(0) != '.' {
			return keys
		}
		s.pos++
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// quoted reads a one-line quoted key and returns its (roughly unescaped)
// text.
func (s *keyScanner) quoted(q byte) string {
	s.pos++
	var b strings.Builder
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			return b.String()
		case c == q:
			s.pos++
			return b.String()
		case c == '\\' && q == '"' && s.pos+1 < len(s.src):
			s.pos++
			c = s.src[s.pos]
		}
		b.WriteByte(c)
		s.pos++
	}
	return b.String()
}

// skipLine skips to the end of the line (the newline is left for run).
func (s *keyScanner) skipLine() {
	for s.pos < len(s.src) && s.src[s.pos] != '\n' {
		s.pos++
	}
}

// skipValue skips a value and whatever follows it on its last line.
// Newlines inside brackets, braces and multi-line strings belong to the
// value.
func (s *keyScanner) skipValue() {
	depth := 0
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			if depth == 0 {
				return
			}
			s.newline()
			continue
		case c == '#':
			s.skipComment()
			continue
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth = max(depth-1, 0)
		case c == '"' || c == '\'':
			s.skipString(c)
			continue
		}
		s.pos++
	}
}

// skipString skips a basic, literal or multi-line string, counting the
// newlines inside it.
func (s *keyScanner) skipString(q byte) {
	delim := string(q)
	if s.peek(1) == q && s.peek(2) == q {
		delim = strings.Repeat(delim, 3)
	}
	s.pos += len(delim)
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\\' && q == '"':
			if s.peek(1) == '\n' {
				s.line++
			}
			s.pos += 2
			continue
		case c == '\n':
			if len(delim) == 1 {
				return // unterminated; the decoder reports it
			}
			s.line++
		case strings.HasPrefix(s.src[s.pos:], delim):
			s.pos += len(delim)
			// A multi-line string may end with up to two extra quotes.
			for len(delim) == 3 && s.peek(0) == q {
				s.pos++
			}
			return
		}
		s.pos++
	}
}
