package config

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Overrides are the serve command's flags. Only flags given on the
// command line change anything: they are applied over the file's values,
// in the order they were given.
type Overrides struct {
	// ConfigPath is the -config flag: the TOML file to read first.
	ConfigPath string

	set     []override
	listens []Listener
	listing *bool // -listing, for the mounts of -root and -mount
}

// override is one flag's effect, kept until the file has been read. apply
// returns the key path it set, for locating errors.
type override struct {
	flag  string
	apply func(c *Config) string
}

// RegisterFlags defines the serve flags on fs. Each usage text names the
// config file key it overrides and the default.
func RegisterFlags(fs *flag.FlagSet) *Overrides {
	o := &Overrides{}
	d := Default()
	fs.StringVar(&o.ConfigPath, "config", "", "read `FILE` (TOML) first; the flags below override it")

	fs.Func("listen", "listen on `ADDR`: host:port for TCP or unix:/path for a Unix socket; repeat for several (replaces the file's [[listen]]; default "+d.Listen[0].Address+")", func(s string) error {
		l, err := parseListenFlag(s)
		if err != nil {
			return err
		}
		if o.listens == nil {
			o.add("listen", func(c *Config) string {
				c.Listen = append([]Listener(nil), o.listens...)
				return "listen"
			})
		}
		o.listens = append(o.listens, l)
		return nil
	})
	fs.Func("root", "serve `DIR` at / (replaces the file's mount for /; default: the bundled demo site)", func(s string) error {
		return o.mount("root", "/", s)
	})
	fs.Func("mount", "serve a directory at a URL prefix, as `/PREFIX=DIR`; repeat for several", func(s string) error {
		prefix, dir, ok := strings.Cut(s, "=")
		if !ok || prefix == "" || dir == "" {
			return fmt.Errorf("want /PREFIX=DIR, got %q", s)
		}
		return o.mount("mount", prefix, dir)
	})
	fs.BoolFunc("listing", "list directories that have no index file, in the mounts of -root and -mount (default false)", func(s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		o.listing = &v
		return nil
	})

	o.intFlag(fs, "loops", "loops", "run `N` event loops; 0: one per CPU", d.Loops, func(c *Config, v int) { c.Loops = v })
	o.intFlag(fs, "offload-workers", "offload.cpu_workers", "run `N` offload workers for compression and hashing; 0: CPUs-1", d.Offload.CPUWorkers,
		func(c *Config, v int) { c.Offload.CPUWorkers = v })
	o.intFlag(fs, "max-conns", "limits.max_conns", "accept at most `N` open connections; 0: no limit", d.Limits.MaxConns,
		func(c *Config, v int) { c.Limits.MaxConns = v })
	o.sizeFlag(fs, "max-header-bytes", "limits.max_header_bytes", "refuse request header sections over `SIZE` with 431", d.Limits.MaxHeaderBytes,
		func(c *Config, v ByteSize) { c.Limits.MaxHeaderBytes = v })
	o.sizeFlag(fs, "max-body-bytes", "limits.max_body_bytes", "refuse request bodies over `SIZE` with 413", d.Limits.MaxBodyBytes,
		func(c *Config, v ByteSize) { c.Limits.MaxBodyBytes = v })

	o.durFlag(fs, "header-timeout", "timeouts.header", "allow `DURATION` to receive a request's header section", d.Timeouts.Header,
		func(c *Config, v Duration) { c.Timeouts.Header = v })
	o.durFlag(fs, "body-timeout", "timeouts.body", "allow `DURATION` between two reads of a request body", d.Timeouts.Body,
		func(c *Config, v Duration) { c.Timeouts.Body = v })
	o.durFlag(fs, "idle-timeout", "timeouts.idle", "close a keep-alive connection idle for `DURATION`", d.Timeouts.Idle,
		func(c *Config, v Duration) { c.Timeouts.Idle = v })
	o.durFlag(fs, "write-timeout", "timeouts.write", "allow `DURATION` for the client to take more response bytes", d.Timeouts.Write,
		func(c *Config, v Duration) { c.Timeouts.Write = v })
	o.durFlag(fs, "shutdown-grace", "timeouts.shutdown_grace", "on SIGTERM, wait up to `DURATION` for requests in flight", d.Timeouts.ShutdownGrace,
		func(c *Config, v Duration) { c.Timeouts.ShutdownGrace = v })

	o.intFlag(fs, "open-file-cache", "cache.open_files", "keep up to `N` open files for reuse; 0: no cache", d.Cache.OpenFiles,
		func(c *Config, v int) { c.Cache.OpenFiles = v })
	o.durFlag(fs, "revalidate", "cache.revalidate", "check a cached open file again after `DURATION`; 0s: on every request", d.Cache.Revalidate,
		func(c *Config, v Duration) { c.Cache.Revalidate = v })

	o.boolFlag(fs, "compress", "compression.on_the_fly", "compress responses on the fly", d.Compression.OnTheFly,
		func(c *Config, v bool) { c.Compression.OnTheFly = v })
	o.boolFlag(fs, "precompressed", "compression.precompressed", "serve .zst/.br/.gz sidecar files", d.Compression.Precompressed,
		func(c *Config, v bool) { c.Compression.Precompressed = v })

	o.stringFlag(fs, "access-log", "access_log.path", "access log `FILE`, or stderr, stdout, off", d.AccessLog.Path,
		func(c *Config, v string) { c.AccessLog.Path = v })
	o.stringFlag(fs, "access-log-format", "access_log.format", "access log `FORMAT`: common, combined or json", d.AccessLog.Format,
		func(c *Config, v string) { c.AccessLog.Format = v })
	o.stringFlag(fs, "metrics", "metrics.address", "serve /metrics, health and stats on `ADDR` (host:port); empty: off", d.Metrics.Address,
		func(c *Config, v string) { c.Metrics.Address = v })
	o.stringFlag(fs, "pprof", "pprof.address", "serve net/http/pprof on `ADDR` (host:port; keep it on loopback); empty: off", d.Pprof.Address,
		func(c *Config, v string) { c.Pprof.Address = v })
	return o
}

func (o *Overrides) add(flagName string, apply func(*Config) string) {
	o.set = append(o.set, override{flag: flagName, apply: apply})
}

// mount records -root or -mount: the mount for prefix is replaced, or
// added. The directory is made absolute now, against the working
// directory, as a shell user expects.
func (o *Overrides) mount(flagName, prefix, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	o.add(flagName, func(c *Config) string {
		m := DefaultMount()
		m.Prefix, m.Root = prefix, abs
		if o.listing != nil {
			m.Listing = *o.listing
		}
		want, _ := normalizePrefix(prefix)
		for i := range c.Mounts {
			if p, _ := normalizePrefix(c.Mounts[i].Prefix); p == want && want != "" {
				c.Mounts[i] = m
				return fmt.Sprintf("mount[%d]", i)
			}
		}
		c.Mounts = append(c.Mounts, m)
		return fmt.Sprintf("mount[%d]", len(c.Mounts)-1)
	})
	return nil
}

// usageText appends the config file key a flag overrides and its default.
func usageText(usage, key string, def any) string {
	return fmt.Sprintf("%s (config: %s; default %v)", usage, key, def)
}

func (o *Overrides) intFlag(fs *flag.FlagSet, name, key, usage string, def int, set func(*Config, int)) {
	fs.Func(name, usageText(usage, key, def), func(s string) error {
		v, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		o.add(name, func(c *Config) string { set(c, v); return key })
		return nil
	})
}

func (o *Overrides) sizeFlag(fs *flag.FlagSet, name, key, usage string, def ByteSize, set func(*Config, ByteSize)) {
	fs.Func(name, usageText(usage+" (bytes, or with KiB, MiB, GiB)", key, def), func(s string) error {
		var v ByteSize
		if err := v.Set(s); err != nil {
			return err
		}
		o.add(name, func(c *Config) string { set(c, v); return key })
		return nil
	})
}

func (o *Overrides) durFlag(fs *flag.FlagSet, name, key, usage string, def Duration, set func(*Config, Duration)) {
	fs.Func(name, usageText(usage, key, time.Duration(def)), func(s string) error {
		var v Duration
		if err := v.Set(s); err != nil {
			return err
		}
		o.add(name, func(c *Config) string { set(c, v); return key })
		return nil
	})
}

func (o *Overrides) boolFlag(fs *flag.FlagSet, name, key, usage string, def bool, set func(*Config, bool)) {
	if def {
		usage += "; turn off with -" + name + "=false"
	}
	fs.BoolFunc(name, usageText(usage, key, def), func(s string) error {
		v, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		o.add(name, func(c *Config) string { set(c, v); return key })
		return nil
	})
}

func (o *Overrides) stringFlag(fs *flag.FlagSet, name, key, usage, def string, set func(*Config, string)) {
	if def == "" {
		def = `""`
	}
	fs.Func(name, usageText(usage, key, def), func(s string) error {
		o.add(name, func(c *Config) string { set(c, s); return key })
		return nil
	})
}

// parseListenFlag reads host:port or unix:PATH.
func parseListenFlag(s string) (Listener, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		return Listener{Network: NetUnix, Address: p}, nil
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "@") {
		return Listener{}, fmt.Errorf("%q: write unix:%s for a Unix socket", s, s)
	}
	if err := checkHostPort(s); err != nil {
		return Listener{}, err
	}
	return Listener{Network: NetTCP, Address: s}, nil
}

// apply applies the flags given, in order, recording in from which keys
// they set.
func (o *Overrides) apply(c *Config, from *origin) {
	if o == nil {
		return
	}
	for _, s := range o.set {
		from.setByFlag(s.apply(c), s.flag)
	}
}

// Given reports whether any flag other than -config was given.
func (o *Overrides) Given() bool { return o != nil && len(o.set) > 0 }
