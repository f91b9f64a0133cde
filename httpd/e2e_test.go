package httpd

// End-to-end tests over raw sockets and net/http's client, each run
// against both flavours of the same application (native on-loop handler
// and net/http adapter): pipelining, requests split at every byte,
// 100-continue, chunked bodies, HEAD, keep-alive rules, limits, request
// smuggling attempts, header injection by handlers, HTTP/1.0
// close-delimited streaming.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// normalize renders a response without its Date, for comparisons.
func normalize(r rawResp) string {
	var keys []string
	for k := range r.Header {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", r.StatusCode)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, r.Header[k])
	}
	fmt.Fprintf(&b, "te=%v cl=%d\n%q", r.TransferEncoding, r.ContentLength, r.body)
	return b.String()
}

func TestPipeline16InOneWrite(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		var req strings.Builder
		for i := range 16 {
			req.WriteString(get("/p" + strconv.Itoa(i)))
		}
		resps, _ := roundTrip(t, addr, req.String(), "GET", 16)
		if len(resps) != 16 {
			t.Fatalf("got %d responses, want 16", len(resps))
		}
		for i, r := range resps {
			if want := echoBody("GET", "/p"+strconv.Itoa(i), nil); r.StatusCode != 200 || string(r.body) != want {
				t.Fatalf("response %d: %v, want body %q", i, r, want)
			}
		}
	})
}

func TestPipelineMixedMethodsAndBodies(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		var req strings.Builder
		var want []string
		for i := range 16 {
			target := "/m" + strconv.Itoa(i)
			body := strings.Repeat(string(rune('a'+i)), i*37)
			switch i % 3 {
			case 0:
				req.WriteString(get(target))
				want = append(want, echoBody("GET", target, nil))
			case 1:
				req.WriteString(post(target, body))
				want = append(want, echoBody("POST", target, []byte(body)))
			case 2:
				req.WriteString(postChunked(target, body, 1, 7, 30))
				want = append(want, echoBody("POST", target, []byte(body)))
			}
		}
		resps, _ := roundTrip(t, addr, req.String(), "GET", 16)
		if len(resps) != 16 {
			t.Fatalf("got %d responses, want 16", len(resps))
		}
		for i, r := range resps {
			if r.StatusCode != 200 || string(r.body) != want[i] {
				t.Fatalf("response %d: %v, want body %q", i, r, want[i])
			}
		}
	})
}

// A pipeline whose third request is malformed: the first two are answered,
// then a 400 and the connection closes; nothing after it is served.
func TestPipelineMalformedThird(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		payload := get("/one") + post("/two", "abc") +
			"GET /three HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n" + get("/four")
		c := dial(t, addr)
		c.Write([]byte(payload))
		br := bufio.NewReader(c)
		r1 := mustResp(t, br, "GET")
		r2 := mustResp(t, br, "POST")
		r3 := mustResp(t, br, "GET")
		if string(r1.body) != echoBody("GET", "/one", nil) || string(r2.body) != echoBody("POST", "/two", []byte("abc")) {
			t.Fatalf("first two: %v / %v", r1, r2)
		}
		if r3.StatusCode != 400 || !r3.Close {
			t.Fatalf("third: %v, want 400 with Connection: close", r3)
		}
		expectEOF(t, br)
		if got := log.get(); !slices.Equal(got, []string{"/one", "/two"}) {
			t.Fatalf("served %q, want only /one and /two", got)
		}
	})
}

// A request (here three pipelined ones, GET, chunked POST and a POST with a
// length) split in two at every byte boundary, with the two writes apart:
// every split gives the same responses as the whole. Then once with every
// byte in a write of its own.
func TestSplitAtEveryByte(t *testing.T) {
	payload := get("/a?x=1") + postChunked("/b", "hello chunked world", 5, 3) + post("/c", "0123456789")
	methods := []string{"GET", "POST", "POST"}
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		exchange := func(pieces ...string) []string {
			t.Helper()
			c := dial(t, addr)
			defer c.Close()
			c.SetNoDelay(true)
			for i, p := range pieces {
				if i > 0 {
					time.Sleep(500 * time.Microsecond)
				}
				if _, err := c.Write([]byte(p)); err != nil {
					t.Fatal(err)
				}
			}
			br := bufio.NewReader(c)
			var out []string
			for _, m := range methods {
				r, err := readResp(br, m)
				if err != nil {
					t.Fatalf("split %d: response %d: %v", len(pieces[0]), len(out), err)
				}
				out = append(out, normalize(r))
			}
			return out
		}
		want := exchange(payload)
		if !strings.Contains(want[1], "hello chunked world") || !strings.Contains(want[2], "0123456789") {
			t.Fatalf("unsplit responses: %q", want)
		}
		for i := 1; i < len(payload); i++ {
			if got := exchange(payload[:i], payload[i:]); !slices.Equal(got, want) {
				t.Fatalf("split at %d (%q|%q):\n%q\nwant\n%q", i, payload[:i], payload[i:], got, want)
			}
		}
		var bytewise []string
		for i := range len(payload) {
			bytewise = append(bytewise, payload[i:i+1])
		}
		if got := exchange(bytewise...); !slices.Equal(got, want) {
			t.Fatalf("byte by byte:\n%q\nwant\n%q", got, want)
		}
	})
}

func TestExpectContinue(t *testing.T) {
	head := func(n int) string {
		return "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n"
	}
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		c := dial(t, addr)
		br := bufio.NewReader(c)
		// A client that waits for the interim response.
		c.Write([]byte(head(5)))
		if r := mustResp(t, br, "POST"); r.StatusCode != 100 {
			t.Fatalf("want 100 Continue first, got %v", r)
		}
		c.Write([]byte("hello"))
		if r := mustResp(t, br, "POST"); r.StatusCode != 200 || string(r.body) != echoBody("POST", "/e", []byte("hello")) {
			t.Fatalf("final response: %v", r)
		}
		// Clients that send the body without waiting: all at once, and in
		// two writes. A 100 may come first; then the final response.
		final := func(body string) {
			t.Helper()
			r := mustResp(t, br, "POST")
			if r.StatusCode == 100 {
				r = mustResp(t, br, "POST")
			}
			if r.StatusCode != 200 || string(r.body) != echoBody("POST", "/e", []byte(body)) {
				t.Fatalf("final response: %v", r)
			}
		}
		c.Write([]byte(head(5) + "world"))
		final("world")
		c.Write([]byte(head(10) + "abc"))
		time.Sleep(20 * time.Millisecond)
		c.Write([]byte("defghij"))
		final("abcdefghij")
		// No stray interim response is left on the connection.
		c.Write([]byte(get("/after")))
		if r := mustResp(t, br, "GET"); r.StatusCode != 200 || string(r.body) != echoBody("GET", "/after", nil) {
			t.Fatalf("request after the 100-continue ones: %v", r)
		}

		// net/http's client, waiting for the 100.
		var got100 bool
		trace := &httptrace.ClientTrace{Got100Continue: func() { got100 = true }}
		cl := newClient(t, 1)
		cl.Transport.(*http.Transport).ExpectContinueTimeout = testTimeout
		req, _ := http.NewRequest("PUT", "http://"+addr+"/put", strings.NewReader("payload"))
		req.Header.Set("Expect", "100-continue")
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !got100 || string(b) != echoBody("PUT", "/put", []byte("payload")) {
			t.Fatalf("net/http client: got100=%v body %q", got100, b)
		}
	})
}

func TestChunkedRequestBody(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		// Extensions and trailers are consumed, not passed on as body.
		raw := "POST /ch HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;name=val\r\nhello\r\n7;a;b=\"q\"\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
		resps, _ := roundTrip(t, addr, raw+get("/next"), "POST", 2)
		if len(resps) != 2 || string(resps[0].body) != echoBody("POST", "/ch", []byte("hello, world")) ||
			string(resps[1].body) != echoBody("GET", "/next", nil) {
			t.Fatalf("responses: %v", resps)
		}
		// A large chunked body that arrives in many reads.
		big := string(pattern(200 << 10))
		resps, _ = roundTrip(t, addr, postChunked("/big-upload", big, 1000, 1, 65536, 3000), "POST", 1)
		if len(resps) != 1 || string(resps[0].body) != echoBody("POST", "/big-upload", []byte(big)) {
			t.Fatalf("large chunked body: %d responses", len(resps))
		}
		// net/http's client sends a body of unknown length chunked.
		cl := newClient(t, 1)
		req, _ := http.NewRequest("POST", "http://"+addr+"/client", io.MultiReader(strings.NewReader("from "), strings.NewReader("client")))
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != echoBody("POST", "/client", []byte("from client")) {
			t.Fatalf("net/http chunked upload: %q", b)
		}
	})
}

// HEAD gets the same headers as GET, Content-Length included, and no body;
// the connection goes on.
func TestHead(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		for _, target := range []string{"/fixed", "/big?n=1048576"} {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte(get(target)))
			g := mustResp(t, br, "GET")
			c.Write([]byte("HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))
			h := mustResp(t, br, "HEAD")
			if len(h.body) != 0 {
				t.Fatalf("%s: HEAD has a body", target)
			}
			// Same fields; the framing may differ only where GET's had no
			// length (a streamed GET is chunked, its HEAD may say the
			// length, as RFC 9110 §9.3.2 allows).
			strip := func(r rawResp) string {
				r.Header = r.Header.Clone()
				r.Header.Del("Content-Length")
				r.ContentLength, r.TransferEncoding, r.body = 0, nil, nil
				return normalize(r)
			}
			if gw, hw := strip(g), strip(h); gw != hw {
				t.Fatalf("%s: HEAD headers differ from GET's:\n%s\nGET:\n%s", target, hw, gw)
			}
			if cl := g.Header.Get("Content-Length"); cl != "" && h.Header.Get("Content-Length") != cl {
				t.Fatalf("%s: HEAD Content-Length %q, GET's %q", target, h.Header.Get("Content-Length"), cl)
			}
			// HEAD then GET pipelined: no stray body bytes between them.
			c.Write([]byte("HEAD " + target + " HTTP/1.1\r\nHost: x\r\n\r\n" + get(target)))
			mustResp(t, br, "HEAD")
			if g2 := mustResp(t, br, "GET"); !bytes.Equal(g2.body, g.body) {
				t.Fatalf("%s: GET after HEAD got %d bytes, want %d", target, len(g2.body), len(g.body))
			}
			c.Close()
		}
	})
}

func TestKeepAliveRules(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		// stays checks that the connection is still usable after r.
		stays := func(t *testing.T, c io.Writer, br *bufio.Reader, r rawResp) {
			t.Helper()
			if r.Close || r.Header.Get("Connection") == "close" {
				t.Fatalf("response closes: %v", r)
			}
			c.Write([]byte(get("/again")))
			if r2 := mustResp(t, br, "GET"); string(r2.body) != echoBody("GET", "/again", nil) {
				t.Fatalf("next request on the connection: %v", r2)
			}
		}
		closes := func(t *testing.T, br *bufio.Reader, r rawResp) {
			t.Helper()
			if !r.Close { // net/http's reader takes "Connection: close" out of Header
				t.Fatalf("response does not say Connection: close: %v", r)
			}
			expectEOF(t, br)
		}
		t.Run("http11-default", func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte(get("/ka")))
			stays(t, c, br, mustResp(t, br, "GET"))
		})
		t.Run("http11-client-close", func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte("GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" + get("/not-served")))
			closes(t, br, mustResp(t, br, "GET"))
		})
		t.Run("http10-default", func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte("GET /ten HTTP/1.0\r\n\r\n"))
			r := mustResp(t, br, "GET")
			if string(r.body) != echoBody("GET", "/ten", nil) || strings.EqualFold(r.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("%v", r)
			}
			expectEOF(t, br)
		})
		t.Run("http10-keep-alive", func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte("GET /ten HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
			r := mustResp(t, br, "GET")
			if !strings.EqualFold(r.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("HTTP/1.0 keep-alive response lacks Connection: keep-alive: %v", r)
			}
			c.Write([]byte("GET /ten2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
			r = mustResp(t, br, "GET")
			if string(r.body) != echoBody("GET", "/ten2", nil) {
				t.Fatalf("second HTTP/1.0 request: %v", r)
			}
		})
		t.Run("handler-close", func(t *testing.T) {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte(get("/close") + get("/after-close")))
			r := mustResp(t, br, "GET")
			if string(r.body) != "bye" {
				t.Fatalf("%v", r)
			}
			closes(t, br, r)
			if log.has("/after-close") {
				t.Fatal("a request after the handler's Connection: close was served")
			}
		})
	})
	forModes(t, func(s *Server) { s.MaxRequestsPerConn = 3 }, func(t *testing.T, s *Server, addr string, log *served) {
		var req strings.Builder
		for i := range 5 {
			req.WriteString(get("/n" + strconv.Itoa(i)))
		}
		resps, closed := roundTrip(t, addr, req.String(), "GET", 5)
		if len(resps) != 3 || !closed {
			t.Fatalf("MaxRequestsPerConn=3: %d responses (closed %v), want 3 then close", len(resps), closed)
		}
		if resps[1].Close || !resps[2].Close {
			t.Fatalf("only the third response should say close: %v / %v", resps[1], resps[2])
		}
		if log.has("/n3") || log.has("/n4") {
			t.Fatalf("served beyond MaxRequestsPerConn: %q", log.get())
		}
	})
	forModes(t, func(s *Server) { s.DisableKeepAlives = true }, func(t *testing.T, s *Server, addr string, log *served) {
		resps, closed := roundTrip(t, addr, get("/d1")+get("/d2"), "GET", 2)
		if len(resps) != 1 || !closed || !resps[0].Close {
			t.Fatalf("DisableKeepAlives: %d responses (closed %v): %v", len(resps), closed, resps)
		}
		// net/http's client copes: every request on a new connection.
		cl := newClient(t, 4)
		for i := range 3 {
			resp, err := cl.Get("http://" + addr + "/x" + strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// A streamed response to an HTTP/1.0 client has no length and no chunked
// coding: its end is the connection's end.
func TestHTTP10CloseDelimitedStreaming(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		for _, conn := range []string{"", "Connection: keep-alive\r\n"} {
			resps, closed := roundTrip(t, addr, "GET /stream?n=5 HTTP/1.0\r\n"+conn+"\r\n", "GET", 2)
			if len(resps) != 1 || !closed {
				t.Fatalf("%q: %d responses, closed %v", conn, len(resps), closed)
			}
			r := resps[0]
			if r.ContentLength != -1 || r.TransferEncoding != nil || r.Header.Get("Content-Length") != "" {
				t.Fatalf("%q: HTTP/1.0 stream must be close-delimited: %v", conn, r)
			}
			if strings.EqualFold(r.Header.Get("Connection"), "keep-alive") {
				t.Fatalf("%q: close-delimited response says keep-alive: %v", conn, r)
			}
			if string(r.body) != "part0part1part2part3part4" {
				t.Fatalf("%q: body %q", conn, r.body)
			}
		}
		// The same handler to an HTTP/1.1 client is chunked.
		resps, _ := roundTrip(t, addr, get("/stream?n=5"), "GET", 1)
		if len(resps) != 1 || !slices.Equal(resps[0].TransferEncoding, []string{"chunked"}) || string(resps[0].body) != "part0part1part2part3part4" {
			t.Fatalf("HTTP/1.1 stream: %v", resps)
		}
	})
}

// Limits answered with the right status, Connection: close, and the
// connection closed; the handler never runs.
func TestLimitsEndToEnd(t *testing.T) {
	const maxBody = 64 << 10
	limits := func(s *Server) {
		s.MaxRequestLine = 1024
		s.MaxHeaderBytes = 4096
		s.MaxHeaders = 20
		s.MaxBodyBytes = maxBody
	}
	var many strings.Builder
	for i := range 30 {
		fmt.Fprintf(&many, "X-H%d: v\r\n", i)
	}
	cases := []struct {
		name, req string
		status    int
	}{
		{"414-long-target", "GET /" + strings.Repeat("a", 2000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414},
		{"431-big-field", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n", 431},
		{"431-many-fields", "GET / HTTP/1.1\r\nHost: x\r\n" + many.String() + "\r\n", 431},
		{"413-content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(maxBody+1) + "\r\n\r\n", 413},
		{"413-expect-continue", "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(maxBody+1) + "\r\n\r\n", 413},
		{"413-chunked", postChunked("/", strings.Repeat("c", maxBody+1), 8192), 413},
		{"501-transfer-coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
		{"505-http2", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
		{"505-http3", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
		{"400-no-host", "GET / HTTP/1.1\r\n\r\n", 400},
	}
	forModes(t, limits, func(t *testing.T, s *Server, addr string, log *served) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resps, closed := roundTrip(t, addr, tc.req+get("/after"), "GET", 2)
				if len(resps) != 1 || !closed {
					t.Fatalf("%d responses, closed %v: %v; want one %d then close", len(resps), closed, resps, tc.status)
				}
				if r := resps[0]; r.StatusCode != tc.status || !r.Close {
					t.Fatalf("got %v, want %d with Connection: close", r, tc.status)
				}
				if got := log.get(); len(got) != 0 {
					t.Fatalf("handler ran for %q", got)
				}
			})
		}
		// Right at the limits is fine.
		body := strings.Repeat("d", maxBody)
		for _, req := range []string{post("/max", body), postChunked("/max", body, 4096)} {
			resps, _ := roundTrip(t, addr, req, "POST", 1)
			if len(resps) != 1 || resps[0].StatusCode != 200 || string(resps[0].body) != echoBody("POST", "/max", []byte(body)) {
				t.Fatalf("body of exactly MaxBodyBytes refused: %v", resps)
			}
		}
	})
}

// Request smuggling attempts: refused with 400 (501 for a coding that is
// well-formed but unknown), the connection closed, and neither the
// request nor the one hidden behind it served.
func TestSmugglingAttempts(t *testing.T) {
	const smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	const h = "POST /a HTTP/1.1\r\nHost: x\r\n"
	cases := []struct {
		name, req string
		status    int
	}{
		{"CL.TE", h + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG" + smuggled, 400},
		{"TE.CL", h + "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n" + smuggled, 400},
		{"CL0.TE", h + "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"dup-CL-differ", h + "Content-Length: 0\r\nContent-Length: " + strconv.Itoa(len(smuggled)) + "\r\n\r\n" + smuggled, 400},
		{"dup-CL-same", h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello" + smuggled, 400},
		{"CL-list", h + "Content-Length: 5, 5\r\n\r\nhello" + smuggled, 400},
		{"CL-plus", h + "Content-Length: +5\r\n\r\nhello" + smuggled, 400},
		{"CL-hex", h + "Content-Length: 0x5\r\n\r\nhello" + smuggled, 400},
		{"CL-space", h + "Content-Length: 1 0\r\n\r\nhelloworld" + smuggled, 400},
		{"CL-negative", h + "Content-Length: -1\r\n\r\n" + smuggled, 400},
		{"TE-xchunked", h + "Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-space-before-colon", h + "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-obs-fold", h + "X-Foo: bar\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-obs-fold-value", h + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-vertical-tab", h + "Transfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-chunked-twice", h + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-two-fields", h + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-chunked-not-last", h + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-identity-then-chunked", h + "Transfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n" + smuggled, 501},
		{"TE-in-HTTP/1.0", "POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, 400},
		{"TE-bare-LF", h + "Transfer-Encoding: chunked\n\r\n0\r\n\r\n" + smuggled, 400},
		{"bare-LF-head", "POST /a HTTP/1.1\nHost: x\nContent-Length: 0\n\n" + smuggled, 400},
		{"NUL-in-field", h + "X-A: a\x00b\r\nContent-Length: 0\r\n\r\n" + smuggled, 400},
		{"chunk-size-0x", h + "Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n" + smuggled, 400},
		{"chunk-size-negative", h + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n" + smuggled, 400},
		{"chunk-size-overflow", h + "Transfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n" + smuggled, 400},
		{"chunk-LF-only", h + "Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n" + smuggled, 400},
		{"chunk-data-overrun", h + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n" + smuggled, 400},
	}
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resps, closed := roundTrip(t, addr, tc.req, "POST", 3)
				if len(resps) != 1 || !closed {
					t.Fatalf("%d responses, closed %v: %v; want one %d then close", len(resps), closed, resps, tc.status)
				}
				if r := resps[0]; r.StatusCode != tc.status || !r.Close {
					t.Fatalf("got %v, want %d with Connection: close", r, tc.status)
				}
				if got := log.get(); len(got) != 0 {
					t.Fatalf("served %q", got)
				}
			})
		}
	})
}

// Handlers that put CR, LF or NUL in a header (a value taken from the
// request, typically) must not be able to inject header lines.
func TestHeaderInjectionByHandler(t *testing.T) {
	const evil = "a\r\nSet-Cookie: pwn=1"
	native := HandlerFunc(func(w *Response, r *Request) {
		w.Header("X-Evil", evil)
		w.Header("X-Evil-LF", "a\nX-Injected: pwn")
		w.Header("X-Evil-CR", "a\rX-Injected: pwn")
		w.Header("X-Nul", "a\x00pwn")
		w.Header("X-Bad\r\nX-Injected", "pwn")
		w.Header("Bad Name", "pwn")
		w.Header("", "pwn")
		w.HeaderBytes("X-Evil-Bytes", []byte(evil))
		w.Header("X-Ok", "fine")
		w.WriteString("body")
	})
	adapter := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Evil"] = []string{evil}
		h["X-Evil-Lf"] = []string{"a\nX-Injected: pwn"}
		h["X-Evil-Cr"] = []string{"a\rX-Injected: pwn"}
		h["X-Nul"] = []string{"a\x00pwn"}
		h["X-Bad\r\nX-Injected"] = []string{"pwn"}
		h["Bad Name"] = []string{"pwn"}
		h["Location"] = []string{"/ok\r\n\r\n<html>pwn"}
		h.Set("X-Ok", "fine")
		io.WriteString(w, "body")
	})
	for _, srv := range []*Server{{Handler: native}, {HTTPHandler: adapter}} {
		name := "native"
		if srv.HTTPHandler != nil {
			name = "adapter"
		}
		t.Run(name, func(t *testing.T) {
			addr := serve(t, srv)
			c := dial(t, addr)
			var raw bytes.Buffer
			br := bufio.NewReader(io.TeeReader(c, &raw))
			c.Write([]byte(get("/") + get("/second")))
			r := mustResp(t, br, "GET")
			r2 := mustResp(t, br, "GET")
			if bytes.Contains(raw.Bytes(), []byte("pwn")) {
				t.Fatalf("injected bytes reached the wire:\n%s", raw.Bytes())
			}
			if r.Header.Get("X-Ok") != "fine" || string(r.body) != "body" || string(r2.body) != "body" {
				t.Fatalf("responses: %v / %v", r, r2)
			}
		})
	}
}

// A client that pipelines requests and then shuts down its sending side
// (printf ... | nc) still gets every response, as from net/http.
func TestHalfClosePipelined(t *testing.T) {
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		c := dial(t, addr)
		c.Write([]byte(get("/1") + post("/2", "two") + get("/3")))
		c.CloseWrite()
		br := bufio.NewReader(c)
		for i, want := range []string{echoBody("GET", "/1", nil), echoBody("POST", "/2", []byte("two")), echoBody("GET", "/3", nil)} {
			r, err := readResp(br, "GET")
			if err != nil || string(r.body) != want {
				t.Fatalf("response %d: %v %v, want %q", i, r, err, want)
			}
		}
		expectEOF(t, br)
	})
}

// MaxConns: a connection beyond the limit gets a 503 and is closed; once
// a connection goes, a new one is served.
func TestMaxConns(t *testing.T) {
	forModes(t, func(s *Server) { s.MaxConns = 2 }, func(t *testing.T, s *Server, addr string, log *served) {
		var conns []interface{ Close() error }
		for i := range 2 {
			c := dial(t, addr)
			br := bufio.NewReader(c)
			c.Write([]byte(get("/held" + strconv.Itoa(i))))
			mustResp(t, br, "GET")
			conns = append(conns, c)
		}
		resps, closed := roundTrip(t, addr, get("/third"), "GET", 2)
		if len(resps) != 1 || resps[0].StatusCode != 503 || !closed {
			t.Fatalf("third connection: %v (closed %v), want a 503 and close", resps, closed)
		}
		conns[0].Close()
		waitOpen(t, s, 1)
		resps, _ = roundTrip(t, addr, get("/fourth"), "GET", 1)
		if len(resps) != 1 || string(resps[0].body) != echoBody("GET", "/fourth", nil) {
			t.Fatalf("after one closed: %v", resps)
		}
		if log.has("/third") {
			t.Fatal("the refused connection's request was served")
		}
	})
}

// The server's own Date and Server fields are not repeated when a handler
// sets them (Date is a singleton field, RFC 9110 §6.6.1).
func TestStdHeadersNotDuplicated(t *testing.T) {
	const date = "Mon, 01 Jan 2024 00:00:00 GMT"
	native := HandlerFunc(func(w *Response, r *Request) {
		w.Header("Server", "custom")
		w.Header("Date", date)
	})
	adapter := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "custom")
		w.Header().Set("Date", date)
	})
	for _, s := range []*Server{{Handler: native}, {HTTPHandler: adapter}} {
		addr := serve(t, s)
		resps, _ := roundTrip(t, addr, get("/"), "GET", 1)
		if len(resps) != 1 {
			t.Fatal("no response")
		}
		if h := resps[0].Header; len(h["Server"]) != 1 || len(h["Date"]) != 1 || h.Get("Date") != date {
			t.Errorf("adapter=%v: Server %q, Date %q", s.HTTPHandler != nil, h["Server"], h["Date"])
		}
	}
}
