package httpd

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestNativePlaintextAllocations: serving a plaintext response with the
// native API allocates nothing per request once warm (the issue's "0
// allocs per request on the native path"). The client is a raw socket
// reading into a fixed buffer, so the process's allocation count is the
// server's.
func TestNativePlaintextAllocations(t *testing.T) {
	s := &Server{Loops: 1, Handler: HandlerFunc(func(w *Response, r *Request) {
		w.Header("Content-Type", "text/plain")
		w.WriteString("Hello, World!")
	})}
	addr := startNative(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
	batch := bytes.Repeat(req, 16)
	buf := make([]byte, 64<<10)
	// One response is the same length every time (Date is fixed-width).
	roundTrip := func() {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(batch); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got == 0 || bytes.Count(buf[:got], []byte("Hello, World!")) < 16 {
			n, err := c.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	}
	for range 200 { // warm pools, buffers, the date cache
		roundTrip()
	}
	const rounds = 500
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range rounds {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	perReq := float64(after.Mallocs-before.Mallocs) / (rounds * 16)
	t.Logf("%.4f allocations per request", perReq)
	// A second boundary of the Date cache or a timer may allocate now and
	// then; per request it must round to zero.
	if perReq > 0.01 {
		t.Errorf("%.3f allocations per request, want 0", perReq)
	}
	_ = io.EOF
}
