package sched

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// File is an open file for goroutines, like os.File, that uses a loop's
// io_uring where the ring does better than a system call on the calling
// thread, and the calling thread where it does not:
//
//   - Reads first try preadv2 with RWF_NOWAIT from the calling goroutine:
//     served from the page cache, that costs what os.File costs. A read
//     the page cache cannot serve goes to the ring, whose buffered reads
//     wait for the page without a thread (the goroutine parks), so
//     hundreds of cold reads cost no thread each. After a miss the file
//     goes straight to the ring for a while (the skip doubles with each
//     miss, up to 64 calls, and resets on a hit), so a cold file stops
//     paying for failed tries.
//   - Files opened with O_DIRECT read and write through the ring only:
//     direct I/O has no cache to hit, RWF_NOWAIT would wait for the device
//     on the calling thread, and the ring runs direct I/O asynchronously.
//   - Buffered writes go to the page cache from the calling goroutine, as
//     with os.File: the ring hands a buffered write that may block to a
//     kernel worker thread (ext4 does not support non-blocking buffered
//     writes at all), which costs a wake-up on another CPU (about 35 µs
//     per write measured on a 2-core VM) and saves nothing.
//   - OpenFile resolves the path from the dentry cache on the calling
//     goroutine when it can (RESOLVE_CACHED), through the ring when the
//     lookup needs the disk, and on the calling goroutine when it creates
//     or truncates (which the ring would hand to a worker thread). Sync
//     runs through the ring; Stat, Seek and Truncate are plain system
//     calls.
//
// A File is safe for concurrent use. Close waits for operations in
// flight; the descriptor is closed once none uses it, so its number is
// never reused under an operation. WriteTo and ReadFrom splice to and
// from a Conn.
type File struct {
	loop   *Loop
	ref    fdRef
	name   string
	direct bool
	append bool // O_APPEND: WriteAt is an error, and splicing in is refused
	// ctx ends at Close, cancelling ring operations that may wait
	// indefinitely (a read from a pipe) so that Close does not hang.
	ctx    context.Context
	cancel context.CancelFunc
	// kind caches whether the descriptor is a regular file (splice needs
	// one with a position): 0 unknown, 1 regular, 2 other.
	kind atomic.Int32
	// posMu serializes Read, Write, Seek, ReadFrom and WriteTo, which use
	// the file position.
	posMu sync.Mutex
	rd    inlinePolicy
}

// inlinePolicy decides whether to try an operation inline. After a miss
// the next skip calls go straight to the ring, skip doubling with each
// further miss (up to maxInlineSkip) and resetting on a hit.
type inlinePolicy struct {
	skip        atomic.Int32 // calls still to send straight to the ring
	backoff     atomic.Int32 // skip after the next miss
	unsupported atomic.Bool  // the file refused RWF_NOWAIT (EOPNOTSUPP)
}

const maxInlineSkip = 64

func (p *inlinePolicy) try() bool {
	if p.unsupported.Load() {
		return false
	}
	if p.skip.Load() > 0 {
		p.skip.Add(-1)
		return false
	}
	return true
}

func (p *inlinePolicy) hit() {
	if p.backoff.Load() != 0 {
		p.backoff.Store(0)
	}
}

func (p *inlinePolicy) miss() {
	b := min(max(2*p.backoff.Load(), 1), maxInlineSkip)
	p.backoff.Store(b)
	p.skip.Store(b)
}

// OpenFile opens name like os.OpenFile (O_CLOEXEC always added); the
// File's ring operations run on this loop.
func (l *Loop) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (*File, error) {
	how := unix.OpenHow{Flags: uint64(flag) | unix.O_CLOEXEC, Mode: uint64(syscallMode(perm))}
	fd, err := openInline(name, how)
	if err == unix.EAGAIN {
		fd, err = l.OpenAt(ctx, unix.AT_FDCWD, name, how)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: unwrapSyscall(err)}
	}
	return l.newFile(fd, name, flag), nil
}

// resolveCached is RESOLVE_CACHED (linux/openat2.h, Linux 5.12), which
// golang.org/x/sys/unix does not define.
const resolveCached = 0x20

// openInline opens name on the calling goroutine: from the dentry cache
// only (EAGAIN if the lookup would need the disk), or, when creating or
// truncating, outright, since the ring would hand that to a worker thread.
func openInline(name string, how unix.OpenHow) (int, error) {
	if how.Flags&(unix.O_CREAT|unix.O_TRUNC|unix.O_TMPFILE) == 0 {
		how.Resolve |= resolveCached
	}
	for {
		fd, err := unix.Openat2(unix.AT_FDCWD, name, &how)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// Open opens name for reading, like os.Open.
func (l *Loop) Open(ctx context.Context, name string) (*File, error) {
	return l.OpenFile(ctx, name, os.O_RDONLY, 0)
}

// NewFile returns a File for fd, which it then owns (Close closes it).
func (l *Loop) NewFile(fd int, name string) (*File, error) {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "fcntl", Path: name, Err: err}
	}
	return l.newFile(fd, name, flags), nil
}

// OpenFile opens name on the group's next loop.
func (g *Group) OpenFile(ctx context.Context, name string, flag int, perm os.FileMode) (*File, error) {
	return g.Next().OpenFile(ctx, name, flag, perm)
}

func (l *Loop) newFile(fd int, name string, flags int) *File {
	f := &File{loop: l, name: name, direct: flags&unix.O_DIRECT != 0, append: flags&unix.O_APPEND != 0}
	f.ref.init(fd)
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f
}

// regular reports whether the descriptor is a regular file.
func (f *File) regular() bool {
	switch f.kind.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(f.ref.fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		f.kind.Store(2)
		return false
	}
	f.kind.Store(1)
	return true
}

// ringErr turns the cancellation Close causes into os.ErrClosed.
func (f *File) ringErr(err error) error {
	if err != nil && errors.Is(err, context.Canceled) && f.ref.closing() {
		return os.ErrClosed
	}
	return err
}

// syscallMode converts permission and special bits as os.OpenFile does.
func syscallMode(m os.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&os.ModeSetuid != 0 {
		o |= unix.S_ISUID
	}
	if m&os.ModeSetgid != 0 {
		o |= unix.S_ISGID
	}
	if m&os.ModeSticky != 0 {
		o |= unix.S_ISVTX
	}
	return o
}

// unwrapSyscall turns an *os.SyscallError into its errno, for the
// fs.PathError that wraps it (as os does).
func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// Name returns the name the file was opened with.
func (f *File) Name() string { return f.name }

// Fd returns the file descriptor. It stays valid until Close.
func (f *File) Fd() int { return f.ref.fd }

// Loop returns the loop the file's ring operations run on.
func (f *File) Loop() *Loop { return f.loop }

func (f *File) pathErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, io.EOF) {
		return err
	}
	return &fs.PathError{Op: op, Path: f.name, Err: unwrapSyscall(err)}
}

// ReadAt reads len(b) bytes at off, like os.File.ReadAt: it returns
// fewer only with an error, io.EOF at the end of the file.
func (f *File) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, f.pathErr("readat", errors.New("negative offset"))
	}
	if !f.ref.incref() {
		return 0, f.pathErr("read", os.ErrClosed)
	}
	defer f.ref.decref()
	n := 0
	for n < len(b) {
		m, err := f.pread(b[n:], off+int64(n))
		n += m
		if err != nil {
			return n, f.pathErr("read", err)
		}
		if m == 0 {
			return n, io.EOF
		}
	}
	return n, nil
}

// Read reads up to len(b) bytes at the file position and advances it; it
// returns io.EOF at the end of the file.
func (f *File) Read(b []byte) (int, error) {
	if !f.ref.incref() {
		return 0, f.pathErr("read", os.ErrClosed)
	}
	defer f.ref.decref()
	if len(b) == 0 {
		return 0, nil
	}
	f.posMu.Lock()
	defer f.posMu.Unlock()
	n, err := f.pread(b, -1)
	if err != nil {
		return n, f.pathErr("read", err)
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// pread reads once at off (-1: the file position), inline when the
// policy allows and the page cache has the data, else through the ring.
func (f *File) pread(b []byte, off int64) (int, error) {
	if !f.direct && f.rd.try() {
		n, err := rwNowait(unix.SYS_PREADV2, f.ref.fd, b, off)
		switch err {
		case nil:
			f.rd.hit()
			return n, nil
		case unix.EAGAIN:
			f.rd.miss()
		case unix.EOPNOTSUPP:
			f.rd.unsupported.Store(true)
		case unix.EINTR:
		default:
			return 0, os.NewSyscallError("preadv2", err)
		}
	}
	w := getWaiter()
	w.op.PrepRead(f.ref.fd, b, off, nil)
	n, err := f.loop.count(f.ctx, w, "read")
	return n, f.ringErr(err)
}

// WriteAt writes b at off, like os.File.WriteAt. It is an error to call
// it on a file opened with O_APPEND.
func (f *File) WriteAt(b []byte, off int64) (int, error) {
	if f.append {
		return 0, errors.New("sched: invalid use of WriteAt on file opened with O_APPEND")
	}
	if off < 0 {
		return 0, f.pathErr("writeat", errors.New("negative offset"))
	}
	if !f.ref.incref() {
		return 0, f.pathErr("write", os.ErrClosed)
	}
	defer f.ref.decref()
	n := 0
	for n < len(b) {
		m, err := f.pwrite(b[n:], off+int64(n))
		n += m
		if err != nil {
			return n, f.pathErr("write", err)
		}
		if m == 0 {
			return n, f.pathErr("write", io.ErrShortWrite)
		}
	}
	return n, nil
}

// Write writes b at the file position and advances it.
func (f *File) Write(b []byte) (int, error) {
	if !f.ref.incref() {
		return 0, f.pathErr("write", os.ErrClosed)
	}
	defer f.ref.decref()
	f.posMu.Lock()
	defer f.posMu.Unlock()
	n := 0
	for n < len(b) {
		m, err := f.pwrite(b[n:], -1)
		n += m
		if err != nil {
			return n, f.pathErr("write", err)
		}
		if m == 0 {
			return n, f.pathErr("write", io.ErrShortWrite)
		}
	}
	return n, nil
}

func (f *File) pwrite(b []byte, off int64) (int, error) {
	if f.direct {
		w := getWaiter()
		w.op.PrepWrite(f.ref.fd, b, off, nil)
		n, err := f.loop.count(f.ctx, w, "write")
		return n, f.ringErr(err)
	}
	for {
		var n int
		var err error
		if off < 0 {
			n, err = unix.Write(f.ref.fd, b)
		} else {
			n, err = unix.Pwrite(f.ref.fd, b, off)
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, os.NewSyscallError("pwrite", err)
		}
		return n, nil
	}
}

// rwNowait runs preadv2 or pwritev2 with RWF_NOWAIT on one buffer.
func rwNowait(trap uintptr, fd int, b []byte, off int64) (int, error) {
	b = clampIO(b)
	var iov unix.Iovec
	if len(b) > 0 {
		iov.Base = &b[0]
	}
	iov.SetLen(len(b))
	// The offset goes in two words (lo, hi); on 64-bit hi is ignored.
	n, _, errno := unix.Syscall6(trap, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1,
		uintptr(off), uintptr(uint64(off)>>32), unix.RWF_NOWAIT)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// Seek sets the position for the next Read or Write, like os.File.Seek.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	if !f.ref.incref() {
		return 0, f.pathErr("seek", os.ErrClosed)
	}
	defer f.ref.decref()
	f.posMu.Lock()
	defer f.posMu.Unlock()
	pos, err := unix.Seek(f.ref.fd, offset, whence)
	if err != nil {
		return 0, f.pathErr("seek", err)
	}
	return pos, nil
}

// Stat returns the file's metadata (statx); Sys returns a *unix.Statx_t.
func (f *File) Stat() (fs.FileInfo, error) {
	if !f.ref.incref() {
		return nil, f.pathErr("stat", os.ErrClosed)
	}
	defer f.ref.decref()
	var st unix.Statx_t
	if err := unix.Statx(f.ref.fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st); err != nil {
		return nil, f.pathErr("stat", err)
	}
	return newFileInfo(baseName(f.name), &st), nil
}

// Sync commits the file's contents and metadata to storage (fsync through
// the ring).
func (f *File) Sync() error {
	if !f.ref.incref() {
		return f.pathErr("sync", os.ErrClosed)
	}
	defer f.ref.decref()
	return f.pathErr("sync", f.loop.Fsync(context.Background(), f.ref.fd, false))
}

// Truncate changes the file's size.
func (f *File) Truncate(size int64) error {
	if !f.ref.incref() {
		return f.pathErr("truncate", os.ErrClosed)
	}
	defer f.ref.decref()
	return f.pathErr("truncate", unix.Ftruncate(f.ref.fd, size))
}

// Close closes the file once the operations in flight have finished; it
// returns os.ErrClosed if the file was already closed.
func (f *File) Close() error {
	if !f.ref.startClose() {
		return f.pathErr("close", os.ErrClosed)
	}
	f.cancel()
	<-f.ref.drained
	return f.pathErr("close", f.ref.closeErr)
}

// SyscallConn returns a raw handle for fcntl-style calls.
func (f *File) SyscallConn() (syscall.RawConn, error) {
	return fileRawConn{f}, nil
}

type fileRawConn struct{ f *File }

func (r fileRawConn) Control(fn func(fd uintptr)) error {
	if !r.f.ref.incref() {
		return os.ErrClosed
	}
	defer r.f.ref.decref()
	fn(uintptr(r.f.ref.fd))
	return nil
}

// Read and Write of a regular file never wait for readiness.
func (r fileRawConn) Read(fn func(fd uintptr) bool) error  { return r.loopUntil(fn) }
func (r fileRawConn) Write(fn func(fd uintptr) bool) error { return r.loopUntil(fn) }

func (r fileRawConn) loopUntil(fn func(fd uintptr) bool) error {
	return r.Control(func(fd uintptr) {
		for !fn(fd) {
		}
	})
}

func baseName(name string) string {
	for len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1]
	}
	for i := len(name) - 1; i >= 0; i-- {
		if name[i] == '/' {
			return name[i+1:]
		}
	}
	return name
}

// fileInfo is the fs.FileInfo of a statx result.
type fileInfo struct {
	name string
	st   unix.Statx_t
}

func newFileInfo(name string, st *unix.Statx_t) *fileInfo {
	return &fileInfo{name: name, st: *st}
}

func (fi *fileInfo) Name() string { return fi.name }
func (fi *fileInfo) Size() int64  { return int64(fi.st.Size) }
func (fi *fileInfo) Mode() fs.FileMode {
	m := fs.FileMode(fi.st.Mode & 0o777)
	switch fi.st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if fi.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if fi.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if fi.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (fi *fileInfo) ModTime() time.Time {
	return time.Unix(fi.st.Mtime.Sec, int64(fi.st.Mtime.Nsec))
}
func (fi *fileInfo) IsDir() bool { return fi.Mode().IsDir() }
func (fi *fileInfo) Sys() any    { return &fi.st }

var (
	_ io.ReaderAt   = (*File)(nil)
	_ io.WriterAt   = (*File)(nil)
	_ io.ReadWriter = (*File)(nil)
	_ io.Seeker     = (*File)(nil)
	_ io.Closer     = (*File)(nil)
)
