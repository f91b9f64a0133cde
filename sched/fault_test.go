package sched

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFaultEBADF: ops on a closed descriptor fail with EBADF, through both
// APIs, and the loop keeps serving.
func TestFaultEBADF(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	fd, _ := rawPair(t, "tcp4")
	unix.Close(fd)
	buf := make([]byte, 8)
	if _, err := l.Recv(ctx, fd, buf, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Recv on closed fd: %v, want EBADF", err)
	}
	if _, err := l.Send(ctx, fd, buf, 0); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Send on closed fd: %v, want EBADF", err)
	}
	if _, _, err := l.Accept(ctx, fd); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Accept on closed fd: %v, want EBADF", err)
	}
	if err := l.Shutdown(ctx, fd, unix.SHUT_WR); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Shutdown on closed fd: %v, want EBADF", err)
	}
	if _, err := l.Splice(ctx, fd, -1, fd, -1, 8); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Splice on closed fd: %v, want EBADF", err)
	}
	if _, err := l.Stat(ctx, fd, "", unix.AT_EMPTY_PATH, unix.STATX_SIZE); !errors.Is(err, syscall.EBADF) {
		t.Errorf("Stat on closed fd: %v, want EBADF", err)
	}
	// Multishot ops through callbacks get one final EBADF completion.
	log := newOpLog()
	var accept, recv Op
	accept.PrepAcceptMultishot(fd, log.cb)
	recv.PrepRecvMultishot(fd, log.cb)
	for _, op := range []*Op{&accept, &recv} {
		if err := l.Post(op); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Nop(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(testTimeout)
	for {
		log.mu.Lock()
		n := len(log.finals)
		log.mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	log.checkFinal(t, "multishot accept on closed fd", &accept, -int32(unix.EBADF))
	log.checkFinal(t, "multishot recv on closed fd", &recv, -int32(unix.EBADF))
	if err := l.Nop(ctx); err != nil {
		t.Errorf("Nop after the faults: %v", err)
	}
}

// TestFaultPeerReset: the peer resets the connection (SO_LINGER 0) while
// we send and receive: Send fails with ECONNRESET or EPIPE, Recv with
// ECONNRESET, and the loop keeps serving.
func TestFaultPeerReset(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)

	t.Run("send", func(t *testing.T) {
		fd, peer := rawPair(t, "tcp4")
		defer unix.Close(fd)
		// A sender goroutine streams until the reset stops it.
		errc := make(chan error, 1)
		go func() {
			chunk := make([]byte, 32<<10)
			for {
				if _, err := l.Send(ctx, fd, chunk, 0); err != nil {
					errc <- err
					return
				}
			}
		}()
		// Read a little, so the stream is mid-flight, then reset.
		_ = peer.SetReadDeadline(time.Now().Add(testTimeout))
		if _, err := peer.Read(make([]byte, 1<<16)); err != nil {
			t.Fatal(err)
		}
		if err := peer.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		peer.Close()
		err := waitChan(t, errc, "Send to a reset peer to fail")
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("Send after reset: %v, want ECONNRESET or EPIPE", err)
		}
		// Once reset, further sends fail with EPIPE (no SIGPIPE: MSG_NOSIGNAL).
		if _, err := l.Send(ctx, fd, []byte("x"), 0); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Send after reset, again: %v, want EPIPE", err)
		}
	})

	t.Run("recv", func(t *testing.T) {
		fd, peer := rawPair(t, "tcp4")
		defer unix.Close(fd)
		errc := make(chan error, 1)
		go func() {
			_, err := l.Recv(ctx, fd, make([]byte, 64), 0)
			errc <- err
		}()
		time.Sleep(10 * time.Millisecond)
		if err := peer.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		peer.Close()
		if err := waitChan(t, errc, "Recv from a reset peer"); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("Recv after reset: %v, want ECONNRESET", err)
		}
	})

	t.Run("multishot recv", func(t *testing.T) {
		fd, peer := rawPair(t, "tcp4")
		defer unix.Close(fd)
		log := newOpLog()
		var recv Op
		finals := make(chan struct{})
		recv.PrepRecvMultishot(fd, func(op *Op, r Result) {
			log.cb(op, r)
			if !r.More() {
				close(finals)
			}
		})
		if err := l.Post(&recv); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.Write([]byte("before")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
		_ = peer.SetLinger(0)
		peer.Close()
		waitChan(t, finals, "the multishot recv's final completion after a reset")
		log.checkFinal(t, "multishot recv", &recv, -int32(unix.ECONNRESET), 0)
	})

	t.Run("conn", func(t *testing.T) {
		c, peer := connPair(t, l)
		_ = peer.(*net.TCPConn).SetLinger(0)
		peer.Close()
		time.Sleep(10 * time.Millisecond)
		if _, err := c.Read(make([]byte, 8)); !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Conn.Read after reset: %v, want ECONNRESET", err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Errorf("Conn.Write after reset: %v, want EPIPE or ECONNRESET", err)
		}
	})

	if err := l.Nop(ctx); err != nil {
		t.Errorf("Nop after the resets: %v", err)
	}
}

// TestFaultEMFILE lowers RLIMIT_NOFILE so that Open and Accept through the
// ring fail with EMFILE, checks the errors, restores the limit, and checks
// that the loop serves the same work again.
func TestFaultEMFILE(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	fds := newFdCloser(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirfd := openDir(t, dir)
	lfd, err := ListenSocket("tcp4", "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	fds.add(lfd)
	sa, _ := unix.Getsockname(lfd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	// Connections waiting in the backlog, dialled before the limit drops.
	var clients []net.Conn
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}

	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	// New descriptors take the lowest free number, and EMFILE comes once
	// every number below the limit is taken: with the limit at the number
	// of open fds plus 8, at most 8 more can be opened.
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := orig
	low.Cur = uint64(len(ents) + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
				t.Errorf("restoring RLIMIT_NOFILE: %v", err)
			}
		}
	}
	defer restore()

	how := unix.OpenHow{Flags: unix.O_RDONLY, Resolve: unix.RESOLVE_BENEATH}
	var openErr error
	for range 100 {
		fd, err := l.OpenAt(ctx, dirfd, "f", how)
		if err != nil {
			openErr = err
			break
		}
		fds.add(fd)
	}
	if !errors.Is(openErr, syscall.EMFILE) {
		restore()
		t.Fatalf("Open under a low RLIMIT_NOFILE: %v, want EMFILE", openErr)
	}
	if _, _, err := l.Accept(ctx, lfd); !errors.Is(err, syscall.EMFILE) {
		restore()
		t.Fatalf("Accept under a low RLIMIT_NOFILE: %v, want EMFILE", err)
	}
	// A multishot accept reports EMFILE through its callback.
	var ms Op
	msDone := make(chan Result, 4)
	ms.PrepAcceptMultishot(lfd, func(op *Op, r Result) { msDone <- r })
	if err := l.Post(&ms); err != nil {
		t.Fatal(err)
	}
	r := waitChan(t, msDone, "multishot accept under a low RLIMIT_NOFILE")
	if r.Res != -int32(unix.EMFILE) {
		t.Errorf("multishot accept under a low RLIMIT_NOFILE: %d (%v), want EMFILE", r.Res, r.Err())
	}
	t.Logf("multishot accept under EMFILE: res %d, still armed %v", r.Res, r.More())
	if r.More() {
		// Still armed: it accepts once the limit is back.
		restore()
		r = waitChan(t, msDone, "multishot accept after restoring the limit")
		if r.Res >= 0 {
			fds.add(int(r.Res))
		}
	}
	// The loop still works while the limit is low, for ops needing no fd.
	if err := l.Nop(ctx); err != nil {
		t.Errorf("Nop under a low RLIMIT_NOFILE: %v", err)
	}
	restore()

	// Back to normal: the same operations succeed.
	fd, err := l.OpenAt(ctx, dirfd, "f", how)
	if err != nil {
		t.Fatalf("Open after restoring the limit: %v", err)
	}
	fds.add(fd)
	buf := make([]byte, 16)
	if n, err := l.ReadAt(ctx, fd, buf, 0); err != nil || string(buf[:n]) != "content" {
		t.Errorf("ReadAt after restoring the limit: %q %v", buf[:n], err)
	}
	afd, _, err := l.Accept(ctx, lfd)
	if err != nil {
		if r.More() {
			// The multishot accept may have taken the waiting connections.
			c, derr := net.Dial("tcp4", addr)
			if derr != nil {
				t.Fatal(derr)
			}
			clients = append(clients, c)
			afd, _, err = l.Accept(ctx, lfd)
		}
	}
	if err != nil {
		t.Fatalf("Accept after restoring the limit: %v", err)
	}
	fds.add(afd)
}
