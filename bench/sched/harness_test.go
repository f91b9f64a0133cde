package sched

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
)

// TestHarnessReadsAreCorrect runs the read bodies a few times on a small
// file and checks every block against the file's contents.
func TestHarnessReadsAreCorrect(t *testing.T) {
	path, data := makeFile(t, 1<<20)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	offs := offsets(256, len(data))
	l := newLoop(t)
	check := func(buf []byte, off int64) error {
		if !bytes.Equal(buf, data[off:off+blockSize]) {
			return fmt.Errorf("block at %d differs", off)
		}
		return nil
	}
	if err := runCallbackReads(l, int(f.Fd()), offs, qd, 1000, check); err != nil {
		t.Fatal(err)
	}
	buf := alignedBlock()
	for _, off := range offs[:64] {
		if _, err := l.ReadAt(context.Background(), int(f.Fd()), buf, off); err != nil {
			t.Fatal(err)
		}
		if err := check(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Nop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
