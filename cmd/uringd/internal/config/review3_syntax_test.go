package config

import (
	"errors"
	"testing"
)

// TestReview3SyntaxErrorMultiLine: a syntax error inside a multi-line
// array, after a multi-line literal string that looks like a header,
// after multi-byte characters or with CRLF line ends, is reported on the
// line of the bad byte and names the key whose value holds it.
func TestReview3SyntaxErrorMultiLine(t *testing.T) {
	dir, root := testDirs(t)
	tests := []struct {
		name, text string
		line       int
		key        string
	}{
		{"two strings in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  \"application/json\" \"x\",\n]\n", 4, "compression.types"},
		{"bare word in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  bogus,\n]\n", 4, "compression.types"},
		{"bad escape in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  \"a\\qb\",\n]\n", 4, "compression.types"},
		{"comments with brackets and quotes in an array", "[compression]\ntypes = [ # a \" quote and ]\n  \"text/*\", # ] more\n  bogus,\n]\n", 4, "compression.types"},
		{"header-like text in a literal string", "[[mount]]\nroot = \"ROOT\"\ncache_control = '''\n[[mount]\n'''\nlisting = tru\n", 6, "mount[0].listing"},
		{"multi-byte characters before", "# héllo wörld ünïcode ✓\n[limits]\nmax_conns = 1x\n", 3, "limits.max_conns"},
		{"CRLF", "loops = 2\r\n[limits]\r\nmax_conns = 1x\r\n", 3, "limits.max_conns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, dir, root, tt.text))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load: %v, want an *Error", err)
			}
			if e.Line != tt.line || e.Key != tt.key {
				t.Errorf("%v: line %d key %q, want line %d key %q", err, e.Line, e.Key, tt.line, tt.key)
			}
		})
	}
}

// TestReview3SyntaxErrorInMultiLineString: a bad escape on the third
// line of a multi-line basic string is on that line (the decoder itself
// says so), not on the line where the string opens.
func TestReview3SyntaxErrorInMultiLineString(t *testing.T) {
	dir, root := testDirs(t)
	text := "[[mount]]\nroot = \"ROOT\"\ncache_control = \"\"\"\npublic,\nmax-age=\\q\n\"\"\"\n"
	_, err := Load(writeConfig(t, dir, root, text))
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load: %v, want an *Error", err)
	}
	if e.Line != 5 || e.Key != "mount[0].cache_control" {
		t.Errorf("%v: line %d key %q, want line 5 key %q", err, e.Line, e.Key, "mount[0].cache_control")
	}
}
