// Package config is uringd's configuration: the Config type with its
// defaults, strict loading from a TOML file, command-line flags that
// override the file, and validation whose errors name the file and line.
//
// The order is always: Default, then the file (if any), then the flags,
// then validation. Resolve does all four.
package config

// Config is everything uringd can be told. The zero value is not useful:
// start from Default. TOML keys are the `toml` tags; uringd.example.toml
// documents each one.
type Config struct {
	// Listen lists the addresses to serve on (default one TCP listener on
	// 127.0.0.1:8080).
	Listen []Listener `toml:"listen"`
	// Mounts maps URL prefixes to directories. Empty: the bundled demo
	// site is served at "/".
	Mounts []Mount `toml:"mount"`
	// Loops is the number of event loops (0: one per CPU, GOMAXPROCS).
	Loops int `toml:"loops"`

	Offload     Offload     `toml:"offload"`
	Limits      Limits      `toml:"limits"`
	Timeouts    Timeouts    `toml:"timeouts"`
	Cache       Cache       `toml:"cache"`
	Compression Compression `toml:"compression"`
	AccessLog   AccessLog   `toml:"access_log"`
	Metrics     Metrics     `toml:"metrics"`
	Pprof       Pprof       `toml:"pprof"`
	Health      Health      `toml:"health"`
	Stats       Stats       `toml:"stats"`
}

// Network names for Listener.Network.
const (
	NetTCP  = "tcp"
	NetUnix = "unix"
)

// Listener is one address to accept connections on.
type Listener struct {
	// Network is "tcp" (IPv4 and IPv6) or "unix" (default "tcp").
	Network string `toml:"network"`
	// Address is host:port for tcp (an empty host means every
	// interface), a path for unix ("@name" for the abstract namespace).
	Address string `toml:"address"`
	// Mode is a unix socket's file mode in octal, such as "0660"; empty
	// leaves it as created (0777 minus the umask).
	Mode string `toml:"mode"`
}

// Dotfiles policies: what a request for a path with a component that
// starts with "." gets.
const (
	DotfilesHide  = "hide"  // 404, and left out of listings
	DotfilesDeny  = "deny"  // 403
	DotfilesAllow = "allow" // served like any file
)

// Symlink policies.
const (
	// SymlinksWithinRoot follows a symlink only if it stays inside the
	// root (openat2 RESOLVE_BENEATH: the kernel enforces it).
	SymlinksWithinRoot = "within-root"
	// SymlinksNever refuses any path with a symlink in it
	// (RESOLVE_NO_SYMLINKS).
	SymlinksNever = "never"
	// SymlinksFollow follows symlinks wherever they lead, as nginx does by
	// default; ".." in the request is still refused.
	SymlinksFollow = "follow"
)

// Mount serves one directory under one URL prefix.
type Mount struct {
	// Prefix is the URL path the root is served at; it starts with "/"
	// and is stored with a trailing "/". The longest matching prefix
	// wins.
	Prefix string `toml:"prefix"`
	// Root is the directory served. A relative root in a file is relative
	// to the file's directory; on the command line, to the working
	// directory. Stored absolute.
	Root string `toml:"root"`
	// Index lists the files tried for a request that names a directory
	// (default ["index.html"]).
	Index []string `toml:"index"`
	// Listing answers a directory without an index file with a listing
	// (default false: 403, the directory exists but may not be listed).
	Listing bool `toml:"listing"`
	// Dotfiles is "hide" (default), "deny" or "allow".
	Dotfiles string `toml:"dotfiles"`
	// Symlinks is "within-root" (default), "never" or "follow".
	Symlinks string `toml:"symlinks"`
	// CacheControl is sent as the Cache-Control header of every file
	// response (default none: clients revalidate with ETag and
	// Last-Modified).
	CacheControl string `toml:"cache_control"`
}

// Offload sizes the worker pool for CPU-heavy and slow blocking work.
type Offload struct {
	// CPUWorkers run compression and hashing (0: GOMAXPROCS-1, at least
	// 1, so one CPU stays with the loops).
	CPUWorkers int `toml:"cpu_workers"`
	// BlockingWorkers run slow blocking calls (default 4).
	BlockingWorkers int `toml:"blocking_workers"`
	// QueueLen bounds each class's queue (default 1024); beyond it work is
	// refused rather than queued without bound.
	QueueLen int `toml:"queue_len"`
}

// Limits bound what one client can make the server hold.
type Limits struct {
	// MaxConns is the most open connections (default 10000; 0: no
	// limit). Mind the file descriptor limit (LimitNOFILE).
	MaxConns int `toml:"max_conns"`
	// MaxRequestLine bounds the request line (default 8 KiB; longer: 414).
	MaxRequestLine ByteSize `toml:"max_request_line"`
	// MaxHeaderBytes bounds the header section (default 32 KiB; larger:
	// 431).
	MaxHeaderBytes ByteSize `toml:"max_header_bytes"`
	// MaxHeaders bounds the number of header fields (default 100).
	MaxHeaders int `toml:"max_headers"`
	// MaxBodyBytes bounds a request body (default 1 MiB; larger: 413).
	MaxBodyBytes ByteSize `toml:"max_body_bytes"`
}

// Timeouts per phase of a connection.
type Timeouts struct {
	// Header is the time from a request's first byte to its complete
	// header section (default 10s; then 408 and close).
	Header Duration `toml:"header"`
	// Body is the most time between two reads of a request body (default
	// 30s).
	Body Duration `toml:"body"`
	// Idle is how long a keep-alive connection may wait for its next
	// request (default 60s).
	Idle Duration `toml:"idle"`
	// Write is the most time a response may wait for the client to accept
	// more bytes (default 30s).
	Write Duration `toml:"write"`
	// ShutdownGrace is how long SIGTERM waits for requests in flight
	// before closing what is left (default 10s).
	ShutdownGrace Duration `toml:"shutdown_grace"`
}

// Cache sizes the open-file cache.
type Cache struct {
	// OpenFiles is the most open file descriptors kept for reuse
	// (default 1024; 0: no cache).
	OpenFiles int `toml:"open_files"`
	// Revalidate is how long a cached entry is used before its file is
	// checked again with statx (default 1s; 0s: checked on every request;
	// nginx's open_file_cache_valid).
	Revalidate Duration `toml:"revalidate"`
}

// Compression of responses.
type Compression struct {
	// OnTheFly compresses responses in the offload pool when the client
	// accepts it and the type is listed in Types (default true).
	OnTheFly bool `toml:"on_the_fly"`
	// MinSize: smaller bodies are sent as they are (default 1 KiB).
	MinSize ByteSize `toml:"min_size"`
	// MaxSize: larger bodies are not compressed on the fly (default 8
	// MiB); precompressed sidecars are still used.
	MaxSize ByteSize `toml:"max_size"`
	// GzipLevel is 1 (fastest) to 9 (smallest) (default 5).
	GzipLevel int `toml:"gzip_level"`
	// ZstdLevel is 1 (fastest) to 4 (smallest) (default 2).
	ZstdLevel int `toml:"zstd_level"`
	// Types lists the media types compressed on the fly; "text/*" matches
	// a whole top-level type. Empty: every type httpd deems compressible
	// (text/*, +json and +xml types, JavaScript, WebAssembly, uncompressed
	// fonts and bitmaps).
	Types []string `toml:"types"`
	// Precompressed serves FILE.zst, FILE.br or FILE.gz next to FILE when
	// the client accepts that encoding and the sidecar is not older than
	// FILE (default true).
	Precompressed bool `toml:"precompressed"`
}

// Access log formats.
const (
	LogCommon   = "common"
	LogCombined = "combined"
	LogJSON     = "json"
)

// Special AccessLog.Path values.
const (
	LogStderr = "stderr"
	LogStdout = "stdout"
	LogOff    = "off"
)

// AccessLog is the per-request log.
type AccessLog struct {
	// Format is "common", "combined" (default) or "json" (one log/slog
	// JSON record per request).
	Format string `toml:"format"`
	// Path is a file to append to, "stderr" (default), "stdout" or
	// "off".
	Path string `toml:"path"`
	// ReopenOnHUP reopens Path on SIGHUP, for logrotate (default true).
	// When false, a SIGHUP that leaves Path as it is keeps writing to the
	// file already open, wherever it has been moved.
	ReopenOnHUP bool `toml:"reopen_on_hup"`
}

// Metrics is the Prometheus endpoint on a listener of its own.
type Metrics struct {
	// Address is host:port for /metrics, the health endpoint and the stats
	// endpoint, kept off the public listeners (default "": none).
	Address string `toml:"address"`
}

// Pprof is Go's net/http/pprof on a listener of its own.
type Pprof struct {
	// Address is host:port (default "": off). Profiles reveal internals:
	// bind it to loopback.
	Address string `toml:"address"`
}

// Health is the health endpoint.
type Health struct {
	// Path answers 200 while serving and 503 while shutting down, on every
	// listener (default "/.uringd/health"; "": off).
	Path string `toml:"path"`
}

// Stats is the JSON stats endpoint the demo site's status page polls.
type Stats struct {
	// Path serves the stats (default "/.uringd/stats"; "": off).
	Path string `toml:"path"`
}

// Default returns the configuration used when nothing else is given.
func Default() *Config {
	return &Config{
		Listen: []Listener{{Network: NetTCP, Address: "127.0.0.1:8080"}},
		Offload: Offload{
			BlockingWorkers: 4,
			QueueLen:        1024,
		},
		Limits: Limits{
			MaxConns:       10000,
			MaxRequestLine: 8 * KiB,
			MaxHeaderBytes: 32 * KiB,
			MaxHeaders:     100,
			MaxBodyBytes:   1 * MiB,
		},
		Timeouts: Timeouts{
			Header:        Seconds(10),
			Body:          Seconds(30),
			Idle:          Seconds(60),
			Write:         Seconds(30),
			ShutdownGrace: Seconds(10),
		},
		Cache: Cache{OpenFiles: 1024, Revalidate: Seconds(1)},
		Compression: Compression{
			OnTheFly:  true,
			MinSize:   1 * KiB,
			MaxSize:   8 * MiB,
			GzipLevel: 5,
			ZstdLevel: 2,
			Types: []string{
				"text/*", "application/javascript", "application/json",
				"application/xml", "application/wasm", "image/svg+xml",
			},
			Precompressed: true,
		},
		AccessLog: AccessLog{Format: LogCombined, Path: LogStderr, ReopenOnHUP: true},
		Health:    Health{Path: "/.uringd/health"},
		Stats:     Stats{Path: "/.uringd/stats"},
	}
}

// DefaultMount returns a mount's defaults (Prefix "/", no Root); the
// fields a file or flag leaves out keep them.
func DefaultMount() Mount {
	return Mount{
		Prefix:   "/",
		Index:    []string{"index.html"},
		Dotfiles: DotfilesHide,
		Symlinks: SymlinksWithinRoot,
	}
}

// defaultListener returns a listener's defaults.
func defaultListener() Listener {
	return Listener{Network: NetTCP}
}
