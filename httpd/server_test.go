package httpd

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func startNative(t *testing.T, s *Server) string {
	t.Helper()
	if s.Loops == 0 {
		s.Loops = 2
	}
	addr, err := s.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return addr.String()
}

func TestNativeHello(t *testing.T) {
	s := &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.Header("Content-Type", "text/plain")
		w.WriteString("Hello, World!")
	})}
	addr := startNative(t, s)
	for i := range 3 {
		resp, err := http.Get("http://" + addr + "/plaintext")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "Hello, World!" || resp.Header.Get("Content-Type") != "text/plain" ||
			resp.Header.Get("Server") != "uringd" || resp.Header.Get("Date") == "" || resp.ContentLength != 13 {
			t.Fatalf("%d: %d %q %v", i, resp.StatusCode, b, resp.Header)
		}
	}
}

func TestNativePipelined(t *testing.T) {
	s := &Server{Handler: HandlerFunc(func(w *Response, r *Request) {
		w.Write(r.Path())
	})}
	addr := startNative(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req strings.Builder
	for i := range 16 {
		req.WriteString("GET /p" + string(rune('a'+i)) + " HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	c.Write([]byte(req.String()))
	br := bufio.NewReader(c)
	for i := range 16 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if want := "/p" + string(rune('a'+i)); string(b) != want {
			t.Fatalf("response %d: %q want %q", i, b, want)
		}
	}
}

func TestAdapterServeMux(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Name", r.PathValue("name"))
		io.WriteString(w, "hello "+r.PathValue("name"))
	})
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			io.WriteString(w, strings.Repeat("x", i+1))
			w.(http.Flusher).Flush()
		}
	})
	s := &Server{HTTPHandler: mux}
	addr := startNative(t, s)
	resp, err := http.Get("http://" + addr + "/hello/world")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "hello world" || resp.Header.Get("X-Name") != "world" {
		t.Fatalf("%d %q %v", resp.StatusCode, b, resp.Header)
	}
	resp, err = http.Post("http://"+addr+"/echo", "text/plain", strings.NewReader("payload"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "payload" {
		t.Fatalf("echo %q", b)
	}
	resp, err = http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "xxxxxx" || resp.TransferEncoding == nil {
		t.Fatalf("stream %q %v", b, resp.TransferEncoding)
	}
	resp, err = http.Get("http://" + addr + "/missing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("missing: %d", resp.StatusCode)
	}
}
