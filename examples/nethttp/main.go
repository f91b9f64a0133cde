// Command nethttp serves an ordinary net/http application — a ServeMux
// with path patterns, logging and recovery middleware, streaming with
// http.Flusher — through httpd's net/http adapter: the handlers run on
// goroutines as with net/http, while the parsing and the socket I/O run
// on io_uring event loops.
//
//	go run ./examples/nethttp -addr 127.0.0.1:8080 -loops 2
//	curl http://127.0.0.1:8080/hello/gopher
//	curl -N http://127.0.0.1:8080/countdown
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/uringd/uringd/httpd"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	flag.Parse()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello/{name}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello, %s\n", r.PathValue("name"))
	})
	mux.HandleFunc("GET /json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"message": "Hello, World!", "path": r.URL.Path})
	})
	mux.HandleFunc("GET /countdown", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for i := 5; i > 0; i-- {
			fmt.Fprintf(w, "%d\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(200 * time.Millisecond):
			case <-r.Context().Done(): // the client went away
				return
			}
		}
		fmt.Fprintln(w, "liftoff")
	})

	s := &httpd.Server{
		Addr:        *addr,
		Loops:       *loops,
		HTTPHandler: logging(recovery(mux)),
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

// logging is ordinary net/http middleware: it logs each request.
func logging(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		slog.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "took", time.Since(start), "remote", r.RemoteAddr)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush and Unwrap keep http.Flusher and http.ResponseController working
// through the wrapper.
func (s *statusRecorder) Flush()                      { s.ResponseWriter.(http.Flusher).Flush() }
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// recovery turns a panicking handler into a 500.
func recovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				slog.Error("handler panicked", "panic", p)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
