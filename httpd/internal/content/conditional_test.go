package content

import (
	"testing"
	"time"
)

const (
	lm     = "Sun, 06 Nov 1994 08:49:37 GMT" // the representation's Last-Modified
	before = "Sun, 06 Nov 1994 08:49:36 GMT"
	after  = "Sun, 06 Nov 1994 08:49:38 GMT"
)

// modTime has sub-second precision that Last-Modified drops.
var modTime = time.Unix(784111777, 500_000_000)

func TestEvaluate(t *testing.T) {
	strong := Meta{ETag: []byte(`"abc"`), ModTime: modTime}
	weakMeta := Meta{ETag: []byte(`W/"abc"`), ModTime: modTime}
	none := Meta{}
	type c = Conditions
	b := func(s string) []byte { return []byte(s) }
	get, head, put, post := b("GET"), b("HEAD"), b("PUT"), b("POST")
	tests := []struct {
		name string
		req  Conditions
		meta Meta
		want Decision
	}{
		{"no conditions", c{Method: get}, strong, Decision{}},
		{"range only", c{Method: get, Range: b("bytes=0-1")}, strong, Decision{UseRange: true}},
		{"range on HEAD ignored", c{Method: head, Range: b("bytes=0-1")}, strong, Decision{}},
		{"range on PUT ignored", c{Method: put, Range: b("bytes=0-1")}, strong, Decision{}},
		{"range of spaces", c{Method: get, Range: b("  ")}, strong, Decision{}},

		// If-Match: strong comparison.
		{"If-Match equal", c{Method: get, IfMatch: b(`"abc"`)}, strong, Decision{}},
		{"If-Match in list", c{Method: put, IfMatch: b(`"x", "abc"`)}, strong, Decision{}},
		{"If-Match list OWS", c{Method: put, IfMatch: b(" \"x\"\t,  ,\"abc\" ")}, strong, Decision{}},
		{"If-Match differs", c{Method: get, IfMatch: b(`"abd"`)}, strong, Decision{Status: 412}},
		{"If-Match weak request tag", c{Method: get, IfMatch: b(`W/"abc"`)}, strong, Decision{Status: 412}},
		{"If-Match weak own tag", c{Method: get, IfMatch: b(`"abc"`)}, weakMeta, Decision{Status: 412}},
		{"If-Match star", c{Method: put, IfMatch: b("*")}, strong, Decision{}},
		{"If-Match star, no tag", c{Method: put, IfMatch: b("*")}, none, Decision{}},
		{"If-Match no own tag", c{Method: put, IfMatch: b(`"abc"`)}, none, Decision{Status: 412}},
		{"If-Match star in list", c{Method: put, IfMatch: b(`"x", *`)}, strong, Decision{Status: 412}},
		{"If-Match unquoted", c{Method: put, IfMatch: b(`abc`)}, strong, Decision{Status: 412}},
		{"If-Match case", c{Method: put, IfMatch: b(`"ABC"`)}, strong, Decision{Status: 412}},
		{"If-Match lower w/", c{Method: put, IfMatch: b(`w/"abc"`)}, strong, Decision{Status: 412}},
		{"If-Match match before junk", c{Method: put, IfMatch: b(`"abc" junk`)}, strong, Decision{}},
		{"If-Match junk before match", c{Method: put, IfMatch: b(`junk, "abc"`)}, strong, Decision{Status: 412}},
		{"If-Match unterminated", c{Method: put, IfMatch: b(`"abc`)}, strong, Decision{Status: 412}},
		{"If-Match bad etagc", c{Method: put, IfMatch: b("\"a c\"")}, strong, Decision{Status: 412}},
		{"If-Match beats If-Unmodified-Since", c{Method: put, IfMatch: b(`"abc"`), IfUnmodifiedSince: b(before)}, strong, Decision{}},

		// If-Unmodified-Since.
		{"IUS equal", c{Method: put, IfUnmodifiedSince: b(lm)}, strong, Decision{}},
		{"IUS later", c{Method: put, IfUnmodifiedSince: b(after)}, strong, Decision{}},
		{"IUS earlier", c{Method: put, IfUnmodifiedSince: b(before)}, strong, Decision{Status: 412}},
		{"IUS earlier, GET", c{Method: get, IfUnmodifiedSince: b(before)}, strong, Decision{Status: 412}},
		{"IUS malformed", c{Method: put, IfUnmodifiedSince: b("yesterday")}, strong, Decision{}},
		{"IUS list", c{Method: put, IfUnmodifiedSince: b(before + ", " + after)}, strong, Decision{}},
		{"IUS no modtime", c{Method: put, IfUnmodifiedSince: b(before)}, none, Decision{}},

		// If-None-Match: weak comparison.
		{"INM equal GET", c{Method: get, IfNoneMatch: b(`"abc"`)}, strong, Decision{Status: 304}},
		{"INM equal HEAD", c{Method: head, IfNoneMatch: b(`"abc"`)}, strong, Decision{Status: 304}},
		{"INM equal PUT", c{Method: put, IfNoneMatch: b(`"abc"`)}, strong, Decision{Status: 412}},
		{"INM weak request tag", c{Method: get, IfNoneMatch: b(`W/"abc"`)}, strong, Decision{Status: 304}},
		{"INM weak own tag", c{Method: get, IfNoneMatch: b(`"abc"`)}, weakMeta, Decision{Status: 304}},
		{"INM differs", c{Method: get, IfNoneMatch: b(`"abd"`)}, strong, Decision{}},
		{"INM list", c{Method: get, IfNoneMatch: b(`"x",W/"abc"`)}, strong, Decision{Status: 304}},
		{"INM star", c{Method: get, IfNoneMatch: b(`*`)}, strong, Decision{Status: 304}},
		{"INM star POST", c{Method: post, IfNoneMatch: b(`*`)}, none, Decision{Status: 412}},
		{"INM malformed", c{Method: get, IfNoneMatch: b(`abc`)}, strong, Decision{}},
		{"INM star in list", c{Method: get, IfNoneMatch: b(`"x", *`)}, strong, Decision{}},
		{"INM no own tag", c{Method: get, IfNoneMatch: b(`"abc"`)}, none, Decision{}},
		{"INM empty tag", c{Method: get, IfNoneMatch: b(`""`)}, Meta{ETag: b(`""`)}, Decision{Status: 304}},
		{"INM beats IMS", c{Method: get, IfNoneMatch: b(`"x"`), IfModifiedSince: b(lm)}, strong, Decision{}},
		{"INM miss keeps range", c{Method: get, IfNoneMatch: b(`"x"`), Range: b("bytes=0-1")}, strong, Decision{UseRange: true}},

		// If-Modified-Since, one-second resolution.
		{"IMS equal", c{Method: get, IfModifiedSince: b(lm)}, strong, Decision{Status: 304}},
		{"IMS later", c{Method: get, IfModifiedSince: b(after)}, strong, Decision{Status: 304}},
		{"IMS earlier", c{Method: get, IfModifiedSince: b(before)}, strong, Decision{}},
		{"IMS RFC 850", c{Method: get, IfModifiedSince: b("Sunday, 06-Nov-94 08:49:37 GMT")}, strong, Decision{Status: 304}},
		{"IMS asctime", c{Method: head, IfModifiedSince: b("Sun Nov  6 08:49:37 1994")}, strong, Decision{Status: 304}},
		{"IMS POST ignored", c{Method: post, IfModifiedSince: b(lm)}, strong, Decision{}},
		{"IMS malformed", c{Method: get, IfModifiedSince: b("Sun, 06 Nov 1994")}, strong, Decision{}},
		{"IMS no modtime", c{Method: get, IfModifiedSince: b(lm)}, none, Decision{}},
		{"IMS lower-case method", c{Method: b("get"), IfModifiedSince: b(lm)}, strong, Decision{}},

		// If-Range.
		{"If-Range etag match", c{Method: get, Range: b("bytes=0-1"), IfRange: b(`"abc"`)}, strong, Decision{UseRange: true}},
		{"If-Range etag differs", c{Method: get, Range: b("bytes=0-1"), IfRange: b(`"abd"`)}, strong, Decision{}},
		{"If-Range weak tag", c{Method: get, Range: b("bytes=0-1"), IfRange: b(`W/"abc"`)}, strong, Decision{}},
		{"If-Range own weak tag", c{Method: get, Range: b("bytes=0-1"), IfRange: b(`"abc"`)}, weakMeta, Decision{}},
		{"If-Range list", c{Method: get, Range: b("bytes=0-1"), IfRange: b(`"abc", "abc"`)}, strong, Decision{}},
		{"If-Range date equal", c{Method: get, Range: b("bytes=0-1"), IfRange: b(lm)}, strong, Decision{UseRange: true}},
		{"If-Range date Wednesday", c{Method: get, Range: b("bytes=0-1"), IfRange: b("Wed, 09 Nov 1994 08:49:37 GMT")}, Meta{ModTime: modTime.Add(3 * 24 * time.Hour)}, Decision{UseRange: true}},
		{"If-Range date later", c{Method: get, Range: b("bytes=0-1"), IfRange: b(after)}, strong, Decision{}},
		{"If-Range date earlier", c{Method: get, Range: b("bytes=0-1"), IfRange: b(before)}, strong, Decision{}},
		{"If-Range date, no modtime", c{Method: get, Range: b("bytes=0-1"), IfRange: b(lm)}, none, Decision{}},
		{"If-Range malformed", c{Method: get, Range: b("bytes=0-1"), IfRange: b("garbage")}, strong, Decision{}},
		{"If-Range without Range", c{Method: get, IfRange: b(`"abc"`)}, strong, Decision{}},

		// Order: step 1 before step 3.
		{"If-Match fails before INM", c{Method: get, IfMatch: b(`"x"`), IfNoneMatch: b(`"abc"`)}, strong, Decision{Status: 412}},
		{"IUS fails before IMS", c{Method: get, IfUnmodifiedSince: b(before), IfModifiedSince: b(lm)}, strong, Decision{Status: 412}},
		{"all pass", c{Method: get, IfMatch: b(`"abc"`), IfNoneMatch: b(`"x"`), Range: b("bytes=0-1"), IfRange: b(`"abc"`)}, strong, Decision{UseRange: true}},
	}
	for _, tt := range tests {
		if got := Evaluate(tt.req, tt.meta); got != tt.want {
			t.Errorf("%s: Evaluate = %+v; want %+v", tt.name, got, tt.want)
		}
	}
}

func TestParseETag(t *testing.T) {
	for _, tt := range []struct {
		in, opaque, rest string
		weak, ok         bool
	}{
		{`"abc"`, `"abc"`, ``, false, true},
		{`W/"abc", "d"`, `"abc"`, `, "d"`, true, true},
		{`""`, `""`, ``, false, true},
		{"\"\x80\xff!#~\"", "\"\x80\xff!#~\"", ``, false, true},
		{`"`, ``, ``, false, false},
		{`W/`, ``, ``, false, false},
		{`W"abc"`, ``, ``, false, false},
		{`"a"b"`, `"a"`, `b"`, false, true},
		{"\"a\x7f\"", ``, ``, false, false},
		{"\"a\tb\"", ``, ``, false, false},
		{`abc`, ``, ``, false, false},
	} {
		weak, opaque, rest, ok := parseETag([]byte(tt.in))
		if weak != tt.weak || string(opaque) != tt.opaque || string(rest) != tt.rest || ok != tt.ok {
			t.Errorf("parseETag(%q) = %v %q %q %v", tt.in, weak, opaque, rest, ok)
		}
	}
}
