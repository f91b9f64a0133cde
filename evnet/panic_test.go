package evnet

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// quietLogger swallows the loops' panic reports (with stacks).
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestPanicInOnData documents what a panicking OnData leaves: sched
// recovers, the loop goes on, and the connection stays open and working
// (the multishot receive was still armed); other connections are
// unaffected; Shutdown completes and nothing leaks.
func TestPanicInOnData(t *testing.T) {
	checkLeaks(t)
	h := &hooks{data: func(c *Conn, b []byte) {
		if bytes.Contains(b, []byte("boom")) {
			c.Write([]byte("partial"))
			panic("handler bug")
		}
		c.Write(b)
	}}
	s, addr := serve(t, h, Config{Loops: 1, Logger: quietLogger, Linger: 50 * time.Millisecond}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	other := dial(t, addr)
	echoOnce(t, c, "before")
	c.Write([]byte("boom"))
	buf := make([]byte, 7)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "partial" {
		t.Fatalf("output written before the panic: %q %v", buf, err)
	}
	echoOnce(t, c, "after the panic")
	echoOnce(t, other, "other conn")
	if m := s.Group().Loop(0).Metrics(); m.CallbackPanics == 0 {
		t.Error("no panic counted")
	}
	if err := shutdown(t, s, testTimeout); err != nil {
		t.Fatalf("Shutdown after a handler panic: %v", err)
	}
	if b := readAllNoReset(t, c); len(b) != 0 {
		t.Errorf("read %q", b)
	}
}

// TestPanicInOnOpen documents a panicking OnOpen: the connection is
// counted and listed but never reads (startRead did not run). The
// acceptor survives (later connections work), and Shutdown still ends the
// stuck one.
func TestPanicInOnOpen(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			checkLeaks(t)
			var n atomic.Int64
			h := &hooks{
				open: func(c *Conn) {
					if n.Add(1) == 1 {
						panic("open bug")
					}
				},
				data: func(c *Conn, b []byte) { c.Write(b) },
			}
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "p.sock")
			}
			s, a := serve(t, h, Config{Loops: 2, Logger: quietLogger, Linger: 50 * time.Millisecond}, network, addr)
			stuck := dial(t, a)
			waitFor(t, "the first OnOpen", func() bool { return n.Load() == 1 })
			stuck.Write([]byte("anyone?"))
			for range 3 {
				echoOnce(t, dial(t, a), "works")
			}
			if s.Conns() != 4 {
				t.Errorf("Conns() = %d, want 4 (the stuck one counts)", s.Conns())
			}
			if err := shutdown(t, s, testTimeout); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if b := readAllNoReset(t, stuck); len(b) != 0 {
				t.Errorf("stuck conn read %q", b)
			}
		})
	}
}

// TestPanicInOnClose: a handler whose OnClose panics for the last
// connection during Shutdown: Shutdown must still return (checkDone runs
// after OnClose in finish).
func TestPanicInOnClose(t *testing.T) {
	checkLeaks(t)
	h := &hooks{
		data:  func(c *Conn, b []byte) { c.Write(b) },
		close: func(c *Conn, err error) { panic("close bug") },
	}
	s, addr := serve(t, h, Config{Loops: 1, Logger: quietLogger}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	echoOnce(t, c, "x")
	go func() { io.Copy(io.Discard, c); c.Close() }()
	err := shutdown(t, s, 2*time.Second)
	if err != nil {
		t.Fatalf("Shutdown = %v: a panic in the last OnClose kept allDone from closing", err)
	}
}

// TestPanicInOnDrain documents a panicking OnDrain: loopState.drain stops
// at the panic, so the loop's connections after it in the list are never
// asked; they are aborted with ErrShutdown when the context ends, and
// Shutdown returns its error.
func TestPanicInOnDrain(t *testing.T) {
	checkLeaks(t)
	var drains atomic.Int64
	h := withDrainer{hooks: &hooks{data: func(c *Conn, b []byte) { c.Write(b) }}, drain: func(c *Conn) {
		if drains.Add(1) == 1 {
			panic("drain bug")
		}
		c.Close()
	}}
	s, addr := serve(t, h, Config{Loops: 1, Logger: quietLogger}, "tcp", "127.0.0.1:0")
	var cs []net.Conn
	for range 5 {
		c := dial(t, addr)
		echoOnce(t, c, "x")
		cs = append(cs, c)
	}
	for _, c := range cs {
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
	err := shutdown(t, s, 200*time.Millisecond)
	t.Logf("Shutdown = %v after %d OnDrain calls of 5", err, drains.Load())
	if s.Conns() != 0 {
		t.Errorf("Conns() = %d after Shutdown", s.Conns())
	}
}

// TestAbstractUnix: an abstract name works, leaves no file, and is free
// again after Shutdown.
func TestAbstractUnix(t *testing.T) {
	checkLeaks(t)
	name := "@evnet-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + itoa(os.Getpid())
	for range 2 {
		e := newEchoCounter()
		s, err := Listen("unix", name, e, Config{Loops: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			c := dial(t, &net.UnixAddr{Name: name, Net: "unix"})
			echoOnce(t, c, "abstract"+itoa(i))
			c.Close()
		}
		if err := shutdown(t, s, testTimeout); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUnixPathInUse: a second server cannot take a live socket path, and
// does not remove the first one's file.
func TestUnixPathInUse(t *testing.T) {
	checkLeaks(t)
	path := filepath.Join(t.TempDir(), "used.sock")
	_, addr := serve(t, newEchoCounter(), Config{}, "unix", path)
	if s2, err := Listen("unix", path, newEchoCounter(), Config{Loops: 1}); err == nil {
		shutdown(t, s2, testTimeout)
		t.Fatal("a second server listened on a live socket path")
	}
	echoOnce(t, dial(t, addr), "still mine")
}

// TestIPv6 serves [::1] and reports the addresses.
func TestIPv6(t *testing.T) {
	checkLeaks(t)
	addrs := make(chan [2]net.Addr, 1)
	h := &hooks{
		open: func(c *Conn) { addrs <- [2]net.Addr{c.LocalAddr(), c.RemoteAddr()} },
		data: func(c *Conn, b []byte) { c.Write(b) },
	}
	s, addr := serve(t, h, Config{}, "tcp6", "[::1]:0")
	ta := addr.(*net.TCPAddr)
	if !ta.IP.Equal(net.IPv6loopback) || ta.Port == 0 {
		t.Fatalf("bound %v", addr)
	}
	for i := range 8 {
		c := dial(t, addr)
		echoOnce(t, c, "v6-"+itoa(i))
		a := wait(t, addrs, "OnOpen")
		if r := a[1].(*net.TCPAddr); !r.IP.Equal(net.IPv6loopback) || r.Port != c.LocalAddr().(*net.TCPAddr).Port {
			t.Errorf("RemoteAddr %v, want %v", a[1], c.LocalAddr())
		}
		if a[0].String() != addr.String() {
			t.Errorf("LocalAddr %v, want %v", a[0], addr)
		}
	}
	if len(s.Addrs()) != 1 {
		t.Errorf("Addrs %v", s.Addrs())
	}
	// An IPv4 client cannot reach a tcp6 listener.
	if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+itoa(ta.Port), time.Second); err == nil {
		c.Close()
		t.Error("tcp6 listener accepted IPv4")
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	if i == 0 {
		return "0"
	}
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}
