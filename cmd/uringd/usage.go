package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

// usage is `uringd -h`: the commands, then every serve flag, since serve
// is what a bare `uringd` runs.
func usage(w io.Writer) {
	fmt.Fprint(w, `uringd is a static-file web server built on Linux io_uring.

Usage:
  uringd                        serve the bundled demo site on http://127.0.0.1:8080/
  uringd [serve] [flags]        serve files; flags below
  uringd probe [-json]          check whether this machine can run uringd, and if not, why
  uringd config example         print a configuration file documenting every key
  uringd config check FILE      validate a configuration file (file:line: reason)
  uringd version                print the version
  uringd help COMMAND           help for a command

Examples:
  uringd serve -root /srv/www -listen 127.0.0.1:9000
  uringd serve -config /etc/uringd/uringd.toml -loops 4
  uringd serve -listen unix:/run/uringd/http.sock -mount /files/=/srv/files -listing

`)
	fs := flag.NewFlagSet("uringd serve", flag.ContinueOnError)
	config.RegisterFlags(fs)
	serveFlags(w, fs)
	fmt.Fprint(w, `
uringd needs Linux >= 6.1 with io_uring enabled; 'uringd probe' says whether
it can run here. See 'uringd serve -h' for signals and the config file.
`)
}

// serveUsage is `uringd serve -h`.
func serveUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: uringd serve [flags]

Serves directories over HTTP/1.1 from one event loop per CPU, each with its
own io_uring. Settings come from the defaults, then the -config file, then
the flags given here, which override the file. Without -root, -mount or a
[[mount]] in the file, the bundled demo site is served: it is unpacked to
$XDG_CACHE_HOME/uringd (systemd: $CACHE_DIRECTORY) and served from there.

`)
	serveFlags(w, fs)
	fmt.Fprint(w, `
The config file (TOML) has every setting, including several listeners, mounts
with their own index, listing, dotfile, symlink and Cache-Control policies,
limits, timeouts, caches, compression and the access log: run
'uringd config example' for a file that documents each key and its default.
Unknown keys and bad values are refused with file:line: reason.

Signals:
  SIGTERM, SIGINT  stop accepting, finish requests in flight (up to
                   -shutdown-grace), then exit
  SIGHUP           reload the config file (with the same flags) and reopen the
                   access log (unless access_log.reopen_on_hup = false); a
                   file with errors is refused and the running configuration
                   stays
`)
}

// serveFlags prints fs's flags in the flag package's format.
func serveFlags(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Flags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func probeUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `Usage: uringd probe [-json]

Checks whether uringd can run on this machine: the kernel version, the
kernel.io_uring_disabled and kernel.io_uring_group sysctls, seccomp,
RLIMIT_MEMLOCK, whether an io_uring can be set up and with which flags, the
opcodes the kernel supports, provided buffer rings, multishot accept and
receive. For each problem it says why and what to do.

Exit status: 0 if uringd can run here, 1 if it cannot.

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
}

func configUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  uringd config example      print a configuration file documenting every key and its default
  uringd config check FILE   load FILE as 'uringd serve -config FILE' would; print every
                             problem as FILE:LINE: key: reason; exit 1 if there is one
`)
}
