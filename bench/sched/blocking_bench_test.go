package sched

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// The blocking API against what it replaces, as a Go program uses it: one
// goroutine reading a cached file, a serial round trip that must wait for
// the loop, and many goroutines reading a cold (O_DIRECT) file. The
// uringbench "blocking" scenario runs these unpinned with the default
// GOMAXPROCS and pinned with GOMAXPROCS=1.

// BenchmarkSerialCachedRead4K: 4 KiB reads at random offsets of a warm
// 64 MiB file, one after another from one goroutine.
func BenchmarkSerialCachedRead4K(b *testing.B) {
	path, _ := makeFile(b, pageCacheFile)
	offs := offsets(1<<14, pageCacheFile)
	osf, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer osf.Close()
	l := newLoop(b)
	sf, err := l.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer sf.Close()
	buf := alignedBlock()
	ctx := context.Background()
	run := func(name string, read func(off int64) error) {
		b.Run("impl="+name, func(b *testing.B) {
			measure(b, func() {
				for i := range b.N {
					if err := read(offs[i&(len(offs)-1)]); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	run("os.File", func(off int64) error { _, err := osf.ReadAt(buf, off); return err })
	run("sched.File", func(off int64) error { _, err := sf.ReadAt(buf, off); return err })
	run("Loop.ReadAt", func(off int64) error { _, err := l.ReadAt(ctx, int(osf.Fd()), buf, off); return err })
}

// BenchmarkRoundTrip: a blocking Nop, which can only complete through the
// loop: the cost of handing work to the loop and getting the result back.
func BenchmarkRoundTrip(b *testing.B) {
	l := newLoop(b)
	ctx := context.Background()
	b.Run("impl=Loop.Nop", func(b *testing.B) {
		measure(b, func() {
			for range b.N {
				if err := l.Nop(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkColdRead4K: O_DIRECT 4 KiB random reads of a 1 GiB file from
// many goroutines (each read waits for the device): os.File.ReadAt blocks
// a thread per read, sched.File parks the goroutine and keeps the reads in
// the ring.
func BenchmarkColdRead4K(b *testing.B) {
	path := directFile(b)
	offs := offsets(1<<16, directFileSize)
	osf, err := os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		b.Skipf("O_DIRECT not supported here: %v", err)
	}
	defer osf.Close()
	l := newLoop(b)
	sf, err := l.OpenFile(context.Background(), path, os.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sf.Close()
	for _, g := range []int{64, 256} {
		for _, impl := range []struct {
			name string
			read func([]byte, int64) error
		}{
			{"os.File", func(buf []byte, off int64) error { _, err := osf.ReadAt(buf, off); return err }},
			{"sched.File", func(buf []byte, off int64) error { _, err := sf.ReadAt(buf, off); return err }},
		} {
			b.Run(fmt.Sprintf("goroutines=%d/impl=%s", g, impl.name), func(b *testing.B) {
				goroutineReads(b, g, impl.read, offs)
			})
		}
	}
}

// goroutineReads runs b.N reads over g goroutines and reports reads/s.
func goroutineReads(b *testing.B, g int, read func([]byte, int64) error, offs []int64) {
	measure(b, func() {
		split(g, b.N, func(id, n int) {
			buf := alignedBlock()
			for i := range n {
				if err := read(buf, offs[(id*7919+i)&(len(offs)-1)]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

var _ = sched.Config{}
