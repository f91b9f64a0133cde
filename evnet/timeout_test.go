package evnet

import (
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"
)

// TestTimeoutAbortsIdle: without a TimeoutHandler an expired timeout
// aborts the connection with ErrTimeout; the peer sees the end.
func TestTimeoutAbortsIdle(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		open:  func(c *Conn) { c.SetTimeout(20 * time.Millisecond) },
		close: func(c *Conn, err error) { closes <- err },
	}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	if err := wait(t, closes, "OnClose"); err != ErrTimeout {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
	if n, _ := io.Copy(io.Discard, c); n != 0 {
		t.Errorf("read %d bytes", n)
	}
	if s.Conns() != 0 {
		t.Errorf("Conns() = %d", s.Conns())
	}
}

// TestTimeoutRearmedByTraffic: a timeout re-armed on every message never
// fires while the peer keeps talking (each message comes well within it),
// and fires once the peer falls silent.
func TestTimeoutRearmedByTraffic(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	var msgs atomic.Int64
	h := &hooks{
		open: func(c *Conn) { c.SetTimeout(time.Second) },
		data: func(c *Conn, b []byte) {
			msgs.Add(1)
			// Re-arm many times per message: later deadlines only record.
			for i := range 50 {
				c.SetTimeout(time.Duration(i+1) * time.Millisecond)
				c.SetTimeout(time.Second)
			}
			c.Write(b)
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	buf := make([]byte, 4)
	for i := range 200 {
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("message %d: %v (timed out while busy?)", i, err)
		}
	}
	if err := wait(t, closes, "the timeout after the peer fell silent"); err != ErrTimeout {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
	if msgs.Load() < 200 {
		t.Errorf("%d messages", msgs.Load())
	}
}

// TestTimeoutDisarmedAndShortened: SetTimeout(0) disarms; a later, longer
// setting does not fire at the earlier time; a shorter one does.
func TestTimeoutDisarmedAndShortened(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	conns := make(chan *Conn, 1)
	h := &hooks{
		open: func(c *Conn) {
			c.SetTimeout(5 * time.Millisecond)
			c.SetTimeout(0)
			conns <- c
		},
		data:  func(c *Conn, b []byte) { c.Write(b) },
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{Loops: 1}, "tcp", "127.0.0.1:0")
	pc := dial(t, addr)
	c := wait(t, conns, "OnOpen")
	echo := func(what string) {
		t.Helper()
		pc.Write([]byte(what))
		buf := make([]byte, len(what))
		if _, err := io.ReadFull(pc, buf); err != nil || string(buf) != what {
			t.Fatalf("echo %q: %q %v", what, buf, err)
		}
	}
	time.Sleep(50 * time.Millisecond) // well past the disarmed 5 ms
	echo("alive after disarm")
	c.Post(func(c *Conn) {
		c.SetTimeout(5 * time.Millisecond)
		c.SetTimeout(time.Hour) // later: the early timer re-arms itself
	})
	time.Sleep(50 * time.Millisecond)
	echo("alive after a longer setting")
	select {
	case err := <-closes:
		t.Fatalf("closed early: %v", err)
	default:
	}
	c.Post(func(c *Conn) { c.SetTimeout(time.Millisecond) }) // earlier: fires
	if err := wait(t, closes, "the shortened timeout"); err != ErrTimeout {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
}

// TestTimeoutHandler: OnTimeout replaces the abort; the handler can still
// write and Close; re-arming inside OnTimeout works.
func TestTimeoutHandler(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	var fired atomic.Int64
	h := withTimeout{hooks: &hooks{
		open:  func(c *Conn) { c.SetTimeout(time.Millisecond) },
		close: func(c *Conn, err error) { closes <- err },
	}, timeout: func(c *Conn) {
		if fired.Add(1) < 3 {
			c.SetTimeout(time.Millisecond)
			return
		}
		c.WriteString("timeout\n")
		c.Close()
	}}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	if got := readAllNoReset(t, c); string(got) != "timeout\n" {
		t.Fatalf("read %q", got)
	}
	c.Close()
	if err := wait(t, closes, "OnClose"); err != nil {
		t.Fatalf("OnClose(%v), want nil", err)
	}
	if fired.Load() != 3 {
		t.Errorf("OnTimeout ran %d times, want 3", fired.Load())
	}
}

// TestTimeoutDuringLinger: a handler timeout set before Close does not
// interrupt lingering (no OnTimeout, no ErrTimeout); the linger ends the
// connection with nil. SetTimeout while lingering is ignored.
func TestTimeoutDuringLinger(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	conns := make(chan *Conn, 1)
	var fired atomic.Int64
	h := withTimeout{hooks: &hooks{
		data: func(c *Conn, b []byte) {
			c.SetTimeout(30 * time.Millisecond)
			c.WriteString("bye")
			c.Close()
			conns <- c
		},
		close: func(c *Conn, err error) { closes <- err },
	}, timeout: func(c *Conn) { fired.Add(1); c.Abort(ErrTimeout) }}
	_, addr := serve(t, h, Config{Linger: 300 * time.Millisecond}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.Write([]byte("x"))
	if got := readAllNoReset(t, c); string(got) != "bye" {
		t.Fatalf("read %q", got)
	}
	// EOF came after the output: the connection lingers now.
	wait(t, conns, "the conn").Post(func(c *Conn) { c.SetTimeout(time.Millisecond) })
	// The peer stays open: only the linger can end it.
	if err := wait(t, closes, "OnClose after the linger"); err != nil {
		t.Fatalf("OnClose(%v), want nil (lingering ends quietly)", err)
	}
	if fired.Load() != 0 {
		t.Errorf("OnTimeout ran %d times during lingering", fired.Load())
	}
}

// TestTimeoutWhileThrottled: a write timeout aborts a connection whose
// peer never reads (the protocol's defence against a stuck reader).
func TestTimeoutWhileThrottled(t *testing.T) {
	checkLeaks(t)
	closes := make(chan error, 1)
	h := &hooks{
		open: func(c *Conn) {
			c.Write(make([]byte, 16<<20))
			c.SetTimeout(50 * time.Millisecond)
		},
		close: func(c *Conn, err error) { closes <- err },
	}
	_, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	if err := wait(t, closes, "OnClose"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("OnClose(%v), want ErrTimeout", err)
	}
	if n, _ := io.Copy(io.Discard, c); n >= 16<<20 {
		t.Errorf("read everything (%d) despite the abort", n)
	}
}
