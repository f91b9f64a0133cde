// Package proc reads what the harness measures about processes from /proc:
// CPU time (utime+stime, children included) and resident memory, for one
// process or a whole process tree (nginx's master and worker), plus the
// machine description printed with every result.
package proc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ClockTick is the unit of the CPU times in /proc/PID/stat: 1/CLK_TCK
// seconds. CLK_TCK (sysconf(_SC_CLK_TCK)) is 100 on every Linux
// architecture Go supports (USER_HZ is fixed by the kernel ABI).
const ClockTick = 10 * time.Millisecond

// Stat is the part of /proc/PID/stat the harness uses.
type Stat struct {
	PID    int
	Comm   string
	State  byte
	PPID   int
	UTime  uint64 // clock ticks
	STime  uint64
	CUTime uint64 // of waited-for children
	CSTime uint64
}

// CPU returns the process's CPU time, its reaped children's included.
func (s Stat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime+s.CUTime+s.CSTime) * ClockTick
}

// ParseStat parses the contents of /proc/PID/stat. The command name is
// in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')'.
func ParseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, errors.New("proc: malformed stat: no (comm)")
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:open])))
	if err != nil {
		return s, fmt.Errorf("proc: malformed stat pid: %w", err)
	}
	s.PID = pid
	s.Comm = string(b[open+1 : closing])
	// Fields from 3 (state) on; index i here is field i+3 in proc(5).
	f := strings.Fields(string(b[closing+1:]))
	if len(f) < 15 {
		return s, fmt.Errorf("proc: malformed stat: %d fields after comm", len(f))
	}
	if len(f[0]) != 1 {
		return s, fmt.Errorf("proc: malformed stat state %q", f[0])
	}
	s.State = f[0][0]
	if s.PPID, err = strconv.Atoi(f[1]); err != nil {
		return s, fmt.Errorf("proc: malformed stat ppid: %w", err)
	}
	nums := []*uint64{&s.UTime, &s.STime, &s.CUTime, &s.CSTime} // fields 14..17
	for i, p := range nums {
		v, err := strconv.ParseInt(f[11+i], 10, 64)
		if err != nil {
			return s, fmt.Errorf("proc: malformed stat field %d: %w", 14+i, err)
		}
		*p = uint64(max(v, 0)) // cutime/cstime are signed in the ABI
	}
	return s, nil
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return ParseStat(b)
}

// Tree returns pid and all its descendants, found through the PPid of
// every process in /proc.
func Tree(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := ReadStat(p)
		if err != nil {
			continue
		}
		children[st.PPID] = append(children[st.PPID], p)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// TreeCPU is the CPU time of pid and every live descendant, each with its
// reaped children: the whole server, master and workers.
func TreeCPU(pid int) (time.Duration, error) {
	var total time.Duration
	for i, p := range Tree(pid) {
		st, err := ReadStat(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue // a descendant that exited meanwhile
		}
		total += st.CPU()
	}
	return total, nil
}

// ParseVmRSS returns VmRSS in KiB from the contents of /proc/PID/status.
func ParseVmRSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(line[len("VmRSS:"):])
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("proc: malformed %q", line)
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, errors.New("proc: no VmRSS (kernel thread or zombie?)")
}

// RSS returns the resident set of pid in KiB.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseVmRSS(b)
}

// TreeRSS sums VmRSS over pid and its descendants (shared pages counted
// in each process, as RSS always does).
func TreeRSS(pid int) (int64, error) {
	var total int64
	for i, p := range Tree(pid) {
		kb, err := RSS(p)
		if err != nil {
			if i == 0 {
				return 0, err
			}
			continue
		}
		total += kb
	}
	return total, nil
}

// SelfCPU is this process's user+system time (all threads) from
// getrusage.
func SelfCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine describes where results were measured.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// ParseCPUModel returns the first "model name" of /proc/cpuinfo.
func ParseCPUModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// ThisMachine describes the machine the harness runs on.
func ThisMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Kernel: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		m.CPU = ParseCPUModel(b)
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return m
}

// RaiseNoFile raises the soft RLIMIT_NOFILE to the hard limit. Calling
// Setrlimit explicitly also makes child processes inherit the raised
// limit (Go otherwise restores the original soft limit on exec).
func RaiseNoFile() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// LookPath is exec.LookPath that also looks in the sbin directories a
// non-login root shell may lack (nginx lives in /usr/sbin).
func LookPath(name string) (string, error) {
	for _, dir := range filepath.SplitList(os.Getenv("PATH") + ":/usr/local/sbin:/usr/sbin:/sbin") {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found on PATH", name)
}
