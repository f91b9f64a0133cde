package httpd

// The native handler API beyond a synchronous response: asynchronous
// responses finished from a timer or another goroutine, streaming with a
// declared length, and what happens when the client goes first.

import (
	"bufio"
	"strconv"
	"testing"
	"time"
)

// Asynchronous responses finish later, and pipelined requests behind them
// are answered in order.
func TestNativeAsyncInOrder(t *testing.T) {
	h := HandlerFunc(func(w *Response, r *Request) {
		target := string(r.Target())
		switch string(r.Path()) {
		case "/timer":
			w.Async()
			var tm interface{ Reset(time.Duration) }
			tm = r.Loop().NewTimer(func() {
				w.WriteString("timer " + target)
				w.Finish()
			})
			tm.Reset(20 * time.Millisecond)
		case "/goroutine":
			w.Async()
			go func() {
				time.Sleep(10 * time.Millisecond)
				w.Post(func(w *Response) {
					w.WriteString("goroutine " + target)
					w.Finish()
				})
			}()
		default:
			w.WriteString("sync " + target)
		}
	})
	addr := serve(t, &Server{Handler: h})
	var payload string
	var want []string
	for i := range 12 {
		p := []string{"/timer", "/goroutine", "/sync"}[i%3]
		target := p + "?i=" + strconv.Itoa(i)
		payload += get(target)
		want = append(want, p[1:]+" "+target)
	}
	resps, _ := roundTrip(t, addr, payload, "GET", len(want))
	if len(resps) != len(want) {
		t.Fatalf("%d responses", len(resps))
	}
	for i, r := range resps {
		if string(r.body) != want[i] {
			t.Fatalf("response %d: %q, want %q", i, r.body, want[i])
		}
	}
}

// SetContentLength then Flush streams with that length, not chunked.
func TestNativeStreamDeclaredLength(t *testing.T) {
	h := HandlerFunc(func(w *Response, r *Request) {
		w.SetContentLength(15)
		for range 3 {
			w.WriteString("12345")
			w.Flush()
		}
	})
	addr := serve(t, &Server{Handler: h})
	resps, _ := roundTrip(t, addr, get("/a")+get("/b"), "GET", 2)
	for _, r := range resps {
		if r.ContentLength != 15 || r.TransferEncoding != nil || string(r.body) != "123451234512345" {
			t.Fatalf("%v", r)
		}
	}
	if len(resps) != 2 {
		t.Fatalf("%d responses", len(resps))
	}
}

// An asynchronous response whose client has gone: Post still runs (the
// doc promises it, so the handler can release what it holds), the write
// goes nowhere, and above all nowhere else: not to the connection that
// took the closed one's place.
func TestNativeAsyncAfterClientGone(t *testing.T) {
	entered := make(chan *Response, 1)
	h := HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/slow" {
			w.Async()
			entered <- w
			return
		}
		w.WriteString("quick")
	})
	s := &Server{Handler: h, Loops: 1}
	addr := serve(t, s)
	a := dial(t, addr)
	a.Write([]byte(get("/slow")))
	w := recv(t, entered, "the async handler")
	a.SetLinger(0)
	a.Close()
	waitOpen(t, s, 0)

	// Another client arrives on the same loop.
	b := dial(t, addr)
	br := bufio.NewReader(b)
	b.Write([]byte(get("/quick")))
	if r := mustResp(t, br, "GET"); string(r.body) != "quick" {
		t.Fatalf("%v", r)
	}
	ran := make(chan struct{})
	w.Post(func(w *Response) {
		w.WriteString("secret for the first client")
		w.Finish()
		close(ran)
	})
	recv(t, ran, "the posted function")
	b.Write([]byte(get("/quick")))
	if r := mustResp(t, br, "GET"); string(r.body) != "quick" {
		t.Fatalf("the second client got %v", r)
	}
}

// A native handler that panics: its connection must not be left hanging
// (net/http closes it), and Shutdown must not wait for it forever.
func TestNativeHandlerPanic(t *testing.T) {
	s := &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		if string(r.Path()) == "/panic" {
			panic("native boom")
		}
		w.WriteString("ok")
	})}
	addr := serve(t, s)
	resps, closed := roundTrip(t, addr, get("/panic")+get("/after"), "GET", 2)
	if !closed || (len(resps) == 1 && resps[0].StatusCode != 500) || len(resps) > 1 {
		t.Fatalf("panicking request: %v, closed %v; want the connection closed (at most a 500)", resps, closed)
	}
	if rs, _ := roundTrip(t, addr, get("/ok"), "GET", 1); len(rs) != 1 || string(rs[0].body) != "ok" {
		t.Fatalf("after the panic: %v", rs)
	}
	if err := s.Shutdown(ctxTimeout(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
