package sched

// Conformance of Conn with golang.org/x/net/nettest: both ends of every
// pipe are sched.Conns (one accepted by a sched.Listener, one from
// Loop.Dial), over TCP and over a Unix socket, on default loops and on
// loops with LockOSThread.

import (
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/net/nettest"
)

// schedPipe returns a nettest.MakePipe whose pipes are a sched.Conn dialled
// through dialLoop and the sched.Conn that ln (on its own loop) accepted.
func schedPipe(t *testing.T, ln *Listener, dialLoop *Loop, network string) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		type acc struct {
			c   net.Conn
			err error
		}
		ch := make(chan acc, 1)
		go func() {
			c, err := ln.Accept()
			ch <- acc{c, err}
		}()
		dc, err := dialLoop.Dial(timeoutCtx(t), network, ln.Addr().String())
		if err != nil {
			// Unblock the Accept with a throwaway connection.
			if c, derr := net.Dial(network, ln.Addr().String()); derr == nil {
				c.Close()
			}
			if a := <-ch; a.c != nil {
				a.c.Close()
			}
			return nil, nil, nil, fmt.Errorf("dial: %w", err)
		}
		a := waitChan(t, ch, "Accept")
		if a.err != nil {
			dc.Close()
			return nil, nil, nil, fmt.Errorf("accept: %w", a.err)
		}
		if _, ok := a.c.(*Conn); !ok {
			t.Errorf("Accept returned %T, want *sched.Conn", a.c)
		}
		stop = func() {
			dc.Close()
			a.c.Close()
		}
		return dc, a.c, stop, nil
	}
}

func TestNettestConn(t *testing.T) {
	for _, lock := range []bool{false, true} {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(fmt.Sprintf("%s/LockOSThread=%v", network, lock), func(t *testing.T) {
				checkGoroutines(t)
				checkFds(t)
				cfg := Config{LockOSThread: lock}
				srv, cli := newLoop(t, cfg), newLoop(t, cfg)
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = filepath.Join(t.TempDir(), "nettest.sock")
				}
				ln, err := srv.Listen(network, addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				nettest.TestConn(t, schedPipe(t, ln, cli, network))
			})
		}
	}
}
