package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// writeConfig writes text to dir/c.toml, with ROOT replaced by root.
func writeConfig(t *testing.T, dir, root, text string) string {
	t.Helper()
	p := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "ROOT", root)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testDirs returns a temporary directory holding a root directory "www"
// and a regular file "file".
func testDirs(t *testing.T) (dir, root string) {
	dir = t.TempDir()
	root = filepath.Join(dir, "www")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, root
}

func TestLoadGood(t *testing.T) {
	dir, root := testDirs(t)
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, c *Config)
	}{
		{"empty file keeps defaults", ``, func(t *testing.T, c *Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("got %+v, want the defaults", c)
			}
		}},
		{"listeners tcp and unix", `
[[listen]]
address = "[::1]:9000"
[[listen]]
network = "unix"
address = "/run/u.sock"
mode = "0660"
`, func(t *testing.T, c *Config) {
			want := []Listener{{NetTCP, "[::1]:9000", ""}, {NetUnix, "/run/u.sock", "0660"}}
			if !reflect.DeepEqual(c.Listen, want) {
				t.Errorf("listen = %+v, want %+v", c.Listen, want)
			}
		}},
		{"mounts get defaults, prefixes a trailing slash, relative roots the file's dir", `
[[mount]]
prefix = "/"
root = "ROOT"
[[mount]]
prefix = "/static"
root = "www"
listing = true
dotfiles = "allow"
symlinks = "never"
cache_control = "public, max-age=60"
index = []
`, func(t *testing.T, c *Config) {
			want := []Mount{
				{Prefix: "/", Root: root, Index: []string{"index.html"}, Dotfiles: "hide", Symlinks: "within-root"},
				{Prefix: "/static/", Root: root, Index: []string{}, Listing: true, Dotfiles: "allow", Symlinks: "never", CacheControl: "public, max-age=60"},
			}
			if !reflect.DeepEqual(c.Mounts, want) {
				t.Errorf("mounts = %+v\nwant %+v", c.Mounts, want)
			}
		}},
		{"units", `
loops = 3
[limits]
max_header_bytes = "64KiB"
max_body_bytes = 2048
[timeouts]
idle = "90s"
shutdown_grace = "0"
[compression]
max_size = "2MB"
`, func(t *testing.T, c *Config) {
			if c.Loops != 3 || c.Limits.MaxHeaderBytes != 64*KiB || c.Limits.MaxBodyBytes != 2048 ||
				c.Timeouts.Idle.D() != 90*time.Second || c.Timeouts.ShutdownGrace != 0 || c.Compression.MaxSize != 2_000_000 {
				t.Errorf("got %+v", c)
			}
		}},
		{"side listeners and paths", `
[metrics]
address = "127.0.0.1:9100"
[pprof]
address = "localhost:6060"
[health]
path = ""
[access_log]
format = "json"
path = "` + filepath.Join(dir, "access.log") + `"
`, func(t *testing.T, c *Config) {
			if c.Metrics.Address != "127.0.0.1:9100" || c.Pprof.Address != "localhost:6060" || c.Health.Path != "" || c.AccessLog.Format != "json" {
				t.Errorf("got %+v", c)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(writeConfig(t, dir, root, tt.text))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadBad(t *testing.T) {
	dir, root := testDirs(t)
	tests := []struct {
		name string
		text string
		want []string // each must appear in the error, which must hold no other line
	}{
		{"syntax error", "loops = 1\nloops = = 2\n", []string{"c.toml:2: "}},
		{"duplicate key", "loops = 1\nloops = 2\n", []string{"c.toml:2: ", "loops"}},
		{"unknown top-level key", "loops = 1\nlooops = 2\n", []string{`c.toml:2: looops: unknown key (did you mean "loops"?)`}},
		{"unknown key in a table", "[timeouts]\nidle = \"1s\"\nidel = \"2s\"\n", []string{`c.toml:3: timeouts.idel: unknown key (did you mean "idle"?)`}},
		{"unknown table reported once", "[tls]\ncert = \"x\"\nkey = \"y\"\n", []string{"c.toml:1: tls: unknown key"}},
		{"unknown key in the second mount", `
[[mount]]
root = "ROOT"

[[mount]]
prefix = "/a/"
root = "ROOT"
indx = ["a.html"]
`, []string{`c.toml:8: mount.indx: unknown key (did you mean "index"?)`}},
		{"wrong case", "Loops = 2\n", []string{`c.toml:1: Loops: unknown key (did you mean "loops"?) (keys are case-sensitive)`}},
		{"type error", "loops = \"four\"\n", []string{"c.toml:1: loops: incompatible types"}},
		{"type error in the first of two mounts points at the first", `
[[mount]]
root = "ROOT"
listing = "yes"
index = ["a.html"]
dotfiles = "allow"
symlinks = "never"

[[mount]]
prefix = "/b"
root = "ROOT"
listing = true
`, []string{"c.toml:4: mount[0].listing: incompatible types"}},
		{"duration without unit", "[timeouts]\nidle = 30\n", []string{`c.toml:2: timeouts.idle: duration "30" needs a unit`}},
		{"bad size", "[limits]\nmax_body_bytes = \"1 TB-ish\"\n", []string{`c.toml:2: limits.max_body_bytes: invalid size "1 TB-ish"`}},
		{"listen is not a table", "listen = \"127.0.0.1:80\"\n", []string{"c.toml:1: listen: "}},
		{"bad address", "[[listen]]\naddress = \"localhost\"\n", []string{`c.toml:2: listen[0].address: "localhost" is not host:port`}},
		{"bad port", "[[listen]]\naddress = \"127.0.0.1:http\"\n", []string{`c.toml:2: listen[0].address: "127.0.0.1:http": port "http"`}},
		{"bad network", "[[listen]]\nnetwork = \"udp\"\naddress = \":53\"\n", []string{`c.toml:2: listen[0].network: "udp" is not one of tcp, unix`}},
		{"duplicate listener", "[[listen]]\naddress = \":80\"\n[[listen]]\naddress = \":80\"\n", []string{`c.toml:4: listen[1].address: :80 is already listened on by listen[0]`}},
		{"bad unix mode", "[[listen]]\nnetwork = \"unix\"\naddress = \"/x.sock\"\nmode = \"rw\"\n", []string{`c.toml:4: listen[0].mode:`}},
		{"prefix without slash", "[[mount]]\nprefix = \"static\"\nroot = \"ROOT\"\n", []string{`c.toml:2: mount[0].prefix: prefix "static" must start with "/"`}},
		{"unclean prefix", "[[mount]]\nprefix = \"/a/../b\"\nroot = \"ROOT\"\n", []string{`c.toml:2: mount[0].prefix: prefix "/a/../b" is not a clean path`}},
		{"duplicate prefix after normalizing", `
[[mount]]
prefix = "/a"
root = "ROOT"
[[mount]]
prefix = "/a/"
root = "ROOT"
`, []string{`c.toml:6: mount[1].prefix: prefix "/a/" is already mounted by mount[0]`}},
		{"missing root", "[[mount]]\nprefix = \"/\"\n", []string{"c.toml:1: mount[0].root: a root directory is needed"}},
		{"root does not exist", "[[mount]]\nroot = \"nope\"\n", []string{"c.toml:2: mount[0].root: stat " + filepath.Join(dir, "nope") + ": no such file or directory"}},
		{"root is a file", "[[mount]]\nroot = \"file\"\n", []string{"c.toml:2: mount[0].root: " + filepath.Join(dir, "file") + " is not a directory"}},
		{"bad policies", "[[mount]]\nroot = \"ROOT\"\ndotfiles = \"show\"\nsymlinks = \"yes\"\n", []string{
			`c.toml:3: mount[0].dotfiles: "show" is not one of hide, deny, allow`,
			`c.toml:4: mount[0].symlinks: "yes" is not one of within-root, never, follow`,
		}},
		{"bad index name", "[[mount]]\nroot = \"ROOT\"\nindex = [\"a/b.html\"]\n", []string{`c.toml:3: mount[0].index[0]: "a/b.html" is not a file name`}},
		{"header injection", "[[mount]]\nroot = \"ROOT\"\ncache_control = \"a\\r\\nX: y\"\n", []string{"c.toml:3: mount[0].cache_control:"}},
		{"ranges", "loops = -1\n[offload]\nqueue_len = 0\n[compression]\ngzip_level = 10\n", []string{
			"c.toml:1: loops: -1 is out of range [0, 1024]",
			"c.toml:3: offload.queue_len: 0 is out of range [1, 1048576]",
			"c.toml:5: compression.gzip_level: 10 is out of range [1, 9]",
		}},
		{"min over max", "[compression]\nmin_size = \"2MiB\"\nmax_size = \"1MiB\"\n", []string{"c.toml:3: compression.max_size: 1MiB is below min_size 2MiB"}},
		{"zero timeout", "[timeouts]\nheader = \"0s\"\n", []string{"c.toml:2: timeouts.header: 0s is out of range"}},
		{"bad media type", "[compression]\ntypes = [\"text\"]\n", []string{`c.toml:2: compression.types[0]: "text" is not a media type`}},
		{"bad log format", "[access_log]\nformat = \"apache\"\n", []string{`c.toml:2: access_log.format: "apache" is not one of common, combined, json`}},
		{"log directory missing", "[access_log]\npath = \"/nonexistent/dir/a.log\"\n", []string{"c.toml:2: access_log.path: directory /nonexistent/dir does not exist"}},
		{"metrics on a served address", "[[listen]]\naddress = \"127.0.0.1:8080\"\n[metrics]\naddress = \"127.0.0.1:8080\"\n", []string{"c.toml:4: metrics.address: 127.0.0.1:8080 is already used by listen[0]"}},
		{"bad stats path", "[stats]\npath = \"stats\"\n", []string{`c.toml:2: stats.path: "stats" must be empty or a path`}},
		{"multi-line value before an error", "[compression]\ntypes = [\n  \"text/*\", # ] [\n  \"text/x#]\",\n]\ngzip_level = 0\n", []string{"c.toml:6: compression.gzip_level: 0 is out of range", `c.toml:2: compression.types[1]: "text/x#]"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, dir, root, tt.text))
			if err == nil {
				t.Fatal("Load accepted the file")
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", msg, w)
				}
			}
			// Every line of the message is located: file:line.
			for _, line := range strings.Split(msg, "\n") {
				if !regexp.MustCompile(`^`+regexp.QuoteMeta(filepath.Join(dir, "c.toml"))+`:\d+: `).MatchString(line) &&
					!regexp.MustCompile(`c\.toml:\d+: `).MatchString(line) {
					t.Errorf("unlocated error line %q", line)
				}
			}
			if n := len(strings.Split(msg, "\n")); n != len(tt.want) && !strings.Contains(tt.name, "syntax") && !strings.Contains(tt.name, "duplicate key") {
				t.Errorf("%d error lines, want %d:\n%s", n, len(tt.want), msg)
			}
		})
	}
}

// A syntax error is located at the line of the bad byte, also when the
// decoder stopped at the newline that ends it, and names a key only when
// it is in that key's value (not the table or key parsed before it).
func TestLoadSyntaxErrorLocation(t *testing.T) {
	dir, root := testDirs(t)
	tests := []struct {
		name, text string
		line       int
		key        string
	}{
		{"unclosed array of tables after a table", "loops = 2\n\n[access_log]\nformat = \"json\"\n[[mount]\nroot = \"ROOT\"\n", 5, ""},
		{"unclosed table after a table", "[timeouts]\nidle = \"1s\"\n[limits\nmax_conns = 1\n", 3, ""},
		{"unclosed array of tables after a mount", "[[mount]]\nroot = \"ROOT\"\n[[mount]\n", 3, ""},
		{"value", "loops = = 2\n", 1, "loops"},
		{"value in a table", "[timeouts]\nidle = \"1s\"\n[limits]\nmax_conns = 1x\n", 4, "limits.max_conns"},
		{"unterminated string", "[access_log]\nformat = \"json\npath = \"off\"\n", 2, "access_log.format"},
		{"value in the second mount", "[[mount]]\nroot = \"ROOT\"\n[[mount]]\nprefix = \"/a/\"\nlisting = tru\n", 5, "mount[1].listing"},
		{"array value cut short at the end of the file", "[compression]\ntypes = [\"text/*\",\n", 2, "compression.types"},
		{"two strings in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  \"application/json\" \"x\",\n]\n", 4, "compression.types"},
		{"bare word in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  bogus,\n]\n", 4, "compression.types"},
		{"bad escape in a multi-line array", "[compression]\ntypes = [\n  \"text/*\",\n  \"a\\qb\",\n]\n", 4, "compression.types"},
		{"comments with brackets and quotes in an array", "[compression]\ntypes = [ # a \" quote and ]\n  \"text/*\", # ] more\n  bogus,\n]\n", 4, "compression.types"},
		{"header-like text in a literal string", "[[mount]]\nroot = \"ROOT\"\ncache_control = '''\n[[mount]\n'''\nlisting = tru\n", 6, "mount[0].listing"},
		{"bad escape inside a multi-line string", "[[mount]]\nroot = \"ROOT\"\ncache_control = \"\"\"\npublic,\nmax-age=\\q\n\"\"\"\n", 5, "mount[0].cache_control"},
		{"multi-byte characters before", "# héllo wörld ünïcode ✓\n[limits]\nmax_conns = 1x\n", 3, "limits.max_conns"},
		{"CRLF", "loops = 2\r\n[limits]\r\nmax_conns = 1x\r\n", 3, "limits.max_conns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, dir, root, tt.text))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Load: %v, want an *Error", err)
			}
			if e.Line != tt.line || e.Key != tt.key {
				t.Errorf("%v: line %d key %q, want line %d key %q", err, e.Line, e.Key, tt.line, tt.key)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none.toml")); !os.IsNotExist(err) {
		t.Fatalf("Load of a missing file: %v, want a not-exist error", err)
	}
}

// TestExampleDocumentsDefaults checks that the example file loads, that its
// values are the defaults, and that it mentions every key.
func TestExampleDocumentsDefaults(t *testing.T) {
	dir, root := testDirs(t)
	p := writeConfig(t, dir, root, strings.ReplaceAll(Example, "/srv/www", "ROOT"))
	c, err := Load(p)
	if err != nil {
		t.Fatalf("the example does not load: %v", err)
	}
	want := Default()
	m := DefaultMount()
	m.Root = root
	want.Mounts = []Mount{m}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("the example's values differ from the defaults:\n got %+v\nwant %+v", c, want)
	}
	var missing []string
	for k := range knownKeys {
		leaf := k[strings.LastIndex(k, ".")+1:]
		if !regexp.MustCompile(`(?m)^#?\s*(\[\[?` + regexp.QuoteMeta(k) + `\]\]?|` + regexp.QuoteMeta(leaf) + ` = )`).MatchString(Example) {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("uringd.example.toml does not document %v", missing)
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	dir, root := testDirs(t)
	other := filepath.Join(dir, "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	p := writeConfig(t, dir, root, `
loops = 2
[[listen]]
address = "127.0.0.1:1"
[[mount]]
prefix = "/"
root = "ROOT"
[[mount]]
prefix = "/keep/"
root = "ROOT"
[timeouts]
idle = "5s"
`)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	ov := RegisterFlags(fs)
	args := []string{"-config", p, "-loops", "4", "-root", other, "-listing", "-listen", "127.0.0.1:9000", "-listen", "unix:/tmp/u.sock", "-idle-timeout", "7s", "-compress=false"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(ov.ConfigPath, ov)
	if err != nil {
		t.Fatal(err)
	}
	if c.Loops != 4 || c.Timeouts.Idle != Seconds(7) || c.Compression.OnTheFly {
		t.Errorf("flags not applied: %+v", c)
	}
	wantListen := []Listener{{NetTCP, "127.0.0.1:9000", ""}, {NetUnix, "/tmp/u.sock", ""}}
	if !reflect.DeepEqual(c.Listen, wantListen) {
		t.Errorf("listen = %+v, want %+v", c.Listen, wantListen)
	}
	if len(c.Mounts) != 2 || c.Mounts[0].Root != other || !c.Mounts[0].Listing || c.Mounts[1].Prefix != "/keep/" || c.Mounts[1].Listing {
		t.Errorf("mounts = %+v: want / replaced by -root (with listing) and /keep/ kept", c.Mounts)
	}
}

func TestFlagErrorsNameTheFlag(t *testing.T) {
	dir, root := testDirs(t)
	p := writeConfig(t, dir, root, "[[mount]]\nroot = \"ROOT\"\n")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-root", filepath.Join(dir, "nope")}, "flag -root: stat "},
		{[]string{"-config", p, "-mount", "/x=" + filepath.Join(dir, "file")}, "flag -mount: " + filepath.Join(dir, "file") + " is not a directory"},
		{[]string{"-config", p, "-loops", "5000"}, "flag -loops: 5000 is out of range"},
		{[]string{"-access-log-format", "xml"}, `flag -access-log-format: "xml" is not one of`},
		{[]string{"-mount", "static=" + root}, `flag -mount: prefix "static" must start with "/"`},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		ov := RegisterFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		_, err := Resolve(ov.ConfigPath, ov)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want it to contain %q", tt.args, err, tt.want)
		}
	}
}

func TestFlagParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-listen", "localhost"},
		{"-listen", "/run/x.sock"},
		{"-loops", "many"},
		{"-idle-timeout", "30"},
		{"-max-body-bytes", "lots"},
		{"-mount", "/x"},
		{"-compress=maybe"},
	} {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		RegisterFlags(fs)
		if err := fs.Parse(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Loops = -2
	err := c.Validate()
	if err == nil || err.Error() != "loops: -2 is out of range [0, 1024]" {
		t.Fatalf("Validate: %v", err)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("the defaults do not validate: %v", err)
	}
}

func TestUnits(t *testing.T) {
	sizes := map[string]ByteSize{"0": 0, "512": 512, "16KiB": 16 * KiB, "8 MiB": 8 * MiB, "1GiB": GiB, "10kB": 10_000, "5MB": 5_000_000, "1GB": 1e9, "7B": 7}
	for s, want := range sizes {
		var b ByteSize
		if err := b.Set(s); err != nil || b != want {
			t.Errorf("size %q = %v, %v; want %v", s, b, err, want)
		}
	}
	for _, s := range []string{"", "-1", "1.5MiB", "1TiB", "MiB", "99999999999999999999"} {
		var b ByteSize
		if err := b.Set(s); err == nil {
			t.Errorf("size %q accepted as %v", s, b)
		}
	}
	if s := (32 * KiB).String(); s != "32KiB" {
		t.Errorf("String = %q", s)
	}
	var d Duration
	if err := d.Set("1m30s"); err != nil || d.D() != 90*time.Second {
		t.Errorf("duration: %v %v", d, err)
	}
	for _, s := range []string{"30", "1.5", "soon", ""} {
		if err := d.Set(s); err == nil {
			t.Errorf("duration %q accepted", s)
		}
	}
}

func TestKeyLines(t *testing.T) {
	src := `a = 1 # comment [x]
"quoted.key" = 2
b = """
not = a key
[not.a.table]
"""
c = [
  "x]", # ] in a comment
  'y[',
]
d = { e = 1, f = [1, 2] }

[t]
g.h = 3
[[arr]]
i = 1
[[arr]]
i = 2
[[arr.sub]]
j = 3
[arr.tab]
k = 4
`
	got := indexKeys(src)
	want := keyLines{
		"a": 1, "quoted.key": 2, "b": 3, "c": 7, "d": 11,
		"t": 13, "t.g.h": 14,
		"arr[0]": 15, "arr[0].i": 16, "arr[1]": 17, "arr[1].i": 18,
		"arr[1].sub[0]": 19, "arr[1].sub[0].j": 20, "arr[1].tab": 21, "arr[1].tab.k": 22,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("indexKeys:\n got %v\nwant %v", got, want)
	}
	if n := got.line("d.e"); n != 11 {
		t.Errorf("line(d.e) = %d, want 11 (its inline table)", n)
	}
	if l := got.linesOf("arr.i"); !reflect.DeepEqual(l, []int{16, 18}) {
		t.Errorf("linesOf(arr.i) = %v", l)
	}
}
