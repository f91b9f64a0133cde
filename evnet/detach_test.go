package evnet

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type detached struct {
	fd   int
	rest []byte
	err  error
}

// fdConn makes a net.Conn of a handed-over descriptor (net.FileConn dups
// it; the original is closed here).
func fdConn(t testing.TB, fd int) net.Conn {
	t.Helper()
	f := os.NewFile(uintptr(fd), "detached")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatalf("FileConn: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c
}

// TestDetachHandsOver: the handler answers "upgrade" with a large queued
// response and Detaches. The response reaches the peer before anything the
// new owner writes; bytes the peer sent right after its request reach the
// new owner (in rest, or still in the socket); OnClose gets ErrDetached;
// the descriptor stays open and usable.
func TestDetachHandsOver(t *testing.T) {
	checkLeaks(t)
	resp := patternBytes(0, 4<<20) // queued: larger than the socket buffers
	ch := make(chan detached, 1)
	closes := make(chan error, 1)
	h := &hooks{
		data: func(c *Conn, b []byte) {
			if !bytes.HasPrefix(b, []byte("upgrade\n")) {
				return
			}
			// What followed the request in the same buffer is the
			// handler's to pass on, before rest.
			extra := append([]byte(nil), b[len("upgrade\n"):]...)
			c.Write(resp)
			c.Detach(func(fd int, rest []byte, err error) {
				ch <- detached{fd, append(extra, rest...), err}
			})
			if _, err := c.Write([]byte("x")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after Detach: %v", err)
			}
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	pc.Write([]byte("upgrade\n"))
	// The response does not fit the socket buffers: Detach waits for the
	// peer to read. Meanwhile the peer speaks the new protocol.
	after := []byte("hello new owner")
	pc.Write(after)
	got := make([]byte, len(resp))
	if _, err := io.ReadFull(pc, got); err != nil || !bytes.Equal(got, resp) {
		t.Fatalf("response: %v", err)
	}
	d := wait(t, ch, "Detach's done")
	if d.err != nil || d.fd < 0 {
		t.Fatalf("done(%d, %q, %v)", d.fd, d.rest, d.err)
	}
	if err := wait(t, closes, "OnClose"); err != ErrDetached {
		t.Errorf("OnClose(%v), want ErrDetached", err)
	}
	if _, err := unix.FcntlInt(uintptr(d.fd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("handed-over fd %d is not open: %v", d.fd, err)
	}
	if s.Conns() != 0 {
		t.Errorf("Conns() = %d after Detach", s.Conns())
	}
	nc := fdConn(t, d.fd)
	// What the peer sent after the request: rest, then the socket.
	in := append([]byte(nil), d.rest...)
	for len(in) < len(after) {
		buf := make([]byte, 64)
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("new owner read after %q: %v", in, err)
		}
		in = append(in, buf[:n]...)
	}
	if !bytes.Equal(in, after) {
		t.Fatalf("new owner got %q, want %q", in, after)
	}
	nc.Write([]byte("from the new owner"))
	nc.(interface{ CloseWrite() error }).CloseWrite()
	if b := readAllNoReset(t, pc); string(b) != "from the new owner" {
		t.Fatalf("peer read %q", b)
	}
}

// TestDetachFromOnOpen: Detach right away hands over a fresh connection.
func TestDetachFromOnOpen(t *testing.T) {
	checkLeaks(t)
	ch := make(chan detached, 1)
	h := &hooks{open: func(c *Conn) {
		c.WriteString("greeting")
		c.Detach(func(fd int, rest []byte, err error) { ch <- detached{fd, rest, err} })
	}}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	d := wait(t, ch, "done")
	if d.fd < 0 || d.err != nil || len(d.rest) != 0 {
		t.Fatalf("done(%d, %q, %v)", d.fd, d.rest, d.err)
	}
	nc := fdConn(t, d.fd)
	buf := make([]byte, 8)
	if _, err := io.ReadFull(pc, buf); err != nil || string(buf) != "greeting" {
		t.Fatalf("%q %v", buf, err)
	}
	pc.Write([]byte("ping"))
	if _, err := io.ReadFull(nc, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("new owner read %q %v", buf[:4], err)
	}
}

// TestDetachFails: a connection that fails before the hand-over (the peer
// resets while output is queued) reports -1 and the error to done, and
// OnClose gets the error; Detach on a closing connection reports
// ErrClosed at once.
func TestDetachFails(t *testing.T) {
	checkLeaks(t)
	ch := make(chan detached, 2)
	closes := make(chan error, 1)
	h := &hooks{
		data: func(c *Conn, b []byte) {
			c.Write(make([]byte, 16<<20))
			c.Detach(func(fd int, rest []byte, err error) { ch <- detached{fd, rest, err} })
			c.Detach(func(fd int, rest []byte, err error) { ch <- detached{fd, rest, err} })
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	pc.Write([]byte("x"))
	d := wait(t, ch, "second Detach")
	if d.fd != -1 || !errors.Is(d.err, ErrClosed) {
		t.Fatalf("second Detach: done(%d, %v), want -1, ErrClosed", d.fd, d.err)
	}
	io.ReadFull(pc, make([]byte, 1))
	pc.(*net.TCPConn).SetLinger(0)
	pc.Close()
	d = wait(t, ch, "first Detach")
	if d.fd != -1 || d.err == nil {
		t.Fatalf("done(%d, %v) after a reset, want -1 and an error", d.fd, d.err)
	}
	if err := wait(t, closes, "OnClose"); err == nil || err == ErrDetached {
		t.Fatalf("OnClose(%v), want the socket error", err)
	}
}

// TestDetachAbortedByShutdown: a Detach waiting on output when Shutdown's
// context ends gets -1 and ErrShutdown.
func TestDetachAbortedByShutdown(t *testing.T) {
	checkLeaks(t)
	ch := make(chan detached, 1)
	h := &hooks{data: func(c *Conn, b []byte) {
		c.Write(make([]byte, 16<<20))
		c.Detach(func(fd int, rest []byte, err error) { ch <- detached{fd, rest, err} })
	}}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	pc.Write([]byte("x"))
	io.ReadFull(pc, make([]byte, 1))
	if err := shutdown(t, s, 50*time.Millisecond); err == nil {
		t.Error("Shutdown = nil with a detach stuck on output")
	}
	d := wait(t, ch, "done")
	if d.fd != -1 || !errors.Is(d.err, ErrShutdown) {
		t.Fatalf("done(%d, %v), want -1, ErrShutdown", d.fd, d.err)
	}
}
