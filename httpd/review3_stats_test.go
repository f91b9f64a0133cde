package httpd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// review3Sum adds the loops' wire counters.
func review3Sum(s *Server) (conns int64, in, sent uint64) {
	for _, ls := range s.LoopStats() {
		conns += ls.Conns
		in += ls.BytesIn
		sent += ls.BytesSent
	}
	return
}

// TestReview3LoopStatsWire: under concurrent load, with LoopStats read
// all along (-race), the per-loop wire counters add up to exactly the
// bytes the clients wrote and read, never go down, and the open
// connections fall back to zero.
func TestReview3LoopStatsWire(t *testing.T) {
	body := strings.Repeat("b", 123)
	for _, mode := range []string{"native", "adapter"} {
		t.Run(mode, func(t *testing.T) {
			s := &Server{Loops: 3}
			if mode == "native" {
				s.Handler = HandlerFunc(func(w *Response, r *Request) { w.WriteString(body) })
			} else {
				s.HTTPHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					io.Copy(io.Discard, r.Body)
					io.WriteString(w, body)
				})
			}
			addr := serve(t, s)
			stop := make(chan struct{})
			var watch sync.WaitGroup
			var watchErr error
			watch.Add(1)
			go func() {
				defer watch.Done()
				var lastIn, lastSent uint64
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, in, sent := review3Sum(s)
					if c < 0 || in < lastIn || sent < lastSent {
						watchErr = fmt.Errorf("counters went backwards or negative: conns %d, in %d<%d, sent %d<%d", c, in, lastIn, sent, lastSent)
						return
					}
					lastIn, lastSent = in, sent
					time.Sleep(time.Millisecond)
				}
			}()
			_, in0, sent0 := review3Sum(s)
			var mu sync.Mutex
			var wrote, read int64
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := range 6 {
						c, err := net.DialTimeout("tcp", addr, testTimeout)
						if err != nil {
							errs <- err
							return
						}
						c.SetDeadline(time.Now().Add(testTimeout))
						var b strings.Builder
						n := 1 + (g+k)%5
						for i := range n {
							if i%2 == 1 {
								fmt.Fprintf(&b, "POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\nabcdefg", i)
							} else {
								fmt.Fprintf(&b, "GET /g%d?q=%d HTTP/1.1\r\nHost: x\r\n\r\n", i, k)
							}
						}
						b.WriteString("GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
						if _, err := io.WriteString(c, b.String()); err != nil {
							errs <- err
							c.Close()
							return
						}
						got, err := io.ReadAll(c)
						c.Close()
						if err != nil && !isClosedErr(err) {
							errs <- err
							return
						}
						if cnt := strings.Count(string(got), body); cnt != n+1 {
							errs <- fmt.Errorf("%d bodies in %d responses", cnt, n+1)
						}
						mu.Lock()
						wrote += int64(b.Len())
						read += int64(len(got))
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			ok := fsPoll(testTimeout, func() bool {
				c, in, sent := review3Sum(s)
				return c == 0 && in-in0 == uint64(wrote) && sent-sent0 == uint64(read)
			})
			close(stop)
			watch.Wait()
			if watchErr != nil {
				t.Error(watchErr)
			}
			if !ok {
				c, in, sent := review3Sum(s)
				t.Errorf("conns %d (want 0), bytes in %d (want %d), sent %d (want %d)", c, in-in0, wrote, sent-sent0, read)
			}
		})
	}
}

// review3Rec is a copy of an AccessInfo.
type review3Rec struct {
	method, target string
	status         int
	bytes          int64
}

// TestReview3AdapterAccessLogPipelined: the adapter's access-log records,
// now kept per exchange, still name the right request, status and body
// size for pipelined requests, and a panicking or hijacking handler does
// not lend its request line to anyone else's record.
func TestReview3AdapterAccessLogPipelined(t *testing.T) {
	var mu sync.Mutex
	var recs []review3Rec
	mux := http.NewServeMux()
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "aaaa") })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(404)
		io.WriteString(w, "bbb")
	})
	mux.HandleFunc("/c", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		if r.Method != "HEAD" {
			io.WriteString(w, "ccccc")
		}
	})
	mux.HandleFunc("/long/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		io.WriteString(w, strings.Repeat("L", 10000))
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("review3 boom")
	})
	mux.HandleFunc("/abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/hj", func(w http.ResponseWriter, r *http.Request) {
		c, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		rw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhj")
		rw.Flush()
		c.Close()
	})
	s := &Server{HTTPHandler: mux, Loops: 1, AccessLog: func(ai *AccessInfo) {
		mu.Lock()
		recs = append(recs, review3Rec{string(ai.Method), string(ai.Target), ai.Status, ai.Bytes})
		mu.Unlock()
	}}
	addr := serve(t, s)
	take := func(n int) []review3Rec {
		t.Helper()
		var out []review3Rec
		if !fsPoll(testTimeout, func() bool {
			mu.Lock()
			defer mu.Unlock()
			if len(recs) < n {
				return false
			}
			out = append(out, recs...)
			recs = recs[:0]
			return true
		}) {
			mu.Lock()
			t.Fatalf("want %d records, have %v", n, recs)
		}
		return out
	}

	long := "/long/" + strings.Repeat("t", 3000) + "?q=" + strings.Repeat("v", 2000)
	req := "GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET " + long + " HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /a HTTP/1.0\r\n\r\n"
	raw := r2Raw(t, addr, req)
	if n := strings.Count(string(raw), "HTTP/1.1 "); n != 6 {
		t.Fatalf("%d responses:\n%.600s", n, raw)
	}
	want := []review3Rec{
		{"GET", "/a?x=1", 200, 4},
		{"POST", "/b", 404, 3},
		{"HEAD", "/c", 200, 0},
		{"GET", long, 201, 10000},
		{"GET", "/c", 200, 5},
		{"GET", "/a", 200, 4},
	}
	got := take(len(want))
	if len(got) != len(want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			g, w := got[i], want[i]
			g.target, w.target = review3Short(g.target), review3Short(w.target)
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
	}

	// A pipelined request before a panicking handler, and one before a
	// hijack: each keeps its own line; the panicking and hijacked
	// exchanges log nothing that names another request.
	for _, tail := range []string{"/panic", "/abort", "/hj"} {
		r2Raw(t, addr, "GET /a?before="+tail[1:]+" HTTP/1.1\r\nHost: x\r\n\r\nGET "+tail+" HTTP/1.1\r\nHost: x\r\n\r\n")
		// A marker request on a new connection: once it is logged, so is
		// whatever came before on the single loop.
		resp, err := http.Get("http://" + addr + "/c?marker")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		var recsNow []review3Rec
		fsPoll(testTimeout, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				if r.target == "/c?marker" {
					recsNow = append(recsNow, recs...)
					recs = recs[:0]
					return true
				}
			}
			return false
		})
		if len(recsNow) == 0 {
			t.Fatalf("%s: the marker request was never logged", tail)
		}
		if recsNow[0] != (review3Rec{"GET", "/a?before=" + tail[1:], 200, 4}) {
			t.Errorf("%s: first record %+v", tail, recsNow[0])
		}
		seenA := 0
		for _, r := range recsNow {
			if strings.HasPrefix(r.target, "/a") {
				seenA++
			}
			if r.target != "/a?before="+tail[1:] && r.target != tail && r.target != "/c?marker" {
				t.Errorf("%s: unexpected record %+v", tail, r)
			}
			if r.target == tail && r.method != "GET" {
				t.Errorf("%s: record %+v", tail, r)
			}
		}
		if seenA != 1 {
			t.Errorf("%s: %d records for the request before it: %v", tail, seenA, recsNow)
		}
	}
}

func review3Short(s string) string {
	if len(s) > 40 {
		return s[:40] + fmt.Sprintf("...(%d)", len(s))
	}
	return s
}

// TestReview3LoopStatsConns: LoopStats' Conns adds up to the connections
// held open (idle keep-alive, mid-head and mid-body), then falls to 0.
func TestReview3LoopStatsConns(t *testing.T) {
	s := &Server{Loops: 3, Handler: HandlerFunc(func(w *Response, r *Request) { w.WriteString("ok") })}
	addr := serve(t, s)
	var conns []net.Conn
	for i := range 9 {
		c, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		switch i % 3 {
		case 0: // one request, then idle
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			c.SetReadDeadline(time.Now().Add(testTimeout))
			if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
				t.Fatal(err)
			}
		case 1: // half a head
			io.WriteString(c, "GET / HTTP/1.1\r\nHo")
		case 2: // half a body
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
		}
	}
	if !fsPoll(testTimeout, func() bool { c, _, _ := review3Sum(s); return c == int64(len(conns)) }) {
		c, _, _ := review3Sum(s)
		t.Errorf("Conns %d with %d connections open", c, len(conns))
	}
	for _, c := range conns {
		c.Close()
	}
	if !fsPoll(testTimeout, func() bool { c, _, _ := review3Sum(s); return c == 0 }) {
		c, _, _ := review3Sum(s)
		t.Errorf("Conns %d after closing every connection", c)
	}
}
