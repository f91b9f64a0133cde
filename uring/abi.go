package uring

import (
	"encoding/binary"
	"unsafe"
)

// Kernel ABI of io_uring, defined once. Layouts mirror <linux/io_uring.h>;
// abi_test.go checks every size and offset against the installed header.
//
// Addresses: a struct that the kernel reads during one syscall keeps every
// address in a uptr, a real pointer, never in an integer. The two
// exceptions are SQE and BufRingEntry: they live in memory mapped from the
// kernel, which the garbage collector neither scans nor may hold Go
// pointers in, so their addresses are integers and the memory rule on Ring
// (and on BufRing.Add) applies.

// uptr is a __u64 field that carries a user-space address for the kernel
// to read during the syscall the struct is passed to. It holds a Go
// pointer so that the address follows the memory: a call between filling
// the struct and the syscall may grow the goroutine stack, and the runtime
// then moves the stack and rewrites every pointer into it, but not an
// integer, which would go on pointing at the old stack. The garbage
// collector also keeps the memory alive. On 32-bit targets the second
// word is the zero high half (see uptrWord).
type uptr [8 / unsafe.Sizeof(uintptr(0))]unsafe.Pointer

// uptrWord is the element of a uptr that holds the address on a 32-bit
// target: the low-order half, which comes second on a big-endian one.
var uptrWord = int(binary.NativeEndian.Uint16([]byte{0, 1})&1) * (len(uptr{}) - 1)

// uptrTo returns p as a uptr. It returns a value rather than storing
// through a pointer so that escape analysis sees where p goes: p then
// stays on the stack when the struct does.
func uptrTo(p unsafe.Pointer) uptr {
	var u uptr
	if len(u) == 1 {
		u[0] = p // 64-bit: one word, no index to compute
	} else {
		u[uptrWord] = p
	}
	return u
}

// SQE is a submission queue entry (struct io_uring_sqe, 64 bytes). Several
// kernel fields share storage; the names here are the most common member of
// each union and the Prep* methods document which meaning they use.
// SQEs live in memory mapped from the kernel, so their address fields
// (Addr, Off as addr2, Addr3) are integers the garbage collector does not
// see: what they point to follows the memory rule on Ring.
type SQE struct {
	Opcode      uint8  // IORING_OP_*
	Flags       uint8  // IOSQE_* flags
	IOPrio      uint16 // ioprio, or per-op flags (accept/recv/send multishot, zero copy)
	Fd          int32  // file descriptor, or fixed-file index with SQEFixedFile
	Off         uint64 // off / addr2 / cmd_op
	Addr        uint64 // addr / splice_off_in
	Len         uint32 // length or count
	OpFlags     uint32 // rw_flags, fsync_flags, msg_flags, timeout_flags, ...
	UserData    uint64 // returned unchanged in the CQE
	BufIndex    uint16 // buf_index for fixed buffers, buf_group for buffer select
	Personality uint16
	FileIndex   uint32 // file_index / splice_fd_in / addr_len
	Addr3       uint64
	_           uint64
}

// CQE is a completion queue entry (struct io_uring_cqe, 16 bytes).
type CQE struct {
	UserData uint64 // the SQE's UserData
	Res      int32  // result: >= 0 on success, -errno on failure
	Flags    uint32 // IORING_CQE_F_* flags
}

// Err returns the CQE's error as a syscall.Errno, or nil when Res >= 0.
// A send_zc notification is never an error: its Res holds flags
// (NotifUsageZCCopied), not a result.
func (c CQE) Err() error {
	if c.Res >= 0 || c.Flags&CQEFNotif != 0 {
		return nil
	}
	return errnoErr(-c.Res)
}

// BufferID returns the provided-buffer ID the kernel picked and whether one
// was picked (IORING_CQE_F_BUFFER).
func (c CQE) BufferID() (uint16, bool) {
	return uint16(c.Flags >> CQEBufferShift), c.Flags&CQEFBuffer != 0
}

// More reports IORING_CQE_F_MORE: the request stays armed and posts more CQEs.
func (c CQE) More() bool { return c.Flags&CQEFMore != 0 }

// Notif reports IORING_CQE_F_NOTIF: a send_zc notification that the kernel
// has released the send buffer.
func (c CQE) Notif() bool { return c.Flags&CQEFNotif != 0 }

// UserAddr in both offset structs is only read with IORING_SETUP_NO_MMAP,
// which this package never requests: it stays 0.

type sqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1 uint32
	UserAddr                                                        uint64
}

type cqringOffsets struct {
	Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1 uint32
	UserAddr                                                        uint64
}

// params is struct io_uring_params.
type params struct {
	SQEntries    uint32
	CQEntries    uint32
	Flags        uint32
	SQThreadCPU  uint32
	SQThreadIdle uint32
	Features     uint32
	WQFd         uint32
	Resv         [3]uint32
	SQOff        sqringOffsets
	CQOff        cqringOffsets
}

// getEventsArg is struct io_uring_getevents_arg (IORING_ENTER_EXT_ARG).
type getEventsArg struct {
	Sigmask   uptr
	SigmaskSz uint32
	MinWaitUs uint32 // "pad" in older headers
	Ts        uptr   // *struct __kernel_timespec
}

// rsrcRegister is struct io_uring_rsrc_register.
type rsrcRegister struct {
	Nr    uint32
	Flags uint32
	Resv2 uint64
	Data  uptr // the fds or iovecs
	Tags  uptr // their __u64 tags
}

// rsrcUpdate is struct io_uring_rsrc_update as IORING_REGISTER_FILES_UPDATE
// reads it: Data is the address of the new fds.
type rsrcUpdate struct {
	Offset uint32
	Resv   uint32
	Data   uptr
}

// ringFdUpdate is struct io_uring_rsrc_update as IORING_REGISTER_RING_FDS
// reads it: Data is a file descriptor, not an address.
type ringFdUpdate struct {
	Offset uint32
	Resv   uint32
	Data   uint64
}

// rsrcUpdate2 is struct io_uring_rsrc_update2.
type rsrcUpdate2 struct {
	Offset uint32
	Resv   uint32
	Data   uptr
	Tags   uptr
	Nr     uint32
	Resv2  uint32
}

type probeOp struct {
	Op    uint8
	Resv  uint8
	Flags uint16
	Resv2 uint32
}

type probeHeader struct {
	LastOp uint8
	OpsLen uint8
	Resv   uint16
	Resv2  [3]uint32
}

// BufRingEntry is struct io_uring_buf: one buffer in a provided buffer ring.
// Entries live in the mapped ring, so Addr is an integer (see BufRing.Add).
type BufRingEntry struct {
	Addr uint64
	Len  uint32
	Bid  uint16
	Resv uint16 // entry 0's Resv is the ring tail
}

// bufReg is struct io_uring_buf_reg.
type bufReg struct {
	RingAddr    uptr // the mmap'd entries; the kernel keeps using them
	RingEntries uint32
	Bgid        uint16
	Flags       uint16
	Resv        [3]uint64
}

// Op is an io_uring opcode (IORING_OP_*).
type Op uint8

// Opcodes.
const (
	OpNop Op = iota
	OpReadv
	OpWritev
	OpFsync
	OpReadFixed
	OpWriteFixed
	OpPollAdd
	OpPollRemove
	OpSyncFileRange
	OpSendmsg
	OpRecvmsg
	OpTimeout
	OpTimeoutRemove
	OpAccept
	OpAsyncCancel
	OpLinkTimeout
	OpConnect
	OpFallocate
	OpOpenat
	OpClose
	OpFilesUpdate
	OpStatx
	OpRead
	OpWrite
	OpFadvise
	OpMadvise
	OpSend
	OpRecv
	OpOpenat2
	OpEpollCtl
	OpSplice
	OpProvideBuffers
	OpRemoveBuffers
	OpTee
	OpShutdown
	OpRenameat
	OpUnlinkat
	OpMkdirat
	OpSymlinkat
	OpLinkat
	OpMsgRing
	OpFsetxattr
	OpSetxattr
	OpFgetxattr
	OpGetxattr
	OpSocket
	OpUringCmd
	OpSendZC
	OpSendmsgZC
	OpReadMultishot
	OpWaitid
	OpFutexWait
	OpFutexWake
	OpFutexWaitv
	OpFixedFdInstall
	OpFtruncate
	OpBind
	OpListen
	OpRecvZC
	OpEpollWait
	OpReadvFixed
	OpWritevFixed
	OpPipe
)

var opNames = [...]string{
	"nop", "readv", "writev", "fsync", "read_fixed", "write_fixed", "poll_add", "poll_remove",
	"sync_file_range", "sendmsg", "recvmsg", "timeout", "timeout_remove", "accept",
	"async_cancel", "link_timeout", "connect", "fallocate", "openat", "close", "files_update",
	"statx", "read", "write", "fadvise", "madvise", "send", "recv", "openat2", "epoll_ctl",
	"splice", "provide_buffers", "remove_buffers", "tee", "shutdown", "renameat", "unlinkat",
	"mkdirat", "symlinkat", "linkat", "msg_ring", "fsetxattr", "setxattr", "fgetxattr",
	"getxattr", "socket", "uring_cmd", "send_zc", "sendmsg_zc", "read_multishot", "waitid",
	"futex_wait", "futex_wake", "futex_waitv", "fixed_fd_install", "ftruncate", "bind", "listen",
	"recv_zc", "epoll_wait", "readv_fixed", "writev_fixed", "pipe",
}

// String returns the opcode's name as in IORING_OP_<NAME>, lower case.
func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + itoa(int(o)) + ")"
}

// SQE flags (IOSQE_*).
const (
	SQEFixedFile      uint8 = 1 << 0 // Fd is an index into the registered file table
	SQEIODrain        uint8 = 1 << 1 // start only after all earlier SQEs completed
	SQEIOLink         uint8 = 1 << 2 // the next SQE starts after this one succeeds
	SQEIOHardlink     uint8 = 1 << 3 // like link, but the chain survives failure
	SQEAsync          uint8 = 1 << 4 // always punt to the async worker
	SQEBufferSelect   uint8 = 1 << 5 // take a buffer from the group in BufIndex
	SQECQESkipSuccess uint8 = 1 << 6 // post no CQE on success; the ring then refuses SQEIODrain (EOPNOTSUPP)
)

// Setup flags (IORING_SETUP_*).
const (
	SetupIOPoll           uint32 = 1 << 0
	SetupSQPoll           uint32 = 1 << 1
	SetupSQAff            uint32 = 1 << 2
	SetupCQSize           uint32 = 1 << 3
	SetupClamp            uint32 = 1 << 4
	SetupAttachWQ         uint32 = 1 << 5
	SetupRDisabled        uint32 = 1 << 6
	SetupSubmitAll        uint32 = 1 << 7
	SetupCoopTaskrun      uint32 = 1 << 8
	SetupTaskrunFlag      uint32 = 1 << 9
	SetupSQE128           uint32 = 1 << 10
	SetupCQE32            uint32 = 1 << 11
	SetupSingleIssuer     uint32 = 1 << 12
	SetupDeferTaskrun     uint32 = 1 << 13
	SetupNoMmap           uint32 = 1 << 14
	SetupRegisteredFdOnly uint32 = 1 << 15
	SetupNoSQArray        uint32 = 1 << 16
)

// Features reported by the kernel (IORING_FEAT_*).
const (
	FeatSingleMmap     uint32 = 1 << 0
	FeatNoDrop         uint32 = 1 << 1
	FeatSubmitStable   uint32 = 1 << 2
	FeatRWCurPos       uint32 = 1 << 3
	FeatCurPersonality uint32 = 1 << 4
	FeatFastPoll       uint32 = 1 << 5
	FeatPoll32Bits     uint32 = 1 << 6
	FeatSQPollNonfixed uint32 = 1 << 7
	FeatExtArg         uint32 = 1 << 8
	FeatNativeWorkers  uint32 = 1 << 9
	FeatRsrcTags       uint32 = 1 << 10
	FeatCQESkip        uint32 = 1 << 11
	FeatLinkedFile     uint32 = 1 << 12
	FeatRegRegRing     uint32 = 1 << 13
)

// CQE flags (IORING_CQE_F_*).
const (
	CQEFBuffer       uint32 = 1 << 0
	CQEFMore         uint32 = 1 << 1
	CQEFSockNonempty uint32 = 1 << 2
	CQEFNotif        uint32 = 1 << 3
	CQEBufferShift          = 16
)

// SQ ring flags.
const (
	sqNeedWakeup uint32 = 1 << 0
	sqCQOverflow uint32 = 1 << 1
	sqTaskrun    uint32 = 1 << 2
)

// CQ ring flags.
const cqEventfdDisabled uint32 = 1 << 0

// io_uring_enter flags.
const (
	enterGetEvents      uint32 = 1 << 0
	enterSQWakeup       uint32 = 1 << 1
	enterSQWait         uint32 = 1 << 2
	enterExtArg         uint32 = 1 << 3
	enterRegisteredRing uint32 = 1 << 4
)

// Per-operation flags.
const (
	FsyncDatasync uint32 = 1 << 0

	TimeoutAbs          uint32 = 1 << 0
	TimeoutUpdate       uint32 = 1 << 1
	TimeoutBoottime     uint32 = 1 << 2
	TimeoutRealtime     uint32 = 1 << 3
	LinkTimeoutUpdate   uint32 = 1 << 4
	TimeoutETimeSuccess uint32 = 1 << 5
	TimeoutMultishot    uint32 = 1 << 6

	PollAddMulti uint32 = 1 << 0

	CancelAll      uint32 = 1 << 0
	CancelFd       uint32 = 1 << 1
	CancelAny      uint32 = 1 << 2
	CancelFdFixed  uint32 = 1 << 3
	CancelUserData uint32 = 1 << 4
	CancelOp       uint32 = 1 << 5

	RecvSendPollFirst  uint16 = 1 << 0
	RecvMultishot      uint16 = 1 << 1
	RecvSendFixedBuf   uint16 = 1 << 2
	SendZCReportUsage  uint16 = 1 << 3
	NotifUsageZCCopied uint32 = 1 << 31
	AcceptMultishot    uint16 = 1 << 0

	MsgRingData uint64 = 0

	// FileIndexAlloc asks the kernel to pick a free slot in the registered
	// file table for ops that create direct descriptors.
	FileIndexAlloc uint32 = ^uint32(0)

	// SpliceFdInFixed marks the splice input fd as a registered-file index.
	SpliceFdInFixed uint32 = 1 << 31
)

// io_uring_register opcodes.
const (
	regRegisterBuffers    = 0
	regUnregisterBuffers  = 1
	regRegisterFiles      = 2
	regUnregisterFiles    = 3
	regRegisterEventfd    = 4
	regUnregisterEventfd  = 5
	regFilesUpdate        = 6
	regRegisterProbe      = 8
	regRegisterFiles2     = 13
	regFilesUpdate2       = 14
	regRegisterRingFds    = 20
	regUnregisterRingFds  = 21
	regRegisterPbufRing   = 22
	regUnregisterPbufRing = 23

	rsrcRegisterSparse = 1 << 0
	opSupported        = 1 << 0
)

// Magic mmap offsets.
const (
	offSQRing = 0
	offCQRing = 0x8000000
	offSQEs   = 0x10000000
)
