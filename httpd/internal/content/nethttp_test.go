package content

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Differential tests: the same request answered by http.ServeContent and by
// this package's pieces put together as the server will. Where the two
// disagree by design (doc.go lists it), the cases say so and pin both
// answers.

const diffName = "file.txt" // both sides type it text/plain; charset=utf-8

// answer is what the two sides are compared on.
type answer struct {
	status       int
	contentRange string
	length       string // Content-Length, for 200 and 206
	body         string // the bytes, or for multipart the parts rendered by renderParts
}

func (a answer) String() string {
	return fmt.Sprintf("%d CR=%q CL=%q body=%.80q", a.status, a.contentRange, a.length, a.body)
}

// diffRequest is a request's method and header fields.
type diffRequest struct {
	method string
	h      map[string]string
}

func netHTTPAnswer(t testing.TB, rq diffRequest, data []byte, etag string, mod time.Time) answer {
	req := httptest.NewRequest(rq.method, "/"+diffName, nil)
	for k, v := range rq.h {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	if etag != "" {
		rec.Header().Set("Etag", etag)
	}
	http.ServeContent(rec, req, diffName, mod, bytes.NewReader(data))
	res := rec.Result()
	a := answer{status: res.StatusCode}
	switch a.status {
	case 200, 206:
		a.length = res.Header.Get("Content-Length")
		a.body = rec.Body.String()
		if ct := res.Header.Get("Content-Type"); strings.HasPrefix(ct, "multipart/") {
			a.body = renderParts(t, ct, rec.Body.Bytes())
		} else {
			a.contentRange = res.Header.Get("Content-Range")
		}
	case 416:
		a.contentRange = res.Header.Get("Content-Range")
	}
	return a
}

// ourAnswer serves the request as httpd will with this package.
func ourAnswer(t testing.TB, rq diffRequest, data []byte, etag string, mod time.Time) answer {
	size := int64(len(data))
	d := Evaluate(Conditions{
		Method:            []byte(rq.method),
		IfMatch:           []byte(rq.h["If-Match"]),
		IfNoneMatch:       []byte(rq.h["If-None-Match"]),
		IfModifiedSince:   []byte(rq.h["If-Modified-Since"]),
		IfUnmodifiedSince: []byte(rq.h["If-Unmodified-Since"]),
		IfRange:           []byte(rq.h["If-Range"]),
		Range:             []byte(rq.h["Range"]),
	}, Meta{ETag: []byte(etag), ModTime: mod})
	if d.Status != 0 {
		return answer{status: d.Status}
	}
	full := answer{status: 200, length: strconv.Itoa(len(data)), body: string(data)}
	if rq.method == "HEAD" {
		full.body = ""
	}
	if !d.UseRange {
		return full
	}
	var buf [DefaultMaxRanges]Range
	ranges, status := ParseRange(buf[:0], []byte(rq.h["Range"]), size, nil)
	switch {
	case status == 200:
		return full
	case status == 416:
		return answer{status: 416, contentRange: string(AppendUnsatisfiedRange(nil, size))}
	case len(ranges) == 1:
		r := ranges[0]
		return answer{status: 206, contentRange: string(AppendContentRange(nil, r, size)),
			length: strconv.FormatInt(r.Length, 10), body: string(data[r.Start:r.End()])}
	}
	var p MultipartPlan
	if !p.Build(ranges, size, TypeByName([]byte(diffName)), NewBoundary(rand.NewPCG(1, 2))) {
		t.Fatalf("Build(%v) failed", ranges)
	}
	body := render(&p, data)
	if int64(len(body)) != p.Length {
		t.Fatalf("plan Length %d, body %d", p.Length, len(body))
	}
	return answer{status: 206, length: strconv.Itoa(len(body)), body: renderParts(t, string(p.ContentType), body)}
}

// renderParts lists a multipart/byteranges body's parts with their headers,
// so that bodies with different boundaries compare equal. The part's
// Content-Length difference this leaves (boundary lengths differ) is why
// multipart answers compare length only against their own body.
func renderParts(t testing.TB, contentType string, body []byte) string {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/byteranges" {
		t.Fatalf("Content-Type %q: %v", contentType, err)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	var sb strings.Builder
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			return sb.String()
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		fmt.Fprintf(&sb, "[%s|%s|%s]", part.Header.Get("Content-Type"), part.Header.Get("Content-Range"), data)
	}
}

// compareAnswers fails unless the two sides agree (multipart lengths aside:
// each is checked against its own body).
func compareAnswers(t testing.TB, rq diffRequest, ours, theirs answer) {
	t.Helper()
	if strings.HasPrefix(ours.body, "[") && strings.HasPrefix(theirs.body, "[") {
		ours.length, theirs.length = "", ""
	}
	if ours != theirs {
		t.Fatalf("%s %v:\nours     %v\nnet/http %v", rq.method, rq.h, ours, theirs)
	}
}

var (
	diffData = []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!?")
	diffETag = `"5f5e100.1dcd6500-40-2a"`
	diffMod  = time.Unix(100000000, 500_000_000) // 1973-03-03 09:46:40.5 UTC
)

func TestNetHTTPSame(t *testing.T) {
	lm := diffMod.UTC().Format(http.TimeFormat)
	earlier := diffMod.Add(-time.Second).UTC().Format(http.TimeFormat)
	later := diffMod.Add(time.Second).UTC().Format(http.TimeFormat)
	type h = map[string]string
	for _, rq := range []diffRequest{
		{"GET", h{}},
		{"HEAD", h{}},
		// Single ranges: RFC 9110 §14.1.2's forms.
		{"GET", h{"Range": "bytes=0-9"}},
		{"GET", h{"Range": "bytes=10-19"}},
		{"GET", h{"Range": "bytes=-5"}},
		{"GET", h{"Range": "bytes=60-"}},
		{"GET", h{"Range": "bytes=0-0"}},
		{"GET", h{"Range": "bytes=63-63"}},
		{"GET", h{"Range": "bytes=0-1000"}},
		{"GET", h{"Range": "bytes=-1000"}},
		{"GET", h{"Range": "bytes=0-"}},
		{"GET", h{"Range": "bytes=64-"}},
		{"GET", h{"Range": "bytes=100-200"}},
		{"GET", h{"Range": "bytes=100-200,300-"}},
		{"GET", h{"Range": "bytes=100-200, 5-6"}},
		{"GET", h{"Range": "bytes=,0-3,"}},
		{"GET", h{"Range": "bytes="}},
		// Multiple ranges, ascending and apart.
		{"GET", h{"Range": "bytes=0-0,-1"}},
		{"GET", h{"Range": "bytes=0-4, 10-14,\t20-24"}},
		{"GET", h{"Range": "bytes=1-2,60-"}},
		// Conditionals.
		{"GET", h{"If-None-Match": diffETag}},
		{"HEAD", h{"If-None-Match": diffETag}},
		{"GET", h{"If-None-Match": "W/" + diffETag}},
		{"GET", h{"If-None-Match": `"x", ` + diffETag}},
		{"GET", h{"If-None-Match": `"x"`}},
		{"GET", h{"If-None-Match": "*"}},
		{"POST", h{"If-None-Match": diffETag}},
		{"PUT", h{"If-None-Match": "*"}},
		{"GET", h{"If-Match": diffETag}},
		{"GET", h{"If-Match": "W/" + diffETag}},
		{"GET", h{"If-Match": `"x"`}},
		{"GET", h{"If-Match": "*"}},
		{"GET", h{"If-Match": `"x", ` + diffETag}},
		{"GET", h{"If-Match": "garbage"}},
		{"PUT", h{"If-Match": `"x"`}},
		{"GET", h{"If-Modified-Since": lm}},
		{"GET", h{"If-Modified-Since": earlier}},
		{"GET", h{"If-Modified-Since": later}},
		{"GET", h{"If-Modified-Since": "Saturday, 03-Mar-73 09:46:40 GMT"}},
		{"GET", h{"If-Modified-Since": "Sat Mar  3 09:46:40 1973"}},
		{"GET", h{"If-Modified-Since": "garbage"}},
		{"POST", h{"If-Modified-Since": later}},
		{"GET", h{"If-Unmodified-Since": lm}},
		{"GET", h{"If-Unmodified-Since": earlier}},
		{"PUT", h{"If-Unmodified-Since": earlier}},
		{"GET", h{"If-Unmodified-Since": "garbage"}},
		{"GET", h{"If-Match": diffETag, "If-Unmodified-Since": earlier}},
		{"GET", h{"If-None-Match": `"x"`, "If-Modified-Since": later}},
		{"GET", h{"If-None-Match": diffETag, "If-Modified-Since": earlier}},
		{"GET", h{"If-Match": `"x"`, "If-None-Match": diffETag}},
		// If-Range.
		{"GET", h{"Range": "bytes=0-9", "If-Range": diffETag}},
		{"GET", h{"Range": "bytes=0-9", "If-Range": `"x"`}},
		{"GET", h{"Range": "bytes=0-9", "If-Range": "W/" + diffETag}},
		{"GET", h{"Range": "bytes=0-9", "If-Range": lm}},
		{"GET", h{"Range": "bytes=0-9", "If-Range": later}},
		{"GET", h{"Range": "bytes=0-9", "If-Range": "garbage"}},
		{"GET", h{"Range": "bytes=0-1,5-6", "If-Range": diffETag}},
		{"GET", h{"If-Range": `"x"`}},
		{"GET", h{"Range": "bytes=0-9", "If-None-Match": `"x"`, "If-Range": diffETag}},
	} {
		ours := ourAnswer(t, rq, diffData, diffETag, diffMod)
		theirs := netHTTPAnswer(t, rq, diffData, diffETag, diffMod)
		compareAnswers(t, rq, ours, theirs)
	}
}

// TestNetHTTPDifferences pins each deliberate difference (doc.go).
func TestNetHTTPDifferences(t *testing.T) {
	type h = map[string]string
	full := answer{status: 200, length: "64", body: string(diffData)}
	for _, tt := range []struct {
		why          string
		rq           diffRequest
		data         []byte
		ours, theirs answer
	}{
		{"malformed Range ignored, not 416", diffRequest{"GET", h{"Range": "bytes=5-2"}}, diffData, full, answer{status: 416}},
		{"malformed Range ignored, not 416", diffRequest{"GET", h{"Range": "bytes=x"}}, diffData, full, answer{status: 416}},
		{"malformed Range ignored, not 416", diffRequest{"GET", h{"Range": "items=0-1"}}, diffData, full, answer{status: 416}},
		{"malformed Range on an empty file", diffRequest{"GET", h{"Range": "bytes=x"}}, nil,
			answer{status: 200, length: "0"}, answer{status: 416}},
		{"suffix range on an empty file", diffRequest{"GET", h{"Range": "bytes=-1"}}, nil,
			answer{status: 200, length: "0"}, answer{status: 206, contentRange: "bytes 0--1/0", length: "0"}},
		{"OWS inside a range-spec", diffRequest{"GET", h{"Range": "bytes=1 - 2"}}, diffData, full,
			answer{status: 206, contentRange: "bytes 1-2/64", length: "2", body: "12"}},
		{"unit case-insensitive", diffRequest{"GET", h{"Range": "Bytes=1-2"}}, diffData,
			answer{status: 206, contentRange: "bytes 1-2/64", length: "2", body: "12"}, answer{status: 416}},
		{"huge last-pos saturates", diffRequest{"GET", h{"Range": "bytes=60-99999999999999999999"}}, diffData,
			answer{status: 206, contentRange: "bytes 60-63/64", length: "4", body: "YZ!?"}, answer{status: 416}},
		{"suffix of 0 unsatisfiable", diffRequest{"GET", h{"Range": "bytes=-0"}}, diffData,
			answer{status: 416, contentRange: "bytes */64"}, answer{status: 206, contentRange: "bytes 64-63/64", length: "0"}},
		{"overlapping ranges coalesced", diffRequest{"GET", h{"Range": "bytes=0-5,3-9"}}, diffData,
			answer{status: 206, contentRange: "bytes 0-9/64", length: "10", body: "0123456789"},
			answer{status: 206, body: "[text/plain; charset=utf-8|bytes 0-5/64|012345][text/plain; charset=utf-8|bytes 3-9/64|3456789]"}},
		{"adjacent ranges coalesced", diffRequest{"GET", h{"Range": "bytes=0-1,2-3"}}, diffData,
			answer{status: 206, contentRange: "bytes 0-3/64", length: "4", body: "0123"},
			answer{status: 206, body: "[text/plain; charset=utf-8|bytes 0-1/64|01][text/plain; charset=utf-8|bytes 2-3/64|23]"}},
		{"ranges sorted", diffRequest{"GET", h{"Range": "bytes=9-9,0-0"}}, diffData,
			answer{status: 206, body: "[text/plain; charset=utf-8|bytes 0-0/64|0][text/plain; charset=utf-8|bytes 9-9/64|9]"},
			answer{status: 206, body: "[text/plain; charset=utf-8|bytes 9-9/64|9][text/plain; charset=utf-8|bytes 0-0/64|0]"}},
		{"more than MaxRanges ignored", diffRequest{"GET", h{"Range": "bytes=" + strings.Repeat("1-1,", 32) + "3-3"}}, diffData, full,
			answer{status: 206, body: strings.Repeat("[text/plain; charset=utf-8|bytes 1-1/64|1]", 32) + "[text/plain; charset=utf-8|bytes 3-3/64|3]"}},
		{"net/http ignores ranges summing over the size; ours coalesce",
			diffRequest{"GET", h{"Range": "bytes=0-40,20-63"}}, diffData,
			answer{status: 206, contentRange: "bytes 0-63/64", length: "64", body: string(diffData)}, full},
		{"HEAD ignores Range", diffRequest{"HEAD", h{"Range": "bytes=0-9"}}, diffData,
			answer{status: 200, length: "64"}, answer{status: 206, contentRange: "bytes 0-9/64", length: "10"}},
		{"PUT ignores Range", diffRequest{"PUT", h{"Range": "bytes=0-9"}}, diffData,
			full, answer{status: 206, contentRange: "bytes 0-9/64", length: "10", body: "0123456789"}},
		{"* inside an If-Match list", diffRequest{"GET", h{"If-Match": `"x", *`}}, diffData, answer{status: 412}, full},
		{"* inside an If-None-Match list", diffRequest{"GET", h{"If-None-Match": `"x", *`}}, diffData, full, answer{status: 304}},
		{"If-Range with more than one tag", diffRequest{"GET", h{"Range": "bytes=0-0", "If-Range": diffETag + `, "x"`}}, diffData,
			full, answer{status: 206, contentRange: "bytes 0-0/64", length: "1", body: "0"}},
		{"leap second", diffRequest{"GET", h{"If-Modified-Since": "Sat, 03 Mar 1973 09:46:60 GMT"}}, diffData, answer{status: 304}, full},
		{"RFC 850 year window", diffRequest{"GET", h{"If-Unmodified-Since": "Thursday, 01-Jan-70 00:00:00 GMT"}}, diffData,
			full, answer{status: 412}},
	} {
		ours := ourAnswer(t, tt.rq, tt.data, diffETag, diffMod)
		theirs := netHTTPAnswer(t, tt.rq, tt.data, diffETag, diffMod)
		if ours.length != "" && strings.HasPrefix(ours.body, "[") {
			ours.length = ""
		}
		if theirs.length != "" && strings.HasPrefix(theirs.body, "[") {
			theirs.length = ""
		}
		if ours != tt.ours || theirs != tt.theirs {
			t.Errorf("%s: %s %v\nours     %v\nwant     %v\nnet/http %v\nwant     %v", tt.why, tt.rq.method, tt.rq.h, ours, tt.ours, theirs, tt.theirs)
		}
	}

	// A modification time of exactly the epoch is a real date here.
	rq := diffRequest{"GET", h{"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"}}
	ours := ourAnswer(t, rq, diffData, "", time.Unix(0, 0))
	theirs := netHTTPAnswer(t, rq, diffData, "", time.Unix(0, 0))
	if ours.status != 304 || theirs.status != 200 {
		t.Errorf("epoch: ours %v, net/http %v", ours, theirs)
	}
}

// TestNetHTTPRandom compares random requests drawn from the space where
// the two are meant to agree: well-formed headers, GET or a method without
// Range, ascending ranges that neither overlap nor touch.
func TestNetHTTPRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		size := 1 + rng.IntN(200) // empty files differ: see TestNetHTTPDifferences
		data := diffData
		for len(data) < size {
			data = append(data[:len(data):len(data)], diffData...)
		}
		data = data[:size]
		rq := randomDiffRequest(rng, int64(size))
		ours := ourAnswer(t, rq, data, diffETag, diffMod)
		theirs := netHTTPAnswer(t, rq, data, diffETag, diffMod)
		compareAnswers(t, rq, ours, theirs)
	}
}

func randomDiffRequest(rng *rand.Rand, size int64) diffRequest {
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	sec := func(d int) string {
		return diffMod.Add(time.Duration(d) * time.Second).UTC().Format(pick(http.TimeFormat, time.ANSIC))
	}
	date := func() string { return pick(sec(-1), sec(0), sec(1), sec(-86400), "garbage", "") }
	tag := func() string {
		return pick(diffETag, "W/"+diffETag, `"other"`, `"x", `+diffETag, `W/"x",`+diffETag, "", "junk")
	}
	rq := diffRequest{method: pick("GET", "GET", "GET", "HEAD", "POST", "PUT"), h: map[string]string{}}
	set := func(k, v string) {
		if v != "" {
			rq.h[k] = v
		}
	}
	if rng.IntN(4) == 0 {
		set("If-Match", pick(tag(), "*"))
	}
	if rng.IntN(4) == 0 {
		set("If-None-Match", pick(tag(), "*"))
	}
	if rng.IntN(4) == 0 {
		set("If-Modified-Since", date())
	}
	if rng.IntN(4) == 0 {
		set("If-Unmodified-Since", date())
	}
	if rq.method == "GET" && rng.IntN(2) == 0 {
		var sb strings.Builder
		sb.WriteString("bytes=")
		pos := int64(0)
		for i := range 1 + rng.IntN(4) {
			if i > 0 {
				sb.WriteString(pick(",", ", ", " ,\t"))
				pos++ // keep a gap: touching ranges would be coalesced
			}
			switch rng.IntN(5) {
			case 4: // at or past the end: unsatisfiable
				pos = max(pos, size+rng.Int64N(3))
				fmt.Fprintf(&sb, "%d-%d", pos, pos+rng.Int64N(3))
				pos += 3
			case 0: // first-last, maybe past the end
				first := pos + rng.Int64N(size/2+2)
				last := first + rng.Int64N(size/2+2)
				fmt.Fprintf(&sb, "%d-%d", first, last)
				pos = last + 1
			case 1: // open-ended: must be the last
				fmt.Fprintf(&sb, "%d-", pos+rng.Int64N(size/2+2))
				pos = 1 << 40
			case 2: // suffix, alone (it could overlap the others)
				if i == 0 {
					fmt.Fprintf(&sb, "-%d", 1+rng.Int64N(size+2))
					pos = 1 << 40
				} else {
					fmt.Fprintf(&sb, "%d-%d", pos, pos)
					pos++
				}
			default:
				fmt.Fprintf(&sb, "%d-%d", pos, pos)
				pos++
			}
			if pos >= 1<<40 {
				break
			}
		}
		set("Range", sb.String())
		if rng.IntN(3) == 0 {
			set("If-Range", pick(diffETag, "W/"+diffETag, `"other"`, sec(0), sec(1), "garbage"))
		}
	}
	return rq
}
