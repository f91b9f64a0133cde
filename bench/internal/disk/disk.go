// Package disk is uringd's side of the disk scenario: 4 KiB random reads
// of a file with O_DIRECT through one sched.Loop, either from callbacks
// that keep QD reads in flight (each completion submits the next read) or
// from QD goroutines calling the blocking Loop.ReadAt. `uringbench
// diskread` runs it in a child process pinned like fio.
package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// BlockSize is the read size.
const BlockSize = 4096

// Result is one measured run.
type Result struct {
	IOs     int64   `json:"ios"`
	Seconds float64 `json:"seconds"`
	CPUSec  float64 `json:"cpu_s"` // this process, all threads (getrusage)
	Mode    string  `json:"mode"`
	QD      int     `json:"qd"`
	// The loop's counters over the window (sched.Metrics).
	Enters uint64 `json:"enters"`
	CQEs   uint64 `json:"cqes"`
}

// IOPS returns reads per second.
func (r Result) IOPS() float64 { return float64(r.IOs) / r.Seconds }

// CPUPerIO returns CPU microseconds per read.
func (r Result) CPUPerIO() float64 { return r.CPUSec * 1e6 / float64(r.IOs) }

// Modes.
const (
	ModeCallbacks = "callbacks"
	ModeBlocking  = "blocking"
)

// rng is xorshift64*: cheap random block numbers on the loop.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 2685821657736338717
}

// submitBatch is the loop's Config.SubmitBatch: the virtual disk
// completes reads in bursts and idles until the first resubmission
// reaches it, so the callbacks' reads go in as soon as 4 are queued
// rather than after the whole batch (0.80x fio at QD 32 before).
const submitBatch = 4

// Run reads random aligned 4 KiB blocks of path with O_DIRECT for
// duration, qd at a time, and reports the reads done and the CPU spent.
// Every read must return exactly 4096 bytes.
func Run(path, mode string, qd int, duration time.Duration) (Result, error) {
	res := Result{Mode: mode, QD: qd}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return res, fmt.Errorf("open %s with O_DIRECT: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return res, err
	}
	blocks := uint64(st.Size / BlockSize)
	if blocks == 0 {
		return res, fmt.Errorf("%s is smaller than one block", path)
	}
	// Page-aligned buffers, as O_DIRECT needs.
	mem, err := unix.Mmap(-1, 0, qd*BlockSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return res, err
	}
	defer unix.Munmap(mem)
	l, err := sched.NewLoop(sched.Config{Entries: uint32(max(2*qd, 64)), LockOSThread: true, SubmitBatch: submitBatch})
	if err != nil {
		return res, err
	}
	defer l.Close(context.Background())

	var ios atomic.Int64
	var stop atomic.Bool
	var firstErr atomic.Pointer[error]
	fail := func(err error) {
		firstErr.CompareAndSwap(nil, &err)
		stop.Store(true)
	}
	m0 := l.Metrics()
	c0, t0 := proc.SelfCPU(), time.Now()
	switch mode {
	case ModeCallbacks:
		done := make(chan struct{})
		ops := make([]sched.Op, qd)
		r := rng(0x9E3779B97F4A7C15)
		inflight := qd // touched only on the loop once the ops are posted
		var cb sched.Callback
		cb = func(op *sched.Op, res sched.Result) {
			switch {
			case res.Err() != nil:
				fail(fmt.Errorf("read: %w", res.Err()))
			case res.N() != BlockSize:
				fail(fmt.Errorf("short read: %d bytes", res.N()))
			default:
				ios.Add(1)
			}
			if !stop.Load() {
				op.PrepRead(fd, op.Buf(), int64(r.next()%blocks)*BlockSize, cb)
				err := l.Submit(op)
				if err == nil {
					return
				}
				fail(err)
			}
			if inflight--; inflight == 0 {
				close(done)
			}
		}
		seed := rng(0x2545F4914F6CDD1D)
		for i := range ops {
			ops[i].PrepRead(fd, mem[i*BlockSize:(i+1)*BlockSize:(i+1)*BlockSize], int64(seed.next()%blocks)*BlockSize, cb)
			if err := l.Post(&ops[i]); err != nil {
				return res, err
			}
		}
		time.Sleep(duration)
		stop.Store(true)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			return res, errors.New("reads did not drain in 30s")
		}
	case ModeBlocking:
		var wg sync.WaitGroup
		for g := range qd {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := mem[g*BlockSize : (g+1)*BlockSize : (g+1)*BlockSize]
				r := rng(uint64(g)*0x9E3779B97F4A7C15 + 1)
				ctx := context.Background()
				for !stop.Load() {
					n, err := l.ReadAt(ctx, fd, buf, int64(r.next()%blocks)*BlockSize)
					if err == nil && n != BlockSize {
						err = fmt.Errorf("short read: %d bytes", n)
					}
					if err != nil {
						fail(err)
						return
					}
					ios.Add(1)
				}
			}()
		}
		time.Sleep(duration)
		stop.Store(true)
		wg.Wait()
	default:
		return res, fmt.Errorf("unknown mode %q (callbacks, blocking)", mode)
	}
	res.Seconds = time.Since(t0).Seconds()
	res.CPUSec = (proc.SelfCPU() - c0).Seconds()
	res.IOs = ios.Load()
	m1 := l.Metrics()
	res.Enters, res.CQEs = m1.Enters-m0.Enters, m1.CQEs-m0.CQEs
	if p := firstErr.Load(); p != nil {
		return res, *p
	}
	if res.IOs == 0 {
		return res, errors.New("no reads completed")
	}
	return res, nil
}

// EnsureFile makes path a file of exactly size bytes of random data
// (written, so reads hit real blocks, not holes), unless it already is
// one. It reports whether it wrote the file.
func EnsureFile(path string, size int64) (bool, error) {
	return EnsureFileSeed(path, size, 0xDEADBEEFCAFEF00D)
}

// EnsureFileSeed is EnsureFile with the data generated from seed (files
// made with different seeds differ). A file of the right size that is
// sparse (fewer blocks allocated than its size needs) is written again.
func EnsureFileSeed(path string, size int64, seed uint64) (bool, error) {
	if st, err := os.Stat(path); err == nil && st.Size() == size && st.Mode().IsRegular() && !sparse(st) {
		return false, nil
	}
	if seed == 0 {
		seed = 1 // xorshift stays at zero
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return false, err
	}
	chunk := make([]byte, 4<<20)
	r := rng(seed)
	for written := int64(0); written < size; {
		for i := 0; i+8 <= len(chunk); i += 8 {
			v := r.next()
			for k := range 8 {
				chunk[i+k] = byte(v >> (8 * k))
			}
		}
		n := min(int64(len(chunk)), size-written)
		if _, err := f.Write(chunk[:n]); err != nil {
			f.Close()
			os.Remove(tmp)
			return false, err
		}
		written += n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	return true, os.Rename(tmp, path)
}

// sparse reports whether st's file has fewer 512-byte blocks allocated
// than its size needs (holes).
func sparse(st os.FileInfo) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Blocks*512 < st.Size()
}
