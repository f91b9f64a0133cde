package sched

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestFileReadWriteSeek(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	path := filepath.Join(t.TempDir(), "f")
	f, err := l.OpenFile(ctx, path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 300<<10)
	rand.Read(data)
	if n, err := f.Write(data); n != len(data) || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if pos, err := f.Seek(0, io.SeekCurrent); pos != int64(len(data)) || err != nil {
		t.Fatalf("position after Write = %d, %v", pos, err)
	}
	got := make([]byte, len(data))
	if n, err := f.ReadAt(got, 0); n != len(data) || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAt = %d, %v (equal %v)", n, err, bytes.Equal(got, data))
	}
	// At the end: io.EOF with what there was.
	if n, err := f.ReadAt(got[:100], int64(len(data)-10)); n != 10 || err != io.EOF {
		t.Fatalf("ReadAt across the end = %d, %v; want 10, EOF", n, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(f)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("ReadAll = %d bytes, %v", len(all), err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != int64(len(data)) || fi.Name() != "f" || fi.IsDir() || fi.Mode().Perm() != 0o600 {
		t.Fatalf("Stat = %v, %v", fi, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v, want os.ErrClosed", err)
	}
	if _, err := f.ReadAt(got, 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("ReadAt after Close = %v, want os.ErrClosed", err)
	}
	if _, err := l.Open(ctx, filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %v, want ErrNotExist", err)
	}
}

func TestFileSpliceToAndFromConn(t *testing.T) {
	checkFds(t)
	l := newLoop(t, Config{})
	ctx := timeoutCtx(t)
	dir := t.TempDir()
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	c, peer := connPair(t, l)
	f, err := l.Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(5, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	recvd := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(peer)
		recvd <- b
	}()
	n, err := io.Copy(c, f)
	if err != nil || n != int64(len(data)-5) {
		t.Fatalf("io.Copy(conn, file) = %d, %v", n, err)
	}
	if pos, _ := f.Seek(0, io.SeekCurrent); pos != int64(len(data)) {
		t.Errorf("file position after WriteTo = %d, want %d", pos, len(data))
	}
	c.CloseWrite()
	if got := waitChan(t, recvd, "the peer's ReadAll"); !bytes.Equal(got, data[5:]) {
		t.Fatalf("peer got %d bytes, want %d (equal %v)", len(got), len(data)-5, bytes.Equal(got, data[5:]))
	}

	// The other way: the peer sends, the file receives by splice.
	dst, err := l.OpenFile(ctx, filepath.Join(dir, "dst"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	go func() {
		peer.(*net.TCPConn).Write(data)
		peer.(*net.TCPConn).CloseWrite()
	}()
	n, err = io.Copy(dst, c)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("io.Copy(file, conn) = %d, %v", n, err)
	}
	back, _ := os.ReadFile(filepath.Join(dir, "dst"))
	if !bytes.Equal(back, data) {
		t.Fatalf("file got %d bytes, want %d", len(back), len(data))
	}
}
