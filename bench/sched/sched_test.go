// Package sched benchmarks the event loop (github.com/uringd/uringd/sched)
// against plain Go: cross-goroutine round trips through the inbox, 4 KiB
// page-cache reads against os.File.ReadAt from 32 goroutines, and 4 KiB
// O_DIRECT random reads at queue depth 32 (compare with fio, which
// cmd/uringbench runs in the same session).
//
//	go test -ldflags=-checklinkname=0 ./sched/      # harness check
//	taskset -c 1 env GOMAXPROCS=1 go test -ldflags=-checklinkname=0 \
//	    -run '^$' -bench . -benchmem -count 5 ./sched/
//
// Besides ns/op, every benchmark reports cpu-ns/op: user+system CPU time of
// the whole process per operation (getrusage), the figure that stays
// stable on a shared machine.
package sched

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

const (
	blockSize  = 4096
	goroutines = 32
	qd         = 32
)

var requireIOURing = os.Getenv("URINGD_REQUIRE_IOURING") != ""

func newLoop(tb testing.TB) *sched.Loop {
	tb.Helper()
	l, err := sched.NewLoop(sched.Config{})
	if err != nil {
		if requireIOURing {
			tb.Fatalf("io_uring unavailable: %v", err)
		}
		tb.Skipf("io_uring unavailable: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure runs body and reports cpu-ns/op next to ns/op.
func measure(b *testing.B, body func()) {
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	body()
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

// makeFile writes size random bytes and returns the path and contents.
func makeFile(tb testing.TB, size int) (string, []byte) {
	tb.Helper()
	data := make([]byte, size)
	crand.Read(data)
	path := filepath.Join(tb.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path, data
}

// offsets returns n random block-aligned offsets within size.
func offsets(n, size int) []int64 {
	r := rand.New(rand.NewPCG(1, 2))
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(r.IntN(size/blockSize)) * blockSize
	}
	return out
}

// split runs f(g, count) on goroutines g = 0..n-1 sharing total ops.
func split(n, total int, f func(g, count int)) {
	var wg sync.WaitGroup
	for g := range n {
		count := total / n
		if g < total%n {
			count++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(g, count)
		}()
	}
	wg.Wait()
}

// ---------------------------------------------------------------------------
// Cross-goroutine round trips: a NOP posted through the inbox and waited
// for. The loop sleeps between ops in the serial case, so this includes the
// eventfd wake-up.

func BenchmarkCrossGoroutineNop(b *testing.B) {
	l := newLoop(b)
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		measure(b, func() {
			for range b.N {
				if err := l.Nop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	for _, g := range []int{goroutines, 64} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			crossGoroutineNops(b, l, g)
		})
	}
}

// crossGoroutineNops runs b.N NOP round trips from g goroutines at once.
func crossGoroutineNops(b *testing.B, l *sched.Loop, g int) {
	ctx := context.Background()
	measure(b, func() {
		split(g, b.N, func(_, n int) {
			for range n {
				if err := l.Nop(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// ---------------------------------------------------------------------------
// 4 KiB page-cache reads from 32 goroutines: the loop's blocking API
// against os.File.ReadAt (a pread per call on each goroutine's thread).

const pageCacheFile = 64 << 20

func BenchmarkPageCacheRead4K(b *testing.B) {
	path, _ := makeFile(b, pageCacheFile)
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	offs := offsets(1<<14, pageCacheFile)
	b.Run("impl=uringd-blocking/goroutines=32", func(b *testing.B) {
		l := newLoop(b)
		readersBench(b, func(g int, buf []byte, off int64) error {
			_, err := l.ReadAt(context.Background(), int(f.Fd()), buf, off)
			return err
		}, offs)
	})
	b.Run("impl=uringd-callbacks/qd=32", func(b *testing.B) {
		l := newLoop(b)
		callbackReads(b, l, int(f.Fd()), offs, qd)
	})
	b.Run("impl=os.File.ReadAt/goroutines=32", func(b *testing.B) {
		readersBench(b, func(g int, buf []byte, off int64) error {
			_, err := f.ReadAt(buf, off)
			return err
		}, offs)
	})
}

func readersBench(b *testing.B, read func(g int, buf []byte, off int64) error, offs []int64) {
	measure(b, func() {
		split(goroutines, b.N, func(g, n int) {
			buf := alignedBlock()
			for i := range n {
				if err := read(g, buf, offs[(g*7919+i)&(len(offs)-1)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// callbackReads keeps depth reads in flight from callbacks on the loop:
// each completion submits the next read from inside its callback.
func callbackReads(b *testing.B, l *sched.Loop, fd int, offs []int64, depth int) {
	measure(b, func() {
		if err := runCallbackReads(l, fd, offs, depth, b.N, nil); err != nil {
			b.Fatal(err)
		}
	})
}

// runCallbackReads performs total reads, depth at a time, and calls check
// (if set) with each completed block. It returns the first error.
func runCallbackReads(l *sched.Loop, fd int, offs []int64, depth, total int, check func(buf []byte, off int64) error) error {
	var (
		issued    atomic.Int64
		completed atomic.Int64
		firstErr  atomic.Pointer[error]
		done      = make(chan struct{})
	)
	fail := func(err error) {
		e := err
		if firstErr.CompareAndSwap(nil, &e) {
			close(done)
		}
	}
	ops := make([]sched.Op, min(depth, total))
	var cb sched.Callback
	next := func(op *sched.Op) bool {
		i := issued.Add(1) - 1
		if i >= int64(total) {
			return false
		}
		op.PrepRead(fd, op.Buf(), offs[int(i)&(len(offs)-1)], cb)
		op.Data = offs[int(i)&(len(offs)-1)]
		return true
	}
	cb = func(op *sched.Op, r sched.Result) {
		if err := r.Err(); err != nil {
			fail(err)
			return
		}
		if r.N() != blockSize {
			fail(fmt.Errorf("short read %d", r.N()))
			return
		}
		if check != nil {
			if err := check(op.Buf(), op.Data.(int64)); err != nil {
				fail(err)
				return
			}
		}
		if completed.Add(1) == int64(total) {
			close(done)
			return
		}
		if next(op) {
			if err := l.Submit(op); err != nil {
				fail(err)
			}
		}
	}
	for i := range ops {
		ops[i].PrepRead(fd, alignedBlock(), 0, cb)
		if !next(&ops[i]) {
			break
		}
		if err := l.Post(&ops[i]); err != nil {
			return err
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		return errors.New("reads did not finish")
	}
	if p := firstErr.Load(); p != nil {
		return *p
	}
	return nil
}

// alignedBlock returns a 4 KiB buffer aligned for O_DIRECT.
func alignedBlock() []byte {
	raw := make([]byte, 2*blockSize)
	addr := uintptr(unsafePointer(raw))
	off := int((blockSize - addr%blockSize) % blockSize)
	return raw[off : off+blockSize : off+blockSize]
}

// ---------------------------------------------------------------------------
// O_DIRECT 4 KiB random reads at queue depth 32 from a 1 GiB file: what the
// device sustains. fio (io_uring, libaio, psync) runs on the same file in
// cmd/uringbench's disk scenario.

const directFileSize = 1 << 30

// DirectFile is where BenchmarkDirectRead4K reads; set URINGD_BENCH_DIR to
// put it on another device.
func directFile(b *testing.B) string {
	dir := os.Getenv("URINGD_BENCH_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "uringd-bench-direct-1g")
	if st, err := os.Stat(path); err == nil && st.Size() == directFileSize {
		return path
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 4<<20)
	for written := 0; written < directFileSize; written += len(chunk) {
		crand.Read(chunk)
		if _, err := f.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

func BenchmarkDirectRead4K(b *testing.B) {
	path := directFile(b)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Skipf("O_DIRECT not supported here: %v", err)
	}
	defer unix.Close(fd)
	offs := offsets(1<<16, directFileSize)
	b.Run("impl=uringd-callbacks/qd=32", func(b *testing.B) {
		l := newLoop(b)
		callbackReads(b, l, fd, offs, qd)
	})
	b.Run("impl=uringd-blocking/goroutines=32", func(b *testing.B) {
		l := newLoop(b)
		readersBench(b, func(g int, buf []byte, off int64) error {
			_, err := l.ReadAt(context.Background(), fd, buf, off)
			return err
		}, offs)
	})
	b.Run("impl=pread/goroutines=32", func(b *testing.B) {
		readersBench(b, func(g int, buf []byte, off int64) error {
			_, err := unix.Pread(fd, buf, off)
			return err
		}, offs)
	})
}
