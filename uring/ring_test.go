package uring

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// requireIOURing is set by CI: a ring that cannot be set up fails the test
// run instead of skipping, so skips never hide missing coverage.
var requireIOURing = os.Getenv("URINGD_REQUIRE_IOURING") != ""

// lockedRing sets up a ring owned by the test goroutine, which it locks to
// its thread for the rest of the test.
func lockedRing(t *testing.T, cfg Config) *Ring {
	t.Helper()
	runtime.LockOSThread()
	r, err := Setup(cfg)
	if err != nil {
		runtime.UnlockOSThread()
		if requireIOURing {
			t.Fatalf("io_uring unavailable: %v", err)
		}
		t.Skipf("io_uring unavailable: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		runtime.UnlockOSThread()
	})
	return r
}

// reap submits what is prepared and collects exactly n CQEs (copies),
// failing the test if they do not arrive within two seconds.
func reap(t *testing.T, r *Ring, n int) []CQE {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	var got []CQE
	for len(got) < n {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("got %d of %d completions before the deadline: %+v", len(got), n, got)
		}
		if _, err := r.SubmitAndWaitTimeout(1, left); err != nil && !errors.Is(err, unix.ETIME) {
			t.Fatalf("SubmitAndWaitTimeout: %v", err)
		}
		a, b := r.Completions()
		got = append(append(got, a...), b...)
		r.CQAdvance(uint32(len(a) + len(b)))
	}
	if len(got) > n {
		t.Fatalf("expected %d completions, got %d: %+v", n, len(got), got)
	}
	return got
}

func byUserData(cqes []CQE) map[uint64]CQE {
	m := make(map[uint64]CQE, len(cqes))
	for _, c := range cqes {
		m[c.UserData] = c
	}
	return m
}

func mustSQE(t *testing.T, r *Ring) *SQE {
	t.Helper()
	s := r.GetSQE()
	if s == nil {
		t.Fatal("submission queue full")
	}
	return s
}

// TestRingAvailable is CI's first check: it fails with the diagnosis when
// this machine cannot run io_uring.
func TestRingAvailable(t *testing.T) {
	r := lockedRing(t, Config{})
	p, err := r.Probe()
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	t.Logf("setup flags %#x, features %#x, SQ %d, CQ %d, last op %v", r.Flags(), r.Features(), r.SQEntries(), r.CQEntries(), p.LastOp())
	if r.Features()&FeatExtArg == 0 || r.Features()&FeatNoDrop == 0 {
		t.Fatalf("kernel lacks EXT_ARG or NODROP (features %#x): uringd needs Linux >= 6.1", r.Features())
	}
}

func TestSetupGrantsBestFlags(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	for _, f := range []uint32{SetupSingleIssuer, SetupDeferTaskrun, SetupSubmitAll, SetupCoopTaskrun} {
		if r.Flags()&f == 0 {
			t.Errorf("flag %#x not granted on a kernel >= 6.1 (granted %#x)", f, r.Flags())
		}
	}
	if r.SQEntries() != 8 || r.CQEntries() != 16 {
		t.Errorf("sizes SQ %d CQ %d, want 8 and 16", r.SQEntries(), r.CQEntries())
	}
}

func TestSetupAnyThreadOmitsThreadBoundFlags(t *testing.T) {
	r, err := Setup(Config{Entries: 4, AnyThread: true})
	if err != nil {
		t.Skip(err)
	}
	defer r.Close()
	if r.Flags()&(SetupSingleIssuer|SetupDeferTaskrun) != 0 {
		t.Fatalf("AnyThread ring got thread-bound flags %#x", r.Flags())
	}
	// Usable from whatever thread the goroutine lands on.
	done := make(chan error)
	go func() {
		s := r.GetSQE()
		s.PrepNop()
		_, err := r.SubmitAndWait(1)
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r.CQReady() != 1 {
		t.Fatalf("CQReady = %d, want 1", r.CQReady())
	}
}

func TestSetupFallsBackFlagByFlag(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const unknown = 1 << 30 // a flag no kernel knows: always EINVAL
	want := unknown | SetupSingleIssuer | SetupDeferTaskrun | SetupSubmitAll
	r, err := setupWithFallback(params{SQEntries: 4}, uint32(want), append([]uint32{unknown}, fallbackOrder...))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Flags() != SetupSingleIssuer|SetupDeferTaskrun|SetupSubmitAll {
		t.Fatalf("granted %#x: the refused flag should be dropped and the rest kept", r.Flags())
	}
}

func TestSetupExactFlagsDoNotFallBack(t *testing.T) {
	// SQPOLL with DEFER_TASKRUN is invalid; with exact flags Setup must say
	// so rather than silently hand back something else.
	_, err := Setup(Config{Entries: 4, Flags: SetupSQPoll | SetupSingleIssuer | SetupDeferTaskrun})
	var se *SetupError
	if !errors.As(err, &se) || !errors.Is(err, unix.EINVAL) {
		t.Fatalf("got %v, want a SetupError wrapping EINVAL", err)
	}
}

func TestSetupClampsHugeRings(t *testing.T) {
	r := lockedRing(t, Config{Entries: 1 << 20})
	if r.SQEntries() != 32768 {
		t.Fatalf("SQ entries %d, want clamped to 32768", r.SQEntries())
	}
}

func TestNopBatchesWrapAroundTheCQ(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	var next uint64
	for round := 0; round < 10; round++ {
		for i := 0; i < 6; i++ {
			s := mustSQE(t, r)
			s.PrepNop()
			next++
			s.UserData = next
		}
		if _, err := r.SubmitAndWait(6); err != nil {
			t.Fatal(err)
		}
		a, b := r.Completions()
		if len(a)+len(b) != 6 {
			t.Fatalf("round %d: %d completions", round, len(a)+len(b))
		}
		want := next - 5
		for _, c := range append(append([]CQE(nil), a...), b...) {
			if c.UserData != want || c.Res != 0 {
				t.Fatalf("round %d: got %+v, want user data %d res 0", round, c, want)
			}
			want++
		}
		r.CQAdvance(uint32(len(a) + len(b)))
	}
}

func TestGetSQEReportsFullQueue(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	for i := 0; i < 4; i++ {
		mustSQE(t, r).PrepNop()
	}
	if s := r.GetSQE(); s != nil {
		t.Fatal("GetSQE handed out a fifth entry of a 4-entry queue")
	}
	if r.SQSpace() != 0 || r.SQReady() != 4 {
		t.Fatalf("space %d ready %d", r.SQSpace(), r.SQReady())
	}
	reap(t, r, 4)
	if r.SQSpace() != 4 {
		t.Fatalf("space %d after submit, want 4", r.SQSpace())
	}
}

func TestSubmitAndWaitTimeoutExpires(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	start := time.Now()
	_, err := r.SubmitAndWaitTimeout(1, 20*time.Millisecond)
	if !errors.Is(err, unix.ETIME) {
		t.Fatalf("err %v, want ETIME", err)
	}
	if el := time.Since(start); el < 15*time.Millisecond {
		t.Fatalf("returned after %v, before the timeout", el)
	}
}

func TestNopHotPathDoesNotAllocate(t *testing.T) {
	r := lockedRing(t, Config{Entries: 64})
	if err := r.RegisterRingFd(); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		for i := 0; i < 8; i++ {
			r.GetSQE().PrepNop()
		}
		if _, err := r.SubmitAndWaitTimeout(8, time.Second); err != nil {
			panic(err)
		}
		a, b := r.Completions()
		r.CQAdvance(uint32(len(a) + len(b)))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per submit/reap round", allocs)
	}
}

func TestCQOverflowLosesNoCompletion(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4, CQEntries: 4})
	const total = 64
	for i := 0; i < total; i += 4 {
		for j := 0; j < 4; j++ {
			s := mustSQE(t, r)
			s.PrepNop()
			s.UserData = uint64(i + j + 1)
		}
		if _, err := r.Submit(); err != nil && !errors.Is(err, unix.EBUSY) {
			t.Fatalf("submit while overflowing: %v", err)
		}
	}
	if !r.CQOverflowPending() {
		t.Fatal("64 completions into a 4-entry CQ did not set the overflow flag")
	}
	seen := map[uint64]bool{}
	for tries := 0; len(seen) < total && tries < 1000; tries++ {
		a, b := r.Completions()
		for _, c := range append(append([]CQE(nil), a...), b...) {
			if seen[c.UserData] {
				t.Fatalf("completion %d delivered twice", c.UserData)
			}
			seen[c.UserData] = true
		}
		r.CQAdvance(uint32(len(a) + len(b)))
		if err := r.FlushOverflow(); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != total {
		t.Fatalf("recovered %d of %d completions", len(seen), total)
	}
	if r.CQOverflowPending() {
		t.Fatal("overflow flag still set after everything was reaped")
	}
}

func TestFileOpsEndToEnd(t *testing.T) {
	r := lockedRing(t, Config{Entries: 16})
	dir := t.TempDir()
	path, _ := unix.BytePtrFromString(filepath.Join(dir, "data"))

	// openat, fallocate, write, fsync, statx, read, close through the ring.
	s := mustSQE(t, r)
	s.PrepOpenat(unix.AT_FDCWD, path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	c := reap(t, r, 1)[0]
	if c.Err() != nil {
		t.Fatalf("openat: %v", c.Err())
	}
	fd := int(c.Res)

	payload := make([]byte, 8192)
	rand.Read(payload)
	s = mustSQE(t, r)
	s.PrepFallocate(fd, 0, 0, 1<<20)
	s.UserData = 1
	s.Flags |= SQEIOLink
	s = mustSQE(t, r)
	s.PrepWrite(fd, payload, 4096)
	s.UserData = 2
	s.Flags |= SQEIOLink
	s = mustSQE(t, r)
	s.PrepFsync(fd, FsyncDatasync)
	s.UserData = 3
	got := byUserData(reap(t, r, 3))
	if got[1].Res != 0 || got[2].Res != int32(len(payload)) || got[3].Res != 0 {
		t.Fatalf("fallocate/write/fsync: %+v", got)
	}

	st := new(unix.Statx_t)
	s = mustSQE(t, r)
	s.PrepStatx(unix.AT_FDCWD, path, 0, unix.STATX_SIZE|unix.STATX_BLOCKS, st)
	if c := reap(t, r, 1)[0]; c.Err() != nil {
		t.Fatalf("statx: %v", c.Err())
	}
	if st.Size != 1<<20 {
		t.Fatalf("statx size %d, want %d (fallocate)", st.Size, 1<<20)
	}

	back := make([]byte, len(payload))
	s = mustSQE(t, r)
	s.PrepRead(fd, back, 4096)
	if c := reap(t, r, 1)[0]; c.Res != int32(len(back)) || !bytes.Equal(back, payload) {
		t.Fatalf("read back %d bytes, equal=%v", c.Res, bytes.Equal(back, payload))
	}

	// readv/writev scatter and gather.
	a, b := []byte("hello, "), []byte("vectored world")
	wiov := []unix.Iovec{{Base: &a[0]}, {Base: &b[0]}}
	wiov[0].SetLen(len(a))
	wiov[1].SetLen(len(b))
	s = mustSQE(t, r)
	s.PrepWritev(fd, wiov, 0)
	if c := reap(t, r, 1)[0]; c.Res != int32(len(a)+len(b)) {
		t.Fatalf("writev: %+v", c)
	}
	ra, rb := make([]byte, 4), make([]byte, len(a)+len(b)-4)
	riov := []unix.Iovec{{Base: &ra[0]}, {Base: &rb[0]}}
	riov[0].SetLen(len(ra))
	riov[1].SetLen(len(rb))
	s = mustSQE(t, r)
	s.PrepReadv(fd, riov, 0)
	if c := reap(t, r, 1)[0]; c.Res != int32(len(a)+len(b)) || string(ra)+string(rb) != "hello, vectored world" {
		t.Fatalf("readv: %+v %q %q", c, ra, rb)
	}
	runtime.KeepAlive(wiov)
	runtime.KeepAlive(riov)

	s = mustSQE(t, r)
	s.PrepClose(fd)
	if c := reap(t, r, 1)[0]; c.Err() != nil {
		t.Fatalf("close: %v", c.Err())
	}
	// The fd is gone: a second close reports EBADF, not a crash.
	s = mustSQE(t, r)
	s.PrepClose(fd)
	if c := reap(t, r, 1)[0]; !errors.Is(c.Err(), unix.EBADF) {
		t.Fatalf("second close: %v, want EBADF", c.Err())
	}
}

func TestOpenat2ResolveBeneathKeepsPathsInside(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "inside"), []byte("ok"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(root), "outside-"+filepath.Base(root)), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(filepath.Join(filepath.Dir(root), "outside-"+filepath.Base(root)))
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	dirfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(dirfd)
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_BENEATH}
	for _, c := range []struct {
		path string
		want error
	}{
		{"inside", nil},
		{"../outside-" + filepath.Base(root), unix.EXDEV},
		{"/etc/passwd", unix.EXDEV},
		{"escape", unix.EXDEV},
		{"missing", unix.ENOENT},
	} {
		p, _ := unix.BytePtrFromString(c.path)
		mustSQE(t, r).PrepOpenat2(dirfd, p, how)
		cqe := reap(t, r, 1)[0]
		runtime.KeepAlive(p)
		if c.want == nil {
			if cqe.Err() != nil {
				t.Fatalf("%s: %v", c.path, cqe.Err())
			}
			unix.Close(int(cqe.Res))
			continue
		}
		if !errors.Is(cqe.Err(), c.want) {
			t.Errorf("%s: got %v, want %v", c.path, cqe.Err(), c.want)
		}
	}
}

func TestFixedBuffersAndFiles(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	f, err := os.CreateTemp(t.TempDir(), "fixed")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bufs := [][]byte{make([]byte, 4096), make([]byte, 4096)}
	if err := r.RegisterBuffers(bufs); err != nil {
		t.Fatal(err)
	}
	copy(bufs[0], "fixed buffer payload")
	if err := r.RegisterFiles([]int32{-1, int32(f.Fd())}); err != nil {
		t.Fatal(err)
	}
	s := mustSQE(t, r)
	s.PrepWriteFixed(1, bufs[0][:20], 0, 0)
	s.Flags |= SQEFixedFile
	if c := reap(t, r, 1)[0]; c.Res != 20 {
		t.Fatalf("write_fixed: %+v %v", c, c.Err())
	}
	s = mustSQE(t, r)
	s.PrepReadFixed(1, bufs[1][:20], 0, 1)
	s.Flags |= SQEFixedFile
	if c := reap(t, r, 1)[0]; c.Res != 20 || string(bufs[1][:20]) != "fixed buffer payload" {
		t.Fatalf("read_fixed: %+v %q", c, bufs[1][:20])
	}
	// Slot 0 is empty: using it fails cleanly.
	s = mustSQE(t, r)
	s.PrepRead(0, bufs[1][:1], 0)
	s.Flags |= SQEFixedFile
	if c := reap(t, r, 1)[0]; !errors.Is(c.Err(), unix.EBADF) {
		t.Fatalf("empty slot: %v, want EBADF", c.Err())
	}
	if n, err := r.UpdateFiles(0, []int32{int32(f.Fd())}); err != nil || n != 1 {
		t.Fatalf("UpdateFiles: %d %v", n, err)
	}
	s = mustSQE(t, r)
	s.PrepRead(0, bufs[1][:5], 0)
	s.Flags |= SQEFixedFile
	if c := reap(t, r, 1)[0]; c.Res != 5 || string(bufs[1][:5]) != "fixed" {
		t.Fatalf("read via updated slot: %+v", c)
	}
	// A buffer index out of range is refused, not a crash.
	s = mustSQE(t, r)
	s.PrepReadFixed(int(f.Fd()), bufs[1][:4], 0, 7)
	if c := reap(t, r, 1)[0]; c.Err() == nil {
		t.Fatal("read_fixed with an unregistered buffer index succeeded")
	}
	if err := r.UnregisterFiles(); err != nil {
		t.Fatal(err)
	}
	if err := r.UnregisterBuffers(); err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(bufs)
}

func TestTimeouts(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	ts := &unix.Timespec{Nsec: int64(10 * time.Millisecond)}
	s := mustSQE(t, r)
	s.PrepTimeout(ts, 0, 0)
	if c := reap(t, r, 1)[0]; !errors.Is(c.Err(), unix.ETIME) {
		t.Fatalf("timeout: %v, want ETIME", c.Err())
	}

	// A count timeout completes with 0 once two other CQEs have arrived.
	long := &unix.Timespec{Sec: 10}
	s = mustSQE(t, r)
	s.PrepTimeout(long, 2, 0)
	s.UserData = 100
	for i := 1; i <= 2; i++ {
		s = mustSQE(t, r)
		s.PrepNop()
		s.UserData = uint64(i)
	}
	if got := byUserData(reap(t, r, 3)); got[100].Res != 0 {
		t.Fatalf("count timeout: %+v", got[100])
	}

	// Multishot: fires three times, the last CQE without MORE.
	s = mustSQE(t, r)
	s.PrepTimeout(ts, 3, TimeoutMultishot)
	s.UserData = 7
	cqes := reap(t, r, 3)
	for i, c := range cqes {
		if c.UserData != 7 || !errors.Is(c.Err(), unix.ETIME) || c.More() != (i < 2) {
			t.Fatalf("multishot timeout CQE %d: %+v", i, c)
		}
	}

	// Removing a pending timeout cancels it.
	s = mustSQE(t, r)
	s.PrepTimeout(long, 0, 0)
	s.UserData = 8
	s = mustSQE(t, r)
	s.PrepTimeoutRemove(8, 0)
	s.UserData = 9
	got := byUserData(reap(t, r, 2))
	if !errors.Is(got[8].Err(), unix.ECANCELED) || got[9].Res != 0 {
		t.Fatalf("timeout remove: %+v", got)
	}
	runtime.KeepAlive(ts)
	runtime.KeepAlive(long)
}

func TestSQEFlags(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8})
	// Skip success: a NOP posts nothing, a failing read still reports.
	s := mustSQE(t, r)
	s.PrepNop()
	s.Flags |= SQECQESkipSuccess
	s.UserData = 1
	s = mustSQE(t, r)
	s.PrepRead(-1, make([]byte, 1), 0)
	s.Flags |= SQECQESkipSuccess
	s.UserData = 2
	s = mustSQE(t, r)
	s.PrepNop()
	s.UserData = 3
	got := reap(t, r, 2)
	if _, ok := byUserData(got)[1]; ok {
		t.Fatalf("skip-success NOP posted a CQE: %+v", got)
	}
	if c := byUserData(got)[2]; !errors.Is(c.Err(), unix.EBADF) {
		t.Fatalf("failed skip-success read: %+v", c)
	}

	// A failed link head cancels the rest of the chain; a hardlink does not.
	s = mustSQE(t, r)
	s.PrepRead(-1, make([]byte, 1), 0)
	s.Flags |= SQEIOLink
	s.UserData = 10
	s = mustSQE(t, r)
	s.PrepNop()
	s.UserData = 11
	s = mustSQE(t, r)
	s.PrepRead(-1, make([]byte, 1), 0)
	s.Flags |= SQEIOHardlink
	s.UserData = 12
	s = mustSQE(t, r)
	s.PrepNop()
	s.UserData = 13
	got = reap(t, r, 4)
	m := byUserData(got)
	if !errors.Is(m[11].Err(), unix.ECANCELED) || m[13].Res != 0 || !errors.Is(m[12].Err(), unix.EBADF) {
		t.Fatalf("link semantics: %+v", m)
	}

}

func TestDrainAndAsync(t *testing.T) {
	// A fresh ring: once a ring has seen CQE_SKIP_SUCCESS the kernel
	// refuses DRAIN on it with EOPNOTSUPP.
	r := lockedRing(t, Config{Entries: 8})
	s := mustSQE(t, r)
	s.PrepNop()
	s.Flags |= SQEAsync
	s.UserData = 20
	s = mustSQE(t, r)
	s.PrepNop()
	s.Flags |= SQEIODrain
	s.UserData = 21
	got := reap(t, r, 2)
	if got[len(got)-1].UserData != 21 {
		t.Fatalf("drained NOP completed before the one ahead of it: %+v", got)
	}
}

func TestEventfdIsSignalled(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := r.RegisterEventfd(efd); err != nil {
		t.Fatal(err)
	}
	mustSQE(t, r).PrepNop()
	reap(t, r, 1)
	var buf [8]byte
	if n, err := unix.Read(efd, buf[:]); n != 8 || err != nil {
		t.Fatalf("eventfd read: %d %v (no notification)", n, err)
	}
	if err := r.UnregisterEventfd(); err != nil {
		t.Fatal(err)
	}
}

func TestSQPollSubmitsWithoutEnter(t *testing.T) {
	r := lockedRing(t, Config{Entries: 8, SQPoll: true, SQThreadIdle: 50 * time.Millisecond})
	if r.Flags()&SetupSQPoll == 0 {
		t.Fatalf("SQPOLL not granted: %#x", r.Flags())
	}
	for round := 0; round < 5; round++ {
		for i := 0; i < 4; i++ {
			s := mustSQE(t, r)
			s.PrepNop()
			s.UserData = uint64(i)
		}
		if n := len(reap(t, r, 4)); n != 4 {
			t.Fatalf("round %d: %d completions", round, n)
		}
		if round == 2 {
			time.Sleep(100 * time.Millisecond) // let the poller sleep: submit must wake it
		}
	}
}

func TestRegisteredRingFd(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	if err := r.RegisterRingFd(); err != nil {
		t.Fatal(err)
	}
	if !r.RingFdRegistered() {
		t.Fatal("not registered")
	}
	mustSQE(t, r).PrepNop()
	reap(t, r, 1)
	if err := r.UnregisterRingFd(); err != nil {
		t.Fatal(err)
	}
	mustSQE(t, r).PrepNop()
	reap(t, r, 1)
}

func TestProbeListsOurOps(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	p, err := r.Probe()
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []Op{OpNop, OpRead, OpWrite, OpReadFixed, OpWriteFixed, OpReadv, OpWritev,
		OpOpenat, OpOpenat2, OpStatx, OpClose, OpFsync, OpFallocate, OpSplice, OpAccept, OpConnect,
		OpRecv, OpSend, OpSendmsg, OpSendZC, OpShutdown, OpTimeout, OpLinkTimeout, OpAsyncCancel,
		OpMsgRing, OpPollAdd} {
		if !p.Supports(op) {
			t.Errorf("kernel >= 6.1 should support %v", op)
		}
	}
	if p.Supports(Op(255)) {
		t.Error("op 255 reported as supported")
	}
	if OpSendZC.String() != "send_zc" || Op(250).String() != "op(250)" {
		t.Errorf("names: %s %s", OpSendZC, Op(250))
	}
}

func TestClosedRingRefusesWork(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Submit(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
	if err := r.RegisterEventfd(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("register after Close: %v", err)
	}
}

func TestClosedRingAccessorsAreSafe(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	r.Close()
	if r.GetSQE() != nil || r.PeekCQE() != nil || r.CQReady() != 0 || r.SQSpace() != 0 || r.CQOverflowPending() {
		t.Fatal("a closed ring reported work or space")
	}
	if a, b := r.Completions(); a != nil || b != nil {
		t.Fatal("completions from a closed ring")
	}
	r.CQAdvance(1)
	if _, err := r.WaitCQE(); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitCQE: %v", err)
	}
	if err := r.FlushOverflow(); !errors.Is(err, ErrClosed) {
		t.Fatalf("FlushOverflow: %v", err)
	}
}

func TestSetupRefusesWideEntries(t *testing.T) {
	for _, f := range []uint32{SetupSQE128, SetupCQE32} {
		_, err := Setup(Config{Entries: 4, Flags: f})
		if !errors.Is(err, unix.EINVAL) {
			t.Errorf("flags %#x: %v, want EINVAL", f, err)
		}
	}
}

func TestZCNotificationIsNotAnError(t *testing.T) {
	c := CQE{Res: int32(-2147483648), Flags: CQEFNotif}
	if c.Err() != nil {
		t.Fatalf("notification with the copied flag reported %v", c.Err())
	}
}

// With DEFER_TASKRUN a completion is deferred task work until the owner
// enters the kernel; the registered eventfd must still be signalled when it
// is queued, and only while notifications are enabled. sched parks its
// loops on exactly this.
func TestEventfdNotifyToggleWithDeferredTaskrun(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := r.RegisterEventfd(efd); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	buf := make([]byte, 8)
	readable := func() bool {
		p := []unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}
		n, _ := unix.Poll(p, 100)
		var c [8]byte
		unix.Read(efd, c[:])
		return n == 1
	}
	for _, enabled := range []bool{false, true} {
		if err := r.SetEventfdNotify(enabled); err != nil {
			t.Fatal(err)
		}
		mustSQE(t, r).PrepRecv(fds[0], buf, 0)
		if _, err := r.Submit(); err != nil {
			t.Fatal(err)
		}
		unix.Write(fds[1], []byte("x"))
		if got := readable(); got != enabled {
			t.Fatalf("notifications enabled=%v: eventfd readable=%v", enabled, got)
		}
		if r.CQReady() != 0 {
			t.Fatal("completion posted without entering the kernel: DEFER_TASKRUN not in effect")
		}
		if err := r.GetEvents(); err != nil {
			t.Fatal(err)
		}
		if c := reap(t, r, 1)[0]; c.Res != 1 {
			t.Fatalf("recv: %+v", c)
		}
	}
}

// Go delivers signals (SIGURG for preemption, SIGPROF when profiling) to
// any thread; one that interrupts the wait must not end SubmitAndWait
// before its completions are ready.
func TestSubmitAndWaitSurvivesSignals(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4})
	tid := unix.Gettid()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
				_ = unix.Tgkill(unix.Getpid(), tid, unix.SIGURG)
			}
		}
	}()
	ts := &unix.Timespec{Nsec: int64(150 * time.Millisecond)}
	mustSQE(t, r).PrepTimeout(ts, 0, 0)
	start := time.Now()
	if _, err := r.SubmitAndWait(1); err != nil {
		t.Fatal(err)
	}
	if r.CQReady() != 1 {
		t.Fatalf("SubmitAndWait(1) returned after %v with %d completions ready", time.Since(start), r.CQReady())
	}
	reap(t, r, 1)

	mustSQE(t, r).PrepTimeout(ts, 0, 0)
	start = time.Now()
	if _, err := r.SubmitAndWaitTimeout(1, 60*time.Millisecond); !errors.Is(err, unix.ETIME) {
		t.Fatalf("timed wait: %v, want ETIME", err)
	}
	if el := time.Since(start); el < 55*time.Millisecond || el > time.Second {
		t.Fatalf("a 60ms wait under signals took %v", el)
	}
	reap(t, r, 1)
	runtime.KeepAlive(ts)
}

func TestSetupWithoutDeferTaskrun(t *testing.T) {
	r := lockedRing(t, Config{Entries: 4, NoDeferTaskrun: true})
	if r.Flags()&(SetupDeferTaskrun|SetupCoopTaskrun|SetupTaskrunFlag) != 0 || r.Flags()&SetupSingleIssuer == 0 {
		t.Fatalf("flags %#x: want SINGLE_ISSUER without the task-run flags", r.Flags())
	}
	mustSQE(t, r).PrepNop()
	reap(t, r, 1)
}
