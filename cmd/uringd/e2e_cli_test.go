package main

// End to end: the commands other than serve, and serve's usage, run as
// the built binary.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

// runBinary runs uringd with args and returns its exit status and output.
func runBinary(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(uringdBinary(t), args...)
	home := t.TempDir()
	cmd.Dir = home
	cmd.Env = daemonEnv(home)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	if strings.Contains(e.String(), "DATA RACE") || strings.Contains(e.String(), "panic:") {
		t.Errorf("uringd %s: %s", strings.Join(args, " "), e.String())
	}
	return code, o.String(), e.String()
}

func TestE2EProbe(t *testing.T) {
	t.Parallel()
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(uts.Release[:])

	t.Run("text", func(t *testing.T) {
		code, out, errs := runBinary(t, "probe")
		if code != 0 {
			t.Fatalf("uringd probe: exit %d\n%s%s", code, out, errs)
		}
		for _, want := range []string{"uringd can run", "kernel", "Linux " + release, "io_uring_disabled", "seccomp", "memlock",
			"io_uring_setup", "ok (SQ ", "setup flags", "features", "buffer rings", "multishot accept", "multishot recv", "opcodes (", "openat2"} {
			if !strings.Contains(out, want) {
				t.Errorf("uringd probe does not print %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "PROBLEM") {
			t.Errorf("uringd probe reports a problem here:\n%s", out)
		}
	})
	for _, flagName := range []string{"--json", "-json"} {
		t.Run(flagName, func(t *testing.T) {
			code, out, errs := runBinary(t, "probe", flagName)
			if code != 0 {
				t.Fatalf("uringd probe %s: exit %d\n%s%s", flagName, code, out, errs)
			}
			var r struct {
				CanRun   *bool  `json:"can_run"`
				Verdict  string `json:"verdict"`
				Problems []struct {
					Cause string `json:"cause"`
					Fatal bool   `json:"fatal"`
				} `json:"problems"`
				Kernel struct {
					Release string `json:"release"`
					Machine string `json:"machine"`
					Major   int    `json:"major"`
					Minor   int    `json:"minor"`
				} `json:"kernel"`
				Sysctl  map[string]*int `json:"sysctl"`
				Process struct {
					UID         *int `json:"uid"`
					SeccompMode *int `json:"seccomp_mode"`
				} `json:"process"`
				Setup struct {
					OK       bool     `json:"ok"`
					Flags    []string `json:"flags"`
					Features []string `json:"features"`
					SQ       uint32   `json:"sq_entries"`
					CQ       uint32   `json:"cq_entries"`
				} `json:"setup"`
				Opcodes struct {
					Last            string   `json:"last"`
					Supported       []string `json:"supported"`
					MissingRequired []string `json:"missing_required"`
				} `json:"opcodes"`
				BufferRing      map[string]any `json:"buffer_ring"`
				MultishotAccept map[string]any `json:"multishot_accept"`
				MultishotRecv   map[string]any `json:"multishot_recv"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			if r.CanRun == nil || !*r.CanRun || r.Verdict == "" || len(r.Problems) != 0 && r.Problems[0].Fatal {
				t.Errorf("verdict: can_run %v, %q, problems %+v", r.CanRun, r.Verdict, r.Problems)
			}
			if r.Kernel.Release != release || r.Kernel.Machine == "" || r.Kernel.Major < 6 {
				t.Errorf("kernel %+v, want release %q", r.Kernel, release)
			}
			if _, ok := r.Sysctl["io_uring_disabled"]; !ok || r.Process.UID == nil || r.Process.SeccompMode == nil {
				t.Errorf("sysctl %v, process %+v", r.Sysctl, r.Process)
			}
			if !r.Setup.OK || len(r.Setup.Flags) == 0 || len(r.Setup.Features) == 0 || r.Setup.SQ == 0 || r.Setup.CQ < r.Setup.SQ {
				t.Errorf("setup %+v", r.Setup)
			}
			for _, op := range []string{"accept", "recv", "send", "read", "openat2", "statx", "splice", "close", "async_cancel"} {
				if !slices.Contains(r.Opcodes.Supported, op) {
					t.Errorf("opcode %s not listed as supported: %v", op, r.Opcodes.Supported)
				}
			}
			if r.Opcodes.Last == "" || r.Opcodes.MissingRequired == nil || len(r.Opcodes.MissingRequired) != 0 {
				t.Errorf("opcodes: last %q, missing_required %v (want [])", r.Opcodes.Last, r.Opcodes.MissingRequired)
			}
			for name, c := range map[string]map[string]any{"buffer_ring": r.BufferRing, "multishot_accept": r.MultishotAccept, "multishot_recv": r.MultishotRecv} {
				if c["ok"] != true {
					t.Errorf("%s: %v", name, c)
				}
			}
		})
	}
}

func TestE2EUsage(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.RegisterFlags(fs)
	var flags []string
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f.Name) })
	if len(flags) < 20 {
		t.Fatalf("only %d serve flags?", len(flags))
	}
	mentionsAll := func(t *testing.T, what, text string) {
		t.Helper()
		for _, name := range flags {
			if !strings.Contains(text, "\n  -"+name+" ") && !strings.Contains(text, "\n  -"+name+"\n") {
				t.Errorf("%s does not mention -%s", what, name)
			}
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		code, out, _ := runBinary(t, args...)
		if code != 0 {
			t.Errorf("uringd %s: exit %d", args[0], code)
		}
		mentionsAll(t, "uringd "+args[0], out)
		for _, cmd := range []string{"uringd probe", "uringd config example", "uringd config check", "uringd version", "uringd serve"} {
			if !strings.Contains(out, cmd) {
				t.Errorf("uringd %s does not mention %q", args[0], cmd)
			}
		}
	}
	for _, args := range [][]string{{"serve", "-h"}, {"serve", "--help"}, {"help", "serve"}} {
		code, out, errs := runBinary(t, args...)
		if code != 0 {
			t.Errorf("uringd %s: exit %d", strings.Join(args, " "), code)
		}
		text := out + errs
		mentionsAll(t, "uringd "+strings.Join(args, " "), text)
		for _, want := range []string{"SIGTERM", "SIGHUP", "config example", "-shutdown-grace"} {
			if !strings.Contains(text, want) {
				t.Errorf("uringd %s does not mention %s", strings.Join(args, " "), want)
			}
		}
	}
	if code, out, errs := runBinary(t, "probe", "-h"); code != 0 || !strings.Contains(out+errs, "Usage: uringd probe") || !strings.Contains(out+errs, "\n  -json") {
		t.Errorf("uringd probe -h: exit %d, %q %q", code, out, errs)
	}
	if code, out, errs := runBinary(t, "config", "-h"); code != 0 || !strings.Contains(out+errs, "uringd config check FILE") {
		t.Errorf("uringd config -h: exit %d, %q %q", code, out, errs)
	}
	if code, out, _ := runBinary(t, "version"); code != 0 || !strings.HasPrefix(out, "uringd ") {
		t.Errorf("uringd version: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"frobnicate"}, {"serve", "-nope"}, {"serve", "extra"}, {"serve", "-listen", "nohost"}, {"probe", "x"}, {"config"}} {
		code, out, errs := runBinary(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, "-h' for usage") {
			t.Errorf("uringd %s: exit %d, stdout %q, stderr %q; want 2 and a pointer to -h", strings.Join(args, " "), code, out, errs)
		}
	}
}

func TestE2EConfigCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		return writeFile(t, dir, name, []byte(body))
	}

	t.Run("example", func(t *testing.T) {
		code, example, _ := runBinary(t, "config", "example")
		if code != 0 || !strings.Contains(example, "[[mount]]") {
			t.Fatalf("config example: exit %d", code)
		}
		// The example is a valid file once its root exists.
		f := write("example.toml", strings.Replace(example, `"/srv/www"`, `"`+root+`"`, 1))
		if code, out, errs := runBinary(t, "config", "check", f); code != 0 || out != f+": ok\n" {
			t.Errorf("config check of the example: exit %d, %q %q", code, out, errs)
		}
	})

	t.Run("good", func(t *testing.T) {
		f := write("good.toml", `loops = 2
[[listen]]
address = "127.0.0.1:0"
[[listen]]
network = "unix"
address = "/run/uringd-test.sock"
[[mount]]
root = "www"
[[mount]]
prefix = "/static/"
root = "www"
dotfiles = "deny"
[access_log]
format = "json"
path = "access.log"
[timeouts]
shutdown_grace = "20s"
`)
		if code, out, errs := runBinary(t, "config", "check", f); code != 0 || out != f+": ok\n" || errs != "" {
			t.Errorf("config check good.toml: exit %d, %q %q", code, out, errs)
		}
	})

	for _, tt := range []struct {
		name, body string
		want       []string // lines of stderr, FILE standing for the path
	}{
		{"invalid value", "loops = 2\n[timeouts]\nidle = \"soon\"\n", []string{`FILE:3: timeouts.idle: invalid duration "soon"`}},
		{"out of range", "loops = 5000\n", []string{"FILE:1: loops: 5000 is out of range"}},
		{"wrong type", "[limits]\nmax_conns = \"many\"\n", []string{"FILE:2: limits.max_conns: "}},
		{"unknown key", "[[mount]]\nroot = \"www\"\nindx = [\"a.html\"]\n", []string{`FILE:3: mount.indx: unknown key (did you mean "index"?)`}},
		{"several problems", "[[mount]]\nroot = \"nowhere\"\n[access_log]\nformat = \"xml\"\n", []string{"FILE:2: mount[0].root: ", "FILE:4: access_log.format: \"xml\" is not one of"}},
		{"bad listener", "[[listen]]\nnetwork = \"udp\"\naddress = \"127.0.0.1:1\"\n", []string{`FILE:2: listen[0].network: "udp" is not one of tcp, unix`}},
		{"syntax", "loops = = 2\n", []string{"FILE:1: "}},
	} {
		t.Run("bad: "+tt.name, func(t *testing.T) {
			f := write(strings.ReplaceAll(tt.name, " ", "-")+".toml", tt.body)
			code, out, errs := runBinary(t, "config", "check", f)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
			}
			lines := strings.Split(strings.TrimSuffix(errs, "\n"), "\n")
			if len(lines) != len(tt.want) {
				t.Errorf("stderr has %d lines, want %d:\n%s", len(lines), len(tt.want), errs)
			}
			for _, w := range tt.want {
				w = strings.ReplaceAll(w, "FILE", f)
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
					t.Errorf("stderr has no line starting %q:\n%s", w, errs)
				}
			}
			// serve refuses the same file the same way, and serves nothing.
			code, out, errs2 := runBinary(t, "serve", "-config", f)
			if code != 1 || out != "" || !strings.Contains(errs2, strings.ReplaceAll(tt.want[0], "FILE", f)) {
				t.Errorf("serve -config: exit %d, stdout %q, stderr %q", code, out, errs2)
			}
		})
	}

	t.Run("bad: syntax line", func(t *testing.T) {
		f := write("syntax-line.toml", "loops = 2\n\n[access_log]\nformat = \"json\"\n[[mount]\nroot = \"www\"\n")
		_, _, errs := runBinary(t, "config", "check", f)
		if !strings.HasPrefix(errs, f+":5: ") || strings.Contains(errs, "access_log") {
			t.Errorf("stderr %q, want %s:5: and no access_log", errs, f)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		code, _, errs := runBinary(t, "config", "check", filepath.Join(dir, "none.toml"))
		if code != 1 || !strings.Contains(errs, "no such file") {
			t.Errorf("exit %d, %q", code, errs)
		}
	})
}
