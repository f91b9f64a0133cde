package sched_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/uringd/uringd/sched"
)

// A loop serves goroutines through its blocking API; File is the os.File
// of that API.
func ExampleLoop_OpenFile() {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(context.Background())

	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	f, err := l.OpenFile(ctx, filepath.Join(dir, "greeting"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("hello, ring"), 0); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := f.ReadAt(buf, 7); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf))
	// Output: ring
}

// Code that lives on a loop submits operations and handles their
// completions in callbacks, which run on the loop and must not block.
func ExampleLoop_Post() {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(context.Background())

	done := make(chan struct{})
	ticks := 0
	var op sched.Op
	var tick sched.Callback
	tick = func(op *sched.Op, r sched.Result) {
		// A kernel timeout completes with ETIME.
		ticks++
		fmt.Println("tick", ticks, r.TimedOut())
		if ticks == 3 {
			close(done)
			return
		}
		// On the loop: Submit, not Post.
		op.PrepTimeout(time.Millisecond, tick)
		if err := l.Submit(op); err != nil {
			log.Fatal(err)
		}
	}
	op.PrepTimeout(time.Millisecond, tick)
	if err := l.Post(&op); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output:
	// tick 1 true
	// tick 2 true
	// tick 3 true
}

// Listener and Conn are a net.Listener and net.Conn on the loops: code
// written for package net runs unchanged.
func ExampleGroup_Listen() {
	g, err := sched.NewGroup(2, sched.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close(context.Background())

	ln, err := g.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				io.Copy(c, c) // echo
			}(c)
		}
	}()

	c, err := g.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping")); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(buf))
	// Output: ping
}

// Cancelling the context of a blocking call cancels its operation in the
// kernel; the call returns once the kernel has let go of the buffer.
func ExampleLoop_Recv() {
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close(context.Background())
	ln, err := l.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	c, err := l.Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = l.Recv(ctx, c.Fd(), make([]byte, 64), 0) // the peer never sends
	fmt.Println(err)
	// Output: context deadline exceeded
}
