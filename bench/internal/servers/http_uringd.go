package servers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/uringd/uringd/httpd"
)

// UringdHTTP is httpd with its native handler API on one loop (the
// harness pins it to one CPU): "/" and "/plaintext" answer PlaintextBody,
// "/json" serialises Message per request.
type UringdHTTP struct {
	srv  *httpd.Server
	addr string
	err  chan error
}

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

// StartUringdHTTP starts the httpd peer with loops event loops (0: one).
func StartUringdHTTP(addr string, loops int) (*UringdHTTP, error) {
	s := &UringdHTTP{srv: &httpd.Server{Handler: httpd.HandlerFunc(uringdHello), Loops: max(loops, 1)}, err: make(chan error, 1)}
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
	return err
}
