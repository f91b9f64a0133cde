package uring

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeProc builds a directory shaped like the bits of /proc that
// diagnoseEPERM reads, and points procRoot at it for the test.
func fakeProc(t *testing.T, disabled, group, seccomp string) {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sys/kernel"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "self"), 0o755))
	if disabled != "" {
		must(os.WriteFile(filepath.Join(root, "sys/kernel/io_uring_disabled"), []byte(disabled+"\n"), 0o644))
		must(os.WriteFile(filepath.Join(root, "sys/kernel/io_uring_group"), []byte(group+"\n"), 0o644))
	}
	must(os.WriteFile(filepath.Join(root, "self/status"), []byte("Name:\tx\nSeccomp:\t"+seccomp+"\nSeccomp_filters:\t0\n"), 0o644))
	old := procRoot
	procRoot = root
	t.Cleanup(func() { procRoot = old })
}

func TestSetupErrorNamesTheCause(t *testing.T) {
	for _, c := range []struct {
		name              string
		errno             syscall.Errno
		disabled, seccomp string
		want              string
	}{
		{"old kernel", unix.ENOSYS, "", "0", "Linux >= 6.1"},
		{"sysctl disabled", unix.EPERM, "2", "0", "kernel.io_uring_disabled=2"},
		{"sysctl group only", unix.EPERM, "1", "0", "the group 1234"},
		{"seccomp", unix.EPERM, "0", "2", "seccomp"},
		{"sysctl older than 6.6, no filter", unix.EPERM, "", "0", "security module"},
		{"memlock", unix.ENOMEM, "", "0", "RLIMIT_MEMLOCK"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeProc(t, c.disabled, "1234", c.seccomp)
			err := error(diagnoseSetup(c.errno))
			if !errors.Is(err, c.errno) {
				t.Errorf("errors.Is(%v, %v) is false", err, c.errno)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%q does not mention %q", err, c.want)
			}
		})
	}
}

// TestSetupDiagnosesARealSeccompFilter installs a seccomp filter that
// denies io_uring_setup in a child process (as container runtimes do) and
// checks the error New returns there.
func TestSetupDiagnosesARealSeccompFilter(t *testing.T) {
	if os.Getenv("URINGD_SECCOMP_CHILD") == "1" {
		seccompChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSetupDiagnosesARealSeccompFilter$", "-test.v")
	cmd.Env = append(os.Environ(), "URINGD_SECCOMP_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "CHILD-RESULT: EPERM seccomp") {
		t.Fatalf("child did not report a seccomp diagnosis:\n%s", out)
	}
}

func seccompChild() {
	runtime.LockOSThread()
	// ld [nr]; jeq io_uring_setup ? errno(EPERM) : allow
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_IO_URING_SETUP},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		println("CHILD-RESULT: prctl", err.Error())
		return
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		println("CHILD-RESULT: seccomp install", e.Error())
		return
	}
	_, err := New(4)
	var se *SetupError
	switch {
	case errors.As(err, &se) && errors.Is(err, unix.EPERM) && strings.Contains(se.Reason, "seccomp"):
		println("CHILD-RESULT: EPERM seccomp")
	default:
		println("CHILD-RESULT: unexpected", err)
	}
}
