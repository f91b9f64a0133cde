package uring

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrClosed is returned by methods called on a closed Ring.
var ErrClosed = errors.New("uring: ring closed")

// SetupError explains why io_uring_setup failed. It unwraps to the
// syscall.Errno, so errors.Is(err, syscall.EPERM) works.
type SetupError struct {
	Errno  syscall.Errno
	Reason string // what caused it on this machine, and what to do about it
}

func (e *SetupError) Error() string {
	return "uring: io_uring_setup: " + e.Errno.Error() + ": " + e.Reason
}

// Unwrap returns the underlying errno.
func (e *SetupError) Unwrap() error { return e.Errno }

// errnoErr converts a positive errno into an error without allocating for
// the common values.
func errnoErr(e int32) error {
	return syscall.Errno(e)
}

// diagnoseSetup turns an io_uring_setup errno into a SetupError whose
// Reason names the cause found on this machine.
func diagnoseSetup(errno syscall.Errno) *SetupError {
	e := &SetupError{Errno: errno}
	switch errno {
	case unix.ENOSYS:
		e.Reason = "this kernel has no io_uring (older than 5.1, or built without CONFIG_IO_URING); uringd needs Linux >= 6.1"
	case unix.EPERM:
		e.Reason = diagnoseEPERM()
	case unix.ENOMEM:
		var lim unix.Rlimit
		_ = unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		e.Reason = fmt.Sprintf("the kernel could not allocate the rings; kernels before 5.12 charge them to RLIMIT_MEMLOCK (now %d bytes): raise it (ulimit -l) or use a smaller ring", lim.Cur)
	case unix.EINVAL:
		e.Reason = "the kernel rejected the parameters (ring size or flags it does not know)"
	case unix.EMFILE, unix.ENFILE:
		e.Reason = "out of file descriptors"
	default:
		e.Reason = "unexpected error from io_uring_setup"
	}
	return e
}

func diagnoseEPERM() string {
	if v, err := readSysctl("kernel/io_uring_disabled"); err == nil {
		switch v {
		case "2":
			return "io_uring is disabled for all processes (sysctl kernel.io_uring_disabled=2); set it to 0 with: sysctl -w kernel.io_uring_disabled=0"
		case "1":
			group, _ := readSysctl("kernel/io_uring_group")
			return "io_uring is restricted to CAP_SYS_ADMIN and the group " + group +
				" (sysctl kernel.io_uring_disabled=1); add this user to that group, or set kernel.io_uring_disabled=0"
		}
	}
	if seccompFiltered() {
		return "a seccomp filter denies io_uring (container runtimes' default profiles do, e.g. Docker and containerd); " +
			"run with a profile that allows io_uring_setup, io_uring_enter and io_uring_register (docker run --security-opt seccomp=PROFILE.json)"
	}
	return "permission denied by a security module (SELinux, AppArmor or an LSM policy) or a sandbox"
}

// procRoot is where diagnoseEPERM reads sysctls and process status; tests
// point it at a copy to exercise each diagnosis.
var procRoot = "/proc"

func readSysctl(name string) (string, error) {
	b, err := os.ReadFile(procRoot + "/sys/" + name)
	return strings.TrimSpace(string(b)), err
}

// seccompFiltered reports whether this process runs under a seccomp filter
// (mode 2 in /proc/self/status).
func seccompFiltered() bool {
	b, err := os.ReadFile(procRoot + "/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n == 2
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }
