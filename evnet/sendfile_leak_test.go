package evnet

import (
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestSendFilePipesReleasedOnShutdown: the pipes a loop keeps for
// splicing are closed when the server shuts down (a process that starts
// and stops servers, or reloads, must not leak descriptors).
func TestSendFilePipesReleasedOnShutdown(t *testing.T) {
	checkLeaks(t)
	data := make([]byte, 3<<20)
	rand.Read(data)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, data, 0o600)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &fileSender{f: f, n: int64(len(data)), sends: make(chan error, 16)}
	s, addr := serve(t, h, Config{}, "tcp", "127.0.0.1:0")
	for range 4 {
		c := dial(t, addr)
		c.Write([]byte("go"))
		if got, err := io.ReadAll(c); err != nil || len(got) != len(data)+8 {
			t.Fatalf("read %d, %v", len(got), err)
		}
		c.Close()
		if err := wait(t, h.sends, "SendFile's done"); err != nil {
			t.Fatal(err)
		}
	}
	if err := shutdown(t, s, testTimeout); err != nil {
		t.Fatal(err)
	}
	// checkLeaks compares the fd count with the start of the test.
}
