package probe

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

const seccompChildEnv = "URINGD_PROBE_SECCOMP_CHILD"

// TestProbeUnderSeccomp runs the probe in a child process whose seccomp
// filter answers io_uring_setup with an errno, as a container profile
// does, and checks the diagnosis names seccomp: the real kernel path, not
// injected facts.
func TestProbeUnderSeccomp(t *testing.T) {
	if errno := os.Getenv(seccompChildEnv); errno != "" {
		seccompChild(t, errno)
		return
	}
	if !Run().Setup.OK {
		t.Skip("io_uring does not work here even without a filter")
	}
	for _, tt := range []struct {
		errno, cause string
	}{
		{"EPERM", CauseSeccomp},
		{"ENOSYS", CauseSeccomp},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProbeUnderSeccomp$", "-test.v=false")
		cmd.Env = append(os.Environ(), seccompChildEnv+"="+tt.errno)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		var r Report
		// The test binary prints PASS after the report.
		if err := json.NewDecoder(bytes.NewReader(out)).Decode(&r); err != nil {
			t.Fatalf("child output %q: %v", out, err)
		}
		if r.CanRun || r.Setup.Errno != tt.errno || len(r.Problems) == 0 || r.Problems[0].Cause != tt.cause || r.Process.SeccompMode != 2 {
			t.Errorf("with io_uring_setup answering %s: %+v", tt.errno, r)
		}
	}
}

func seccompChild(t *testing.T, errnoName string) {
	errno := unix.EPERM
	if errnoName == "ENOSYS" {
		errno = unix.ENOSYS
	}
	// The filter goes on every thread (TSYNC), so that the probe's own
	// thread has it too. NO_NEW_PRIVS on the calling thread lets an
	// unprivileged user install it; TSYNC copies it to the others.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0}, // seccomp_data.nr
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		t.Fatalf("seccomp: %v", syscall.Errno(e))
	}
	if err := Run().WriteJSON(os.Stdout); err != nil {
		t.Fatal(err)
	}
}
