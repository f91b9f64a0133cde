package uring

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Config selects how a Ring is set up. The zero value asks for a
// 256-entry ring with the best flags this kernel grants.
type Config struct {
	// Entries is the submission queue size; the kernel rounds it up to a
	// power of two. 0 means 256.
	Entries uint32
	// CQEntries is the completion queue size. 0 means twice Entries.
	// Larger values (with CLAMP) are capped by the kernel, not rejected.
	CQEntries uint32
	// SQPoll starts a kernel thread that polls the submission queue, so
	// submitting needs no syscall while that thread is awake.
	SQPoll bool
	// SQThreadIdle is how long the SQPOLL thread spins before sleeping.
	SQThreadIdle time.Duration
	// SQThreadCPU pins the SQPOLL thread to a CPU when >= 0 and
	// SQThreadPinned is set.
	SQThreadCPU    int
	SQThreadPinned bool
	// AnyThread allows driving the ring from a goroutine that is not locked
	// to its OS thread: SINGLE_ISSUER and DEFER_TASKRUN are then not
	// requested, because the kernel binds those to the creating thread.
	AnyThread bool
	// NoDeferTaskrun keeps SINGLE_ISSUER but asks for neither
	// DEFER_TASKRUN nor COOP_TASKRUN: completions are then posted as soon
	// as the kernel has them (interrupting the owner thread if need be)
	// instead of when the owner next enters the kernel.
	NoDeferTaskrun bool
	// Flags, when non-zero, is the exact IORING_SETUP_* set to request:
	// nothing is added and nothing is dropped on failure. SQE128 and
	// CQE32 are refused with EINVAL.
	Flags uint32
}

// Ring is one io_uring instance: the mmap'd submission and completion
// queues and the file descriptor behind them.
//
// A Ring has a single owner. Unless Config.AnyThread is set, the owner is
// one goroutine that called runtime.LockOSThread before New and drives
// every method from that thread: the kernel ties SINGLE_ISSUER,
// DEFER_TASKRUN and a registered ring fd to the creating thread, and
// submissions from another thread fail with EEXIST. No method takes a lock
// or allocates on the submit and reap paths.
//
// Memory rule: an SQE holds only addresses. Every buffer, iovec array,
// sockaddr, path, timespec or struct the SQE points to must be allocated
// on the Go heap (or outside Go, e.g. mmap) and stay reachable from Go
// until the request's final CQE arrives: the kernel may read or write it
// at any time until then, and the garbage collector cannot see an address
// stored in an SQE. Stack variables must not be used, since Go stacks
// move. The layer above (sched) keeps such references in its operation
// table; direct users of Ring must do the same.
//
// Methods that pass the kernel memory for the length of one syscall
// (UpdateFiles, RegisterFiles, the timed waits, Probe, ...) accept any
// memory, stack included: the address stays a Go pointer, in the
// syscall's argument list or in a pointer-typed field of the struct the
// kernel reads, until the kernel has returned, so a stack that moves
// before the syscall takes the address with it. Memory the kernel keeps
// after the call returns is handled per method: RegisterBuffers keeps its
// buffers in the Ring, the buffer ring is mmap'd, and BufRing.Add and
// the Prep* methods follow the rule above.
type Ring struct {
	fd         int
	enterFd    int    // fd, or the registered ring index once registered
	enterFlags uint32 // enterRegisteredRing once registered
	flags      uint32 // IORING_SETUP_* granted
	features   uint32
	sq         submissionQueue
	cq         completionQueue

	ringMem []byte // SQ ring (and CQ ring with FEAT_SINGLE_MMAP)
	cqMem   []byte // separate CQ ring mmap on old kernels
	sqeMem  []byte

	fixedBufs [][]byte // RegisterBuffers' buffers, which the kernel uses until unregistered

	bufRings []*BufRing
	closed   bool

	enterCalls uint64 // io_uring_enter system calls made
}

type submissionQueue struct {
	head    *uint32 // written by the kernel
	tail    *uint32 // written by us, read by the kernel
	flags   *uint32
	dropped *uint32
	mask    uint32
	entries uint32
	sqes    []SQE
	// sqeTail counts SQEs handed out by GetSQE; sqeHead counts those
	// already published to the kernel through tail.
	sqeHead uint32
	sqeTail uint32
}

type completionQueue struct {
	head     *uint32 // written by us
	tail     *uint32 // written by the kernel
	overflow *uint32
	flags    *uint32 // IORING_CQ_* flags, written by us; nil before Linux 5.8
	mask     uint32
	entries  uint32
	cqes     []CQE
}

// fallbackOrder lists the optional setup flags in the order they are dropped
// when the kernel refuses the set: newest and least essential first.
var fallbackOrder = []uint32{
	SetupNoSQArray,
	SetupDeferTaskrun,
	SetupTaskrunFlag,
	SetupSingleIssuer,
	SetupCoopTaskrun,
	SetupSubmitAll,
	SetupClamp,
}

// New sets up a ring with entries submission slots and the best flags the
// kernel grants. See Config and the Ring ownership rule.
func New(entries uint32) (*Ring, error) {
	return Setup(Config{Entries: entries})
}

// Setup sets up a ring as cfg asks. Unless cfg.Flags is set, it first asks
// for the best flag set and drops optional flags one at a time while the
// kernel answers EINVAL; Flags reports what was granted.
func Setup(cfg Config) (*Ring, error) {
	if cfg.Entries == 0 {
		cfg.Entries = 256
	}
	p := params{SQEntries: cfg.Entries, CQEntries: cfg.CQEntries}
	p.SQThreadIdle = uint32(cfg.SQThreadIdle / time.Millisecond)
	if cfg.SQThreadPinned {
		p.SQThreadCPU = uint32(cfg.SQThreadCPU)
	}
	if cfg.Flags != 0 {
		if cfg.Flags&(SetupSQE128|SetupCQE32) != 0 {
			// Entries are 64 and 16 bytes throughout this package.
			return nil, &SetupError{Errno: unix.EINVAL, Reason: "SQE128 and CQE32 rings are not supported"}
		}
		return setupWithFallback(p, cfg.Flags, nil)
	}
	return setupWithFallback(p, wantedFlags(cfg), fallbackOrder)
}

// wantedFlags is the best flag set for cfg on a current kernel.
func wantedFlags(cfg Config) uint32 {
	want := SetupSubmitAll | SetupClamp | SetupNoSQArray
	if cfg.SQPoll {
		// The kernel rejects the task-run flags together with SQPOLL.
		want |= SetupSQPoll
		if cfg.SQThreadPinned {
			want |= SetupSQAff
		}
		if !cfg.AnyThread {
			want |= SetupSingleIssuer
		}
	} else {
		// COOP_TASKRUN spares the submitting thread an interrupt (an IPI,
		// a VM exit on a virtual machine) per completion: the completion
		// work runs when that thread next enters the kernel, which a Go
		// thread does constantly. A thread running a goroutine that makes
		// no system call holds it until the Go scheduler preempts that
		// goroutine (10 ms), the same delay any goroutine waiting for a P
		// sees then. Measured with a goroutine-per-connection echo over
		// sched.Conn: 8.5 us of CPU per message with it, 12.6-18 us
		// without (the interrupts, and the receive retried while the
		// sender still holds the socket lock).
		if !cfg.NoDeferTaskrun {
			want |= SetupCoopTaskrun | SetupTaskrunFlag
		}
		if !cfg.AnyThread {
			want |= SetupSingleIssuer
			if !cfg.NoDeferTaskrun {
				want |= SetupDeferTaskrun
			}
		}
	}
	if cfg.CQEntries != 0 {
		want |= SetupCQSize
	}
	return want
}

// setupWithFallback calls io_uring_setup with flags, and on EINVAL drops
// the first flag of order that is still set and tries again.
func setupWithFallback(template params, flags uint32, order []uint32) (*Ring, error) {
	for {
		p := template
		p.Flags = flags
		fd, errno := setupSyscall(&p)
		if errno == 0 {
			r := &Ring{fd: fd, enterFd: fd, flags: flags, features: p.Features}
			if err := r.mapRings(&p); err != nil {
				unix.Close(fd)
				return nil, err
			}
			return r, nil
		}
		if errno != unix.EINVAL {
			return nil, diagnoseSetup(errno)
		}
		next := dropOneFlag(flags, order)
		if next == flags {
			return nil, diagnoseSetup(errno)
		}
		flags = next
	}
}

func dropOneFlag(flags uint32, order []uint32) uint32 {
	for _, f := range order {
		if flags&f == 0 {
			continue
		}
		flags &^= f
		// TASKRUN_FLAG needs COOP or DEFER taskrun; DEFER needs SINGLE_ISSUER.
		if flags&(SetupCoopTaskrun|SetupDeferTaskrun) == 0 {
			flags &^= SetupTaskrunFlag
		}
		if flags&SetupSingleIssuer == 0 {
			flags &^= SetupDeferTaskrun
		}
		return flags
	}
	return flags
}

func setupSyscall(p *params) (int, syscall.Errno) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(p.SQEntries), uintptr(unsafe.Pointer(p)), 0)
	return int(fd), errno
}

func (r *Ring) mapRings(p *params) error {
	sqSize := uintptr(p.SQOff.Array) + uintptr(p.SQEntries)*4
	cqSize := uintptr(p.CQOff.Cqes) + uintptr(p.CQEntries)*unsafe.Sizeof(CQE{})
	single := p.Features&FeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	r.ringMem, err = unix.Mmap(r.fd, offSQRing, int(sqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return err
	}
	cqMem := r.ringMem
	if !single {
		r.cqMem, err = unix.Mmap(r.fd, offCQRing, int(cqSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			r.unmap()
			return err
		}
		cqMem = r.cqMem
	}
	sqeSize := uintptr(p.SQEntries) * unsafe.Sizeof(SQE{})
	r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(sqeSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.unmap()
		return err
	}

	sq := &r.sq
	sq.head = u32At(r.ringMem, p.SQOff.Head)
	sq.tail = u32At(r.ringMem, p.SQOff.Tail)
	sq.flags = u32At(r.ringMem, p.SQOff.Flags)
	sq.dropped = u32At(r.ringMem, p.SQOff.Dropped)
	sq.mask = *u32At(r.ringMem, p.SQOff.RingMask)
	sq.entries = *u32At(r.ringMem, p.SQOff.RingEntries)
	sq.sqes = unsafe.Slice((*SQE)(unsafe.Pointer(&r.sqeMem[0])), sq.entries)
	if r.flags&SetupNoSQArray == 0 {
		// Identity map once; afterwards only the tail moves.
		array := unsafe.Slice(u32At(r.ringMem, p.SQOff.Array), sq.entries)
		for i := range array {
			array[i] = uint32(i)
		}
	}

	cq := &r.cq
	cq.head = u32At(cqMem, p.CQOff.Head)
	cq.tail = u32At(cqMem, p.CQOff.Tail)
	cq.overflow = u32At(cqMem, p.CQOff.Overflow)
	if p.CQOff.Flags != 0 {
		cq.flags = u32At(cqMem, p.CQOff.Flags)
	}
	cq.mask = *u32At(cqMem, p.CQOff.RingMask)
	cq.entries = *u32At(cqMem, p.CQOff.RingEntries)
	cq.cqes = unsafe.Slice((*CQE)(unsafe.Pointer(&cqMem[p.CQOff.Cqes])), cq.entries)
	return nil
}

func u32At(mem []byte, off uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(&mem[off]))
}

func (r *Ring) unmap() {
	for _, m := range []*[]byte{&r.sqeMem, &r.cqMem, &r.ringMem} {
		if *m != nil {
			_ = unix.Munmap(*m)
			*m = nil
		}
	}
}

// Fd returns the ring's file descriptor (for MSG_RING targets and
// diagnostics). It must not be closed by the caller.
func (r *Ring) Fd() int { return r.fd }

// Flags returns the IORING_SETUP_* flags the kernel granted.
func (r *Ring) Flags() uint32 { return r.flags }

// Features returns the IORING_FEAT_* bits the kernel reported.
func (r *Ring) Features() uint32 { return r.features }

// SQEntries returns the submission queue size.
func (r *Ring) SQEntries() uint32 { return r.sq.entries }

// CQEntries returns the completion queue size.
func (r *Ring) CQEntries() uint32 { return r.cq.entries }

// Close cancels nothing by itself: it unregisters what the ring registered,
// unmaps the queues and closes the ring fd; the kernel then cancels every
// request still in flight. Memory those requests point to must stay
// reachable until the kernel has let go of it, so callers with requests in
// flight should cancel and reap them first (sched does). Close on a closed
// ring returns ErrClosed. Call it from the owning thread when a ring fd was
// registered, since that registration belongs to the thread.
func (r *Ring) Close() error {
	if r.closed {
		return ErrClosed
	}
	if r.enterFlags&enterRegisteredRing != 0 {
		_ = r.UnregisterRingFd()
	}
	var firstErr error
	for _, br := range r.bufRings {
		if err := br.release(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	r.bufRings = nil
	r.fixedBufs = nil
	r.closed = true
	r.unmap()
	if err := unix.Close(r.fd); err != nil && firstErr == nil {
		firstErr = err
	}
	r.fd, r.enterFd = -1, -1
	return firstErr
}
