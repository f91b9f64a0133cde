package sched

import (
	"context"
	"io"
	"math"
	"os"

	"golang.org/x/sys/unix"
)

// Copies between a File and a Conn move the bytes with splice through a
// pipe (file -> pipe -> socket, or socket -> pipe -> file), so they never
// enter user memory: io.Copy(conn, file) and io.Copy(file, conn) use it
// through WriteTo and ReadFrom. Other pairs copy through a buffer.

// spliceChunk is how much one splice asks for; the pipe is enlarged to
// hold it.
const spliceChunk = 1 << 20

type pipe struct{ r, w int }

func newPipe() (pipe, error) {
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return pipe{}, os.NewSyscallError("pipe2", err)
	}
	// A bigger pipe means fewer splices; the default (64 KiB) still works
	// if the system refuses (fs.pipe-max-size).
	_, _ = unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, spliceChunk)
	return pipe{r: fds[0], w: fds[1]}, nil
}

func (p pipe) close() {
	unix.Close(p.r)
	unix.Close(p.w)
}

// WriteTo writes the file from its position to its end into w and
// advances the position. A *Conn gets the bytes by splice.
func (f *File) WriteTo(w io.Writer) (int64, error) {
	c, ok := w.(*Conn)
	if !ok || !f.regular() {
		return genericWriteTo(f, w)
	}
	return f.spliceTo(c, math.MaxInt64)
}

// ReadFrom reads r until io.EOF into the file at its position and
// advances it. A *Conn, or an *io.LimitedReader around one, is read by
// splice.
func (f *File) ReadFrom(r io.Reader) (int64, error) {
	limit := int64(math.MaxInt64)
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src, limit = lr.R, lr.N
	}
	c, ok := src.(*Conn)
	// Splice writes at a position: not to a pipe or socket, and the
	// kernel refuses O_APPEND files.
	if !ok || f.append || !f.regular() {
		return genericReadFrom(f, r)
	}
	n, err := c.spliceTo(f, limit)
	if lr, ok := r.(*io.LimitedReader); ok {
		lr.N -= n
	}
	return n, err
}

// ReadFrom copies r into the connection until io.EOF. A *File, or an
// *io.LimitedReader around one, is sent by splice from its position.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	limit := int64(math.MaxInt64)
	src := r
	if lr, ok := r.(*io.LimitedReader); ok {
		src, limit = lr.R, lr.N
	}
	f, ok := src.(*File)
	if !ok || !f.regular() {
		return genericReadFrom(c, r)
	}
	n, err := f.spliceTo(c, limit)
	if lr, ok := r.(*io.LimitedReader); ok {
		lr.N -= n
	}
	return n, err
}

// WriteTo copies what the connection receives into w until the peer
// closes. A *File gets the bytes by splice.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	f, ok := w.(*File)
	if !ok || f.append || !f.regular() {
		return genericWriteTo(c, w)
	}
	return c.spliceTo(f, math.MaxInt64)
}

// spliceTo sends up to limit bytes of f, from its position, to c.
func (f *File) spliceTo(c *Conn, limit int64) (int64, error) {
	if !f.ref.incref() {
		return 0, f.pathErr("splice", os.ErrClosed)
	}
	defer f.ref.decref()
	if !c.ref.incref() {
		return 0, c.opErr("splice", os.ErrClosed)
	}
	defer c.ref.decref()
	f.posMu.Lock()
	defer f.posMu.Unlock()
	c.wr.mu.Lock()
	defer c.wr.mu.Unlock()
	pos, err := unix.Seek(f.ref.fd, 0, io.SeekCurrent)
	if err != nil {
		return 0, f.pathErr("seek", err)
	}
	p, err := newPipe()
	if err != nil {
		return 0, err
	}
	defer p.close()
	var sent int64
	defer func() { _, _ = unix.Seek(f.ref.fd, pos+sent, io.SeekStart) }()
	for sent < limit {
		want := int(min(limit-sent, spliceChunk))
		in, err := c.loop.Splice(context.Background(), f.ref.fd, pos+sent, p.w, -1, want)
		if err != nil {
			return sent, f.pathErr("splice", err)
		}
		if in == 0 {
			return sent, nil // end of file
		}
		for left := in; left > 0; {
			out, err := c.roundTrip(&c.wr, "splice", func(op *Op) { op.PrepSplice(p.r, -1, c.ref.fd, -1, left, nil) })
			sent += int64(out)
			left -= out
			if err != nil {
				return sent, err
			}
		}
	}
	return sent, nil
}

// spliceTo receives up to limit bytes from c into f at its position.
func (c *Conn) spliceTo(f *File, limit int64) (int64, error) {
	if !f.ref.incref() {
		return 0, f.pathErr("splice", os.ErrClosed)
	}
	defer f.ref.decref()
	if !c.ref.incref() {
		return 0, c.opErr("splice", os.ErrClosed)
	}
	defer c.ref.decref()
	f.posMu.Lock()
	defer f.posMu.Unlock()
	c.rd.mu.Lock()
	defer c.rd.mu.Unlock()
	pos, err := unix.Seek(f.ref.fd, 0, io.SeekCurrent)
	if err != nil {
		return 0, f.pathErr("seek", err)
	}
	p, err := newPipe()
	if err != nil {
		return 0, err
	}
	defer p.close()
	var got int64
	defer func() { _, _ = unix.Seek(f.ref.fd, pos+got, io.SeekStart) }()
	for got < limit {
		want := int(min(limit-got, spliceChunk))
		in, err := c.roundTrip(&c.rd, "splice", func(op *Op) { op.PrepSplice(c.ref.fd, -1, p.w, -1, want, nil) })
		if err != nil {
			return got, err
		}
		if in == 0 {
			return got, nil // the peer closed
		}
		for left := in; left > 0; {
			out, err := c.loop.Splice(context.Background(), p.r, -1, f.ref.fd, pos+got, left)
			got += int64(out)
			left -= out
			if err != nil {
				return got, f.pathErr("splice", err)
			}
			if out == 0 {
				return got, f.pathErr("splice", io.ErrShortWrite)
			}
		}
	}
	return got, nil
}

// The generic copies hide the other side's WriteTo/ReadFrom so io.Copy
// does not call back into them.

type onlyWriter struct{ io.Writer }
type onlyReader struct{ io.Reader }

func genericWriteTo(r io.Reader, w io.Writer) (int64, error) {
	return io.Copy(onlyWriter{w}, onlyReader{r})
}

func genericReadFrom(w io.Writer, r io.Reader) (int64, error) { return genericWriteTo(r, w) }
