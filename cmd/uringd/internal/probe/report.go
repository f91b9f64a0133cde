// Package probe finds out whether this machine can run uringd: the
// kernel version, the io_uring sysctls, seccomp, RLIMIT_MEMLOCK, whether
// a ring can be set up and with which flags, the opcodes the kernel
// supports, provided buffer rings and multishot accept and receive. For
// each thing that stops uringd it says why and what to do.
//
// Run gathers the facts (it touches the real kernel); Diagnose turns facts
// into a verdict and is a pure function, so that every failure can be
// tested with made-up facts.
package probe

import (
	"syscall"
)

// Report is what `uringd probe` prints. The JSON field names are stable:
// scripts may rely on them.
type Report struct {
	// CanRun is the verdict: uringd can run here. The exit status of
	// `uringd probe` is 0 when it is true and 1 when it is false.
	CanRun bool `json:"can_run"`
	// Verdict is the verdict in one sentence.
	Verdict string `json:"verdict"`
	// Problems lists what stops uringd (Fatal) or may hurt it.
	Problems []Problem `json:"problems"`

	Kernel  Kernel  `json:"kernel"`
	Sysctl  Sysctl  `json:"sysctl"`
	Process Process `json:"process"`
	Setup   Setup   `json:"setup"`
	Opcodes Opcodes `json:"opcodes"`
	// BufferRing is registering a provided buffer ring
	// (IORING_REGISTER_PBUF_RING, Linux 5.19).
	BufferRing Check `json:"buffer_ring"`
	// MultishotAccept is one multishot accept (Linux 5.19) that accepts a
	// connection and stays armed.
	MultishotAccept Check `json:"multishot_accept"`
	// MultishotRecv is one multishot receive into the buffer ring (Linux
	// 6.0) that receives data and stays armed.
	MultishotRecv Check `json:"multishot_recv"`
}

// Problem is one reason uringd cannot run, or may run badly, here.
type Problem struct {
	// Cause is a stable identifier, one of the Cause* constants.
	Cause string `json:"cause"`
	// Fatal problems stop uringd; the others are warnings.
	Fatal bool `json:"fatal"`
	// What happened, as found on this machine.
	What string `json:"what"`
	// Fix says what to do about it.
	Fix string `json:"fix"`
}

// Problem causes.
const (
	CauseNoIOUring     = "no_io_uring"      // ENOSYS: the kernel has no io_uring
	CauseSysctl        = "sysctl_disabled"  // kernel.io_uring_disabled=2
	CauseNotInGroup    = "not_in_group"     // kernel.io_uring_disabled=1 and not in io_uring_group
	CauseSeccomp       = "seccomp"          // a seccomp filter refuses io_uring
	CauseLSM           = "security_module"  // EPERM with no sysctl or seccomp reason: SELinux, AppArmor...
	CauseMemlock       = "memlock"          // ENOMEM with RLIMIT_MEMLOCK accounting (Linux < 5.12)
	CauseMemory        = "memory"           // ENOMEM otherwise
	CauseKernelTooOld  = "kernel_too_old"   // a feature uringd needs is missing
	CauseBufferRing    = "buffer_ring"      // provided buffer rings do not work
	CauseMultishot     = "multishot"        // multishot accept or receive does not work
	CauseSetupFailed   = "setup_failed"     // io_uring_setup failed for another reason
	CauseFileLimit     = "file_limit"       // out of file descriptors
	CauseUnknownKernel = "kernel_version"   // the kernel release could not be parsed
	CauseMemlockLow    = "memlock_low"      // warning: memlock small on a kernel that charges it
	CauseGroupNoMember = "group_membership" // warning: io_uring_disabled=1 relies on CAP_SYS_ADMIN
)

// Kernel is uname's answer.
type Kernel struct {
	Release string `json:"release"` // uname -r
	Machine string `json:"machine"` // uname -m
	Major   int    `json:"major"`
	Minor   int    `json:"minor"`
	Patch   int    `json:"patch"`
}

// atLeast reports whether the kernel is major.minor or newer.
func (k Kernel) atLeast(major, minor int) bool {
	return k.Major > major || k.Major == major && k.Minor >= minor
}

// Sysctl holds the io_uring sysctls (Linux 6.6+; nil when absent).
type Sysctl struct {
	// IOUringDisabled is kernel.io_uring_disabled: 0 enabled, 1 only for
	// CAP_SYS_ADMIN and members of io_uring_group, 2 disabled.
	IOUringDisabled *int `json:"io_uring_disabled"`
	// IOUringGroup is kernel.io_uring_group, a gid (-1: none).
	IOUringGroup *int `json:"io_uring_group"`
}

// Process describes this process's limits and privileges.
type Process struct {
	UID            int  `json:"uid"`
	InIOUringGroup bool `json:"in_io_uring_group"`
	CapSysAdmin    bool `json:"cap_sys_admin"`
	// SeccompMode is 0 (none), 1 (strict) or 2 (filter), from
	// /proc/self/status; -1 if unknown.
	SeccompMode    int `json:"seccomp_mode"`
	SeccompFilters int `json:"seccomp_filters"`
	// MemlockSoft and MemlockHard are RLIMIT_MEMLOCK in bytes; -1 is
	// unlimited.
	MemlockSoft int64 `json:"memlock_soft"`
	MemlockHard int64 `json:"memlock_hard"`
}

// Setup is the result of io_uring_setup with the flags uringd's loops ask
// for (uring.Setup drops flags the kernel refuses).
type Setup struct {
	OK bool `json:"ok"`
	// Errno is the error's name ("EPERM") when setup failed.
	Errno string `json:"errno,omitempty"`
	// Error is uring's diagnosis of the failure.
	Error string `json:"error,omitempty"`
	// Flags are the IORING_SETUP_* flags granted, by name.
	Flags    []string `json:"flags"`
	FlagsRaw uint32   `json:"flags_raw"`
	// Features are the IORING_FEAT_* bits reported, by name.
	Features    []string `json:"features"`
	FeaturesRaw uint32   `json:"features_raw"`
	SQEntries   uint32   `json:"sq_entries"`
	CQEntries   uint32   `json:"cq_entries"`

	errno syscall.Errno // for Diagnose
}

// Opcodes is IORING_REGISTER_PROBE's answer.
type Opcodes struct {
	// Last is the highest opcode the kernel knows, by name.
	Last string `json:"last"`
	// Supported lists the supported opcodes by name, in numeric order.
	Supported []string `json:"supported"`
	// MissingRequired lists opcodes uringd uses that the kernel lacks.
	MissingRequired []string `json:"missing_required"`
}

// Check is the outcome of one functional test.
type Check struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Skipped is set when the check could not run (no ring).
	Skipped bool `json:"skipped,omitempty"`

	err error // for Diagnose
}

func checkOf(err error) Check {
	if err != nil {
		return Check{Error: err.Error(), err: err}
	}
	return Check{OK: true}
}
