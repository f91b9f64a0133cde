package evnet

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fileSender answers any input with "head", the file, "tail", then closes.
type fileSender struct {
	f     *os.File
	n     int64
	sends chan error
}

func (h *fileSender) OnOpen(c *Conn) {}
func (h *fileSender) OnData(c *Conn, data []byte) {
	c.WriteString("head")
	c.SendFile(int(h.f.Fd()), 0, h.n, func(sent int64, err error) {
		if err == nil && sent != h.n {
			err = io.ErrShortWrite
		}
		h.sends <- err
	})
	c.WriteString("tail")
	c.Close()
}
func (h *fileSender) OnClose(c *Conn, err error) {}

func TestSendFileBetweenWrites(t *testing.T) {
	data := make([]byte, 5<<20+333)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, data, 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &fileSender{f: f, n: int64(len(data)), sends: make(chan error, 4)}
	_, addr := startServer(t, h, Config{}, "tcp", "127.0.0.1:0")
	for range 3 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		c.Write([]byte("go"))
		got, err := io.ReadAll(c)
		c.Close()
		want := append(append([]byte("head"), data...), "tail"...)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes (%v), want %d", len(got), err, len(want))
		}
		if err := <-h.sends; err != nil {
			t.Fatalf("SendFile done: %v", err)
		}
	}
}

func TestSendFileShorterThanPromised(t *testing.T) {
	data := make([]byte, 100<<10)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, data, 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Promise more than the file has: the connection must end early,
	// without "tail" (which would be framed as part of the file).
	h := &fileSender{f: f, n: int64(len(data)) + 1000, sends: make(chan error, 1)}
	_, addr := startServer(t, h, Config{}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	c.Write([]byte("go"))
	got, _ := io.ReadAll(c)
	if len(got) != 4+len(data) || bytes.HasSuffix(got, []byte("tail")) {
		t.Fatalf("got %d bytes, want exactly head+file (%d) and no tail", len(got), 4+len(data))
	}
	if err := <-h.sends; err != io.ErrUnexpectedEOF {
		t.Fatalf("done: %v, want io.ErrUnexpectedEOF", err)
	}
}
