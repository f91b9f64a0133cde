package evnet

import (
	"io"
	"net"
	"time"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// Conn is a connection on a loop. Its methods must be called on that loop
// (from a Handler method, a Post function or a timeout), except Post.
type Conn struct {
	ls *loopState
	ln *listener

	recv sched.Op  // the multishot receive
	send *sched.Op // the send or splice in flight; from the loop's pool, so an idle connection holds none

	out     []byte // queued output, not yet handed to the kernel
	sending []byte // output lent to the kernel by the send in flight
	sent    int    // bytes of sending already sent

	// files are the file ranges queued by SendFile, in order; bytes
	// written after one wait in its after.
	files, filesTail *fileSeg

	flags    connFlags
	fd       int32 // the socket; -1 once released (int32: it packs with flags)
	closeErr error
	deadline time.Time // when the timeout expires (zero: none)
	timerAt  time.Time // when the armed timer fires (zero: not armed)
	rare     *connRare // nil until needed
	timer    *sched.Timer
	raddr    net.Addr

	prev, next *Conn // the loop's list of connections

	// Context is free for the handler: the loop never touches it.
	Context any
}

// connRare is what only some connections need (Detach, input held while
// reading is stopped), allocated on first use so that an idle
// connection does not carry it.
type connRare struct {
	detach func(fd int, rest []byte, err error)
	rest   []byte // input that arrived during Detach
	held   []byte // input that arrived after reading was stopped
}

func (c *Conn) rareState() *connRare {
	if c.rare == nil {
		c.rare = new(connRare)
	}
	return c.rare
}

// hasHeld reports whether input waits for reading to resume.
func (c *Conn) hasHeld() bool { return c.rare != nil && len(c.rare.held) > 0 }

type connFlags uint16

const (
	flagRecvArmed  connFlags = 1 << iota // the multishot recv is in the kernel
	flagSendArmed                        // a send is in the kernel
	flagPaused                           // the handler paused reading
	flagThrottled                        // output above the high water mark
	flagEOF                              // the peer shut down its sending side
	flagClosing                          // Close: send what is queued, then close
	flagShutWr                           // our sending side is shut down (lingering or CloseWrite)
	flagAborting                         // abort: cancel everything, then close
	flagClosed                           // descriptor released, OnClose ran
	flagDirty                            // queued in the loop's flush list
	flagLingering                        // closing: reading and discarding until EOF or timeout
	flagCloseWrite                       // CloseWrite: shut down sending once output is sent
	flagDetaching                        // Detach: hand the descriptor over instead of closing it
)

// open sets up a new connection on its loop and starts reading.
func (ls *loopState) open(fd int, ln *listener) {
	if s := ls.srv; s.state.Load() != srvRunning {
		// Handed over from another loop's accept after this loop
		// drained: nobody would ask it to close.
		unix.Close(fd)
		s.refused.Add(1)
		s.conns.Add(-1)
		s.checkDone()
		return
	}
	c := &Conn{ls: ls, ln: ln, fd: int32(fd)}
	ls.add(c)
	ls.srv.h.OnOpen(c)
	c.startRead()
}

// Write queues b to be sent at the end of the loop's current batch of
// callbacks. It never blocks and always takes all of b; a peer that reads
// slowly makes the connection stop reading (see Config.WriteHighWater)
// rather than Write fail. It returns ErrClosed once the connection is
// closing.
func (c *Conn) Write(b []byte) (int, error) {
	if c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 {
		return 0, ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	if c.filesTail != nil {
		c.filesTail.after = append(c.filesTail.after, b...)
		c.queued()
		return len(b), nil
	}
	c.grow(len(b))
	c.out = append(c.out, b...)
	c.queued()
	return len(b), nil
}

// WriteString is Write for a string, without converting it.
func (c *Conn) WriteString(s string) (int, error) {
	if c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 {
		return 0, ErrClosed
	}
	if len(s) == 0 {
		return 0, nil
	}
	if c.filesTail != nil {
		c.filesTail.after = append(c.filesTail.after, s...)
		c.queued()
		return len(s), nil
	}
	c.grow(len(s))
	c.out = append(c.out, s...)
	c.queued()
	return len(s), nil
}

// AvailableBuffer returns an empty slice with room to append output to,
// for handlers that format in place (strconv.AppendInt, ...): pass the
// result to Write, which then copies nothing if it still fits.
func (c *Conn) AvailableBuffer() []byte {
	if c.filesTail != nil {
		return c.filesTail.after[len(c.filesTail.after):]
	}
	c.grow(0)
	return c.out[len(c.out):]
}

// ReserveOutput returns room for n bytes at the end of the output queue,
// for a handler that fills it at once (a file read straight into the
// output, with no copy through a buffer of its own) and then queues what
// it filled with CommitOutput, before its callback returns. Room not
// committed is not output: the next write reuses it. It returns nil when
// the connection is closing or its output waits behind a file range.
func (c *Conn) ReserveOutput(n int) []byte {
	if c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 || c.filesTail != nil || n < 0 {
		return nil
	}
	c.grow(n)
	return c.out[len(c.out) : len(c.out)+n]
}

// CommitOutput queues the first n bytes of the room the last
// ReserveOutput returned.
func (c *Conn) CommitOutput(n int) {
	if n <= 0 || c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 || c.filesTail != nil {
		return
	}
	c.out = c.out[:len(c.out)+n]
	c.queued()
}

// grow makes room for n more bytes of output.
func (c *Conn) grow(n int) {
	if c.out == nil {
		c.out = c.ls.bufs.get(n)
		return
	}
	if cap(c.out)-len(c.out) >= n {
		return
	}
	nb := c.ls.bufs.get(max(2*cap(c.out), len(c.out)+n))
	nb = append(nb, c.out...)
	c.ls.bufs.put(c.out)
	c.out = nb
}

// queued notes new output: send it at the end of the batch, and stop
// reading if the peer is not keeping up.
func (c *Conn) queued() {
	if c.flags&flagSendArmed == 0 {
		c.ls.markDirty(c)
	}
	if c.flags&flagThrottled == 0 && c.Buffered() > c.ls.srv.cfg.WriteHighWater {
		c.flags |= flagThrottled
		c.stopRead()
	}
}

// Buffered returns how many bytes are queued or being sent (file ranges
// queued with SendFile hold no memory and do not count).
func (c *Conn) Buffered() int {
	n := len(c.out) + len(c.sending) - c.sent
	for f := c.files; f != nil; f = f.next {
		n += len(f.after)
	}
	return n
}

// flush hands the queued output to the kernel, unless a send is already
// in flight (its completion sends the rest).
func (c *Conn) flush() {
	if c.flags&(flagSendArmed|flagClosed|flagAborting) != 0 {
		return
	}
	if len(c.out) == 0 {
		if c.files != nil {
			c.spliceNext()
			return
		}
		c.afterOutput()
		return
	}
	if c.sending != nil {
		c.ls.bufs.put(c.sending)
	}
	c.sending, c.sent, c.out = c.out, 0, nil
	c.submitSend()
}

func (c *Conn) submitSend() {
	if c.send == nil {
		c.send = c.ls.getOp()
	}
	c.send.Data = c
	c.send.PrepSend(int(c.fd), c.sending[c.sent:], 0, onSent)
	if err := c.ls.loop.Submit(c.send); err != nil {
		c.abort(err)
		return
	}
	c.flags |= flagSendArmed
}

// The ring callbacks are functions, not method values, so that arming an
// op allocates nothing: the op's Data is the connection.
func onSent(op *sched.Op, r sched.Result) { op.Data.(*Conn).onSent(op, r) }
func onRecv(op *sched.Op, r sched.Result) { op.Data.(*Conn).onRecv(op, r) }

func (c *Conn) onSent(op *sched.Op, r sched.Result) {
	c.flags &^= flagSendArmed
	c.ls.putOp(op)
	c.send = nil
	if c.flags&flagAborting != 0 {
		c.finish()
		return
	}
	if err := r.Err(); err != nil {
		c.abort(err)
		return
	}
	c.sent += int(r.Res)
	c.ls.bytesOut.Add(uint64(r.Res))
	if c.sent < len(c.sending) {
		c.submitSend() // a short send: the rest
		return
	}
	c.ls.bufs.put(c.sending)
	c.sending, c.sent = nil, 0
	c.sentSome()
}

// sentSome runs when a send or a file range has been handed over in full:
// it reports a drained queue, lifts the throttle, and sends what is next.
func (c *Conn) sentSome() {
	if len(c.out) == 0 && c.files == nil && c.flags&(flagClosing|flagClosed) == 0 {
		if d, ok := c.ls.srv.h.(DrainHandler); ok {
			d.OnDrained(c)
		}
	}
	if c.flags&flagThrottled != 0 && c.Buffered() < c.ls.srv.cfg.WriteLowWater {
		c.flags &^= flagThrottled
		if w, ok := c.ls.srv.h.(WritableHandler); ok && c.flags&flagClosed == 0 {
			w.OnWritable(c)
		}
		c.resume()
	}
	c.flush()
}

// resume delivers the input held while reading was stopped, then reads
// again, unless something stops it once more.
func (c *Conn) resume() {
	if c.flags&flagLingering != 0 {
		// Closed: what was held is discarded, and reading goes on until
		// the peer closes too.
		if c.rare != nil {
			c.rare.held = nil
		}
		c.startRead()
		return
	}
	if c.flags&(flagPaused|flagThrottled|flagClosing|flagAborting|flagClosed) != 0 {
		return
	}
	if c.hasHeld() {
		held := c.rare.held
		c.rare.held = nil
		c.ls.srv.h.OnData(c, held)
		if c.flags&(flagPaused|flagThrottled|flagClosing|flagAborting|flagClosed) != 0 {
			return
		}
	}
	if c.flags&flagEOF != 0 {
		c.peerClosed()
		return
	}
	c.startRead()
}

// afterOutput runs when everything queued has been sent: it carries out a
// pending CloseWrite or Close.
func (c *Conn) afterOutput() {
	switch {
	case c.flags&flagClosing != 0:
		c.shutdownAndLinger()
	case c.flags&flagCloseWrite != 0 && c.flags&flagShutWr == 0:
		c.flags |= flagShutWr
		_ = unix.Shutdown(int(c.fd), unix.SHUT_WR)
	}
}

// startRead arms the multishot receive unless something holds it back.
func (c *Conn) startRead() {
	if c.flags&(flagRecvArmed|flagPaused|flagThrottled|flagEOF|flagAborting|flagClosed) != 0 {
		return
	}
	if c.flags&flagClosing != 0 && c.flags&flagLingering == 0 {
		return
	}
	c.recv.Data = c
	c.recv.PrepRecvMultishot(int(c.fd), onRecv)
	if err := c.ls.loop.Submit(&c.recv); err != nil {
		c.abort(err)
		return
	}
	c.flags |= flagRecvArmed
}

// stopRead cancels the multishot receive; data it still delivers before
// its final completion is passed on as usual.
func (c *Conn) stopRead() {
	if c.flags&flagRecvArmed != 0 {
		_ = c.ls.loop.Cancel(&c.recv)
	}
}

func (c *Conn) onRecv(_ *sched.Op, r sched.Result) {
	if r.Res > 0 {
		c.ls.bytesIn.Add(uint64(r.Res))
	}
	switch {
	case r.Res <= 0:
	case c.flags&flagDetaching != 0:
		x := c.rareState()
		x.rest = append(x.rest, r.Buf...)
	case c.flags&(flagClosing|flagAborting|flagClosed) != 0:
		// After Close the handler wants no more input: what arrives while
		// the output drains, or while lingering, is discarded.
	case c.flags&(flagPaused|flagThrottled) != 0 || c.hasHeld():
		// Reading was stopped, but the receive had already taken these
		// bytes: keep them for when reading resumes (at most what the
		// loop's buffer ring held).
		x := c.rareState()
		x.held = append(x.held, r.Buf...)
	default:
		c.ls.srv.h.OnData(c, r.Buf)
	}
	if r.More() {
		return
	}
	c.flags &^= flagRecvArmed
	switch {
	case c.flags&flagAborting != 0:
		c.finish()
	case r.Res == 0:
		c.flags |= flagEOF
		if c.hasHeld() && c.flags&flagLingering == 0 {
			// The held input comes first: resume delivers it, then the EOF.
			return
		}
		c.peerClosed()
	case r.Res < 0 && r.Res != -int32(unix.ECANCELED) && r.Res != -int32(unix.ENOBUFS):
		// ENOBUFS: the buffer ring ran dry as our own cancel went in (the
		// loop re-arms by itself otherwise); reading resumes below.
		c.abort(r.Err())
	default:
		// Cancelled by stopRead, or the kernel ended the multishot after
		// data: read again if nothing holds reading back.
		c.resume()
	}
}

// peerClosed handles EOF from the peer.
func (c *Conn) peerClosed() {
	if c.flags&flagLingering != 0 {
		c.finish() // the peer is done too: close now
		return
	}
	if c.flags&(flagClosing|flagClosed) != 0 {
		return
	}
	if h, ok := c.ls.srv.h.(EOFHandler); ok {
		h.OnEOF(c)
		return
	}
	c.closeErr = io.EOF
	c.Close()
}

// Close closes the connection gracefully: what is queued is sent first,
// then the sending side is shut down and the connection reads and
// discards until the peer closes too or Config.Linger passes, so a peer
// still sending gets no reset before it has read the last response.
// OnClose runs once the descriptor is released. Close is idempotent.
func (c *Conn) Close() {
	if c.flags&(flagClosing|flagAborting|flagClosed) != 0 {
		return
	}
	c.flags |= flagClosing
	if c.flags&flagSendArmed == 0 {
		c.flush()
	}
}

// shutdownAndLinger runs when a closing connection has sent everything.
func (c *Conn) shutdownAndLinger() {
	if c.flags&flagDetaching != 0 {
		c.finishWhenIdle()
		return
	}
	linger := c.ls.srv.cfg.Linger
	if linger < 0 || c.flags&flagEOF != 0 {
		c.finishWhenIdle()
		return
	}
	if c.flags&flagShutWr == 0 {
		c.flags |= flagShutWr
		if err := unix.Shutdown(int(c.fd), unix.SHUT_WR); err != nil {
			c.finishWhenIdle()
			return
		}
	}
	c.flags |= flagLingering
	c.flags &^= flagPaused | flagThrottled
	c.setTimer(linger)
	c.startRead()
}

// finishWhenIdle closes once no receive is in flight.
func (c *Conn) finishWhenIdle() {
	c.flags |= flagAborting // nothing more is read or written
	if c.flags&flagRecvArmed != 0 {
		c.stopRead()
		return
	}
	c.finish()
}

// CloseWrite shuts down the sending side once the queued output has been
// sent (the peer reads EOF) while reading goes on.
func (c *Conn) CloseWrite() {
	if c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 {
		return
	}
	c.flags |= flagCloseWrite
	if c.flags&flagSendArmed == 0 {
		c.flush()
	}
}

// Abort closes the connection at once, dropping queued output; OnClose
// gets err.
func (c *Conn) Abort(err error) { c.abort(err) }

func (c *Conn) abort(err error) {
	if c.flags&(flagAborting|flagClosed) != 0 {
		return
	}
	if c.closeErr == nil {
		c.closeErr = err
	}
	c.flags |= flagAborting
	if c.flags&flagRecvArmed != 0 {
		_ = c.ls.loop.Cancel(&c.recv)
	}
	if c.flags&flagSendArmed != 0 {
		_ = c.ls.loop.Cancel(c.send)
	}
	c.finish()
}

// finish releases the connection once the kernel holds none of its
// operations: closes the descriptor, returns the buffers, runs OnClose.
func (c *Conn) finish() {
	if c.flags&(flagRecvArmed|flagSendArmed|flagClosed) != 0 {
		return
	}
	c.flags |= flagClosed
	if c.timer != nil {
		c.timer.Stop()
	}
	if x := c.rare; x != nil && x.detach != nil {
		detach := x.detach
		x.detach = nil
		// Input held while reading was paused comes before what the
		// receive took after the detach began.
		rest := append(x.held, x.rest...)
		x.held, x.rest = nil, nil
		if c.flags&flagDetaching != 0 && c.closeErr == nil {
			c.closeErr = ErrDetached
			detach(int(c.fd), rest, nil)
		} else {
			unix.Close(int(c.fd))
			detach(-1, nil, c.closeErr)
		}
	} else {
		unix.Close(int(c.fd))
	}
	c.fd = -1
	c.ls.bufs.put(c.out)
	c.ls.bufs.put(c.sending)
	c.out, c.sending = nil, nil
	c.dropFiles(ErrClosed)
	c.ls.remove(c)
	s := c.ls.srv
	s.conns.Add(-1)
	// Even if OnClose panics, Shutdown must learn this one is gone.
	defer s.checkDone()
	s.h.OnClose(c, c.closeErr)
}

// Detach hands the socket over to the caller: reading stops, and once
// the queued output has been sent and no operation is left in the kernel,
// done runs (on the loop) with the descriptor, which the caller now owns,
// and any bytes that arrived after Detach was called (they are the new
// owner's to read); the connection is then gone from the server (OnClose
// runs, with ErrDetached) without the descriptor being closed. If the
// connection fails first, done gets -1 and the error.
func (c *Conn) Detach(done func(fd int, rest []byte, err error)) {
	if c.flags&(flagClosing|flagAborting|flagClosed) != 0 {
		done(-1, nil, ErrClosed)
		return
	}
	c.rareState().detach = done
	c.flags |= flagClosing | flagDetaching
	c.stopRead()
	if c.flags&flagSendArmed == 0 {
		c.flush()
	}
}

// PauseRead stops delivering data until ResumeRead (for a handler waiting
// on slow work before it wants more input).
func (c *Conn) PauseRead() {
	c.flags |= flagPaused
	c.stopRead()
}

// ResumeRead undoes PauseRead.
func (c *Conn) ResumeRead() {
	c.flags &^= flagPaused
	c.resume()
}

// SetTimeout arms the connection's timer to fire after d, replacing any
// earlier setting; d <= 0 disarms it. On expiry a TimeoutHandler's
// OnTimeout runs, or else the connection is aborted with ErrTimeout.
// Protocols re-arm it per request and per phase, so it is cheap: moving
// the deadline later only records it (the timer, when it fires early,
// re-arms itself for what is left), and only an earlier deadline touches
// the loop's timer heap.
func (c *Conn) SetTimeout(d time.Duration) {
	if c.flags&(flagClosed|flagLingering) != 0 {
		return
	}
	c.setTimer(d)
}

func (c *Conn) setTimer(d time.Duration) {
	if d <= 0 {
		c.deadline = time.Time{}
		return
	}
	c.deadline = c.ls.loop.Now().Add(d)
	if c.timer == nil {
		c.timer = c.ls.loop.NewTimer(c.onTimer)
	}
	if c.timerAt.IsZero() || c.deadline.Before(c.timerAt) {
		c.timerAt = c.deadline
		c.timer.Reset(d)
	}
}

func (c *Conn) onTimer() {
	c.timerAt = time.Time{}
	if c.flags&flagClosed != 0 || c.deadline.IsZero() {
		return
	}
	if left := c.deadline.Sub(c.ls.loop.Now()); left > 0 {
		c.timerAt = c.deadline
		c.timer.Reset(left)
		return
	}
	c.deadline = time.Time{}
	switch {
	case c.flags&flagLingering != 0:
		c.finishWhenIdle()
	default:
		if h, ok := c.ls.srv.h.(TimeoutHandler); ok {
			h.OnTimeout(c)
			return
		}
		c.abort(ErrTimeout)
	}
}

// Post runs fn on the connection's loop, from any goroutine, unless the
// connection has closed by then. It is how work done elsewhere (a
// goroutine, an offload job) comes back to write a response.
func (c *Conn) Post(fn func(c *Conn)) {
	c.ls.post(func() {
		if c.flags&flagClosed == 0 {
			fn(c)
		}
	})
}

// Closed reports whether the connection is closed or closing.
func (c *Conn) Closed() bool { return c.flags&(flagClosing|flagAborting|flagClosed) != 0 }

// Loop returns the loop the connection lives on, for timers and offload
// jobs whose results come back to it.
func (c *Conn) Loop() *sched.Loop { return c.ls.loop }

// LocalAddr returns the listener's address the connection came in on.
func (c *Conn) LocalAddr() net.Addr { return c.ln.addr }

// RemoteAddr returns the peer's address (looked up once, on first use; a
// zero address if the peer has already gone).
func (c *Conn) RemoteAddr() net.Addr {
	if c.raddr == nil && c.fd >= 0 {
		if sa, err := unix.Getpeername(int(c.fd)); err == nil {
			c.raddr = sockaddrToNet(sa)
		}
	}
	if c.raddr == nil {
		if c.ln.network == "unix" {
			c.raddr = &net.UnixAddr{Net: "unix"}
		} else {
			c.raddr = &net.TCPAddr{}
		}
	}
	return c.raddr
}

// Fd returns the socket, for socket options. It is -1 once closed.
func (c *Conn) Fd() int { return int(c.fd) }
