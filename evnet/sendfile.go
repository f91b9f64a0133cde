package evnet

import (
	"io"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// A file range goes out by splice through a pipe, file -> pipe -> socket,
// in chunks: the bytes never enter user memory. (io_uring runs splice on
// its worker threads, which may block there on a slow peer: the loop
// never does.)

// fileSeg is one range of a file to send.
type fileSeg struct {
	fd        int
	off, left int64
	sent      int64
	inPipe    int  // bytes spliced into the pipe, not yet out
	pipe      pipe // the loop's pipe lent for this range's splices
	done      func(sent int64, err error)
	after     []byte // output written after this range
	next      *fileSeg
}

// spliceChunk is the most one splice moves, and the pipe's size.
const spliceChunk = 1 << 20

// SendFile queues n bytes of file fd from offset off, to be sent after
// what is queued before it and before what is written after it. fd must
// stay open until done runs (on the loop) with how many bytes were sent:
// all n, or fewer with an error. A file that turns out shorter than n
// (truncated meanwhile) ends the connection: the peer was promised n
// bytes, and only closing tells it something is wrong. The file's pages
// are spliced into the socket; for small files reading them and using
// Write costs less (a splice runs on a kernel worker thread).
func (c *Conn) SendFile(fd int, off, n int64, done func(sent int64, err error)) {
	if c.flags&(flagClosing|flagAborting|flagClosed|flagCloseWrite) != 0 {
		done(0, ErrClosed)
		return
	}
	if n <= 0 {
		done(0, nil)
		return
	}
	seg := &fileSeg{fd: fd, off: off, left: n, done: done}
	if c.filesTail == nil {
		c.files = seg
	} else {
		c.filesTail.next = seg
	}
	c.filesTail = seg
	if c.flags&flagSendArmed == 0 {
		c.ls.markDirty(c)
	}
}

// spliceNext moves the head file range on: into the pipe, then out.
func (c *Conn) spliceNext() {
	seg := c.files
	if seg.pipe == (pipe{}) {
		p, err := c.ls.getPipe()
		if err != nil {
			c.abort(err)
			return
		}
		seg.pipe = p
	}
	if c.send == nil {
		c.send = c.ls.getOp()
	}
	c.send.Data = c
	if seg.inPipe > 0 {
		c.send.PrepSplice(seg.pipe.r, -1, int(c.fd), -1, seg.inPipe, onSpliceOut)
	} else {
		c.send.PrepSplice(seg.fd, seg.off, seg.pipe.w, -1, int(min(seg.left, spliceChunk)), onSpliceIn)
	}
	if err := c.ls.loop.Submit(c.send); err != nil {
		c.abort(err)
		return
	}
	c.flags |= flagSendArmed
}

func onSpliceIn(op *sched.Op, r sched.Result)  { op.Data.(*Conn).onSpliceIn(op, r) }
func onSpliceOut(op *sched.Op, r sched.Result) { op.Data.(*Conn).onSpliceOut(op, r) }

// onSpliceIn: file -> pipe done.
func (c *Conn) onSpliceIn(_ *sched.Op, r sched.Result) {
	c.flags &^= flagSendArmed
	seg := c.files
	if c.flags&flagAborting != 0 {
		c.finish()
		return
	}
	switch {
	case r.Res < 0:
		c.segFailed(r.Err())
		return
	case r.Res == 0:
		// The file ended before the promised length.
		c.segFailed(io.ErrUnexpectedEOF)
		return
	}
	seg.inPipe = int(r.Res)
	seg.off += int64(r.Res)
	seg.left -= int64(r.Res)
	c.spliceNext()
}

// onSpliceOut: pipe -> socket done.
func (c *Conn) onSpliceOut(_ *sched.Op, r sched.Result) {
	c.flags &^= flagSendArmed
	seg := c.files
	if c.flags&flagAborting != 0 {
		c.finish()
		return
	}
	if r.Res < 0 {
		c.segFailed(r.Err())
		return
	}
	seg.inPipe -= int(r.Res)
	seg.sent += int64(r.Res)
	c.ls.bytesOut.Add(uint64(r.Res))
	if seg.inPipe > 0 || seg.left > 0 {
		c.spliceNext()
		return
	}
	// The range is out: its after-bytes come next.
	c.files = seg.next
	if c.files == nil {
		c.filesTail = nil
	}
	c.ls.putPipe(seg.pipe)
	seg.pipe = pipe{}
	c.ls.putOp(c.send)
	c.send = nil
	c.out, seg.after = seg.after, nil
	seg.done(seg.sent, nil)
	c.sentSome()
}

// segFailed ends the connection after a failed file range.
func (c *Conn) segFailed(err error) {
	seg := c.files
	c.files = seg.next
	if c.files == nil {
		c.filesTail = nil
	}
	c.ls.putOp(c.send)
	c.send = nil
	seg.closePipe()
	seg.done(seg.sent, err)
	c.abort(err)
}

// dropFiles fails every queued range (the connection is gone).
func (c *Conn) dropFiles(err error) {
	for seg := c.files; seg != nil; seg = seg.next {
		seg.closePipe()
		seg.done(seg.sent, err)
	}
	c.files, c.filesTail = nil, nil
}

// closePipe releases a pipe that may hold bytes: it cannot be reused.
func (seg *fileSeg) closePipe() {
	if seg.pipe != (pipe{}) {
		seg.pipe.close()
		seg.pipe = pipe{}
	}
}

// pipe is a pipe's two ends.
type pipe struct{ r, w int }

func (p pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// getPipe lends an empty pipe of the loop.
func (ls *loopState) getPipe() (pipe, error) {
	if n := len(ls.pipes); n > 0 {
		p := ls.pipes[n-1]
		ls.pipes = ls.pipes[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return pipe{}, err
	}
	// A pipe as large as a chunk means fewer splices; the default (64
	// KiB) works too if the system refuses (fs.pipe-max-size).
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, spliceChunk)
	return pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe takes back an empty pipe.
func (ls *loopState) putPipe(p pipe) {
	if len(ls.pipes) >= maxFreePipes {
		p.close()
		return
	}
	ls.pipes = append(ls.pipes, p)
}

const maxFreePipes = 64

// closePipes closes the loop's free pipes (the server is done with them).
func (ls *loopState) closePipes() {
	for _, p := range ls.pipes {
		p.close()
	}
	ls.pipes = nil
}
