package sched

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openDir opens dir as an O_PATH directory fd for *at calls.
func openDir(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// TestDiskConcurrentHashes: 32 goroutines write disjoint blocks of random
// size and content at random places through the blocking API, then read
// every block back in a random order and compare sha256 per block.
func TestDiskConcurrentHashes(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	dir := t.TempDir()
	dirfd := openDir(t, dir)

	fd, err := l.OpenAt(ctx, dirfd, "data", unix.OpenHow{Flags: unix.O_RDWR | unix.O_CREAT | unix.O_EXCL, Mode: 0o600, Resolve: unix.RESOLVE_BENEATH})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer unix.Close(fd)

	// Lay out 1024 contiguous disjoint blocks of 1 B .. 16 KiB.
	rng := rand.New(rand.NewPCG(1, 2))
	type block struct {
		off  int64
		data []byte
		sum  [32]byte
	}
	blocks := make([]block, 1024)
	var off int64
	for i := range blocks {
		n := 1 + rng.IntN(16<<10)
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		blocks[i] = block{off: off, data: data, sum: sha256.Sum256(data)}
		off += int64(n)
	}
	size := off
	if err := l.Fallocate(ctx, fd, 0, 0, size); err != nil {
		t.Fatalf("Fallocate: %v", err)
	}

	const workers = 32
	order := rng.Perm(len(blocks))
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(order); i += workers {
				b := &blocks[order[i]]
				n, err := l.WriteAt(ctx, fd, b.data, b.off)
				if err != nil || n != len(b.data) {
					errs <- errors.Join(err, errors.New("short write"))
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatalf("WriteAt: %v", err)
	default:
	}
	if err := l.Fsync(ctx, fd, false); err != nil {
		t.Fatalf("Fsync: %v", err)
	}
	if err := l.Fsync(ctx, fd, true); err != nil {
		t.Fatalf("Fsync(datasync): %v", err)
	}

	order = rng.Perm(len(blocks))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(order); i += workers {
				b := &blocks[order[i]]
				buf := make([]byte, len(b.data))
				n, err := l.ReadAt(ctx, fd, buf, b.off)
				if err != nil || n != len(buf) {
					errs <- errors.Join(err, errors.New("short read"))
					return
				}
				if sha256.Sum256(buf) != b.sum {
					errs <- errors.New("block content hash mismatch")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("ReadAt: %v", err)
	}

	st, err := l.Stat(ctx, fd, "", unix.AT_EMPTY_PATH, unix.STATX_SIZE|unix.STATX_TYPE)
	if err != nil {
		t.Fatalf("Stat(fd): %v", err)
	}
	if int64(st.Size) != size || st.Mode&unix.S_IFMT != unix.S_IFREG {
		t.Fatalf("Stat(fd): size %d mode %o, want %d regular", st.Size, st.Mode, size)
	}
	st, err = l.Stat(ctx, dirfd, "data", 0, unix.STATX_SIZE)
	if err != nil || int64(st.Size) != size {
		t.Fatalf("Stat(path): size %d err %v, want %d", st.Size, err, size)
	}
	// The whole file, read with os, hashes the same as the blocks in order.
	whole, err := os.ReadFile(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range blocks {
		b := &blocks[i]
		if !bytes.Equal(whole[b.off:b.off+int64(len(b.data))], b.data) {
			t.Fatalf("block %d differs when read with os.ReadFile", i)
		}
	}
}

// TestFileOps covers Read/Write at the file position, Fallocate (and hole
// punching), Splice file -> pipe, Stat errors, CloseFd and EBADF after it.
func TestFileOps(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	dirfd := openDir(t, t.TempDir())

	fd, err := l.OpenAt(ctx, dirfd, "f", unix.OpenHow{Flags: unix.O_RDWR | unix.O_CREAT, Mode: 0o600, Resolve: unix.RESOLVE_BENEATH})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	closed := false
	defer func() {
		if !closed {
			unix.Close(fd)
		}
	}()
	// Write twice at the file position, then read back from the start.
	if n, err := l.Write(ctx, fd, []byte("hello, ")); n != 7 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	if n, err := l.Write(ctx, fd, []byte("world")); n != 5 || err != nil {
		t.Fatalf("Write: %d %v", n, err)
	}
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, err := l.Read(ctx, fd, buf); err != nil || string(buf[:n]) != "hello, world" {
		t.Fatalf("Read: %q %v", buf[:n], err)
	}
	if n, err := l.Read(ctx, fd, buf); n != 0 || err != nil {
		t.Fatalf("Read at EOF: %d %v, want 0 nil", n, err)
	}

	// Fallocate extends; punching a hole reads back zeros.
	const size = 1 << 20
	if err := l.Fallocate(ctx, fd, 0, 0, size); err != nil {
		t.Fatalf("Fallocate: %v", err)
	}
	pattern := bytes.Repeat([]byte{0xA5}, size)
	if n, err := l.WriteAt(ctx, fd, pattern, 0); n != size || err != nil {
		t.Fatalf("WriteAt: %d %v", n, err)
	}
	if err := l.Fallocate(ctx, fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, 8192); err != nil {
		t.Fatalf("Fallocate(punch): %v", err)
	}
	got := make([]byte, 3*4096)
	if n, err := l.ReadAt(ctx, fd, got, 0); n != len(got) || err != nil {
		t.Fatalf("ReadAt: %d %v", n, err)
	}
	if !bytes.Equal(got[:4096], pattern[:4096]) || !bytes.Equal(got[4096:], make([]byte, 8192)) {
		t.Fatalf("punched range does not read back as zeros")
	}
	if err := l.Fallocate(ctx, fd, 0xffff, 0, 1); !errors.Is(err, syscall.EOPNOTSUPP) && !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Fallocate(bad mode): %v, want EOPNOTSUPP or EINVAL", err)
	}

	// Splice 64 KiB from the file at offset 0 into a pipe.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	copy(pattern, "spliced!")
	if _, err := l.WriteAt(ctx, fd, pattern[:8], 0); err != nil {
		t.Fatal(err)
	}
	n, err := l.Splice(ctx, fd, 0, p[1], -1, 64<<10)
	if err != nil || n <= 0 {
		t.Fatalf("Splice: %d %v", n, err)
	}
	out := make([]byte, n)
	if _, err := l.Read(ctx, p[0], out); err != nil {
		t.Fatalf("read pipe: %v", err)
	}
	want := append([]byte("spliced!"), pattern[8:4096]...)
	want = append(want, make([]byte, 8192)...)
	want = append(want, pattern[3*4096:n]...)
	if !bytes.Equal(out, want[:n]) {
		t.Fatalf("spliced bytes differ from the file")
	}
	// Splice between two regular files: EINVAL (one side must be a pipe).
	if _, err := l.Splice(ctx, fd, 0, fd, 1<<21, 10); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Splice file->file: %v, want EINVAL", err)
	}

	// Stat of a missing path: ENOENT.
	if _, err := l.Stat(ctx, dirfd, "missing", 0, unix.STATX_SIZE); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Stat(missing): %v, want ENOENT", err)
	}
	if _, err := l.OpenAt(ctx, dirfd, "missing", unix.OpenHow{Flags: unix.O_RDONLY}); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Open(missing): %v, want ENOENT", err)
	}

	// CloseFd, then every op on the closed fd fails with EBADF.
	if err := l.CloseFd(ctx, fd); err != nil {
		t.Fatalf("CloseFd: %v", err)
	}
	closed = true
	if err := l.CloseFd(ctx, fd); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("CloseFd twice: %v, want EBADF", err)
	}
	if _, err := l.ReadAt(ctx, fd, buf, 0); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("ReadAt(closed fd): %v, want EBADF", err)
	}
	if _, err := l.WriteAt(ctx, fd, buf, 0); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("WriteAt(closed fd): %v, want EBADF", err)
	}
	if err := l.Fsync(ctx, fd, false); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("Fsync(closed fd): %v, want EBADF", err)
	}
	// The error names the operation, like the os package's errors.
	var se *os.SyscallError
	if _, err := l.ReadAt(ctx, fd, buf, 0); !errors.As(err, &se) || se.Syscall != "read" {
		t.Fatalf("ReadAt error %v (%T): want *os.SyscallError for read", err, err)
	}
}

// TestOpenResolveBeneath: openat2 with RESOLVE_BENEATH keeps every path
// inside the directory; escapes fail with EXDEV.
func TestOpenResolveBeneath(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "ok"), []byte("inside"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"abs":     "/etc",
		"up":      "..",
		"outside": filepath.Join(outside, "secret"),
		"rel":     "sub/../../" + filepath.Base(outside),
		"inside":  "sub/ok",
	} {
		if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	dirfd := openDir(t, root)
	how := unix.OpenHow{Flags: unix.O_RDONLY, Resolve: unix.RESOLVE_BENEATH}

	for _, p := range []string{
		"../x", "..", "/etc/passwd", "sub/../../x", "abs/passwd", "up/x",
		"outside", "rel/secret", "sub/../up",
	} {
		fd, err := l.OpenAt(ctx, dirfd, p, how)
		if err == nil {
			unix.Close(fd)
			t.Errorf("Open(%q) beneath the root succeeded, want EXDEV", p)
			continue
		}
		if !errors.Is(err, syscall.EXDEV) {
			t.Errorf("Open(%q): %v, want EXDEV", p, err)
		}
	}
	// Paths that stay inside work, symlinks included.
	for _, p := range []string{"sub/ok", "inside", "sub/../sub/ok", "./sub/ok"} {
		fd, err := l.OpenAt(ctx, dirfd, p, how)
		if err != nil {
			t.Errorf("Open(%q): %v", p, err)
			continue
		}
		buf := make([]byte, 16)
		n, err := l.ReadAt(ctx, fd, buf, 0)
		unix.Close(fd)
		if err != nil || string(buf[:n]) != "inside" {
			t.Errorf("read %q: %q %v", p, buf[:n], err)
		}
	}
	// O_CLOEXEC is always added.
	fd, err := l.OpenAt(ctx, dirfd, "sub/ok", how)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
	unix.Close(fd)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("opened fd flags %#x (%v): want FD_CLOEXEC", flags, err)
	}
	// A cancelled context before the call: the op either ran or returns
	// context.Canceled, never anything else.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if fd, err := l.OpenAt(cctx, dirfd, "sub/ok", how); err == nil {
		unix.Close(fd)
	} else if !errors.Is(err, context.Canceled) {
		t.Errorf("Open with cancelled ctx: %v", err)
	}
}
