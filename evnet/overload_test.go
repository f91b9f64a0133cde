package evnet

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/uringd/uringd/sched"
)

// TestOverloadedLoopStillAnswers: a loop at its MaxOps (one op per idle
// connection plus the accept) must still send what handlers write:
// connections it cannot take are refused or aborted, but an accepted
// connection's reply must not be silently stuck (markDirty ignores the
// flush Submit's ErrOverloaded, and the connection stays marked dirty).
func TestOverloadedLoopStillAnswers(t *testing.T) {
	checkLeaks(t)
	e := newEchoCounter()
	const maxOps = 8
	s, addr := serve(t, e, Config{Loops: 1, LoopConfig: sched.Config{MaxOps: maxOps}}, "tcp", "127.0.0.1:0")
	var cs []net.Conn
	for i := range maxOps + 2 {
		c := dial(t, addr)
		cs = append(cs, c)
		_ = i
	}
	waitFor(t, "every connection accepted", func() bool { return s.Stats().Accepted == maxOps+2 })
	live := 0
	for i, c := range cs {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		msg := fmt.Sprint("m", i)
		c.Write([]byte(msg))
		buf := make([]byte, len(msg))
		_, err := io.ReadFull(c, buf)
		switch {
		case err == nil:
			live++
		case err == io.EOF || isReset(err):
			// aborted for want of room: acceptable, the peer knows
		default:
			t.Errorf("conn %d: %v: neither answered nor closed", i, err)
		}
	}
	t.Logf("%d of %d connections answered", live, len(cs))
}

func isReset(err error) bool {
	return err != nil && (containsAny(err.Error(), "connection reset", "broken pipe"))
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		for i := 0; i+len(sub) <= len(s); i++ {
			if s[i:i+len(sub)] == sub {
				return true
			}
		}
	}
	return false
}

// TestOverloadedUnixRoundRobin: a Unix listener hands connections to the
// other loop with a post; when that loop is at MaxOps the post fails and
// the connection must still be closed (not leaked with its count, which
// would also keep Shutdown from ever finishing).
func TestOverloadedUnixRoundRobin(t *testing.T) {
	checkLeaks(t)
	e := newEchoCounter()
	s, addr := serve(t, e, Config{Loops: 2, LoopConfig: sched.Config{MaxOps: 4}}, "unix", filepath.Join(t.TempDir(), "o.sock"))
	var cs []net.Conn
	for range 16 {
		cs = append(cs, dial(t, addr))
	}
	waitFor(t, "every connection accepted", func() bool { return s.Stats().Accepted+s.Stats().Refused == 16 })
	for i, c := range cs {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Write([]byte("x"))
		_, err := io.ReadFull(c, make([]byte, 1))
		if err != nil && err != io.EOF && !isReset(err) {
			t.Errorf("conn %d: %v: neither answered nor closed", i, err)
		}
	}
	for _, c := range cs {
		c.Close()
	}
	waitFor(t, "Conns() to reach 0 after every client left", func() bool { return s.Conns() == 0 })
}
