// Command hello serves TechEmpower's plaintext and JSON tests with
// httpd's native handler API, which runs on the event loops and allocates
// nothing per plaintext request.
//
//	go run ./examples/hello -addr 127.0.0.1:8080 -loops 2
//	curl -i http://127.0.0.1:8080/plaintext
//	curl -i http://127.0.0.1:8080/json
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/uringd/uringd/httpd"
)

type message struct {
	Message string `json:"message"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()

	s := &httpd.Server{
		Addr:  *addr,
		Loops: *loops,
		Handler: httpd.HandlerFunc(func(w *httpd.Response, r *httpd.Request) {
			switch string(r.Path()) {
			case "/plaintext":
				w.Header("Content-Type", "text/plain")
				w.WriteString("Hello, World!")
			case "/json":
				// TechEmpower asks for a serializer per request.
				b, err := json.Marshal(message{Message: "Hello, World!"})
				if err != nil {
					w.SetStatus(500)
					return
				}
				w.Header("Content-Type", "application/json")
				w.Write(b)
			default:
				w.SetStatus(404)
				w.WriteString("not found\n")
			}
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
