package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/uringd/uringd/uring"
)

var requireIOURing = os.Getenv("URINGD_REQUIRE_IOURING") != ""

// TestRunOnThisKernel probes the real kernel: on a machine where io_uring
// works (CI's), uringd must be judged able to run.
func TestRunOnThisKernel(t *testing.T) {
	r := Run()
	var text, js bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", text.String())
	if !r.Setup.OK && !requireIOURing {
		t.Skipf("io_uring is not usable here: %s", r.Setup.Error)
	}
	if !r.CanRun {
		t.Fatalf("probe says uringd cannot run: %+v", r.Problems)
	}
	if !r.BufferRing.OK || !r.MultishotAccept.OK || !r.MultishotRecv.OK {
		t.Errorf("checks failed: buffer ring %+v, accept %+v, recv %+v", r.BufferRing, r.MultishotAccept, r.MultishotRecv)
	}
	for _, f := range []string{"SINGLE_ISSUER", "DEFER_TASKRUN"} {
		if !contains(r.Setup.Flags, f) {
			t.Errorf("flag %s not in %v", f, r.Setup.Flags)
		}
	}
	if !contains(r.Opcodes.Supported, "read") || !contains(r.Opcodes.Supported, "send_zc") {
		t.Errorf("opcodes %v lack read or send_zc", r.Opcodes.Supported)
	}
	if r.Kernel.Major < 6 || r.Kernel.Release == "" {
		t.Errorf("kernel %+v", r.Kernel)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"can_run", "verdict", "problems", "kernel", "sysctl", "process", "setup", "opcodes", "buffer_ring", "multishot_accept", "multishot_recv"} {
		if _, ok := back[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func intp(v int) *int { return &v }

// good returns the facts of a machine where everything works.
func good() *Report {
	flags := uring.SetupSubmitAll | uring.SetupCoopTaskrun | uring.SetupTaskrunFlag | uring.SetupSingleIssuer | uring.SetupDeferTaskrun
	feats := uring.FeatSingleMmap | uring.FeatNoDrop | uring.FeatExtArg
	return &Report{
		Kernel:          Kernel{Release: "6.12.0-1-amd64", Machine: "x86_64", Major: 6, Minor: 12, Patch: 0},
		Sysctl:          Sysctl{IOUringDisabled: intp(0), IOUringGroup: intp(-1)},
		Process:         Process{UID: 1000, MemlockSoft: 8 << 20, MemlockHard: 8 << 20},
		Setup:           Setup{OK: true, FlagsRaw: flags, FeaturesRaw: feats},
		Opcodes:         Opcodes{MissingRequired: []string{}},
		BufferRing:      Check{OK: true},
		MultishotAccept: Check{OK: true},
		MultishotRecv:   Check{OK: true},
	}
}

// failedSetup returns facts where io_uring_setup failed with errno.
func failedSetup(errno syscall.Errno, edit func(r *Report)) *Report {
	r := good()
	r.Setup = Setup{errno: errno, Error: "uring: io_uring_setup: " + errno.Error()}
	skipped := Check{Skipped: true, Error: "no ring"}
	r.BufferRing, r.MultishotAccept, r.MultishotRecv = skipped, skipped, skipped
	if edit != nil {
		edit(r)
	}
	return r
}

func TestDiagnose(t *testing.T) {
	tests := []struct {
		name   string
		facts  *Report
		canRun bool
		causes []string // in order
		fixHas string   // in the first problem's fix
	}{
		{"all good", good(), true, nil, ""},
		{"old kernel without io_uring", failedSetup(syscall.ENOSYS, func(r *Report) {
			r.Kernel = Kernel{Release: "4.19.0-20-amd64", Major: 4, Minor: 19}
			r.Sysctl = Sysctl{}
		}), false, []string{CauseNoIOUring}, ">= 6.1"},
		{"kernel without CONFIG_IO_URING", failedSetup(syscall.ENOSYS, nil), false, []string{CauseNoIOUring}, "CONFIG_IO_URING"},
		{"seccomp answering ENOSYS", failedSetup(syscall.ENOSYS, func(r *Report) { r.Process.SeccompMode = 2 }), false, []string{CauseSeccomp}, "io_uring_setup"},
		{"sysctl 2", failedSetup(syscall.EPERM, func(r *Report) { r.Sysctl.IOUringDisabled = intp(2) }), false, []string{CauseSysctl}, "io_uring_disabled=0"},
		{"sysctl 2 beats seccomp", failedSetup(syscall.EPERM, func(r *Report) {
			r.Sysctl.IOUringDisabled = intp(2)
			r.Process.SeccompMode = 2
		}), false, []string{CauseSysctl}, "io_uring_disabled=0"},
		{"sysctl 1, not in group", failedSetup(syscall.EPERM, func(r *Report) {
			r.Sysctl = Sysctl{IOUringDisabled: intp(1), IOUringGroup: intp(996)}
		}), false, []string{CauseNotInGroup}, "group 996"},
		{"sysctl 1, no group at all", failedSetup(syscall.EPERM, func(r *Report) {
			r.Sysctl = Sysctl{IOUringDisabled: intp(1), IOUringGroup: intp(-1)}
		}), false, []string{CauseNotInGroup}, "io_uring_group"},
		{"sysctl 1, in group, but seccomp", failedSetup(syscall.EPERM, func(r *Report) {
			r.Sysctl = Sysctl{IOUringDisabled: intp(1), IOUringGroup: intp(996)}
			r.Process.InIOUringGroup = true
			r.Process.SeccompMode = 2
		}), false, []string{CauseSeccomp}, "seccomp="},
		{"docker default profile", failedSetup(syscall.EPERM, func(r *Report) {
			r.Sysctl = Sysctl{}
			r.Process.SeccompMode, r.Process.SeccompFilters = 2, 1
		}), false, []string{CauseSeccomp}, "--security-opt"},
		{"EPERM from a security module", failedSetup(syscall.EPERM, nil), false, []string{CauseLSM}, "audit"},
		{"ENOMEM before 5.12 is memlock", failedSetup(syscall.ENOMEM, func(r *Report) {
			r.Kernel = Kernel{Release: "5.10.0-28-amd64", Major: 5, Minor: 10}
			r.Process.MemlockSoft = 64 << 10
		}), false, []string{CauseMemlock}, "ulimit -l"},
		{"ENOMEM on a new kernel is memory", failedSetup(syscall.ENOMEM, nil), false, []string{CauseMemory}, "MemoryMax"},
		{"EMFILE", failedSetup(syscall.EMFILE, nil), false, []string{CauseFileLimit}, "LimitNOFILE"},
		{"EINVAL on every flag set", failedSetup(syscall.EINVAL, nil), false, []string{CauseKernelTooOld}, "6.1"},
		{"unexpected errno", failedSetup(syscall.EIO, nil), false, []string{CauseSetupFailed}, "--json"},
		{"5.15: no SINGLE_ISSUER, DEFER_TASKRUN, buffer ring, multishot", func() *Report {
			r := good()
			r.Kernel = Kernel{Release: "5.15.0-91-generic", Major: 5, Minor: 15, Patch: 0}
			r.Setup.FlagsRaw = uring.SetupSubmitAll
			r.Opcodes.MissingRequired = []string{"send_zc"}
			r.BufferRing = checkOf(syscall.EINVAL)
			r.MultishotAccept = checkOf(syscall.EINVAL)
			r.MultishotRecv = Check{Skipped: true, Error: "no buffer ring"}
			return r
		}(), false, []string{CauseKernelTooOld, CauseBufferRing, CauseMultishot}, "SINGLE_ISSUER"},
		{"6.0: only DEFER_TASKRUN missing", func() *Report {
			r := good()
			r.Kernel = Kernel{Release: "6.0.19", Major: 6, Minor: 0, Patch: 19}
			r.Setup.FlagsRaw &^= uring.SetupDeferTaskrun
			return r
		}(), false, []string{CauseKernelTooOld}, "6.1"},
		{"backported 5.14 with everything runs with a warning", func() *Report {
			r := good()
			r.Kernel = Kernel{Release: "5.14.0-427.el9.x86_64", Major: 5, Minor: 14}
			return r
		}(), true, []string{CauseKernelTooOld}, ""},
		{"multishot recv broken", func() *Report {
			r := good()
			r.MultishotRecv = checkOf(errors.New("the kernel ended the request after one completion"))
			return r
		}(), false, []string{CauseMultishot}, ""},
		{"CAP_SYS_ADMIN with sysctl 1 warns", func() *Report {
			r := good()
			r.Sysctl = Sysctl{IOUringDisabled: intp(1), IOUringGroup: intp(-1)}
			r.Process.CapSysAdmin = true
			return r
		}(), true, []string{CauseGroupNoMember}, "SupplementaryGroups"},
		{"unparsable release warns", func() *Report {
			r := good()
			r.Kernel = Kernel{Release: "weird", Major: -1, Minor: -1, Patch: -1}
			return r
		}(), true, []string{CauseUnknownKernel}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.facts
			Diagnose(r)
			var causes []string
			for _, p := range r.Problems {
				causes = append(causes, p.Cause)
				if p.What == "" || p.Fix == "" {
					t.Errorf("problem without what or fix: %+v", p)
				}
			}
			if r.CanRun != tt.canRun || !reflect.DeepEqual(causes, tt.causes) {
				t.Fatalf("CanRun %v, causes %v; want %v, %v\n%+v", r.CanRun, causes, tt.canRun, tt.causes, r.Problems)
			}
			if tt.fixHas != "" && !strings.Contains(r.Problems[0].Fix+r.Problems[0].What, tt.fixHas) {
				t.Errorf("first problem %+v does not mention %q", r.Problems[0], tt.fixHas)
			}
			if !tt.canRun && !strings.Contains(r.Verdict, r.Problems[0].What) {
				t.Errorf("verdict %q does not name the problem", r.Verdict)
			}
			var buf bytes.Buffer
			if err := r.WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			for _, p := range r.Problems {
				if !strings.Contains(buf.String(), p.What) || !strings.Contains(buf.String(), p.Fix) {
					t.Errorf("text output lacks problem %+v:\n%s", p, buf.String())
				}
			}
		})
	}
}

func TestParseRelease(t *testing.T) {
	for rel, want := range map[string][3]int{
		"6.1.0-18-amd64":        {6, 1, 0},
		"6.18.44-fc-v857":       {6, 18, 44},
		"5.15.0-91-generic":     {5, 15, 0},
		"6.8":                   {6, 8, -1},
		"6.10-rc1":              {6, 10, -1},
		"5.14.0-427.el9.x86_64": {5, 14, 0},
		"":                      {-1, -1, -1},
		"linux":                 {-1, -1, -1},
	} {
		a, b, c := parseRelease(rel)
		if [3]int{a, b, c} != want {
			t.Errorf("parseRelease(%q) = %d.%d.%d, want %v", rel, a, b, c, want)
		}
	}
}

func TestReadProcFiles(t *testing.T) {
	dir := t.TempDir()
	status := "Name:\turingd\nCapEff:\t0000000000200000\nSeccomp:\t2\nSeccomp_filters:\t3\n"
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
		t.Fatal(err)
	}
	p := readProcess(filepath.Join(dir, "status"))
	if p.SeccompMode != 2 || p.SeccompFilters != 3 || !p.CapSysAdmin {
		t.Errorf("readProcess = %+v", p)
	}
	if err := os.WriteFile(filepath.Join(dir, "io_uring_disabled"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := readSysctls(dir)
	if s.IOUringDisabled == nil || *s.IOUringDisabled != 1 || s.IOUringGroup != nil {
		t.Errorf("readSysctls = %+v", s)
	}
}

func TestBitNames(t *testing.T) {
	got := bitNames(uring.SetupSingleIssuer|uring.SetupDeferTaskrun|1<<30, setupFlagNames)
	want := []string{"SINGLE_ISSUER", "DEFER_TASKRUN", "0x40000000"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bitNames = %v, want %v", got, want)
	}
}
