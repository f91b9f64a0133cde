package httpd

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/uringd/uringd/httpd/internal/content"
	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// FileServer serves the files under a directory, as a native Handler on
// the loops (every open, stat and read goes through the loop's ring) and
// as a net/http.Handler (HTTPHandler) for goroutine servers.
//
// Paths are opened with openat2 relative to the root's descriptor with
// RESOLVE_BENEATH and RESOLVE_NO_MAGICLINKS, so the kernel keeps every
// lookup inside the root: "..", encoded dots and slashes, absolute paths
// and symbolic links that lead out all fail, and no byte from outside the
// root is ever read (unless Symlinks is SymlinksFollow, which lets links,
// and only links, lead out). Requests get Range (single, suffix, open-ended and
// multipart), strong ETags and Last-Modified with every conditional in RFC
// 9110's order, HEAD, index files, optional directory listings,
// precompressed sidecars (.br, .zst, .gz) chosen by Accept-Encoding, and,
// with an offload pool, on-the-fly compression of compressible types.
// Small files are read into memory and sent with the headers; larger ones
// are spliced from the file to the socket.
//
// Each loop keeps a bounded cache of open descriptors and metadata,
// revalidated (one statx) when older than Revalidate, so a changed,
// replaced or deleted file is served stale for at most that long. A file
// found changed when its body is about to go out (a short or long read, a
// statx before a splice) is looked up again, so a complete response is
// always one version of the file; one that shrinks while it is being sent
// ends the connection rather than send bytes it does not have. Spliced
// bytes are page-cache pages, not copies (as with nginx's sendfile): a
// truncation that cuts into bytes already queued on the socket zeroes them
// past the cut, and the client may receive those zeros before the
// connection ends short of its Content-Length. Replace files by renaming
// a new one over them, never by rewriting in place, when that matters.
//
// Set the fields before the first request and do not change them after.
type FileServer struct {
	// Root is the directory served.
	Root string
	// Prefix is stripped from request paths before they are looked up
	// ("/static" serves /static/a.css from Root/a.css); requests outside
	// it get 404.
	Prefix string
	// Index names the files served for a directory (default index.html).
	Index []string
	// Listing serves an HTML listing for a directory without an index.
	Listing bool
	// Dotfiles is what paths with a segment starting with '.' get.
	Dotfiles DotfilePolicy
	// Symlinks says which symbolic links are followed.
	Symlinks SymlinkPolicy
	// CacheControl is sent with every file response (empty: none).
	CacheControl string
	// Precompressed serves name.br, name.zst or name.gz instead of name
	// when they exist and the client accepts the coding.
	Precompressed bool
	// Compression, with a Pool, compresses compressible files between
	// MinSize and MaxSize on the fly (not for range requests).
	Compression *Compression
	// OpenFiles bounds each loop's cache of open files (default 1024;
	// negative: no cache, every request opens its file and closes it
	// once its body is out).
	OpenFiles int
	// Revalidate is how old cached metadata may be before a request checks
	// it again (default 1 s; negative: check on every request).
	Revalidate time.Duration
	// SmallFile is the largest file read into memory and sent with its
	// headers; larger bodies are spliced (default 64 KiB).
	SmallFile int64
	// Types overrides or adds Content-Types by extension (".mkv":
	// "video/x-matroska").
	Types map[string]string
	// ErrorLog receives errors other than missing files (default
	// slog.Default()).
	ErrorLog *slog.Logger

	hits, misses, revalidations atomic.Uint64

	once    sync.Once
	initErr error
	// closeOnce makes Close safe to call again and from several
	// goroutines (a daemon's reload and its shutdown may both close).
	closeOnce sync.Once
	closeErr  error
	rootFd    int
	mime      *content.MIMETable
	loops     sync.Map // *sched.Loop -> *fsLoop
	prefix    []byte
}

// DotfilePolicy is how a FileServer treats paths with a dot segment.
type DotfilePolicy uint8

// Dotfile policies.
const (
	// DotfilesHide answers 404, as if they did not exist (the default).
	DotfilesHide DotfilePolicy = iota
	// DotfilesDeny answers 403.
	DotfilesDeny
	// DotfilesAllow serves them like any file.
	DotfilesAllow
)

// SymlinkPolicy is which symbolic links a FileServer follows.
type SymlinkPolicy uint8

// Symlink policies. Whatever the policy, the request path itself never
// climbs above the root (a ".." that would is refused before any open),
// and /proc's magic links are refused (RESOLVE_NO_MAGICLINKS).
const (
	// SymlinksWithinRoot follows links that stay inside the root (the
	// default): the kernel refuses one that leads out (RESOLVE_BENEATH),
	// absolute links included.
	SymlinksWithinRoot SymlinkPolicy = iota
	// SymlinksNever refuses every symbolic link (RESOLVE_NO_SYMLINKS).
	SymlinksNever
	// SymlinksFollow follows links wherever they lead, as nginx does by
	// default (disable_symlinks off): for a root that gathers files kept
	// elsewhere (a media library linking to other disks). Whoever can
	// create a link under the root can then publish any file the server
	// may read.
	SymlinksFollow
)

// Compression configures on-the-fly compression.
type Compression struct {
	// Pool runs the compression jobs (required).
	Pool *offload.Pool
	// MinSize and MaxSize bound the files compressed (defaults 1 KiB and
	// 1 MiB): smaller ones gain little, larger ones take long.
	MinSize, MaxSize int64
	// GzipLevel is gzip's level, 1 (fastest) to 9 (smallest) (default 6).
	GzipLevel int
	// ZstdLevel is 1 (fastest) to 4 (smallest), klauspost/compress's
	// zstd.EncoderLevel (default 2, zstd.SpeedDefault).
	ZstdLevel int
	// Types, when not empty, lists the media types compressed on the fly
	// (parameters ignored; "text/*" matches a whole top-level type). By
	// default every type deemed compressible is: text/*, +json and +xml
	// types, JavaScript, WebAssembly, uncompressed fonts and bitmaps.
	// Precompressed sidecars are looked for regardless.
	Types []string
	// CacheBytes bounds each loop's cache of compressed bodies (default 8
	// MiB).
	CacheBytes int
}

// Open opens the root and checks the settings. ServeHTTP and HTTPHandler
// do it on first use, answering 500 if it fails; call Open first to
// refuse a bad root or setting at start instead. Calling it again returns
// the first call's result.
func (fs *FileServer) Open() error { return fs.init() }

func (fs *FileServer) init() error {
	fs.once.Do(func() {
		fs.initErr = fs.setup()
	})
	return fs.initErr
}

func (fs *FileServer) setup() error {
	if fs.Root == "" {
		return errors.New("httpd: FileServer.Root is empty")
	}
	fd, err := unix.Open(fs.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("httpd: file server root: %w", &os.PathError{Op: "open", Path: fs.Root, Err: err})
	}
	fs.rootFd = fd
	fs.mime = content.NewMIMETable()
	for ext, typ := range fs.Types {
		if err := fs.mime.Set(ext, typ); err != nil {
			unix.Close(fd)
			return err
		}
	}
	if len(fs.Index) == 0 {
		fs.Index = []string{"index.html"}
	}
	for _, name := range fs.Index {
		if !relativeBelow(name) {
			unix.Close(fd)
			return fmt.Errorf("httpd: FileServer.Index: %q is not a relative path below the directory", name)
		}
	}
	if fs.OpenFiles == 0 {
		fs.OpenFiles = 1024
	}
	if fs.Revalidate == 0 {
		fs.Revalidate = time.Second
	}
	if fs.SmallFile <= 0 {
		fs.SmallFile = 64 << 10
	}
	if fs.ErrorLog == nil {
		fs.ErrorLog = slog.Default()
	}
	if c := fs.Compression; c != nil {
		if c.Pool == nil {
			unix.Close(fd)
			return errors.New("httpd: FileServer.Compression needs a Pool")
		}
		if c.MinSize <= 0 {
			c.MinSize = 1 << 10
		}
		if c.MaxSize <= 0 {
			c.MaxSize = 1 << 20
		}
		if c.GzipLevel == 0 {
			c.GzipLevel = 6
		}
		if c.GzipLevel < 1 || c.GzipLevel > 9 {
			unix.Close(fd)
			return fmt.Errorf("httpd: Compression.GzipLevel %d is not in 1..9", c.GzipLevel)
		}
		if c.ZstdLevel == 0 {
			c.ZstdLevel = int(zstd.SpeedDefault)
		}
		if c.ZstdLevel < int(zstd.SpeedFastest) || c.ZstdLevel > int(zstd.SpeedBestCompression) {
			unix.Close(fd)
			return fmt.Errorf("httpd: Compression.ZstdLevel %d is not in 1..4", c.ZstdLevel)
		}
		for _, t := range c.Types {
			if major, minor, ok := strings.Cut(t, "/"); !ok || major == "" || minor == "" || major == "*" || strings.ContainsAny(t, " ;,") {
				unix.Close(fd)
				return fmt.Errorf("httpd: Compression.Types: %q is not a media type such as text/html or text/* (leave Types empty for every compressible type)", t)
			}
		}
		if c.CacheBytes <= 0 {
			c.CacheBytes = 8 << 20
		}
	}
	// "/static/" and "/static" mount the same: requests keep their
	// leading slash after the prefix is stripped.
	for len(fs.Prefix) > 0 && fs.Prefix[len(fs.Prefix)-1] == '/' {
		fs.Prefix = fs.Prefix[:len(fs.Prefix)-1]
	}
	fs.prefix = []byte(fs.Prefix)
	return nil
}

// resolveFlags are the openat2 resolution flags of the policy.
func (fs *FileServer) resolveFlags() uint64 {
	switch fs.Symlinks {
	case SymlinksNever:
		return unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS
	case SymlinksFollow:
		// Safe only because every path opened is relative, without ".."
		// (content.CleanPath) or from the server's own configuration.
		return unix.RESOLVE_NO_MAGICLINKS
	}
	return unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS
}

// relativeBelow reports whether name is a relative path with no empty,
// "." or ".." segment and no NUL: opened from a directory, it stays below
// it whatever the symlink policy.
func relativeBelow(name string) bool {
	if name == "" || strings.IndexByte(name, 0) >= 0 {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// onTheFly reports whether a body of media type ctype may be compressed
// on the fly.
func (c *Compression) onTheFly(ctype string) bool {
	if len(c.Types) == 0 {
		return content.Compressible(ctype)
	}
	mt, _, _ := strings.Cut(ctype, ";")
	mt = strings.TrimSpace(mt)
	major, _, _ := strings.Cut(mt, "/")
	for _, t := range c.Types {
		if strings.EqualFold(t, mt) || strings.HasSuffix(t, "/*") && strings.EqualFold(t[:len(t)-2], major) {
			return true
		}
	}
	return false
}

// FileServerStats are a FileServer's cache counters.
type FileServerStats struct {
	Hits          uint64 // requests served from a loop's cache without a check
	Misses        uint64 // requests that opened the file
	Revalidations uint64 // cached entries checked again (statx) before use
}

// Stats returns the cache counters.
func (fs *FileServer) Stats() FileServerStats {
	return FileServerStats{Hits: fs.hits.Load(), Misses: fs.misses.Load(), Revalidations: fs.revalidations.Load()}
}

// Close releases the root descriptor. Cached descriptors are released
// with their loops' caches when the loops' entries are evicted; Close
// evicts the entries it can reach. Calls after the first return its
// result; Close may be called from any goroutine.
func (fs *FileServer) Close() error {
	fs.closeOnce.Do(func() { fs.closeErr = fs.close() })
	return fs.closeErr
}

func (fs *FileServer) close() error {
	var err error
	fs.loops.Range(func(_, v any) bool {
		fl := v.(*fsLoop)
		if err := fl.loop.Post(closeCacheOp(fl)); err != nil {
			// The loop has stopped: no operation of it uses a descriptor
			// any more, and no callback will release one.
			<-fl.loop.Done()
			fl.closeLive()
		}
		return true
	})
	if fs.initErr == nil && fs.rootFd > 0 {
		err = unix.Close(fs.rootFd)
		fs.rootFd = -1
	}
	return err
}

// closeCacheOp builds an op that empties fl's cache on its loop.
func closeCacheOp(fl *fsLoop) *sched.Op {
	op := new(sched.Op)
	op.PrepCall(func(*sched.Op, sched.Result) { fl.clear() })
	return op
}

// fsLoop is a FileServer's state on one loop.
type fsLoop struct {
	fs      *FileServer
	loop    *sched.Loop
	entries map[string]*fileEntry
	lruHead *fileEntry // most recently used
	lruTail *fileEntry
	n       int
	reqs    []*fileReq
	bufs    [][]byte
	zcache  *zcache
	// noInline: the root's file system refused RWF_NOWAIT; small files
	// are read through the ring only.
	noInline bool
	// live is every entry with an open descriptor, cached or held by a
	// request: what Close must close once the loop is gone (a request
	// whose completion the stopped loop never ran still holds its own).
	live map[*fileEntry]struct{}
}

func (fs *FileServer) forLoop(l *sched.Loop) *fsLoop {
	if v, ok := fs.loops.Load(l); ok {
		return v.(*fsLoop)
	}
	fl := &fsLoop{fs: fs, loop: l, entries: make(map[string]*fileEntry), live: make(map[*fileEntry]struct{})}
	if fs.Compression != nil {
		fl.zcache = newZcache(fs.Compression.CacheBytes)
	}
	v, _ := fs.loops.LoadOrStore(l, fl)
	return v.(*fsLoop)
}

// fileEntry is an open file (or a known-missing sidecar) in a loop's cache.
type fileEntry struct {
	key     string
	fd      int // -1 for a missing sidecar
	refs    int // operations using fd; it closes when evicted and 0
	evicted bool
	isDir   bool
	st      content.Stat
	etag    []byte
	lastMod []byte
	ctype   string
	enc     content.Encoding
	checked time.Time
	// sidecars[enc] is the precompressed variant, or a missing marker;
	// nil when not looked up yet.
	sidecars   [4]*fileEntry
	prev, next *fileEntry
}

func (fl *fsLoop) lookup(key []byte) *fileEntry {
	e := fl.entries[string(key)]
	if e != nil {
		fl.touch(e)
	}
	return e
}

// insert caches e. The cache holds a reference of its own to every
// entry, dropped by evict; reads and splices hold theirs (acquire), so
// a descriptor closes only when neither the cache nor an operation uses
// it.
func (fl *fsLoop) insert(e *fileEntry) {
	if fl.fs.OpenFiles < 0 {
		// No cache: the entry lives as long as the requests that hold it.
		e.evicted = true
		return
	}
	if old := fl.entries[e.key]; old != nil {
		fl.evict(old)
	}
	e.refs++
	fl.entries[e.key] = e
	fl.pushFront(e)
	fl.n++
	for fl.n > fl.fs.OpenFiles && fl.lruTail != nil && fl.lruTail != e {
		fl.evict(fl.lruTail)
	}
}

// evict drops e from the cache, with its sidecars; its descriptor closes
// once no operation uses it.
func (fl *fsLoop) evict(e *fileEntry) {
	if e.evicted {
		return
	}
	e.evicted = true
	if fl.entries[e.key] == e {
		delete(fl.entries, e.key)
	}
	fl.unlink(e)
	fl.n--
	fl.dropSidecars(e)
	fl.release(e) // the cache's reference
}

// dropSidecars forgets e's sidecars (they are looked up again when
// needed); each is owned by e and holds one reference for it.
func (fl *fsLoop) dropSidecars(e *fileEntry) {
	for i, sc := range e.sidecars {
		if sc == nil {
			continue
		}
		e.sidecars[i] = nil
		if sc.fd >= 0 && !sc.evicted {
			sc.evicted = true
			fl.release(sc)
		}
	}
}

func (fl *fsLoop) acquire(e *fileEntry) { e.refs++ }

func (fl *fsLoop) release(e *fileEntry) {
	if e.refs > 0 {
		e.refs--
	}
	if e.evicted && e.refs == 0 && e.fd >= 0 {
		unix.Close(e.fd)
		e.fd = -1
		delete(fl.live, e)
		// Sidecars found while a request held e after its eviction.
		fl.dropSidecars(e)
	}
}

// closeLive closes every descriptor the loop's requests and cache hold;
// only for a loop that has stopped.
func (fl *fsLoop) closeLive() {
	for e := range fl.live {
		if e.fd >= 0 {
			unix.Close(e.fd)
			e.fd = -1
		}
		e.evicted = true
	}
	clear(fl.live)
}

func (fl *fsLoop) clear() {
	for _, e := range fl.entries {
		fl.evict(e)
	}
}

func (fl *fsLoop) touch(e *fileEntry) {
	if fl.lruHead == e {
		return
	}
	fl.unlink(e)
	fl.pushFront(e)
}

func (fl *fsLoop) pushFront(e *fileEntry) {
	e.prev, e.next = nil, fl.lruHead
	if fl.lruHead != nil {
		fl.lruHead.prev = e
	}
	fl.lruHead = e
	if fl.lruTail == nil {
		fl.lruTail = e
	}
}

func (fl *fsLoop) unlink(e *fileEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if fl.lruHead == e {
		fl.lruHead = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if fl.lruTail == e {
		fl.lruTail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (fl *fsLoop) getBuf(n int) []byte {
	for i := len(fl.bufs) - 1; i >= 0; i-- {
		if cap(fl.bufs[i]) >= n {
			b := fl.bufs[i]
			fl.bufs[i] = fl.bufs[len(fl.bufs)-1]
			fl.bufs = fl.bufs[:len(fl.bufs)-1]
			return b[:n]
		}
	}
	return make([]byte, n, max(n, 4<<10))
}

func (fl *fsLoop) putBuf(b []byte) {
	if cap(b) > 0 && cap(b) <= 256<<10 && len(fl.bufs) < 64 {
		fl.bufs = append(fl.bufs, b[:0])
	}
}

// newEntry builds a cache entry from statx.
func (fs *FileServer) newEntry(key string, fd int, st *unix.Statx_t, enc content.Encoding, name []byte) *fileEntry {
	e := &fileEntry{key: key, fd: fd, enc: enc}
	e.isDir = st.Mode&unix.S_IFMT == unix.S_IFDIR
	e.st = content.Stat{
		Ino:     st.Ino,
		Size:    int64(st.Size),
		ModTime: time.Unix(st.Mtime.Sec, int64(st.Mtime.Nsec)),
	}
	e.etag = content.AppendETag(nil, e.st, enc)
	e.lastMod = content.AppendHTTPDate(nil, e.st.ModTime)
	e.ctype = fs.mime.TypeByName(name)
	return e
}

// sameFile reports whether st still describes e's file.
func (e *fileEntry) sameFile(st *unix.Statx_t) bool {
	return st.Ino == e.st.Ino && int64(st.Size) == e.st.Size &&
		st.Mtime.Sec == e.st.ModTime.Unix() && int64(st.Mtime.Nsec) == int64(e.st.ModTime.Nanosecond())
}
