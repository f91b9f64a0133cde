package evnet

import (
	"errors"
	"net"
	"testing"

	"github.com/uringd/uringd/sched"
)

// streamer writes to c until it fails or stop is closed.
func streamer(c net.Conn, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		junk := make([]byte, 256<<10)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := c.Write(junk); err != nil {
				return
			}
		}
	}()
	return done
}

// endInOnData runs a server whose handler, once it has received 1 MiB,
// ends the connection with end from inside OnData, while the peer keeps
// streaming. The connection must be gone (OnClose) without the peer
// stopping or closing. A small buffer ring makes the kernel end the
// multishot receive on a completion that carries data often; the
// callback for that completion is where a cancel got lost.
func endInOnData(t *testing.T, cfg Config, end func(c *Conn), wantErr func(error) bool) {
	checkLeaks(t)
	closes := make(chan error, 1)
	type state struct {
		got   int
		ended bool
	}
	h := &hooks{
		open: func(c *Conn) { c.Context = new(state) },
		data: func(c *Conn, b []byte) {
			st := c.Context.(*state)
			st.got += len(b)
			if st.got >= 1<<20 && !st.ended {
				st.ended = true
				end(c)
			}
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	cfg.Loops = 1
	cfg.LoopConfig = sched.Config{Buffers: 8, BufferSize: 16 << 10}
	_, addr := serve(t, h, cfg, "tcp", "127.0.0.1:0")
	for range 5 {
		c := dial(t, addr)
		stop := make(chan struct{})
		done := streamer(c, stop)
		err := wait(t, closes, "OnClose while the peer still streams")
		close(stop)
		c.Close()
		<-done
		if !wantErr(err) {
			t.Fatalf("OnClose(%v)", err)
		}
	}
}

// TestAbortInOnDataWhilePeerStreams: Abort from OnData must end the
// connection even though the peer never stops sending.
func TestAbortInOnDataWhilePeerStreams(t *testing.T) {
	errBye := errors.New("bye")
	endInOnData(t, Config{}, func(c *Conn) { c.Abort(errBye) }, func(err error) bool { return err == errBye })
}

// TestCloseNoLingerInOnDataWhilePeerStreams: Close with Linger < 0 from
// OnData must end the connection while the peer keeps sending.
func TestCloseNoLingerInOnDataWhilePeerStreams(t *testing.T) {
	endInOnData(t, Config{Linger: -1}, func(c *Conn) { c.Close() }, func(err error) bool { return err == nil })
}

// TestDetachInOnDataWhilePeerStreams: Detach from OnData must hand the
// descriptor over while the peer keeps sending.
func TestDetachInOnDataWhilePeerStreams(t *testing.T) {
	fds := make(chan int, 1)
	endInOnData(t, Config{}, func(c *Conn) {
		c.Detach(func(fd int, rest []byte, err error) { fds <- fd })
	}, func(err error) bool {
		if fd := <-fds; fd >= 0 {
			closeFd(fd)
		}
		return err == ErrDetached
	})
}
