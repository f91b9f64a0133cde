package offload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Ready-made jobs for the HTTP layer. Each checks its context between
// chunks so cancellation stops it promptly.

// chunk is how much a job processes between context checks and yields:
// about a quarter of a millisecond of gzip, so a loop waiting for this
// worker's P or CPU gets it soon.
const chunk = 64 << 10

var gzipWriters [gzip.BestCompression - gzip.HuffmanOnly + 1]sync.Pool

// Compressor state is large (hundreds of KiB); reusing it keeps the
// garbage collector, which also competes with the loops, quiet.
func getGzipWriter(w io.Writer, level int) (*gzip.Writer, error) {
	if level < gzip.HuffmanOnly || level > gzip.BestCompression {
		return nil, fmt.Errorf("offload: gzip level %d out of range", level)
	}
	if zw, ok := gzipWriters[level-gzip.HuffmanOnly].Get().(*gzip.Writer); ok {
		zw.Reset(w)
		return zw, nil
	}
	return gzip.NewWriterLevel(w, level)
}

func putGzipWriter(zw *gzip.Writer, level int) {
	zw.Reset(io.Discard)
	gzipWriters[level-gzip.HuffmanOnly].Put(zw)
}

// Gzip returns a job that compresses data at level (gzip.DefaultCompression
// and friends) and yields the compressed []byte.
func Gzip(data []byte, level int) Job {
	return func(ctx context.Context) (any, error) {
		var out bytes.Buffer
		out.Grow(len(data)/3 + 64)
		zw, err := getGzipWriter(&out, level)
		if err != nil {
			return nil, err
		}
		defer putGzipWriter(zw, level)
		if err := writeChunks(ctx, zw, data); err != nil {
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
}

// Zstd returns a job that compresses data with zstd at level and yields
// the compressed []byte.
func Zstd(data []byte, level zstd.EncoderLevel) Job {
	return func(ctx context.Context) (any, error) {
		var out bytes.Buffer
		out.Grow(len(data)/3 + 64)
		zw, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(level), zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		if err := writeChunks(ctx, zw, data); err != nil {
			zw.Close()
			return nil, err
		}
		if err := zw.Close(); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
}

func writeChunks(ctx context.Context, w io.Writer, data []byte) error {
	for len(data) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(len(data), chunk)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		runtime.Gosched()
	}
	return nil
}

// SHA256File returns a job that hashes n bytes of f from off (n < 0: to
// the end of the file) and yields the [32]byte digest. A region shorter
// than asked is an io.ErrUnexpectedEOF.
func SHA256File(f *os.File, off, n int64) Job {
	return func(ctx context.Context) (any, error) {
		h := sha256.New()
		buf := make([]byte, chunk)
		pos, left := off, n
		for left != 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			want := int64(len(buf))
			if left > 0 {
				want = min(want, left)
			}
			got, err := f.ReadAt(buf[:want], pos)
			h.Write(buf[:got])
			runtime.Gosched()
			pos += int64(got)
			if left > 0 {
				left -= int64(got)
			}
			if err == io.EOF {
				if left > 0 {
					return nil, io.ErrUnexpectedEOF
				}
				break
			}
			if err != nil {
				return nil, err
			}
		}
		var sum [32]byte
		h.Sum(sum[:0])
		return sum, nil
	}
}
