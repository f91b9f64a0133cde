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

// TestEnsureFileSeed checks that seeds give different data and that a
// sparse file of the right size is written again, not reused.
func TestEnsureFileSeed(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for i, p := range []string{a, b} {
		if wrote, err := EnsureFileSeed(p, 64<<10, uint64(i+1)); err != nil || !wrote {
			t.Fatalf("EnsureFileSeed %s: %v %v", p, wrote, err)
		}
	}
	da, _ := os.ReadFile(a)
	db, _ := os.ReadFile(b)
	if string(da) == string(db) {
		t.Fatal("different seeds wrote the same data")
	}
	holes := filepath.Join(dir, "holes")
	if err := os.WriteFile(holes, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(holes, 1<<20); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(holes); !sparse(st) {
		t.Skip("this filesystem allocates truncated files")
	}
	if wrote, err := EnsureFileSeed(holes, 1<<20, 3); err != nil || !wrote {
		t.Fatalf("a sparse file was reused: %v %v", wrote, err)
	}
	if st, _ := os.Stat(holes); sparse(st) {
		t.Fatal("still sparse after EnsureFileSeed")
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
