package evnet

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uringd/uringd/sched"
)

// pumper writes a long stream to its one connection as fast as the
// high-water mark lets it, then closes.
type pumper struct {
	total, hw, lw int64
	chunk         int

	off         int64 // loop-owned
	throttled   bool
	maxBuffered atomic.Int64
	writables   atomic.Int64
	badWritable atomic.Int64 // OnWritable with Buffered() >= low water
	dataBytes   atomic.Int64
	// data delivered while the connection was throttled (reading stopped),
	// per episode and the largest episode.
	thrData int64
	maxThr  atomic.Int64
	closed  chan error
}

func (p *pumper) pump(c *Conn) {
	for p.off < p.total && int64(c.Buffered()) <= p.hw {
		n := int(min(int64(p.chunk), p.total-p.off))
		b := patternChunk(p.off, n)
		if w, err := c.Write(b); err != nil || w != len(b) {
			panic("write failed")
		}
		p.off += int64(len(b))
		if b := int64(c.Buffered()); b > p.maxBuffered.Load() {
			p.maxBuffered.Store(b)
		}
	}
	if int64(c.Buffered()) > p.hw {
		p.throttled, p.thrData = true, 0
	}
	if p.off == p.total {
		c.Close()
	}
}

func (p *pumper) handler() Handler {
	h := &hooks{
		open: p.pump,
		data: func(c *Conn, b []byte) {
			p.dataBytes.Add(int64(len(b)))
			if p.throttled {
				p.thrData += int64(len(b))
				if p.thrData > p.maxThr.Load() {
					p.maxThr.Store(p.thrData)
				}
			}
		},
		close: func(c *Conn, err error) { p.closed <- err },
	}
	return withWritable{hooks: h, writable: func(c *Conn) {
		p.writables.Add(1)
		if int64(c.Buffered()) >= p.lw {
			p.badWritable.Add(1)
		}
		p.throttled = false
		p.pump(c)
	}}
}

// TestSlowReaderBoundedMemory: the handler writes 100 MiB to a peer that
// first only writes (and never reads) and then reads everything. Queued
// output stays below high water + one write, the connection stops reading
// while throttled, OnWritable fires once the peer drains, and every byte
// arrives intact, followed by EOF.
func TestSlowReaderBoundedMemory(t *testing.T) {
	checkLeaks(t)
	const hw, lw = 256 << 10, 64 << 10
	const bufs, bufSize = 64, 16 << 10
	p := &pumper{total: 100 << 20, hw: hw, lw: lw, chunk: 64 << 10, closed: make(chan error, 1)}
	_, addr := serve(t, p.handler(), Config{
		Loops: 1, WriteHighWater: hw, WriteLowWater: lw,
		LoopConfig: sched.Config{Buffers: bufs, BufferSize: bufSize},
	}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(4 * testTimeout))

	// The writer sends far more than the socket buffers hold; it stalls
	// unless the server keeps reading. The reader starts only once it has
	// stalled (or finished).
	const inbound = 64 << 20
	stalled := make(chan int64, 1)
	writerDone := make(chan error, 1)
	go func() {
		junk := make([]byte, 256<<10)
		var sent int64
		signalled := false
		for sent < inbound {
			if !signalled {
				c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
			}
			n, err := c.Write(junk)
			sent += int64(n)
			if err != nil {
				if !signalled && errors.Is(err, os.ErrDeadlineExceeded) {
					signalled = true
					stalled <- sent
					c.SetWriteDeadline(time.Now().Add(4 * testTimeout))
					continue
				}
				writerDone <- err
				return
			}
		}
		if !signalled {
			stalled <- -1
		}
		writerDone <- nil
	}()
	sentAtStall := wait(t, stalled, "the writer to stall or finish")
	if sentAtStall < 0 {
		t.Errorf("the peer wrote %d bytes without stalling: the throttled server kept reading", inbound)
	}
	readAtStall := p.dataBytes.Load()

	var off int64
	buf := make([]byte, 256<<10)
	for {
		n, err := c.Read(buf)
		if bad := patternCheck(off, buf[:n]); bad >= 0 {
			t.Fatalf("stream corrupt at byte %d", bad)
		}
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
	}
	if off != p.total {
		t.Fatalf("read %d bytes, want %d", off, p.total)
	}
	if err := wait(t, writerDone, "writer"); err != nil {
		t.Errorf("peer writer: %v", err)
	}
	c.Close()
	if err := wait(t, p.closed, "OnClose"); err != nil {
		t.Errorf("OnClose(%v), want nil", err)
	}
	t.Logf("max buffered %d, writables %d, data at stall %d (sent %d), max data while throttled %d",
		p.maxBuffered.Load(), p.writables.Load(), readAtStall, sentAtStall, p.maxThr.Load())
	if m := p.maxBuffered.Load(); m > hw+int64(p.chunk) {
		t.Errorf("Buffered() reached %d, above high water %d + one write %d", m, hw, p.chunk)
	}
	if p.writables.Load() == 0 {
		t.Error("OnWritable never ran")
	}
	if n := p.badWritable.Load(); n > 0 {
		t.Errorf("%d OnWritable calls with Buffered() >= low water", n)
	}
	// Reading stops when throttled: what still arrives is at most what the
	// receive had already taken from the buffer ring.
	if m := p.maxThr.Load(); m > bufs*bufSize {
		t.Errorf("%d bytes delivered to OnData while throttled (buffer ring holds %d)", m, bufs*bufSize)
	}
	if sentAtStall > 0 && readAtStall >= sentAtStall {
		t.Errorf("server read all %d bytes the stalled writer sent", readAtStall)
	}
}

// TestEchoThrottledHugeInbound: a peer sends 48 MiB to an echo handler and
// reads the echo slowly (small reads) at the same time. The connection
// throttles and resumes many times; the echo is intact and the queue stays
// bounded by high water plus what the receive had in flight.
func TestEchoThrottledHugeInbound(t *testing.T) {
	checkLeaks(t)
	const hw, lw = 128 << 10, 32 << 10
	const bufs, bufSize = 16, 16 << 10
	var maxBuf, writables, maxIn atomic.Int64
	closed := make(chan error, 1)
	h := withWritable{hooks: &hooks{
		data: func(c *Conn, b []byte) {
			// Input taken by the receive after reading stopped comes in one
			// piece on resume: its size is what the connection held.
			if int64(len(b)) > maxIn.Load() {
				maxIn.Store(int64(len(b)))
			}
			c.Write(b)
			if n := int64(c.Buffered()); n > maxBuf.Load() {
				maxBuf.Store(n)
			}
		},
		close: func(c *Conn, err error) { closed <- err },
	}, writable: func(c *Conn) { writables.Add(1) }}
	_, addr := serve(t, h, Config{Loops: 1, WriteHighWater: hw, WriteLowWater: lw,
		LoopConfig: sched.Config{Buffers: bufs, BufferSize: bufSize}}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(4 * testTimeout))
	const total = 48 << 20
	werr := make(chan error, 1)
	go func() {
		var off int64
		for off < total {
			b := patternChunk(off, int(min(300<<10, total-off)))
			if _, err := c.Write(b); err != nil {
				werr <- err
				return
			}
			off += int64(len(b))
		}
		werr <- c.(*net.TCPConn).CloseWrite()
	}()
	var off int64
	buf := make([]byte, 4<<10)
	for {
		n, err := c.Read(buf)
		if bad := patternCheck(off, buf[:n]); bad >= 0 {
			t.Fatalf("echo corrupt at byte %d", bad)
		}
		off += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
	}
	if off != total {
		t.Fatalf("echoed %d bytes, want %d", off, total)
	}
	if err := wait(t, werr, "writer"); err != nil {
		t.Fatal(err)
	}
	if err := wait(t, closed, "OnClose"); err != io.EOF {
		t.Errorf("OnClose(%v), want io.EOF", err)
	}
	t.Logf("max buffered %d (high water %d), largest input %d, %d throttle episodes", maxBuf.Load(), hw, maxIn.Load(), writables.Load())
	if m := maxIn.Load(); m > bufs*bufSize {
		t.Errorf("the connection held %d bytes of input while throttled: more than the buffer ring (%d); reading did not stop", m, bufs*bufSize)
	}
	if writables.Load() == 0 {
		t.Error("never throttled")
	}
	if m := maxBuf.Load(); m > hw+bufs*bufSize {
		t.Errorf("Buffered() reached %d: more than high water %d + the buffer ring %d", m, hw, bufs*bufSize)
	}
}

// TestPauseReadStopsOnData: after PauseRead no OnData runs until
// ResumeRead ("stops delivering data until ResumeRead"), however fast the
// peer sends; every byte still arrives, in order.
func TestPauseReadStopsOnData(t *testing.T) {
	checkLeaks(t)
	var late, pauses, maxIn atomic.Int64
	var got []byte // loop-owned
	var gotLen atomic.Int64
	paused := false
	var wg sync.WaitGroup
	h := &hooks{data: func(c *Conn, b []byte) {
		if paused {
			late.Add(1)
		}
		if int64(len(b)) > maxIn.Load() {
			maxIn.Store(int64(len(b)))
		}
		got = append(got, b...)
		gotLen.Store(int64(len(got)))
		if paused {
			return
		}
		paused = true
		pauses.Add(1)
		c.PauseRead()
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Post(func(c *Conn) { paused = false; c.ResumeRead() })
		}()
	}}
	const bufs, bufSize = 16, 16 << 10
	_, addr := serve(t, h, Config{Loops: 1, LoopConfig: sched.Config{Buffers: bufs, BufferSize: bufSize}}, "tcp", "127.0.0.1:0")
	c := dial(t, addr)
	const total = 4 << 20
	var off int64
	for off < total {
		b := patternChunk(off, int(min(1000, total-off)))
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		off += int64(len(b))
	}
	waitFor(t, "all bytes to arrive", func() bool { return gotLen.Load() >= total })
	wg.Wait()
	// The atomic gotLen orders the loop's appends before this read.
	if int64(len(got)) != total || patternCheck(0, got) >= 0 {
		t.Errorf("received %d bytes, want the %d-byte stream intact", len(got), total)
	}
	t.Logf("%d pauses, largest input %d", pauses.Load(), maxIn.Load())
	if m := maxIn.Load(); m > bufs*bufSize {
		t.Errorf("the connection held %d bytes of input while paused: more than the buffer ring (%d); reading did not stop", m, bufs*bufSize)
	}
	if n := late.Load(); n > 0 {
		t.Errorf("OnData ran %d times after PauseRead and before ResumeRead (%d pauses)", n, pauses.Load())
	}
}

// TestPausedInputThenEOF: input that arrives while reading is paused, and
// the peer's EOF right behind it: every byte is delivered (on ResumeRead)
// before OnEOF, none is dropped.
func TestPausedInputThenEOF(t *testing.T) {
	checkLeaks(t)
	type state struct {
		got    int
		paused bool
	}
	results := make(chan [2]int, 1) // bytes at OnEOF (or -1), bytes at OnClose
	h := withEOF{hooks: &hooks{
		open: func(c *Conn) { c.Context = new(state) },
		data: func(c *Conn, b []byte) {
			st := c.Context.(*state)
			st.got += len(b)
			if !st.paused {
				st.paused = true
				c.PauseRead()
				go c.Post(func(c *Conn) { c.ResumeRead() })
			}
		},
		close: func(c *Conn, err error) {
			results <- [2]int{-1, c.Context.(*state).got}
		},
	}, eof: func(c *Conn) {
		results <- [2]int{c.Context.(*state).got, 0}
		c.Close()
	}}
	_, addr := serve(t, h, Config{Loops: 1}, "tcp", "127.0.0.1:0")
	const size = 256 << 10
	for i := range 20 {
		c := dial(t, addr)
		for off := 0; off < size; off += 16 << 10 {
			c.Write(patternChunk(int64(off), 16<<10))
		}
		c.(*net.TCPConn).CloseWrite()
		r := wait(t, results, "OnEOF or OnClose")
		if r[0] != size {
			t.Fatalf("conn %d: OnEOF after %d of %d bytes (%v)", i, r[0], size, r)
		}
		wait(t, results, "OnClose")
		c.Close()
	}
}
