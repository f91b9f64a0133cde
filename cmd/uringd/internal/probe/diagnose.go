package probe

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// minMajor, minMinor: uringd needs Linux 6.1 (DEFER_TASKRUN; multishot
// receive and send_zc came in 6.0, buffer rings and multishot accept in
// 5.19).
const (
	minMajor, minMinor = 6, 1
	minKernel          = "6.1"
)

// Diagnose fills r.Problems, r.CanRun and r.Verdict from the facts in r.
// It reads nothing else, so tests can hand it any facts.
func Diagnose(r *Report) {
	r.Problems = []Problem{}
	if r.Setup.OK {
		diagnoseFeatures(r)
	} else {
		r.add(diagnoseSetup(r))
	}
	diagnoseWarnings(r)

	r.CanRun = true
	for _, p := range r.Problems {
		if p.Fatal {
			r.CanRun = false
		}
	}
	switch {
	case r.CanRun && len(r.Problems) == 0:
		r.Verdict = "io_uring works and has everything uringd needs: uringd can run."
	case r.CanRun:
		r.Verdict = "io_uring works: uringd can run (see the warnings)."
	default:
		r.Verdict = "uringd cannot run here: " + r.firstFatal().What
	}
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

func (r *Report) firstFatal() Problem {
	for _, p := range r.Problems {
		if p.Fatal {
			return p
		}
	}
	return Problem{}
}

func (r *Report) kernelName() string {
	if r.Kernel.Release == "" {
		return "this kernel"
	}
	return "Linux " + r.Kernel.Release
}

// upgradeFix is the advice for a kernel that is too old.
func (r *Report) upgradeFix() string {
	return fmt.Sprintf("uringd needs Linux >= %s; this is %s. Upgrade the kernel "+
		"(Debian 12 and later, Ubuntu 24.04, RHEL 10 and Fedora ship one; on Ubuntu 22.04 install linux-generic-hwe-22.04).",
		minKernel, r.kernelName())
}

// diagnoseSetup explains why io_uring_setup failed.
func diagnoseSetup(r *Report) Problem {
	p := Problem{Fatal: true}
	disabled := -1
	if r.Sysctl.IOUringDisabled != nil {
		disabled = *r.Sysctl.IOUringDisabled
	}
	group := -1
	if r.Sysctl.IOUringGroup != nil {
		group = *r.Sysctl.IOUringGroup
	}
	filtered := r.Process.SeccompMode == 2
	switch r.Setup.errno {
	case syscall.ENOSYS:
		switch {
		case filtered:
			p.Cause = CauseSeccomp
			p.What = "io_uring_setup answered ENOSYS under a seccomp filter: the filter hides io_uring (sandboxes answer ENOSYS for system calls they do not allow or know, so that programs fall back)"
			p.Fix = seccompFix
		case r.Kernel.Major >= 0 && !r.Kernel.atLeast(5, 1):
			p.Cause = CauseNoIOUring
			p.What = fmt.Sprintf("%s predates io_uring (Linux 5.1)", r.kernelName())
			p.Fix = r.upgradeFix()
		default:
			p.Cause = CauseNoIOUring
			p.What = fmt.Sprintf("%s has no io_uring: it was built without CONFIG_IO_URING, or io_uring is switched off at boot", r.kernelName())
			p.Fix = "Use a kernel built with CONFIG_IO_URING=y (every major distribution's is). ChromeOS, Android and some hardened kernels leave it out."
		}
	case syscall.EPERM, syscall.EACCES:
		switch {
		case disabled == 2:
			p.Cause = CauseSysctl
			p.What = "io_uring is disabled for every process (sysctl kernel.io_uring_disabled=2)"
			p.Fix = sysctlFix
		case disabled == 1 && !r.Process.InIOUringGroup && !r.Process.CapSysAdmin:
			p.Cause = CauseNotInGroup
			if group < 0 {
				p.What = "io_uring is limited to CAP_SYS_ADMIN (sysctl kernel.io_uring_disabled=1, and kernel.io_uring_group is -1: no group may use it)"
				p.Fix = "Set kernel.io_uring_group to a group (sysctl -w kernel.io_uring_group=GID) and run uringd in it (systemd: SupplementaryGroups=NAME), or " + sysctlFix
			} else {
				p.What = fmt.Sprintf("io_uring is limited to CAP_SYS_ADMIN and group %d (sysctl kernel.io_uring_disabled=1), and this process is in neither", group)
				p.Fix = fmt.Sprintf("Run uringd in group %d: usermod -aG $(getent group %d | cut -d: -f1) USER and log in again, or SupplementaryGroups= in the systemd unit; or %s", group, group, sysctlFix)
			}
		case filtered:
			p.Cause = CauseSeccomp
			p.What = "a seccomp filter refuses io_uring (Docker's and containerd's default profiles do since late 2023, and with them Kubernetes' RuntimeDefault)"
			p.Fix = seccompFix
		default:
			p.Cause = CauseLSM
			p.What = "io_uring_setup was refused (EPERM) though no sysctl or seccomp filter forbids it: a security module (SELinux, AppArmor, a BPF LSM) denies it"
			p.Fix = "Check the audit log (ausearch -m AVC,SECCOMP -ts recent; journalctl -k | grep -i io_uring) and allow io_uring for uringd in that policy."
		}
	case syscall.ENOMEM:
		if r.Kernel.Major >= 0 && !r.Kernel.atLeast(5, 12) {
			p.Cause = CauseMemlock
			p.What = fmt.Sprintf("the rings did not fit in RLIMIT_MEMLOCK (%s): kernels before 5.12 charge io_uring memory to it", memlockString(r.Process.MemlockSoft))
			p.Fix = "Raise the limit (ulimit -l unlimited; LimitMEMLOCK=infinity in a systemd unit; memlock in /etc/security/limits.conf). " + r.upgradeFix()
		} else {
			p.Cause = CauseMemory
			p.What = "the kernel could not allocate the rings (ENOMEM): the memory cgroup limit is reached or the machine is out of memory"
			p.Fix = "Raise the service's memory limit (MemoryMax=, docker run --memory) or free memory."
		}
	case syscall.EMFILE, syscall.ENFILE:
		p.Cause = CauseFileLimit
		p.What = "out of file descriptors"
		p.Fix = "Raise the limit: ulimit -n 65536, or LimitNOFILE= in the systemd unit."
	case syscall.EINVAL:
		p.Cause = CauseKernelTooOld
		p.What = fmt.Sprintf("%s refused every flag set uring tried (EINVAL)", r.kernelName())
		p.Fix = r.upgradeFix()
	default:
		p.Cause = CauseSetupFailed
		p.What = "io_uring_setup failed: " + r.Setup.Error
		p.Fix = "Report this with the output of uringd probe --json."
	}
	return p
}

const (
	sysctlFix  = "enable io_uring: sysctl -w kernel.io_uring_disabled=0, and keep it with echo kernel.io_uring_disabled=0 > /etc/sysctl.d/60-uringd.conf"
	seccompFix = "Allow io_uring_setup, io_uring_enter and io_uring_register: " +
		"docker/podman run --security-opt seccomp=PROFILE.json with a copy of the default profile that lists them (or seccomp=unconfined to test); " +
		"Kubernetes: a Localhost seccompProfile with them; systemd: add them to SystemCallFilter= (see deploy/uringd.service)."
)

// diagnoseFeatures checks a ring that was set up for what uringd needs.
func diagnoseFeatures(r *Report) {
	var missing []string
	for _, f := range requiredFlags {
		if r.Setup.FlagsRaw&f.bit == 0 {
			missing = append(missing, fmt.Sprintf("setup flag %s (Linux %s)", f.name, f.kernel))
		}
	}
	for _, f := range requiredFeatures {
		if r.Setup.FeaturesRaw&f.bit == 0 {
			missing = append(missing, fmt.Sprintf("feature %s (Linux %s)", f.name, f.kernel))
		}
	}
	if len(r.Opcodes.MissingRequired) > 0 {
		missing = append(missing, "opcodes "+strings.Join(r.Opcodes.MissingRequired, ", "))
	}
	if r.Kernel.Major >= 0 && !r.Kernel.atLeast(minMajor, minMinor) && len(missing) == 0 {
		// A backported kernel may have everything; say so, but let it run.
		r.add(Problem{Cause: CauseKernelTooOld, What: fmt.Sprintf("%s is older than %s, though it granted every flag and opcode uringd uses (a backport?)", r.kernelName(), minKernel), Fix: r.upgradeFix()})
	}
	if len(missing) > 0 {
		r.add(Problem{Cause: CauseKernelTooOld, Fatal: true, What: fmt.Sprintf("%s lacks %s", r.kernelName(), strings.Join(missing, "; ")), Fix: r.upgradeFix()})
	}
	if c := r.BufferRing; !c.OK {
		p := Problem{Cause: CauseBufferRing, Fatal: true, What: "registering a provided buffer ring failed: " + c.Error}
		if errors.Is(c.err, syscall.EINVAL) {
			p.What += " (the kernel predates IORING_REGISTER_PBUF_RING, Linux 5.19)"
			p.Fix = r.upgradeFix()
		} else {
			p.Fix = "Buffer rings are mapped memory: check RLIMIT_MEMLOCK and the memory cgroup limit, then report this with uringd probe --json."
		}
		r.add(p)
	}
	for _, c := range []struct {
		name, kernel string
		check        Check
	}{
		{"multishot accept", "5.19", r.MultishotAccept},
		{"multishot receive", "6.0", r.MultishotRecv},
	} {
		if c.check.OK || c.check.Skipped {
			continue
		}
		r.add(Problem{Cause: CauseMultishot, Fatal: true,
			What: fmt.Sprintf("%s does not work: %s (it needs Linux %s)", c.name, c.check.Error, c.kernel),
			Fix:  r.upgradeFix()})
	}
}

// diagnoseWarnings adds what does not stop uringd but is worth knowing.
func diagnoseWarnings(r *Report) {
	if r.Kernel.Major < 0 {
		r.add(Problem{Cause: CauseUnknownKernel, What: fmt.Sprintf("the kernel release %q could not be read as a version", r.Kernel.Release),
			Fix: "None needed if the checks above pass."})
	}
	if r.Setup.OK && r.Kernel.Major >= 0 && !r.Kernel.atLeast(5, 12) && r.Process.MemlockSoft >= 0 && r.Process.MemlockSoft < 64<<20 {
		r.add(Problem{Cause: CauseMemlockLow,
			What: fmt.Sprintf("RLIMIT_MEMLOCK is %s and kernels before 5.12 charge every ring to it: one ring per loop may not fit", memlockString(r.Process.MemlockSoft)),
			Fix:  "ulimit -l unlimited, or LimitMEMLOCK=infinity in the systemd unit."})
	}
	if r.Setup.OK && r.Sysctl.IOUringDisabled != nil && *r.Sysctl.IOUringDisabled == 1 && !r.Process.InIOUringGroup {
		r.add(Problem{Cause: CauseGroupNoMember,
			What: "io_uring works only because this process has CAP_SYS_ADMIN (sysctl kernel.io_uring_disabled=1): the service, run as its own user, will not",
			Fix:  "Run uringd in kernel.io_uring_group's group (SupplementaryGroups= in the unit), or set kernel.io_uring_disabled=0."})
	}
}

// memlockString formats a limit in bytes (-1: unlimited).
func memlockString(v int64) string {
	switch {
	case v < 0:
		return "unlimited"
	case v >= 1<<20 && v%(1<<20) == 0:
		return strconv.FormatInt(v>>20, 10) + " MiB"
	case v >= 1<<10 && v%(1<<10) == 0:
		return strconv.FormatInt(v>>10, 10) + " KiB"
	default:
		return strconv.FormatInt(v, 10) + " bytes"
	}
}
