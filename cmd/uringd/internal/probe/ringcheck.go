package probe

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uringd/uringd/uring"
)

// checkWait bounds each wait for a completion: a check that gets no
// answer fails instead of hanging the probe.
const checkWait = 2 * time.Second

// checkRing sets up a ring as a loop does and runs the functional checks
// on it, filling r's Setup, Opcodes, BufferRing and Multishot* fields.
func checkRing(r *Report) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		// A loop's ring gets SINGLE_ISSUER and DEFER_TASKRUN only when it
		// is driven from the thread that created it. The thread is never
		// unlocked: it exits with this goroutine, taking the ring's
		// thread binding with it.
		runtime.LockOSThread()
		checkRingLocked(r)
	}()
	<-done
}

func checkRingLocked(r *Report) {
	skipped := Check{Skipped: true, Error: "no ring"}
	ring, err := uring.Setup(uring.Config{Entries: 8})
	if err != nil {
		r.Setup.Error = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			r.Setup.errno = errno
			r.Setup.Errno = unix.ErrnoName(errno)
		}
		r.BufferRing, r.MultishotAccept, r.MultishotRecv = skipped, skipped, skipped
		return
	}
	defer ring.Close()
	r.Setup = Setup{
		OK:          true,
		Flags:       bitNames(ring.Flags(), setupFlagNames),
		FlagsRaw:    ring.Flags(),
		Features:    bitNames(ring.Features(), featureNames),
		FeaturesRaw: ring.Features(),
		SQEntries:   ring.SQEntries(),
		CQEntries:   ring.CQEntries(),
	}
	if p, err := ring.Probe(); err != nil {
		r.Opcodes.Last = "unknown: " + err.Error()
	} else {
		r.Opcodes.Last = p.LastOp().String()
		r.Opcodes.Supported = []string{}
		for _, op := range p.Supported() {
			r.Opcodes.Supported = append(r.Opcodes.Supported, op.String())
		}
		r.Opcodes.MissingRequired = []string{}
		for _, op := range requiredOps {
			if !p.Supports(op) {
				r.Opcodes.MissingRequired = append(r.Opcodes.MissingRequired, op.String())
			}
		}
	}
	br, err := ring.NewBufRing(1, 4, 64)
	r.BufferRing = checkOf(err)
	r.MultishotAccept = checkOf(multishotAccept(ring))
	if err != nil {
		r.MultishotRecv = skipped
		return
	}
	r.MultishotRecv = checkOf(multishotRecv(ring, br))
}

// multishotAccept arms a multishot accept on a listening Unix socket,
// connects to it, and expects a connection with the ring still armed
// (CQE_F_MORE). An abstract socket needs no file system and no network.
func multishotAccept(ring *uring.Ring) error {
	lfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(lfd)
	addr := &unix.SockaddrUnix{Name: "@uringd-probe-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	if err := unix.Bind(lfd, addr); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := unix.Listen(lfd, 4); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sqe := ring.GetSQE()
	sqe.PrepMultishotAccept(lfd, unix.SOCK_CLOEXEC)
	sqe.UserData = 1
	if _, err := ring.Submit(); err != nil {
		return err
	}
	cfd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(cfd)
	if err := unix.Connect(cfd, addr); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	cqe, err := waitCQE(ring)
	if err != nil {
		return err
	}
	if cqe.Res >= 0 {
		unix.Close(int(cqe.Res))
	}
	return multishotResult(cqe, 0)
}

// multishotRecv arms a multishot receive that takes buffers from br on
// one end of a socket pair, writes to the other end, and expects the data
// in a provided buffer with the receive still armed.
func multishotRecv(ring *uring.Ring, br *uring.BufRing) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	sqe := ring.GetSQE()
	sqe.PrepRecvMultishot(fds[0], br.Group(), 0)
	sqe.UserData = 2
	if _, err := ring.Submit(); err != nil {
		return err
	}
	const msg = "ping"
	if _, err := unix.Write(fds[1], []byte(msg)); err != nil {
		return err
	}
	cqe, err := waitCQE(ring)
	if err != nil {
		return err
	}
	if err := multishotResult(cqe, uring.CQEFBuffer); err != nil {
		return err
	}
	if cqe.Res != int32(len(msg)) {
		return fmt.Errorf("received %d bytes, want %d", cqe.Res, len(msg))
	}
	return nil
}

// multishotResult checks that a completion succeeded, carries want's
// flags, and left the request armed.
func multishotResult(cqe uring.CQE, want uint32) error {
	if err := cqe.Err(); err != nil {
		return err
	}
	if cqe.Flags&want != want {
		return fmt.Errorf("completion flags %#x lack %#x", cqe.Flags, want)
	}
	if cqe.Flags&uring.CQEFMore == 0 {
		return errors.New("the kernel ended the request after one completion (no CQE_F_MORE): multishot is not supported")
	}
	return nil
}

// waitCQE waits for and consumes one completion.
func waitCQE(ring *uring.Ring) (uring.CQE, error) {
	if cqe := ring.PeekCQE(); cqe == nil {
		if _, err := ring.SubmitAndWaitTimeout(1, checkWait); err != nil {
			if errors.Is(err, unix.ETIME) {
				return uring.CQE{}, fmt.Errorf("no completion within %v", checkWait)
			}
			return uring.CQE{}, err
		}
	}
	cqe := ring.PeekCQE()
	if cqe == nil {
		return uring.CQE{}, errors.New("no completion")
	}
	c := *cqe
	ring.CQAdvance(1)
	return c, nil
}
