package uring

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufRing is a provided buffer ring (IORING_REGISTER_PBUF_RING): a group of
// buffers the kernel picks from for requests with SQEBufferSelect, such as
// multishot recv, so that an idle socket holds no buffer.
//
// Buffers go to the kernel with Add and become visible at Advance; the
// kernel names the buffer it used in CQE.BufferID. After consuming a
// buffer's data, hand it back with Recycle. When every buffer is out, the
// kernel fails buffer-select requests with ENOBUFS.
//
// The ring and its buffers live in memory mapped outside the Go heap, so
// the garbage collector never moves or frees them under the kernel. Like
// Ring, a BufRing has a single owner.
type BufRing struct {
	ring       *Ring
	bgid       uint16
	entries    uint32
	mask       uint16
	tail       uint16 // local tail; published by Advance
	bufSize    int
	entriesMem []byte // the io_uring_buf array
	dataMem    []byte // buffer memory, when allocated by NewBufRing
	bufs       []BufRingEntry
	released   bool
}

// NewBufRing registers group bgid with entries buffers of bufSize bytes
// each (entries: a power of two, at most 32768) and provides all of them
// to the kernel.
func (r *Ring) NewBufRing(bgid uint16, entries uint32, bufSize int) (*BufRing, error) {
	if bufSize <= 0 {
		return nil, unix.EINVAL
	}
	br, err := r.RegisterBufRing(bgid, entries)
	if err != nil {
		return nil, err
	}
	br.bufSize = bufSize
	br.dataMem, err = unix.Mmap(-1, 0, int(entries)*bufSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	for i := uint32(0); i < entries; i++ {
		br.Add(br.dataMem[int(i)*bufSize:int(i+1)*bufSize], uint16(i), int(i))
	}
	br.Advance(int(entries))
	return br, nil
}

// RegisterBufRing registers an empty buffer ring for group bgid; fill it
// with Add and Advance (see Add for the memory it takes).
func (r *Ring) RegisterBufRing(bgid uint16, entries uint32) (*BufRing, error) {
	if entries == 0 || entries > 32768 || entries&(entries-1) != 0 {
		return nil, unix.EINVAL
	}
	size := int(entries) * int(unsafe.Sizeof(BufRingEntry{}))
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	// mem is mmap'd, outside the Go heap: it never moves and stays mapped
	// until release has unregistered the group, so the kernel may keep
	// using it after this call.
	reg := bufReg{RingAddr: uptrTo(unsafe.Pointer(&mem[0])), RingEntries: entries, Bgid: bgid}
	if _, err := r.register(regRegisterPbufRing, unsafe.Pointer(&reg), 1); err != nil {
		_ = unix.Munmap(mem)
		return nil, err
	}
	br := &BufRing{
		ring:       r,
		bgid:       bgid,
		entries:    entries,
		mask:       uint16(entries - 1),
		entriesMem: mem,
		bufs:       unsafe.Slice((*BufRingEntry)(unsafe.Pointer(&mem[0])), entries),
	}
	r.bufRings = append(r.bufRings, br)
	return br, nil
}

// Group returns the buffer group ID to use in SQE.BufIndex.
func (br *BufRing) Group() uint16 { return br.bgid }

// Entries returns the ring size.
func (br *BufRing) Entries() uint32 { return br.entries }

// Add queues buf as buffer bid at position offset after the local tail;
// the kernel sees it after Advance.
//
// The entry holds buf's address as an integer in the mapped ring, where
// the garbage collector does not look, and the kernel writes into buf at
// any time until it hands the buffer back in a CQE (or the group is
// closed). So buf must never move and must stay allocated until then:
// mmap'd memory (as NewBufRing uses) or Go heap memory the caller keeps
// reachable; never a stack variable, since Go stacks move.
func (br *BufRing) Add(buf []byte, bid uint16, offset int) {
	e := &br.bufs[(br.tail+uint16(offset))&br.mask]
	e.Addr = uint64(uintptr(bufAddr(buf)))
	e.Len = uint32(len(buf))
	e.Bid = bid
}

// Advance makes the next n added buffers visible to the kernel.
func (br *BufRing) Advance(n int) {
	br.tail += uint16(n)
	// The tail is a u16 sharing a 32-bit word with entry 0's Bid, and Go
	// has no 16-bit atomic store: publish both halves with one 32-bit
	// release store. Only this side writes either half.
	word := (*uint32)(unsafe.Pointer(&br.bufs[0].Bid))
	atomic.StoreUint32(word, uint32(br.bufs[0].Bid)|uint32(br.tail)<<16)
}

// Buf returns the memory of buffer bid when the BufRing owns its buffers
// (NewBufRing); n limits it to the bytes a CQE reported.
func (br *BufRing) Buf(bid uint16, n int) []byte {
	off := int(bid) * br.bufSize
	return br.dataMem[off : off+n : off+br.bufSize]
}

// Recycle returns buffer bid of a NewBufRing to the kernel.
func (br *BufRing) Recycle(bid uint16) {
	off := int(bid) * br.bufSize
	br.Add(br.dataMem[off:off+br.bufSize], bid, 0)
	br.Advance(1)
}

// Close unregisters the group and frees its memory. Requests that still
// select from it fail with ENOBUFS afterwards.
func (br *BufRing) Close() error {
	err := br.release()
	rs := br.ring.bufRings
	for i, b := range rs {
		if b == br {
			br.ring.bufRings = append(rs[:i], rs[i+1:]...)
			break
		}
	}
	return err
}

func (br *BufRing) release() error {
	if br.released {
		return nil
	}
	br.released = true
	var err error
	reg := bufReg{Bgid: br.bgid} // no address: unregistering names the group only
	_, err = br.ring.register(regUnregisterPbufRing, unsafe.Pointer(&reg), 1)
	if br.dataMem != nil {
		_ = unix.Munmap(br.dataMem)
		br.dataMem = nil
	}
	_ = unix.Munmap(br.entriesMem)
	br.entriesMem = nil
	br.bufs = nil
	return err
}
