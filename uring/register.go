package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// register calls io_uring_register. arg stays an unsafe.Pointer until the
// conversion in the syscall's argument list, where the compiler keeps it
// valid and the stack cannot move until the kernel has returned; any
// address inside *arg must be a uptr for the same reason.
func (r *Ring) register(op uint32, arg unsafe.Pointer, nrArgs uint32) (int, error) {
	if r.fd < 0 {
		return 0, ErrClosed
	}
	for {
		n, _, errno := unix.Syscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), uintptr(op),
			uintptr(arg), uintptr(nrArgs), 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case unix.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// RegisterFiles installs fds in the ring's registered file table; SQEs then
// name them by index with SQEFixedFile, which saves a file lookup per
// request. An fd of -1 leaves that slot empty.
func (r *Ring) RegisterFiles(fds []int32) error {
	if len(fds) == 0 {
		return unix.EINVAL
	}
	// Safe from any memory: fds goes to register as a pointer, and the
	// kernel copies the fds before the syscall returns.
	_, err := r.register(regRegisterFiles, unsafe.Pointer(&fds[0]), uint32(len(fds)))
	return err
}

// RegisterFilesSparse creates an empty registered file table of n slots,
// for direct descriptors created by accept/openat (FileIndexAlloc).
func (r *Ring) RegisterFilesSparse(n uint32) error {
	reg := rsrcRegister{Nr: n, Flags: rsrcRegisterSparse} // no addresses: Data and Tags are nil
	_, err := r.register(regRegisterFiles2, unsafe.Pointer(&reg), uint32(unsafe.Sizeof(reg)))
	return err
}

// UpdateFiles replaces the registered files starting at slot off with fds
// (-1 empties a slot) and returns how many slots were updated.
func (r *Ring) UpdateFiles(off uint32, fds []int32) (int, error) {
	if len(fds) == 0 {
		return 0, nil
	}
	// fds may be on the caller's stack, and the call to register may grow
	// (move) it: Data is a uptr so that it moves along, where an integer
	// would leave the kernel reading the old stack.
	up := rsrcUpdate{Offset: off, Data: uptrTo(unsafe.Pointer(&fds[0]))}
	return r.register(regFilesUpdate, unsafe.Pointer(&up), uint32(len(fds)))
}

// UnregisterFiles removes the registered file table.
func (r *Ring) UnregisterFiles() error {
	_, err := r.register(regUnregisterFiles, nil, 0)
	return err
}

// RegisterBuffers pins bufs for read_fixed/write_fixed; index i in
// PrepReadFixed names bufs[i]. The kernel keeps the pages pinned and
// reads or writes them until UnregisterBuffers or Close; the Ring keeps
// bufs reachable until then.
func (r *Ring) RegisterBuffers(bufs [][]byte) error {
	if len(bufs) == 0 {
		return unix.EINVAL
	}
	iovs := make([]unix.Iovec, len(bufs))
	for i, b := range bufs {
		// Iovec.Base is a pointer: the kernel reads iovs during the call.
		iovs[i].Base = (*byte)(bufAddr(b))
		iovs[i].SetLen(len(b))
	}
	_, err := r.register(regRegisterBuffers, unsafe.Pointer(&iovs[0]), uint32(len(iovs)))
	if err == nil {
		// The kernel uses the pages after the call returns. Keeping bufs in
		// the Ring keeps them alive for the GC, and it makes the compiler
		// put every buffer passed here on the heap, which never moves: a
		// stack buffer would leave the kernel pinning a stack the
		// goroutine has left behind when the stack grows.
		r.fixedBufs = bufs
	}
	return err
}

// UnregisterBuffers releases the buffers pinned by RegisterBuffers.
func (r *Ring) UnregisterBuffers() error {
	_, err := r.register(regUnregisterBuffers, nil, 0)
	if err == nil {
		r.fixedBufs = nil
	}
	return err
}

// RegisterEventfd makes the kernel signal efd whenever a CQE is posted.
func (r *Ring) RegisterEventfd(efd int) error {
	fd := int32(efd) // read during the call, through register's pointer
	_, err := r.register(regRegisterEventfd, unsafe.Pointer(&fd), 1)
	return err
}

// UnregisterEventfd stops eventfd notifications.
func (r *Ring) UnregisterEventfd() error {
	_, err := r.register(regUnregisterEventfd, nil, 0)
	return err
}

// RegisterRingFd registers the ring fd with the calling thread so that
// io_uring_enter skips the fd lookup. The registration belongs to the OS
// thread: call it, every Submit*, and Close from the goroutine that
// locked that thread. Registering twice is a no-op.
func (r *Ring) RegisterRingFd() error {
	if r.enterFlags&enterRegisteredRing != 0 {
		return nil
	}
	up := ringFdUpdate{Offset: ^uint32(0), Data: uint64(r.fd)} // Data is an fd, not an address
	n, err := r.register(regRegisterRingFds, unsafe.Pointer(&up), 1)
	if err != nil {
		return err
	}
	if n != 1 {
		return unix.EINVAL
	}
	r.enterFd = int(up.Offset)
	r.enterFlags |= enterRegisteredRing
	return nil
}

// UnregisterRingFd undoes RegisterRingFd.
func (r *Ring) UnregisterRingFd() error {
	if r.enterFlags&enterRegisteredRing == 0 {
		return nil
	}
	up := ringFdUpdate{Offset: uint32(r.enterFd)}
	_, err := r.register(regUnregisterRingFds, unsafe.Pointer(&up), 1)
	r.enterFd = r.fd
	r.enterFlags &^= enterRegisteredRing
	return err
}

// RingFdRegistered reports whether RegisterRingFd is in effect.
func (r *Ring) RingFdRegistered() bool { return r.enterFlags&enterRegisteredRing != 0 }
