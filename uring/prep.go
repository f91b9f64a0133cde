package uring

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Prep methods fill a zeroed SQE from GetSQE. They set no SQE flags and no
// user data except where the operation needs them; set UserData and Flags
// after the call. Every pointer argument is stored as an address: see the
// memory rule on Ring.
//
// Why integers are acceptable here (and in BufRing.Add) but nowhere else:
// the SQE lives in the mapped submission queue, which can hold no Go
// pointer, and the kernel reads what it points to at submission (a later
// Submit*) or even later, until the CQE; no pointer type could keep a
// stack address valid that long. So the rule on Ring (heap or mmap'd
// memory, kept reachable until the final CQE) is what makes every address
// stored below safe: Addr in prepRW, and the second addresses of
// PrepOpenat2 (how), PrepStatx (st) and PrepAccept (addrLen).

func (s *SQE) prepRW(op Op, fd int, addr unsafe.Pointer, n uint32, off uint64) {
	s.Opcode = uint8(op)
	s.Fd = int32(fd)
	s.Addr = uint64(uintptr(addr)) // safe under the memory rule on Ring
	s.Len = n
	s.Off = off
}

func bufAddr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

// PrepNop prepares a request that does nothing and completes with 0.
func (s *SQE) PrepNop() { s.Opcode = uint8(OpNop) }

// PrepRead prepares read(2)/pread(2) of len(buf) bytes at off; off -1
// (as ^uint64(0)) reads at the file position.
func (s *SQE) PrepRead(fd int, buf []byte, off uint64) {
	s.prepRW(OpRead, fd, bufAddr(buf), uint32(len(buf)), off)
}

// PrepWrite prepares write(2)/pwrite(2) of buf at off.
func (s *SQE) PrepWrite(fd int, buf []byte, off uint64) {
	s.prepRW(OpWrite, fd, bufAddr(buf), uint32(len(buf)), off)
}

// PrepReadFixed reads into buf, which must lie inside registered buffer
// bufIndex (see RegisterBuffers).
func (s *SQE) PrepReadFixed(fd int, buf []byte, off uint64, bufIndex uint16) {
	s.prepRW(OpReadFixed, fd, bufAddr(buf), uint32(len(buf)), off)
	s.BufIndex = bufIndex
}

// PrepWriteFixed writes buf, which must lie inside registered buffer
// bufIndex.
func (s *SQE) PrepWriteFixed(fd int, buf []byte, off uint64, bufIndex uint16) {
	s.prepRW(OpWriteFixed, fd, bufAddr(buf), uint32(len(buf)), off)
	s.BufIndex = bufIndex
}

// PrepReadv prepares preadv(2) into iovs.
func (s *SQE) PrepReadv(fd int, iovs []unix.Iovec, off uint64) {
	s.prepRW(OpReadv, fd, unsafe.Pointer(unsafe.SliceData(iovs)), uint32(len(iovs)), off)
}

// PrepWritev prepares pwritev(2) from iovs.
func (s *SQE) PrepWritev(fd int, iovs []unix.Iovec, off uint64) {
	s.prepRW(OpWritev, fd, unsafe.Pointer(unsafe.SliceData(iovs)), uint32(len(iovs)), off)
}

// PrepOpenat prepares openat(2) of the NUL-terminated path (see
// unix.BytePtrFromString) relative to dirfd (unix.AT_FDCWD for the
// working directory).
func (s *SQE) PrepOpenat(dirfd int, path *byte, flags int, mode uint32) {
	s.prepRW(OpOpenat, dirfd, unsafe.Pointer(path), mode, 0)
	s.OpFlags = uint32(flags)
}

// PrepOpenatDirect is PrepOpenat that installs the file in the registered
// file table at slot (FileIndexAlloc: any free slot, returned in Res)
// instead of the process's fd table.
func (s *SQE) PrepOpenatDirect(dirfd int, path *byte, flags int, mode uint32, slot uint32) {
	s.PrepOpenat(dirfd, path, flags, mode)
	s.setTargetSlot(slot)
}

// PrepOpenat2 prepares openat2(2): how carries flags, mode and the
// RESOLVE_* restrictions (RESOLVE_BENEATH keeps the path under dirfd).
func (s *SQE) PrepOpenat2(dirfd int, path *byte, how *unix.OpenHow) {
	s.prepRW(OpOpenat2, dirfd, unsafe.Pointer(path), uint32(unsafe.Sizeof(*how)), uint64(uintptr(unsafe.Pointer(how)))) // memory rule on Ring
}

// PrepStatx prepares statx(2) of path relative to dirfd into st.
func (s *SQE) PrepStatx(dirfd int, path *byte, flags int, mask uint32, st *unix.Statx_t) {
	s.prepRW(OpStatx, dirfd, unsafe.Pointer(path), mask, uint64(uintptr(unsafe.Pointer(st)))) // memory rule on Ring
	s.OpFlags = uint32(flags)
}

// PrepClose prepares close(2) of fd.
func (s *SQE) PrepClose(fd int) { s.prepRW(OpClose, fd, nil, 0, 0) }

// PrepCloseDirect closes slot in the registered file table.
func (s *SQE) PrepCloseDirect(slot uint32) {
	s.prepRW(OpClose, 0, nil, 0, 0)
	s.setTargetSlot(slot)
}

// PrepFsync prepares fsync(2), or fdatasync(2) when flags has
// FsyncDatasync.
func (s *SQE) PrepFsync(fd int, flags uint32) {
	s.prepRW(OpFsync, fd, nil, 0, 0)
	s.OpFlags = flags
}

// PrepFallocate prepares fallocate(2) of length bytes at off with mode.
func (s *SQE) PrepFallocate(fd int, mode uint32, off, length uint64) {
	s.prepRW(OpFallocate, fd, nil, mode, off)
	s.Addr = length
}

// PrepSplice prepares splice(2) of n bytes from fdIn at offIn to fdOut at
// offOut; an offset of -1 (^uint64(0)) means the fd's position (required
// for pipes).
func (s *SQE) PrepSplice(fdIn int, offIn uint64, fdOut int, offOut uint64, n uint32, flags uint32) {
	s.prepRW(OpSplice, fdOut, nil, n, offOut)
	s.Addr = offIn
	s.FileIndex = uint32(int32(fdIn))
	s.OpFlags = flags
}

// PrepAccept prepares accept4(2). addr and addrLen may be nil; when set,
// *addrLen must hold the size of addr.
func (s *SQE) PrepAccept(fd int, addr *unix.RawSockaddrAny, addrLen *uint32, flags int) {
	s.prepRW(OpAccept, fd, unsafe.Pointer(addr), 0, uint64(uintptr(unsafe.Pointer(addrLen)))) // memory rule on Ring
	s.OpFlags = uint32(flags)
}

// PrepMultishotAccept prepares an accept that stays armed and posts one
// CQE (with CQEFMore) per accepted connection.
func (s *SQE) PrepMultishotAccept(fd int, flags int) {
	s.PrepAccept(fd, nil, nil, flags)
	s.IOPrio |= AcceptMultishot
}

// PrepAcceptDirect accepts into the registered file table at slot
// (FileIndexAlloc: any free slot, returned in Res).
func (s *SQE) PrepAcceptDirect(fd int, flags int, slot uint32) {
	s.PrepAccept(fd, nil, nil, flags)
	s.setTargetSlot(slot)
}

// PrepMultishotAcceptDirect is a multishot accept into free slots of the
// registered file table. flags must not hold SOCK_CLOEXEC (direct
// descriptors have no fd-table entry to mark): the kernel answers EINVAL.
func (s *SQE) PrepMultishotAcceptDirect(fd int, flags int) {
	s.PrepMultishotAccept(fd, flags)
	s.setTargetSlot(FileIndexAlloc)
}

// setTargetSlot stores a direct-descriptor slot; the kernel reads slot+1
// so that 0 means "not direct", except for the allocate-any value.
func (s *SQE) setTargetSlot(slot uint32) {
	if slot == FileIndexAlloc {
		s.FileIndex = FileIndexAlloc
		return
	}
	s.FileIndex = slot + 1
}

// PrepConnect prepares connect(2) to addr of addrLen bytes.
func (s *SQE) PrepConnect(fd int, addr *unix.RawSockaddrAny, addrLen uint32) {
	s.prepRW(OpConnect, fd, unsafe.Pointer(addr), 0, uint64(addrLen))
}

// PrepRecv prepares recv(2) into buf.
func (s *SQE) PrepRecv(fd int, buf []byte, flags int) {
	s.prepRW(OpRecv, fd, bufAddr(buf), uint32(len(buf)), 0)
	s.OpFlags = uint32(flags)
}

// PrepRecvBufferSelect prepares a recv that takes its buffer from provided
// buffer group bgid; the CQE names the buffer (CQE.BufferID).
func (s *SQE) PrepRecvBufferSelect(fd int, bgid uint16, flags int) {
	s.prepRW(OpRecv, fd, nil, 0, 0)
	s.OpFlags = uint32(flags)
	s.Flags |= SQEBufferSelect
	s.BufIndex = bgid
}

// PrepRecvMultishot prepares a recv that stays armed, taking one buffer of
// group bgid per CQE until the socket closes, an error, or the group runs
// out of buffers (ENOBUFS ends it; re-arm after returning buffers).
func (s *SQE) PrepRecvMultishot(fd int, bgid uint16, flags int) {
	s.PrepRecvBufferSelect(fd, bgid, flags)
	s.IOPrio |= RecvMultishot
}

// PrepSend prepares send(2) of buf.
func (s *SQE) PrepSend(fd int, buf []byte, flags int) {
	s.prepRW(OpSend, fd, bufAddr(buf), uint32(len(buf)), 0)
	s.OpFlags = uint32(flags)
}

// PrepSendZC prepares a zero-copy send. It posts two CQEs: the result
// (with CQEFMore) and later a notification (CQE.Notif) once the kernel no
// longer reads buf; buf must stay untouched until then. With
// SendZCReportUsage the notification's Res carries NotifUsageZCCopied when
// the kernel had to copy after all; it is not an error.
func (s *SQE) PrepSendZC(fd int, buf []byte, flags int, zcFlags uint16) {
	s.prepRW(OpSendZC, fd, bufAddr(buf), uint32(len(buf)), 0)
	s.OpFlags = uint32(flags)
	s.IOPrio = zcFlags
}

// PrepSendmsg prepares sendmsg(2) of msg.
func (s *SQE) PrepSendmsg(fd int, msg *unix.Msghdr, flags int) {
	s.prepRW(OpSendmsg, fd, unsafe.Pointer(msg), 1, 0)
	s.OpFlags = uint32(flags)
}

// PrepShutdown prepares shutdown(2) with how (unix.SHUT_RD/WR/RDWR).
func (s *SQE) PrepShutdown(fd int, how int) { s.prepRW(OpShutdown, fd, nil, uint32(how), 0) }

// PrepTimeout prepares a timeout that completes with -ETIME after ts, or
// with 0 once count other completions have arrived (count 0: time only).
// flags may hold TimeoutAbs, a clock, TimeoutMultishot.
func (s *SQE) PrepTimeout(ts *unix.Timespec, count uint32, flags uint32) {
	s.prepRW(OpTimeout, -1, unsafe.Pointer(ts), 1, uint64(count))
	s.OpFlags = flags
}

// PrepTimeoutRemove cancels the timeout whose user data is target.
func (s *SQE) PrepTimeoutRemove(target uint64, flags uint32) {
	s.prepRW(OpTimeoutRemove, -1, nil, 0, 0)
	s.Addr = target
	s.OpFlags = flags
}

// PrepLinkTimeout prepares a timeout for the SQE before it, which must set
// SQEIOLink: if that request is still running after ts it is cancelled
// (its CQE shows -ECANCELED and this one -ETIME).
func (s *SQE) PrepLinkTimeout(ts *unix.Timespec, flags uint32) {
	s.prepRW(OpLinkTimeout, -1, unsafe.Pointer(ts), 1, 0)
	s.OpFlags = flags
}

// PrepCancel cancels the request(s) whose user data is target. flags may
// add CancelAll.
func (s *SQE) PrepCancel(target uint64, flags uint32) {
	s.prepRW(OpAsyncCancel, -1, nil, 0, 0)
	s.Addr = target
	s.OpFlags = flags
}

// PrepCancelFd cancels requests on fd (one, or all with CancelAll).
func (s *SQE) PrepCancelFd(fd int, flags uint32) {
	s.prepRW(OpAsyncCancel, fd, nil, 0, 0)
	s.OpFlags = flags | CancelFd
}

// PrepCancelAny cancels every request in flight on the ring.
func (s *SQE) PrepCancelAny() {
	s.prepRW(OpAsyncCancel, -1, nil, 0, 0)
	s.OpFlags = CancelAny | CancelAll
}

// PrepMsgRing posts a CQE with res and userData on the ring whose fd is
// ringFd (typically another loop's ring, to wake it).
func (s *SQE) PrepMsgRing(ringFd int, res uint32, userData uint64, flags uint32) {
	s.prepRW(OpMsgRing, ringFd, nil, res, userData)
	s.Addr = MsgRingData
	s.OpFlags = flags
}

// PrepPollAdd prepares a poll for events (unix.POLLIN, ...) on fd.
func (s *SQE) PrepPollAdd(fd int, events uint32) {
	s.prepRW(OpPollAdd, fd, nil, 0, 0)
	s.OpFlags = events
}

// PrepPollMultishot is PrepPollAdd that stays armed (CQEFMore on each CQE).
func (s *SQE) PrepPollMultishot(fd int, events uint32) {
	s.PrepPollAdd(fd, events)
	s.Len = PollAddMulti
}

// PrepPollRemove removes the poll whose user data is target.
func (s *SQE) PrepPollRemove(target uint64) {
	s.prepRW(OpPollRemove, -1, nil, 0, 0)
	s.Addr = target
}
