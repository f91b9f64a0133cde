package h1

import (
	"strings"
	"testing"
)

func allCases() []parseCase {
	return append(append([]parseCase(nil), validCases...), invalidCases...)
}

// within reports whether s is a subslice of buf (same backing array, inside
// len(buf)), without unsafe: a subslice buf[i:j] has cap(buf)-i capacity
// and shares buf's element i.
func within(s, buf []byte) bool {
	if s == nil {
		return true
	}
	i := cap(buf) - cap(s)
	if i < 0 || i > len(buf) || i+len(s) > len(buf) {
		return false
	}
	if cap(s) == 0 {
		return true // empty at the very end of buf's capacity
	}
	return &s[:1][0] == &buf[:cap(buf)][i]
}

// checkAliases fails t unless every slice in req points into buf.
func checkAliases(t testing.TB, req *Request, buf []byte) {
	t.Helper()
	slices := [][]byte{req.Method, req.Target, req.Path, req.Query, req.Authority, req.Host}
	for _, h := range req.Headers {
		slices = append(slices, h.Name, h.Value)
	}
	for _, s := range slices {
		if !within(s, buf) {
			t.Fatalf("slice %q does not alias the input buffer", s)
		}
	}
}

// sameResult compares a result against the one-shot parse of the whole
// input: the same n and request, or an error with the same status.
func sameResult(t *testing.T, what string, req *Request, n int, err error, wantReq string, wantN int, wantErr error) {
	t.Helper()
	if wantErr != nil {
		if statusOf(err) != statusOf(wantErr) || err == nil || (err == ErrIncomplete) != (wantErr == ErrIncomplete) {
			t.Fatalf("%s: got %d, %v; want %v", what, n, err, wantErr)
		}
		return
	}
	if err != nil || n != wantN || render(req) != wantReq {
		t.Fatalf("%s: got %d, %v, %s; want %d, %s", what, n, err, render(req), wantN, wantReq)
	}
}

// TestParseSplit: every prefix of every table input gives ErrIncomplete or
// the whole input's result (the same error status, or once the head is in,
// the same request); feeding the input a byte at a time through one Request
// (the resume path), in a fresh copy each time, ends with the same result.
func TestParseSplit(t *testing.T) {
	for _, c := range allCases() {
		t.Run(c.name, func(t *testing.T) {
			in := c.input()
			wreq, wantN, wantErr := parseOne(in, c.lim)
			want := render(wreq)
			for k := 0; k <= len(in); k++ {
				req, n, err := parseOne(in[:k], c.lim)
				if wantErr == nil && k < wantN {
					if err != ErrIncomplete {
						t.Fatalf("prefix %d: got %d, %v; want ErrIncomplete", k, n, err)
					}
					continue
				}
				if err == ErrIncomplete && wantErr != nil {
					continue
				}
				sameResult(t, "prefix", req, n, err, want, wantN, wantErr)
			}

			req := new(Request)
			for k := 0; k <= len(in); k++ {
				buf := append(make([]byte, 0, k), in[:k]...)
				n, err := Parse(buf, req, c.lim)
				if err == ErrIncomplete && (k < len(in) || wantErr == ErrIncomplete) {
					if wantErr == nil && k >= wantN {
						t.Fatalf("incremental %d: ErrIncomplete after the head", k)
					}
					continue
				}
				sameResult(t, "incremental", req, n, err, want, wantN, wantErr)
				if err == nil {
					if k != wantN {
						t.Fatalf("incremental: done at %d, want %d", k, wantN)
					}
					checkAliases(t, req, buf)
				}
				break
			}
		})
	}
}

// TestParseResumeChunks feeds a long head in pieces of several sizes through
// one Request and checks the result and that nothing points into an older
// buffer.
func TestParseResumeChunks(t *testing.T) {
	head := "POST /upload?x=1 HTTP/1.1\r\nHost: example.com\r\n" +
		strings.Repeat("X-Filler: abcdefghijklmnopqrstuvwxyz\r\n", 20) +
		"Content-Length: 3\r\n\r\n"
	in := []byte(head + "abc")
	want, wantN, err := parseOne(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []int{1, 2, 3, 7, 13, 64, 500} {
		req := new(Request)
		var buf []byte
		for k := 0; ; k += step {
			if k > len(in) {
				k = len(in)
			}
			buf = append(make([]byte, 0, k), in[:k]...)
			n, err := Parse(buf, req, nil)
			if err == ErrIncomplete {
				continue
			}
			if err != nil || n != wantN || render(req) != render(want) {
				t.Fatalf("step %d: got %d, %v, %s", step, n, err, render(req))
			}
			checkAliases(t, req, buf)
			break
		}
	}
}

// TestParseLimitsIncomplete: a partial head that already exceeds a limit
// fails at once, on the fresh path and on the resume path.
func TestParseLimitsIncomplete(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		lim    *Limits
		status int
	}{
		{"long request line", "GET /" + strings.Repeat("a", 200), &Limits{MaxRequestLine: 100}, 414},
		{"long request line, default", "GET /" + strings.Repeat("a", 9000), nil, 414},
		{"endless empty lines", strings.Repeat("\r\n", 100), nil, 400},
		{"long field", rl + "X: " + strings.Repeat("a", 200), &Limits{MaxHeaderBytes: 100}, 431},
		{"many fields", rl + strings.Repeat("X: y\r\n", 10) + "Y", &Limits{MaxHeaders: 10}, 431},
		{"slowloris default", rl + "Cookie: " + strings.Repeat("c", 40<<10), nil, 431},
		{"garbage", "\x16\x03\x01\x00", nil, 400},
		{"http2 preface line", "PRI * HTTP/2.0\r\n", nil, 505},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			if _, _, err := parseOne(in, c.lim); statusOf(err) != c.status {
				t.Fatalf("one shot: %v, want %d", err, c.status)
			}
			// Byte by byte through one Request: fails no later than the
			// whole partial input does, never with ErrIncomplete at the end.
			req := new(Request)
			for k := 1; k <= len(in); k++ {
				_, err := Parse(in[:k], req, c.lim)
				if err == ErrIncomplete {
					continue
				}
				if statusOf(err) != c.status {
					t.Fatalf("at %d: %v, want %d", k, err, c.status)
				}
				return
			}
			t.Fatal("never failed")
		})
	}
}

// TestParseReset: after ErrIncomplete, Reset lets the Request parse an
// unrelated buffer.
func TestParseReset(t *testing.T) {
	req := new(Request)
	a := []byte(rl + "Host: a\r\nX-Long-Header-Name: 1")
	if _, err := Parse(a, req, nil); err != ErrIncomplete {
		t.Fatal(err)
	}
	req.Reset()
	b := []byte("GET /b HTTP/1.1\r\nHost: b\r\n\r\n")
	n, err := Parse(b, req, nil)
	if err != nil || n != len(b) || string(req.Path) != "/b" || string(req.Host) != "b" {
		t.Fatalf("after Reset: %d, %v, %s", n, err, render(req))
	}
	// A shorter buffer than before is recognized as a new input even
	// without Reset.
	if _, err := Parse(a, req, nil); err != ErrIncomplete {
		t.Fatal(err)
	}
	if n, err := Parse(b, req, nil); err != nil || n != len(b) {
		t.Fatalf("shorter buffer: %d, %v", n, err)
	}
}

// TestPipelining parses several requests from one buffer by offsets,
// stepping over bodies with ContentLength and ChunkedDecoder.
func TestPipelining(t *testing.T) {
	in := []byte("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n" +
		"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" +
		"\r\n" + // a stray CRLF after a body, skipped
		"POST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n" +
		"HEAD /4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" +
		"GET /5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	type got struct {
		path, body string
		keep       bool
	}
	want := []got{{"/1", "", true}, {"/2", "hello", true}, {"/3", "abcde", true}, {"/4", "", true}, {"/5", "", false}}
	var req Request
	var dec ChunkedDecoder
	off := 0
	for i, w := range want {
		n, err := Parse(in[off:], &req, nil)
		if err != nil {
			t.Fatalf("request %d at %d: %v", i, off, err)
		}
		checkAliases(t, &req, in[off:])
		off += n
		var body []byte
		switch {
		case req.Chunked:
			dec.Reset(nil)
			for {
				data, m, err := dec.Decode(in[off:])
				off += m
				body = append(body, data...)
				if err != nil {
					if err.Error() != "EOF" {
						t.Fatalf("request %d body: %v", i, err)
					}
					break
				}
			}
		case req.ContentLength > 0:
			body = in[off : off+int(req.ContentLength)]
			off += int(req.ContentLength)
		}
		if g := (got{string(req.Path), string(body), req.KeepAlive}); g != w {
			t.Errorf("request %d: got %+v, want %+v", i, g, w)
		}
	}
	if off != len(in) {
		t.Errorf("consumed %d of %d bytes", off, len(in))
	}
}

// typicalRequest is a browser-like GET with 10 header fields.
const typicalRequest = "GET /static/css/site.css?v=1699999999 HTTP/1.1\r\n" +
	"Host: www.example.com\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n" +
	"Accept: text/css,*/*;q=0.1\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Referer: https://www.example.com/\r\n" +
	"Connection: keep-alive\r\n" +
	"Cookie: session=0123456789abcdef0123456789abcdef; theme=dark; _ga=GA1.1.123456789.1699999999\r\n" +
	"Sec-Fetch-Mode: no-cors\r\n" +
	"If-None-Match: \"5f1a-61d3c2e1b2a40\"\r\n" +
	"\r\n"

func TestParseZeroAlloc(t *testing.T) {
	in := []byte(typicalRequest)
	var req Request
	if _, err := Parse(in, &req, nil); err != nil { // warm-up: grows Headers once
		t.Fatal(err)
	}
	if len(req.Headers) != 10 {
		t.Fatalf("%d headers", len(req.Headers))
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := Parse(in, &req, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse allocates %v times per request", allocs)
	}
	// Refusing a request allocates nothing either.
	bad := []byte("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n")
	allocs = testing.AllocsPerRun(1000, func() {
		if _, err := Parse(bad, &req, nil); err != errDupContentLength {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a refused request allocates %v times", allocs)
	}
}
