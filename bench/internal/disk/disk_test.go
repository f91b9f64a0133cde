package disk

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestEnsureFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "data")
	wrote, err := EnsureFile(path, 1<<20+4096)
	if err != nil || !wrote {
		t.Fatalf("first EnsureFile: %v %v", wrote, err)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) != 1<<20+4096 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	zeros := 0
	for _, c := range b[:4096] {
		if c == 0 {
			zeros++
		}
	}
	if zeros > 100 {
		t.Fatalf("%d zero bytes in the first block: not random data", zeros)
	}
	if wrote, err := EnsureFile(path, 1<<20+4096); err != nil || wrote {
		t.Fatalf("second EnsureFile rewrote the file: %v %v", wrote, err)
	}
}

func TestRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	if _, err := EnsureFile(path, 4<<20); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Skipf("O_DIRECT not supported on %s: %v", filepath.Dir(path), err)
	}
	unix.Close(fd)
	for _, mode := range []string{ModeCallbacks, ModeBlocking} {
		res, err := Run(path, mode, 8, 100*time.Millisecond)
		if err != nil {
			if os.Getenv("URINGD_REQUIRE_IOURING") == "" && strings.Contains(err.Error(), "io_uring") {
				t.Skipf("io_uring unavailable: %v", err)
			}
			t.Fatalf("%s: %v", mode, err)
		}
		if res.IOs < 8 || res.Seconds < 0.09 || res.CPUSec <= 0 || res.IOPS() <= 0 || res.CPUPerIO() <= 0 {
			t.Fatalf("%s: %+v", mode, res)
		}
	}
	if _, err := Run(path, "sideways", 1, time.Millisecond); err == nil {
		t.Fatal("unknown mode accepted")
	}
	if _, err := Run(filepath.Join(t.TempDir(), "missing"), ModeCallbacks, 1, time.Millisecond); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("missing file: %v", err)
	}
}
