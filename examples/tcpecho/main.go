// Command tcpecho is a TCP service written the way Go programmers write
// one with package net — a goroutine per connection, net.Listener and
// net.Conn, deadlines, graceful shutdown — on sched's Listener and Conn,
// so every accept, read and write goes through an io_uring event loop.
//
// It echoes each line it receives, upper-cased, and closes connections
// idle for longer than -idle.
//
//	go run ./examples/tcpecho -addr 127.0.0.1:7007
//	printf 'hello\nworld\n' | nc -q1 127.0.0.1 7007
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/uringd/uringd/sched"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "listen address (tcp host:port, or unix:/path or unix:@name)")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	idle := flag.Duration("idle", time.Minute, "close connections idle this long")
	flag.Parse()

	g, err := sched.NewGroup(*loops, sched.Config{})
	if err != nil {
		slog.Error("starting loops", "err", err)
		os.Exit(1)
	}
	network, address := "tcp", *addr
	if len(address) > 5 && address[:5] == "unix:" {
		network, address = "unix", address[5:]
	}
	ln, err := g.Listen(network, address)
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	slog.Info("listening", "addr", ln.Addr().String(), "loops", g.Len())

	var wg sync.WaitGroup
	conns := map[net.Conn]struct{}{}
	var mu sync.Mutex
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		slog.Info("shutting down")
		ln.Close()
		mu.Lock()
		for c := range conns {
			// Wake blocked reads; handlers then finish and close.
			_ = c.SetReadDeadline(time.Now())
		}
		mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			slog.Warn("accept", "err", err)
			time.Sleep(10 * time.Millisecond) // EMFILE and friends
			continue
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(c, *idle)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil {
		slog.Error("closing loops", "err", err)
	}
}

// serve echoes upper-cased lines until the peer closes or goes idle; a
// line longer than the buffer is echoed in pieces.
func serve(c net.Conn, idle time.Duration) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idle))
		line, err := r.ReadSlice('\n')
		if len(line) > 0 && (err == nil || errors.Is(err, bufio.ErrBufferFull)) {
			if _, werr := c.Write(bytes.ToUpper(line)); werr != nil {
				return
			}
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
