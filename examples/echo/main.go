// Command echo answers any method on any path with 200 and the request
// body echoed back (an empty body for requests without one), using
// httpd's native handler API on the event loops.
//
//	go run ./examples/echo -addr 127.0.0.1:8080 -loops 2
//	curl -d 'hello' http://127.0.0.1:8080/anything
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/uringd/uringd/httpd"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	maxBody := flag.Int64("max-body", 1<<20, "largest request body accepted (413 beyond)")
	flag.Parse()

	s := &httpd.Server{
		Addr:         *addr,
		Loops:        *loops,
		MaxBodyBytes: *maxBody,
		Handler: httpd.HandlerFunc(func(w *httpd.Response, r *httpd.Request) {
			if ct := r.Header("Content-Type"); ct != nil {
				w.HeaderBytes("Content-Type", ct)
			} else {
				w.Header("Content-Type", "application/octet-stream")
			}
			w.Write(r.Body())
		}),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			slog.Error("shutdown", "err", err)
		}
	}()
	slog.Info("serving", "addr", *addr)
	if err := s.ListenAndServe(); err != nil && err != httpd.ErrServerClosed {
		slog.Error("serve", "err", err)
		os.Exit(1)
	}
}
