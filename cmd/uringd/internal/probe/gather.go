package probe

import (
	"bufio"
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Run gathers the facts about this machine, including a real ring set up
// and exercised, and diagnoses them.
func Run() *Report {
	r := &Report{}
	r.Kernel = readKernel()
	r.Sysctl = readSysctls("/proc/sys/kernel")
	r.Process = readProcess("/proc/self/status")
	if g := r.Sysctl.IOUringGroup; g != nil {
		r.Process.InIOUringGroup = inGroup(*g)
	}
	checkRing(r)
	Diagnose(r)
	return r
}

func readKernel() Kernel {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return Kernel{}
	}
	k := Kernel{Release: unix.ByteSliceToString(u.Release[:]), Machine: unix.ByteSliceToString(u.Machine[:])}
	k.Major, k.Minor, k.Patch = parseRelease(k.Release)
	return k
}

// parseRelease reads "6.1.0-18-amd64" as 6, 1, 0; parts it cannot read
// are -1.
func parseRelease(rel string) (major, minor, patch int) {
	nums := [3]int{-1, -1, -1}
	for i, part := range strings.SplitN(rel, ".", 3) {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		n, err := strconv.Atoi(part[:end])
		if err != nil {
			break
		}
		nums[i] = n
		if end < len(part) {
			break // "18-amd64": the rest is not a version number
		}
	}
	return nums[0], nums[1], nums[2]
}

func readSysctls(dir string) Sysctl {
	return Sysctl{
		IOUringDisabled: readIntFile(dir + "/io_uring_disabled"),
		IOUringGroup:    readIntFile(dir + "/io_uring_group"),
	}
}

func readIntFile(path string) *int {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil
	}
	return &n
}

// capSysAdmin is CAP_SYS_ADMIN's bit in CapEff.
const capSysAdmin = 21

func readProcess(statusPath string) Process {
	p := Process{UID: os.Geteuid(), SeccompMode: -1}
	if f, err := os.Open(statusPath); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			v = strings.TrimSpace(v)
			switch k {
			case "Seccomp":
				p.SeccompMode, _ = strconv.Atoi(v)
			case "Seccomp_filters":
				p.SeccompFilters, _ = strconv.Atoi(v)
			case "CapEff":
				caps, _ := strconv.ParseUint(v, 16, 64)
				p.CapSysAdmin = caps&(1<<capSysAdmin) != 0
			}
		}
		f.Close()
	}
	var lim unix.Rlimit
	p.MemlockSoft, p.MemlockHard = -1, -1
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err == nil {
		p.MemlockSoft, p.MemlockHard = rlim(lim.Cur), rlim(lim.Max)
	}
	return p
}

func rlim(v uint64) int64 {
	if v == unix.RLIM_INFINITY || v > math.MaxInt64 {
		return -1
	}
	return int64(v)
}

// inGroup reports whether gid is this process's group or one of its
// supplementary groups.
func inGroup(gid int) bool {
	if gid < 0 {
		return false
	}
	if os.Getegid() == gid {
		return true
	}
	groups, _ := os.Getgroups()
	for _, g := range groups {
		if g == gid {
			return true
		}
	}
	return false
}
