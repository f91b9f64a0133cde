package offload_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/uringd/uringd/offload"
)

// testData returns n bytes that mix random stretches with compressible
// text, deterministically.
func testData(n int) []byte {
	r := rand.New(rand.NewPCG(1, uint64(n)))
	out := make([]byte, 0, n)
	text := []byte("uringd offload: the loop hands CPU work to the pool and never waits for it. ")
	for len(out) < n {
		k := min(n-len(out), 1+r.IntN(8192))
		if r.IntN(2) == 0 {
			for range k {
				out = append(out, byte(r.Uint32()))
			}
		} else {
			for i := range k {
				out = append(out, text[i%len(text)])
			}
		}
	}
	return out
}

var jobInputs = []struct {
	name string
	data []byte
}{
	{"empty", []byte{}},
	{"small", []byte("hello, uringd")},
	{"3MiB", testData(3 << 20)},
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip.NewReader: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	if err := zr.Close(); err != nil {
		t.Fatalf("gzip Close: %v", err)
	}
	return out
}

func unzstd(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
	if err != nil {
		t.Fatalf("zstd.NewReader: %v", err)
	}
	defer zr.Close()
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("unzstd: %v", err)
	}
	return out
}

func TestGzipRoundTrip(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 2})
	for _, in := range jobInputs {
		for _, level := range []int{gzip.BestSpeed, gzip.DefaultCompression} {
			t.Run(fmt.Sprintf("%s/level%d", in.name, level), func(t *testing.T) {
				v, err := p.Do(bg, offload.CPU, offload.Wait, offload.Gzip(in.data, level))
				if err != nil {
					t.Fatalf("Gzip: %v", err)
				}
				z, ok := v.([]byte)
				if !ok {
					t.Fatalf("Gzip yielded %T, want []byte", v)
				}
				if got := gunzip(t, z); !bytes.Equal(got, in.data) {
					t.Fatalf("round trip: got %d bytes, want %d (equal: false)", len(got), len(in.data))
				}
				if len(in.data) > 1<<20 && len(z) >= len(in.data) {
					t.Errorf("compressible input did not shrink: %d -> %d", len(in.data), len(z))
				}
			})
		}
	}
	if _, err := offload.Gzip([]byte("x"), 42)(bg); err == nil {
		t.Error("Gzip with an invalid level: no error")
	}
}

func TestZstdRoundTrip(t *testing.T) {
	leakCheck(t)
	p := newPool(t, offload.Config{CPUWorkers: 2})
	for _, in := range jobInputs {
		for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
			t.Run(fmt.Sprintf("%s/%s", in.name, level), func(t *testing.T) {
				v, err := p.Do(bg, offload.CPU, offload.Wait, offload.Zstd(in.data, level))
				if err != nil {
					t.Fatalf("Zstd: %v", err)
				}
				z, ok := v.([]byte)
				if !ok {
					t.Fatalf("Zstd yielded %T, want []byte", v)
				}
				if got := unzstd(t, z); !bytes.Equal(got, in.data) {
					t.Fatalf("round trip: got %d bytes, want %d (equal: false)", len(got), len(in.data))
				}
				if len(in.data) > 1<<20 && len(z) >= len(in.data) {
					t.Errorf("compressible input did not shrink: %d -> %d", len(in.data), len(z))
				}
			})
		}
	}
}

// countdownCtx reports itself cancelled after Err has been asked n times:
// a deterministic "cancelled while running".
type countdownCtx struct {
	context.Context
	left  atomic.Int32
	asked atomic.Int32
}

func newCountdown(n int32) *countdownCtx {
	c := &countdownCtx{Context: context.Background()}
	c.left.Store(n)
	return c
}

func (c *countdownCtx) Err() error {
	c.asked.Add(1)
	if c.left.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

// A cancelled context stops the ready-made jobs with context.Canceled,
// whether cancelled before they start or while they run.
func TestJobsCancelled(t *testing.T) {
	leakCheck(t)
	data := jobInputs[2].data
	f, _ := tempFile(t, 1<<20)
	jobs := map[string]offload.Job{
		"gzip":   offload.Gzip(data, gzip.DefaultCompression),
		"zstd":   offload.Zstd(data, zstd.SpeedDefault),
		"sha256": offload.SHA256File(f, 0, -1),
	}
	cancelled, cancel := context.WithCancel(bg)
	cancel()
	p := newPool(t, offload.Config{CPUWorkers: 1})
	for name, job := range jobs {
		t.Run(name, func(t *testing.T) {
			if v, err := job(cancelled); !errors.Is(err, context.Canceled) || v != nil {
				t.Errorf("with a cancelled ctx: (%T, %v), want (nil, context.Canceled)", v, err)
			}
			// Cancelled after two chunks: the job notices between chunks.
			cd := newCountdown(2)
			if v, err := job(cd); !errors.Is(err, context.Canceled) || v != nil {
				t.Errorf("cancelled while running: (%T, %v), want (nil, context.Canceled)", v, err)
			}
			if n := cd.asked.Load(); n != 3 {
				t.Errorf("job asked its ctx %d times before stopping, want 3 (it should stop at once)", n)
			}
			if _, err := p.Do(cancelled, offload.CPU, offload.Wait, job); !errors.Is(err, context.Canceled) {
				t.Errorf("Do with a cancelled ctx: %v, want context.Canceled", err)
			}
		})
	}
}

// tempFile writes n deterministic bytes to a temp file and returns it open.
func tempFile(t *testing.T, n int) (*os.File, []byte) {
	t.Helper()
	data := testData(n)
	path := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, data
}

func TestSHA256File(t *testing.T) {
	leakCheck(t)
	const size = 700<<10 + 13 // several of the job's 256 KiB chunks, and a ragged end
	f, data := tempFile(t, size)
	p := newPool(t, offload.Config{BlockingWorkers: 2})
	for _, c := range []struct {
		name   string
		off, n int64
		want   []byte
	}{
		{"full, n<0", 0, -1, data},
		{"full, exact n", 0, size, data},
		{"middle", 1000, 600_000, data[1000:601_000]},
		{"one byte", 300_000, 1, data[300_000:300_001]},
		{"from middle to end, n<0", 300_001, -1, data[300_001:]},
		{"empty region", 5, 0, nil},
		{"at EOF, n<0", size, -1, nil},
		{"past EOF, n<0", size + 100, -1, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := p.Do(bg, offload.Blocking, offload.Wait, offload.SHA256File(f, c.off, c.n))
			if err != nil {
				t.Fatalf("SHA256File: %v", err)
			}
			sum, ok := v.([32]byte)
			if !ok {
				t.Fatalf("SHA256File yielded %T, want [32]byte", v)
			}
			if want := sha256.Sum256(c.want); sum != want {
				t.Errorf("digest %x, want %x", sum, want)
			}
		})
	}
	for _, c := range []struct {
		name   string
		off, n int64
	}{
		{"runs past EOF", size - 10, 100},
		{"starts past EOF", size + 1, 10},
		{"one byte too many", 0, size + 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := p.Do(bg, offload.Blocking, offload.Wait, offload.SHA256File(f, c.off, c.n))
			if !errors.Is(err, io.ErrUnexpectedEOF) || v != nil {
				t.Errorf("(%v, %v), want (nil, io.ErrUnexpectedEOF)", v, err)
			}
		})
	}
}
