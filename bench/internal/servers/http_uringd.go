package servers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/uringd/uringd/httpd"
)

// UringdHTTP is httpd on one loop (the harness pins it to one CPU), with
// its native handler API (StartUringdHTTP) or through its net/http
// adapter (StartUringdNetHTTP): "/" and "/plaintext" answer
// PlaintextBody, "/json" serialises Message per request, and "/static/"
// is httpd.FileServer over Root when Root is set.
type UringdHTTP struct {
	srv  *httpd.Server
	fs   *httpd.FileServer // nil without a root
	addr string
	err  chan error
}

// staticPrefix is where every HTTP peer serves its root.
const staticPrefix = "/static"

func uringdHello(w *httpd.Response, r *httpd.Request) {
	if string(r.Path()) == "/json" {
		b, _ := json.Marshal(Message{Message: "Hello, World!"})
		w.Header("Content-Type", "application/json")
		_, _ = w.Write(b)
		return
	}
	w.Header("Content-Type", "text/plain")
	_, _ = w.WriteString(PlaintextBody)
}

// uringdHandler routes /static/ to fs (when set) and the rest to the
// hello handler.
func uringdHandler(fs *httpd.FileServer) httpd.Handler {
	if fs == nil {
		return httpd.HandlerFunc(uringdHello)
	}
	static := []byte(staticPrefix + "/")
	return httpd.HandlerFunc(func(w *httpd.Response, r *httpd.Request) {
		if bytes.HasPrefix(r.Path(), static) {
			fs.ServeHTTP(w, r)
			return
		}
		uringdHello(w, r)
	})
}

func newFileServer(root string) *httpd.FileServer {
	if root == "" {
		return nil
	}
	return &httpd.FileServer{Root: root, Prefix: staticPrefix}
}

// StartUringdHTTP starts the httpd peer with its native handler on loops
// event loops (0: one), serving root under /static/ (root may be empty).
func StartUringdHTTP(addr string, loops int, root string) (*UringdHTTP, error) {
	fs := newFileServer(root)
	return startUringd(&httpd.Server{Handler: uringdHandler(fs), Loops: max(loops, 1)}, fs, addr)
}

// StartUringdNetHTTP starts httpd with its net/http adapter on one loop,
// serving the net/http peer's handlers (netHTTPMux), with /static/ from
// httpd.FileServer's HTTPHandler.
func StartUringdNetHTTP(addr, root string) (*UringdHTTP, error) {
	fs := newFileServer(root)
	var static http.Handler
	if fs != nil {
		static = fs.HTTPHandler()
	}
	return startUringd(&httpd.Server{HTTPHandler: netHTTPMux(static), Loops: 1}, fs, addr)
}

func startUringd(srv *httpd.Server, fs *httpd.FileServer, addr string) (*UringdHTTP, error) {
	s := &UringdHTTP{srv: srv, fs: fs, err: make(chan error, 1)}
	a, err := s.srv.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.addr = a.String()
	go func() { s.err <- s.srv.Serve() }()
	return s, nil
}

// Addr returns the listening address.
func (s *UringdHTTP) Addr() string { return s.addr }

// Close shuts the server down.
func (s *UringdHTTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.err
	if s.fs != nil {
		_ = s.fs.Close()
	}
	return err
}
