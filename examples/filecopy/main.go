// Command filecopy copies a directory tree with many goroutines through
// sched.File, and then the same tree with io.Copy between os.Files, and
// prints how long each took. Every copied file is checked against its
// source.
//
//	go run ./examples/filecopy -src /usr/share/doc -dst /tmp/copy -workers 32
//	go run ./examples/filecopy -src /usr/share/doc -dst /tmp/copy2 -cold
//
// Both copies start from the same page-cache state: warm by default,
// dropped with -cold (where reads wait for the disk, and the ring keeps
// many of them in flight without a thread each).
// The sched.File copy reads and writes through the loops' rings; reads the
// page cache can serve happen right on the worker goroutine, the others
// wait in the ring without holding a thread.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/uringd/uringd/sched"
)

func main() {
	src := flag.String("src", "", "directory to copy (required)")
	dst := flag.String("dst", "", "where to put the copies (created; must not exist)")
	workers := flag.Int("workers", 32, "files copied at once")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	cold := flag.Bool("cold", false, "drop the sources from the page cache before each copy (posix_fadvise DONTNEED) instead of warming it")
	flag.Parse()
	if *src == "" || *dst == "" {
		flag.Usage()
		os.Exit(2)
	}
	files, err := listFiles(*src)
	if err != nil {
		log.Fatal(err)
	}
	g, err := sched.NewGroup(*loops, sched.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close(context.Background())

	ctx := context.Background()
	for _, run := range []struct {
		name string
		copy func(src, dst string) (int64, error)
	}{
		{"sched.File", func(s, d string) (int64, error) { return copyRing(ctx, g, s, d) }},
		{"io.Copy(os.File)", copyOS},
	} {
		out := filepath.Join(*dst, filepath.Base(run.name))
		if err := setCache(files, *src, *cold); err != nil {
			log.Fatal(err)
		}
		start := time.Now()
		n, err := copyAll(files, *src, out, *workers, run.copy)
		if err != nil {
			log.Fatalf("%s: %v", run.name, err)
		}
		took := time.Since(start)
		if err := verify(files, *src, out); err != nil {
			log.Fatalf("%s: %v", run.name, err)
		}
		fmt.Printf("%-18s %d files, %d bytes in %v (%.0f MB/s), verified\n",
			run.name, len(files), n, took.Round(time.Millisecond), float64(n)/took.Seconds()/1e6)
	}
}

// setCache puts every source file in the page cache, or drops it, so that
// both copies start from the same state.
func setCache(files []string, src string, drop bool) error {
	for _, rel := range files {
		f, err := os.Open(filepath.Join(src, rel))
		if err != nil {
			return err
		}
		if drop {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		} else {
			_, err = io.Copy(io.Discard, f)
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// listFiles returns the regular files under root, relative to it.
func listFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// copyAll copies files from src to dst with workers goroutines.
func copyAll(files []string, src, dst string, workers int, copyFile func(src, dst string) (int64, error)) (int64, error) {
	jobs := make(chan string)
	var (
		mu    sync.Mutex
		total int64
		errs  []error
		wg    sync.WaitGroup
	)
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rel := range jobs {
				to := filepath.Join(dst, rel)
				err := os.MkdirAll(filepath.Dir(to), 0o755)
				var n int64
				if err == nil {
					n, err = copyFile(filepath.Join(src, rel), to)
				}
				mu.Lock()
				total += n
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", rel, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	return total, errors.Join(errs...)
}

// copyRing copies one file through sched.File in 256 KiB chunks.
func copyRing(ctx context.Context, g *sched.Group, src, dst string) (int64, error) {
	in, err := g.OpenFile(ctx, src, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := g.OpenFile(ctx, dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.CopyBuffer(writerOnly{out}, readerOnly{in}, make([]byte, 256<<10))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// copyOS is what most Go programs do.
func copyOS(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// readerOnly and writerOnly make io.CopyBuffer use its buffer instead of
// the files' WriteTo/ReadFrom (which splice only to and from sockets).
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

// verify compares every copied file with its source.
func verify(files []string, src, dst string) error {
	for _, rel := range files {
		a, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			return fmt.Errorf("%s: copy differs from the source", rel)
		}
	}
	return nil
}
