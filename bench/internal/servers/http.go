package servers

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// NetHTTP is net/http: "/" and "/plaintext" answer PlaintextBody, "/json"
// serialises Message, and "/static/" is http.FileServer over Root.
type NetHTTP struct {
	ln  net.Listener
	srv *http.Server
	err chan error
}

// netHTTPMux is the handler of the net/http-API peers (net/http, httpd's
// net/http adapter, nbio): "/" and "/plaintext" answer PlaintextBody,
// "/json" serialises Message per request, and static (when not nil)
// serves "/static/" with the full request path.
func netHTTPMux(static http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		b, _ := json.Marshal(Message{Message: "Hello, World!"})
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{strconv.Itoa(len(b))}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{strconv.Itoa(len(PlaintextBody))}
		_, _ = w.Write([]byte(PlaintextBody))
	})
	if static != nil {
		mux.Handle(staticPrefix+"/", static)
	}
	return mux
}

// StartNetHTTP starts the net/http peer.
func StartNetHTTP(addr, root string) (*NetHTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var static http.Handler
	if root != "" {
		static = http.StripPrefix(staticPrefix+"/", http.FileServer(http.Dir(root)))
	}
	s := &NetHTTP{ln: ln, srv: &http.Server{Handler: netHTTPMux(static), ReadHeaderTimeout: time.Minute}, err: make(chan error, 1)}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the listening address.
func (s *NetHTTP) Addr() string { return s.ln.Addr().String() }

// Close closes the listener and every connection.
func (s *NetHTTP) Close() error {
	err := s.srv.Close()
	<-s.err
	return err
}

// FastHTTP is valyala/fasthttp with the same routes; "/static/" is
// fasthttp.FS over Root.
type FastHTTP struct {
	ln  net.Listener
	srv *fasthttp.Server
	err chan error
}

// StartFastHTTP starts the fasthttp peer.
func StartFastHTTP(addr, root string) (*FastHTTP, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	var static fasthttp.RequestHandler
	if root != "" {
		fs := &fasthttp.FS{Root: root, PathRewrite: fasthttp.NewPathSlashesStripper(1), AcceptByteRange: true}
		static = fs.NewRequestHandler()
	}
	handler := func(ctx *fasthttp.RequestCtx) {
		path := ctx.Path()
		switch {
		case string(path) == "/json":
			b, _ := json.Marshal(Message{Message: "Hello, World!"})
			ctx.SetContentType("application/json")
			ctx.SetBody(b)
		case static != nil && strings.HasPrefix(string(path), "/static/"):
			static(ctx)
		default:
			ctx.SetContentType("text/plain")
			ctx.SetBodyString(PlaintextBody)
		}
	}
	s := &FastHTTP{ln: ln, srv: &fasthttp.Server{Handler: handler, Name: "fasthttp"}, err: make(chan error, 1)}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr returns the listening address.
func (s *FastHTTP) Addr() string { return s.ln.Addr().String() }

// Close shuts the server down (idle connections are closed).
func (s *FastHTTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.ShutdownWithContext(ctx)
	select {
	case <-s.err:
	case <-ctx.Done():
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // connections still open were dropped, which is fine here
	}
	return err
}
