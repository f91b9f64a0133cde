package config

import (
	"fmt"
	"mime"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Validate checks every value and returns all problems found, one per
// line of the error's message, each naming its key; it also stores mount
// prefixes with a trailing "/". Resolve returns the same problems located
// in the file or at a flag.
func (c *Config) Validate() error {
	errs := c.check()
	located := make([]*Error, len(errs))
	for i, e := range errs {
		located[i] = &Error{Key: e.key, Msg: e.msg}
	}
	return joinErrors(located)
}

// checker collects problems.
type checker struct{ errs []fieldError }

func (ch *checker) add(key, format string, args ...any) {
	ch.errs = append(ch.errs, fieldError{key: key, msg: fmt.Sprintf(format, args...)})
}

func (ch *checker) intRange(key string, v, lo, hi int) {
	if v < lo || v > hi {
		ch.add(key, "%d is out of range [%d, %d]", v, lo, hi)
	}
}

func (ch *checker) durRange(key string, d Duration, lo, hi time.Duration) {
	if d.D() < lo || d.D() > hi {
		ch.add(key, "%v is out of range [%v, %v]", d, lo, hi)
	}
}

func (ch *checker) sizeRange(key string, v, lo, hi ByteSize) {
	if v < lo || v > hi {
		ch.add(key, "%v is out of range [%v, %v]", v, lo, hi)
	}
}

func (ch *checker) oneOf(key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	ch.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// check normalizes mount prefixes (a trailing "/") and returns every
// problem.
func (c *Config) check() []fieldError {
	ch := &checker{}
	c.checkListeners(ch)
	c.checkMounts(ch)
	ch.intRange("loops", c.Loops, 0, 1024)

	ch.intRange("offload.cpu_workers", c.Offload.CPUWorkers, 0, 4096)
	ch.intRange("offload.blocking_workers", c.Offload.BlockingWorkers, 1, 4096)
	ch.intRange("offload.queue_len", c.Offload.QueueLen, 1, 1<<20)

	ch.intRange("limits.max_conns", c.Limits.MaxConns, 0, 10_000_000)
	ch.sizeRange("limits.max_request_line", c.Limits.MaxRequestLine, 256, 1*MiB)
	ch.sizeRange("limits.max_header_bytes", c.Limits.MaxHeaderBytes, 1*KiB, 16*MiB)
	ch.intRange("limits.max_headers", c.Limits.MaxHeaders, 1, 10_000)
	ch.sizeRange("limits.max_body_bytes", c.Limits.MaxBodyBytes, 0, 1<<50)

	const day = 24 * time.Hour
	ch.durRange("timeouts.header", c.Timeouts.Header, time.Millisecond, day)
	ch.durRange("timeouts.body", c.Timeouts.Body, time.Millisecond, day)
	ch.durRange("timeouts.idle", c.Timeouts.Idle, time.Millisecond, day)
	ch.durRange("timeouts.write", c.Timeouts.Write, time.Millisecond, day)
	ch.durRange("timeouts.shutdown_grace", c.Timeouts.ShutdownGrace, 0, time.Hour)

	ch.intRange("cache.open_files", c.Cache.OpenFiles, 0, 1_000_000)
	ch.durRange("cache.revalidate", c.Cache.Revalidate, 0, time.Hour)

	c.checkCompression(ch)
	c.checkAccessLog(ch)
	c.checkSideListeners(ch)
	return ch.errs
}

func (c *Config) checkListeners(ch *checker) {
	if len(c.Listen) == 0 {
		ch.add("listen", "at least one listen address is needed")
	}
	seen := map[string]string{}
	for i, l := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		switch l.Network {
		case NetTCP:
			if err := checkHostPort(l.Address); err != nil {
				ch.add(key+".address", "%v", err)
			}
			if l.Mode != "" {
				ch.add(key+".mode", "mode applies to unix sockets only")
			}
		case NetUnix:
			// sun_path holds 108 bytes with the terminating NUL.
			if l.Address == "" || len(l.Address) > 107 {
				ch.add(key+".address", "a unix socket path of 1 to 107 bytes is needed, got %q", l.Address)
			}
			if l.Mode != "" {
				if m, err := strconv.ParseUint(l.Mode, 8, 32); err != nil || m > 0o777 {
					ch.add(key+".mode", "%q is not an octal file mode such as \"0660\"", l.Mode)
				}
			}
		default:
			ch.add(key+".network", "%q is not one of tcp, unix", l.Network)
			continue
		}
		id := l.Network + " " + l.Address
		if prev, dup := seen[id]; dup {
			ch.add(key+".address", "%s is already listened on by %s", l.Address, prev)
		}
		seen[id] = key
	}
}

// checkHostPort accepts host:port where host is empty, an IP address or a
// host name, and port is a number.
func checkHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %v", addr, err)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host == "" {
		return nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || strings.Trim(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
			return fmt.Errorf("%q: host %q is neither an IP address nor a host name", addr, host)
		}
	}
	return nil
}

func (c *Config) checkMounts(ch *checker) {
	seen := map[string]string{}
	for i := range c.Mounts {
		m := &c.Mounts[i]
		key := fmt.Sprintf("mount[%d]", i)
		if p, err := normalizePrefix(m.Prefix); err != nil {
			ch.add(key+".prefix", "%v", err)
		} else {
			m.Prefix = p
			if prev, dup := seen[p]; dup {
				ch.add(key+".prefix", "prefix %q is already mounted by %s", p, prev)
			}
			seen[p] = key
		}
		switch st, err := os.Stat(m.Root); {
		case m.Root == "":
			ch.add(key+".root", "a root directory is needed")
		case err != nil:
			ch.add(key+".root", "%v", err)
		case !st.IsDir():
			ch.add(key+".root", "%s is not a directory", m.Root)
		}
		for j, name := range m.Index {
			if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
				ch.add(fmt.Sprintf("%s.index[%d]", key, j), "%q is not a file name", name)
			}
		}
		ch.oneOf(key+".dotfiles", m.Dotfiles, DotfilesHide, DotfilesDeny, DotfilesAllow)
		ch.oneOf(key+".symlinks", m.Symlinks, SymlinksWithinRoot, SymlinksNever, SymlinksFollow)
		if strings.ContainsAny(m.CacheControl, "\r\n\x00") {
			ch.add(key+".cache_control", "a header value cannot hold CR, LF or NUL")
		}
	}
}

// normalizePrefix checks a mount prefix and returns it ending in "/".
func normalizePrefix(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("prefix %q must start with \"/\"", p)
	}
	if strings.ContainsAny(p, "?#%\\\x00") {
		return "", fmt.Errorf("prefix %q must be a plain path (no ?, #, %%, \\)", p)
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") && clean != p {
		return "", fmt.Errorf("prefix %q is not a clean path (\"//\", \".\" or \"..\"); write %q", p, clean+"/")
	}
	if !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	return clean, nil
}

func (c *Config) checkCompression(ch *checker) {
	z := &c.Compression
	ch.sizeRange("compression.min_size", z.MinSize, 0, 1<<40)
	ch.sizeRange("compression.max_size", z.MaxSize, 0, 1<<40)
	if z.MaxSize < z.MinSize {
		ch.add("compression.max_size", "%v is below min_size %v", z.MaxSize, z.MinSize)
	}
	ch.intRange("compression.gzip_level", z.GzipLevel, 1, 9)
	ch.intRange("compression.zstd_level", z.ZstdLevel, 1, 4)
	for i, t := range z.Types {
		major, minor, ok := strings.Cut(t, "/")
		if !ok || major == "" || minor == "" || major == "*" {
			ch.add(fmt.Sprintf("compression.types[%d]", i), "%q is not a media type such as \"text/html\" or \"text/*\"", t)
			continue
		}
		if minor != "*" {
			if _, _, err := mime.ParseMediaType(t); err != nil {
				ch.add(fmt.Sprintf("compression.types[%d]", i), "%q: %v", t, err)
			}
		}
	}
}

func (c *Config) checkAccessLog(ch *checker) {
	a := &c.AccessLog
	ch.oneOf("access_log.format", a.Format, LogCommon, LogCombined, LogJSON)
	switch a.Path {
	case LogStderr, LogStdout, LogOff:
	case "":
		ch.add("access_log.path", `a file, "stderr", "stdout" or "off" is needed`)
	default:
		dir := filepath.Dir(a.Path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			ch.add("access_log.path", "directory %s does not exist", dir)
		}
	}
}

// checkSideListeners checks the metrics and pprof listeners and the
// special paths.
func (c *Config) checkSideListeners(ch *checker) {
	taken := map[string]string{}
	for i, l := range c.Listen {
		if l.Network == NetTCP {
			taken[l.Address] = fmt.Sprintf("listen[%d]", i)
		}
	}
	for _, side := range []struct{ key, addr string }{
		{"metrics.address", c.Metrics.Address},
		{"pprof.address", c.Pprof.Address},
	} {
		if side.addr == "" {
			continue
		}
		if err := checkHostPort(side.addr); err != nil {
			ch.add(side.key, "%v", err)
			continue
		}
		if prev, dup := taken[side.addr]; dup && !strings.HasSuffix(side.addr, ":0") {
			ch.add(side.key, "%s is already used by %s", side.addr, prev)
		}
		taken[side.addr] = side.key
	}
	for _, p := range []struct{ key, path string }{
		{"health.path", c.Health.Path},
		{"stats.path", c.Stats.Path},
	} {
		if p.path != "" && (!strings.HasPrefix(p.path, "/") || strings.ContainsAny(p.path, "?# \x00")) {
			ch.add(p.key, "%q must be empty or a path starting with \"/\"", p.path)
		}
	}
	if c.Health.Path != "" && c.Health.Path == c.Stats.Path {
		ch.add("stats.path", "%q is also health.path", c.Stats.Path)
	}
}
