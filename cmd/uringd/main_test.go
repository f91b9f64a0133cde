package main

import (
	"bytes"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/cmd/uringd/internal/site"
)

func TestParse(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args    []string
		name    string // command name; "" when an error is wanted
		errHas  string
		check   func(t *testing.T, c *command)
		helpErr bool // flag.ErrHelp
	}{
		{args: nil, name: "serve"},
		{args: []string{"serve"}, name: "serve"},
		{args: []string{"serve", "-root", dir, "-listen", "127.0.0.1:9000"}, name: "serve", check: func(t *testing.T, c *command) {
			cfg, err := config.Resolve(c.ov.ConfigPath, c.ov)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Listen[0].Address != "127.0.0.1:9000" || len(cfg.Mounts) != 1 || cfg.Mounts[0].Root != dir {
				t.Errorf("cfg %+v", cfg)
			}
		}},
		{args: []string{"-root", dir}, name: "serve", check: func(t *testing.T, c *command) {
			if !c.ov.Given() {
				t.Error("flags without a command were not serve's")
			}
		}},
		{args: []string{"serve", "-config", "/etc/uringd.toml", "--loops=3"}, name: "serve", check: func(t *testing.T, c *command) {
			if c.ov.ConfigPath != "/etc/uringd.toml" {
				t.Errorf("config path %q", c.ov.ConfigPath)
			}
		}},
		{args: []string{"serve", "extra"}, errHas: `unexpected argument "extra"`},
		{args: []string{"serve", "-nope"}, errHas: "flag provided but not defined: -nope"},
		{args: []string{"serve", "-listen", "nohost"}, errHas: "not host:port"},
		{args: []string{"serve", "-h"}, helpErr: true},
		{args: []string{"probe"}, name: "probe", check: func(t *testing.T, c *command) {
			if c.json {
				t.Error("json set")
			}
		}},
		{args: []string{"probe", "--json"}, name: "probe", check: func(t *testing.T, c *command) {
			if !c.json {
				t.Error("json not set")
			}
		}},
		{args: []string{"probe", "-json", "x"}, errHas: "unexpected argument"},
		{args: []string{"probe", "-h"}, helpErr: true},
		{args: []string{"version"}, name: "version"},
		{args: []string{"--version"}, name: "version"},
		{args: []string{"version", "x"}, errHas: "no arguments"},
		{args: []string{"config", "example"}, name: "config example"},
		{args: []string{"config", "check", "a.toml"}, name: "config check", check: func(t *testing.T, c *command) {
			if c.file != "a.toml" {
				t.Errorf("file %q", c.file)
			}
		}},
		{args: []string{"config", "check"}, errHas: "want one FILE"},
		{args: []string{"config", "check", "a", "b"}, errHas: "want one FILE"},
		{args: []string{"config"}, errHas: "want 'config example'"},
		{args: []string{"config", "show"}, errHas: `unknown subcommand "show"`},
		{args: []string{"config", "-h"}, helpErr: true},
		{args: []string{"-h"}, name: "help"},
		{args: []string{"help"}, name: "help"},
		{args: []string{"help", "probe"}, helpErr: true},
		{args: []string{"frobnicate"}, errHas: `unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			c, err := parse(tt.args, &stderr)
			switch {
			case tt.helpErr:
				if !errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "Usage") {
					t.Fatalf("err %v, stderr %q; want help", err, stderr.String())
				}
				return
			case tt.errHas != "":
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want %q", err, tt.errHas)
				}
				return
			case err != nil:
				t.Fatalf("parse: %v", err)
			}
			if c.name != tt.name {
				t.Fatalf("command %q, want %q", c.name, tt.name)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(good, []byte("loops = 2\n[[mount]]\nroot = \".\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("loops = 2\n[timeouts]\nidle = \"soon\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args      []string
		status    int
		stdoutHas string
		stderrHas string
	}{
		{[]string{"version"}, exitOK, "uringd ", ""},
		{[]string{"config", "example"}, exitOK, "[[mount]]", ""},
		{[]string{"config", "check", good}, exitOK, good + ": ok", ""},
		{[]string{"config", "check", bad}, exitFail, "", bad + ":3: timeouts.idle: invalid duration"},
		{[]string{"config", "check", filepath.Join(dir, "none.toml")}, exitFail, "", "no such file"},
		{[]string{"serve", "-config", bad}, exitFail, "", bad + ":3: timeouts.idle"},
		{[]string{"-h"}, exitOK, "uringd probe [-json]", ""},
		{[]string{"serve", "-h"}, exitOK, "", "SIGHUP"},
		{[]string{"nope"}, exitUsage, "", "Run 'uringd -h'"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		status := run(tt.args, &stdout, &stderr)
		if status != tt.status || !strings.Contains(stdout.String(), tt.stdoutHas) || !strings.Contains(stderr.String(), tt.stderrHas) {
			t.Errorf("%v: status %d, stdout %q, stderr %q; want %d, %q, %q",
				tt.args, status, stdout.String(), stderr.String(), tt.status, tt.stdoutHas, tt.stderrHas)
		}
	}
}

// TestHelpDocumentsEveryFlag checks that uringd -h lists each serve flag
// with its text.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	var stdout bytes.Buffer
	run([]string{"-h"}, &stdout, new(bytes.Buffer))
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	config.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(stdout.String(), "  -"+f.Name+" ") && !strings.Contains(stdout.String(), "  -"+f.Name+"\n") {
			t.Errorf("uringd -h does not document -%s", f.Name)
		}
		if f.Usage == "" {
			t.Errorf("-%s has no usage text", f.Name)
		}
	})
}

func TestProbeCommand(t *testing.T) {
	var stdout bytes.Buffer
	status := probeCommand(true, &stdout)
	if !strings.Contains(stdout.String(), `"can_run"`) {
		t.Fatalf("probe -json printed %q", stdout.String())
	}
	want := exitFail
	if strings.Contains(stdout.String(), `"can_run": true`) {
		want = exitOK
	}
	if status != want {
		t.Errorf("exit status %d does not match the report (want %d)", status, want)
	}
}

func TestLoadServeConfigMountsTheDemoSite(t *testing.T) {
	t.Setenv("CACHE_DIRECTORY", "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	ov := config.RegisterFlags(fs)
	cfg, err := loadServeConfig(ov, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Mounts) != 1 || cfg.Mounts[0].Prefix != "/" {
		t.Fatalf("mounts %+v", cfg.Mounts)
	}
	if _, err := os.Stat(filepath.Join(cfg.Mounts[0].Root, "status.html")); err != nil {
		t.Errorf("the demo site is not at %s: %v", cfg.Mounts[0].Root, err)
	}
	if cfg.Listen[0].Address != "127.0.0.1:8080" || cfg.Stats.Path == "" {
		t.Errorf("demo defaults: %+v", cfg)
	}

	// A root given means no demo site.
	dir := t.TempDir()
	if err := fs.Parse([]string{"-root", dir}); err != nil {
		t.Fatal(err)
	}
	cfg, err = loadServeConfig(ov, discardLogger())
	if err != nil || len(cfg.Mounts) != 1 || cfg.Mounts[0].Root != dir {
		t.Fatalf("with -root: %+v, %v", cfg, err)
	}
}

func TestListenURL(t *testing.T) {
	for _, tt := range []struct{ network, addr, want string }{
		{"tcp", "127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"tcp", "[::1]:9000", "http://[::1]:9000/"},
		{"tcp", ":8080", "http://localhost:8080/ (all interfaces)"},
		{"tcp", "0.0.0.0:80", "http://localhost:80/ (all interfaces)"},
		{"tcp", "[::]:80", "http://localhost:80/ (all interfaces)"},
		{"tcp", "example.org:80", "http://example.org:80/"},
		{"unix", "/run/u.sock", "unix:/run/u.sock"},
	} {
		if got := listenURL(tt.network, tt.addr); got != tt.want {
			t.Errorf("listenURL(%s, %s) = %q, want %q", tt.network, tt.addr, got, tt.want)
		}
	}
	t.Setenv("CACHE_DIRECTORY", t.TempDir())
	root, err := site.Unpack("")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Mounts = []config.Mount{demoMount(root)}
	var out bytes.Buffer
	announce(&out, cfg, []net.Addr{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 41234}})
	if out.String() != "uringd: serving on http://127.0.0.1:41234/ (the bundled demo site)\n" {
		t.Errorf("announce: %q", out.String())
	}
	cfg.Mounts[0].Root = t.TempDir()
	out.Reset()
	announce(&out, cfg, nil)
	if out.String() != "uringd: serving on http://127.0.0.1:8080/\n" {
		t.Errorf("announce: %q", out.String())
	}
}
