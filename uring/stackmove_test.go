package uring

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Tests that the kernel never reads a goroutine stack the goroutine has
// left: an address handed to the kernel must move with the stack when a
// call between filling a struct and the syscall grows it (see uptr).

// smEfenceChild marks the child process of
// TestUpdateFilesFromMovingStackEfence.
const smEfenceChild = "URINGD_STACKMOVE_EFENCE_CHILD"

// smDepths is how many stack depths the sweep tries. A level of
// smDescend takes a few dozen bytes, less than the frames UpdateFiles
// adds before its syscall, so the sweep crosses each growth point of a
// fresh goroutine's stack (8->16, 16->32, 32->64 KiB) at an offset where
// the stack grows inside UpdateFiles.
const smDepths = 1500

// smDescend recurses depth times with a small frame, then calls leaf:
// each depth starts the leaf a little closer to the end of the stack.
//
//go:noinline
func smDescend(depth int, leaf func()) {
	if depth > 0 {
		smDescend(depth-1, leaf)
		return
	}
	leaf()
}

// smUpdate calls UpdateFiles for slots 0 and 1 with an fds array on this
// goroutine's stack, and reports whether the stack moved during the call.
//
//go:noinline
func smUpdate(r *Ring, a, b int32) (moved bool, n int, err error) {
	fds := [2]int32{a, b} // does not escape: it stays on the stack
	before := uintptr(unsafe.Pointer(&fds[0]))
	n, err = r.UpdateFiles(0, fds[:])
	return uintptr(unsafe.Pointer(&fds[0])) != before, n, err
}

// TestUpdateFilesFromMovingStack calls UpdateFiles at every depth of a
// fresh goroutine's stack, so that at some depths the stack grows (and
// moves) inside UpdateFiles, between filling the update struct and the
// syscall, and checks by reading through each registered slot that the
// kernel installed the files the caller passed. Before the fix the kernel
// read the abandoned stack: still intact in a normal run, but unmapped
// under GODEBUG=efence=1 (EFAULT, slots left stale); see
// TestUpdateFilesFromMovingStackEfence.
func TestUpdateFilesFromMovingStack(t *testing.T) {
	ntLeakCheck(t)
	// AnyThread: UpdateFiles runs on fresh goroutines, on any thread.
	r := lockedRing(t, Config{Entries: 8, AnyThread: true})
	if err := r.RegisterFilesSparse(2); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var files [3]int32
	for i := range files {
		f, err := os.Create(filepath.Join(dir, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := fmt.Fprintf(f, "file %d", i); err != nil {
			t.Fatal(err)
		}
		files[i] = int32(f.Fd())
	}
	buf := make([]byte, 16)
	readSlot := func(slot int) string {
		s := mustSQE(t, r)
		s.PrepRead(slot, buf, 0)
		s.Flags |= SQEFixedFile
		c := reap(t, r, 1)[0]
		if c.Res < 0 {
			return "error " + c.Err().Error()
		}
		return string(buf[:c.Res])
	}

	type result struct {
		moved bool
		n     int
		err   error
	}
	moves, bad := 0, 0
	for depth := range smDepths {
		// Consecutive depths put different files in both slots, so an
		// update that did not happen shows up as a stale slot.
		a, b := depth%3, (depth+1)%3
		done := make(chan result, 1)
		go smDescend(depth, func() {
			moved, n, err := smUpdate(r, files[a], files[b])
			done <- result{moved, n, err}
		})
		res := <-done
		if res.moved {
			moves++
		}
		got0, got1 := readSlot(0), readSlot(1)
		want0, want1 := fmt.Sprintf("file %d", a), fmt.Sprintf("file %d", b)
		if res.err != nil || res.n != 2 || got0 != want0 || got1 != want1 {
			bad++
			if bad <= 5 {
				t.Errorf("depth %d (stack moved during the call: %v): UpdateFiles = %d, %v; slots read %q, %q, want %q, %q",
					depth, res.moved, res.n, res.err, got0, got1, want0, want1)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d updates from a stack array went wrong", bad, smDepths)
	}
	// The sweep is only worth something if stacks did move mid-call: once
	// per growth point at least.
	if moves < 2 {
		t.Errorf("the stack moved during UpdateFiles at %d depths, want >= 2: the sweep missed the growth points", moves)
	}
	t.Logf("stack moved during UpdateFiles at %d of %d depths", moves, smDepths)
}

// TestUpdateFilesFromMovingStackEfence runs TestUpdateFilesFromMovingStack
// in a child process with GODEBUG=efence=1, where the runtime unmaps a
// stack it has moved away from: a kernel read of the old stack then fails
// with EFAULT instead of finding stale but intact data.
func TestUpdateFilesFromMovingStackEfence(t *testing.T) {
	if os.Getenv(smEfenceChild) != "" {
		return // the child runs only the sweep
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpdateFilesFromMovingStack$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), smEfenceChild+"=1", "GODEBUG=efence=1")
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("child with GODEBUG=efence=1: %v\n%s", err, out)
	case strings.Contains(string(out), "--- SKIP: TestUpdateFilesFromMovingStack "):
		if requireIOURing {
			t.Fatalf("child skipped:\n%s", out)
		}
		t.Skipf("child skipped:\n%s", out)
	case !strings.Contains(string(out), "--- PASS: TestUpdateFilesFromMovingStack "):
		t.Fatalf("child did not run the sweep:\n%s", out)
	}
}

// A uptr holds exactly the 64-bit address the kernel expects, on any
// word size and byte order.
func TestUptrEncodesTheAddress(t *testing.T) {
	var x [4]int32
	p := unsafe.Pointer(&x[1])
	u := uptrTo(p)
	if got := *(*uint64)(unsafe.Pointer(&u)); got != uint64(uintptr(p)) {
		t.Fatalf("uptr reads as %#x as a __u64, want %#x", got, uint64(uintptr(p)))
	}
}

// Keeping addresses as pointers costs nothing: a file update from a stack
// array and a timed wait (which passes a getevents arg and a timespec)
// still allocate nothing.
func TestPointerArgumentsDoNotAllocate(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	if err := r.RegisterFilesSparse(1); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int32(f.Fd())
	if allocs := testing.AllocsPerRun(100, func() {
		fds := [1]int32{fd}
		if _, err := r.UpdateFiles(0, fds[:]); err != nil {
			panic(err)
		}
	}); allocs != 0 {
		t.Errorf("UpdateFiles: %v allocations per call", allocs)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		// Nothing is in flight: the wait always runs out.
		if _, err := r.SubmitAndWaitTimeout(1, time.Microsecond); !errors.Is(err, unix.ETIME) {
			panic(err)
		}
	}); allocs != 0 {
		t.Errorf("timed wait: %v allocations per call", allocs)
	}
}

// The kernel reads and writes registered buffers long after
// RegisterBuffers returns, so a buffer the caller declared on its stack
// must not stay there: when the stack moves, the kernel would keep the
// old pages and the caller would look at the copy. RegisterBuffers keeps
// bufs in the Ring, which makes the compiler put them on the heap. Here a
// goroutine registers a stack array, grows its stack well past its
// starting size (which would move the array), and reads a file into the
// array with read_fixed.
func TestRegisteredBufferSurvivesAStackMove(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4, AnyThread: true})
	f, err := os.CreateTemp(t.TempDir(), "fixed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const content = "read into a registered buffer"
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	done := make(chan string, 1)
	go func() {
		var b [64]byte
		if err := r.RegisterBuffers([][]byte{b[:]}); err != nil {
			done <- "RegisterBuffers: " + err.Error()
			return
		}
		smDescend(smDepths, func() {}) // 1500 levels: the stack grows several times
		s := r.GetSQE()
		s.PrepReadFixed(int(f.Fd()), b[:len(content)], 0, 0)
		if _, err := r.SubmitAndWait(1); err != nil {
			done <- "SubmitAndWait: " + err.Error()
			return
		}
		c := r.PeekCQE()
		res, cerr := c.Res, c.Err()
		r.CQAdvance(1)
		if cerr != nil {
			done <- "read_fixed: " + cerr.Error()
			return
		}
		done <- string(b[:res])
	}()
	if got := <-done; got != content {
		t.Fatalf("registered buffer holds %q, want %q", got, content)
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatal(err)
	}
}
