package httpd

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"time"
	"unsafe"

	"github.com/klauspost/compress/zstd"

	"github.com/uringd/uringd/httpd/internal/content"
	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
	"golang.org/x/sys/unix"
)

// fileReq is one file request in progress on a loop: everything the
// asynchronous steps (open, statx, read) need after ServeHTTP returned,
// including the memory the kernel reads (the path, open_how, statx
// buffer) until their completions.
type fileReq struct {
	fl    *fsLoop
	w     *Response
	head  bool
	dir   bool // the request path ended in a slash
	path  []byte
	rel   []byte // path relative to the root (in path), then NUL
	url   []byte // the request path and query, for redirects and listings
	hdrs  []byte // copies of the header values below
	conds content.Conditions
	ae    []byte // Accept-Encoding
	how   unix.OpenHow
	st    unix.Statx_t
	op    sched.Op
	// index is which Index file is being tried (-1: none), base the
	// directory's rel length.
	index int
	base  int
	// probing is the sidecar coding whose open is in flight.
	probing content.Encoding
	entry   *fileEntry // the file asked for (held: see hold)
	opened  *fileEntry // the last entry this request opened (held)
	dirEnt  *fileEntry // the directory whose index is looked for (held)
	target  *fileEntry // the representation sent (entry or a sidecar)
	buf     []byte
	ranges  [content.DefaultMaxRanges]content.Range
	plan    content.MultipartPlan
	retried bool
}

var emptyPath = []byte{0}

// ServeHTTP implements Handler.
func (fs *FileServer) ServeHTTP(w *Response, r *Request) {
	if err := fs.init(); err != nil {
		fs.ErrorLog.Error("httpd: file server", "err", err)
		w.SetStatus(http.StatusInternalServerError)
		return
	}
	method := r.Method()
	head := string(method) == http.MethodHead
	if !head && string(method) != http.MethodGet {
		w.SetStatus(http.StatusMethodNotAllowed)
		w.Header("Allow", "GET, HEAD")
		w.WriteString("method not allowed\n")
		return
	}
	raw := r.Path()
	if len(fs.prefix) > 0 {
		if !bytes.HasPrefix(raw, fs.prefix) || (len(raw) > len(fs.prefix) && raw[len(fs.prefix)] != '/' && fs.prefix[len(fs.prefix)-1] != '/') {
			simpleStatus(w, http.StatusNotFound)
			return
		}
		raw = raw[len(fs.prefix):]
	}
	fl := fs.forLoop(r.Loop())
	fr := fl.getReq(w)
	p, err := content.CleanPath(fr.path[:0], raw)
	if err != nil {
		fl.putReq(fr)
		status := http.StatusBadRequest
		if pe, ok := err.(*content.PathError); ok {
			status = pe.Status()
		}
		simpleStatus(w, status)
		return
	}
	if p.Hidden && fs.Dotfiles != DotfilesAllow {
		fl.putReq(fr)
		if fs.Dotfiles == DotfilesDeny {
			simpleStatus(w, http.StatusForbidden)
		} else {
			simpleStatus(w, http.StatusNotFound)
		}
		return
	}
	fr.head, fr.dir = head, p.Dir
	fr.setRel(p.Rel)
	fr.url = append(fr.url[:0], r.Target()...)
	fr.copyHeaders(r)
	w.Async()
	fr.start()
}

// setRel makes rel the NUL-terminated path to open (in fr.path).
func (fr *fileReq) setRel(rel []byte) {
	if len(rel) == 0 {
		rel = append(rel[:0], '.')
	}
	fr.path = append(fr.path[:0], rel...)
	fr.path = append(fr.path, 0)
	fr.rel = fr.path[:len(fr.path)-1]
}

// copyHeaders keeps the header values the later steps need (the
// request's own bytes are gone once ServeHTTP returns).
func (fr *fileReq) copyHeaders(r *Request) {
	names := [...]string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range", "Accept-Encoding"}
	var vals [len(names)][]byte
	total := 0
	for i, n := range names {
		vals[i] = r.Header(n)
		total += len(vals[i])
	}
	b := fr.hdrs[:0]
	if cap(b) < total {
		b = make([]byte, 0, total)
	}
	for i, v := range vals {
		if v != nil {
			start := len(b)
			b = append(b, v...)
			vals[i] = b[start:len(b):len(b)]
		}
	}
	fr.hdrs = b
	fr.conds = content.Conditions{Method: methodBytes(fr.head), IfMatch: vals[0], IfNoneMatch: vals[1],
		IfModifiedSince: vals[2], IfUnmodifiedSince: vals[3], IfRange: vals[4], Range: vals[5]}
	fr.ae = vals[6]
}

var (
	getMethod  = []byte(http.MethodGet)
	headMethod = []byte(http.MethodHead)
)

func methodBytes(head bool) []byte {
	if head {
		return headMethod
	}
	return getMethod
}

func (fl *fsLoop) getReq(w *Response) *fileReq {
	var fr *fileReq
	if n := len(fl.reqs); n > 0 {
		fr = fl.reqs[n-1]
		fl.reqs = fl.reqs[:n-1]
	} else {
		fr = &fileReq{fl: fl, hdrs: make([]byte, 0, 512)}
	}
	fr.w = w
	fr.index = -1
	fr.entry, fr.target = nil, nil
	fr.retried = false
	return fr
}

func (fl *fsLoop) putReq(fr *fileReq) {
	fr.w = nil
	fr.hold(nil)
	if fr.dirEnt != nil {
		fl.release(fr.dirEnt)
		fr.dirEnt = nil
	}
	if fr.opened != nil {
		fl.release(fr.opened)
		fr.opened = nil
	}
	fr.target = nil
	if fr.buf != nil {
		fl.putBuf(fr.buf)
		fr.buf = nil
	}
	if len(fl.reqs) < 256 {
		fl.reqs = append(fl.reqs, fr)
	}
}

// hold makes e the entry the request works on. The request keeps a
// reference to it until it ends or moves on, so an eviction meanwhile
// (another request filling a small cache) never closes a descriptor this
// one still reads, dups or probes beside.
func (fr *fileReq) hold(e *fileEntry) {
	if fr.entry == e {
		return
	}
	if fr.entry != nil {
		fr.fl.release(fr.entry)
	}
	fr.entry = e
	if e != nil {
		fr.fl.acquire(e)
	}
}

// finish completes the response and recycles fr.
func (fr *fileReq) finish() {
	w := fr.w
	fr.fl.putReq(fr)
	w.Finish()
}

// fail answers with a status and a short text.
func (fr *fileReq) fail(status int) {
	simpleStatus(fr.w, status)
	fr.finish()
}

func simpleStatus(w *Response, status int) {
	w.SetStatus(status)
	w.Header("Content-Type", "text/plain; charset=utf-8")
	w.WriteString(http.StatusText(status))
	w.WriteString("\n")
}

// start looks the path up in the cache, or opens it.
func (fr *fileReq) start() {
	fl := fr.fl
	e := fl.lookup(fr.rel)
	switch {
	case e == nil:
		fl.fs.misses.Add(1)
		fr.open()
	case fl.fs.Revalidate > 0 && fl.loop.Now().Sub(e.checked) < fl.fs.Revalidate:
		fl.fs.hits.Add(1)
		fr.have(e)
	default:
		fl.fs.revalidations.Add(1)
		fr.revalidate(e)
	}
}

// open opens fr.path relative to the root: the kernel refuses anything
// that leads out of it.
func (fr *fileReq) open() {
	fr.how = unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY, Resolve: fr.fl.fs.resolveFlags()}
	fr.op.PrepOpen(fr.fl.fs.rootFd, &fr.path[0], &fr.how, fr.onOpen)
	fr.submit()
}

func (fr *fileReq) submit() {
	fr.op.Data = fr
	if err := fr.fl.loop.Submit(&fr.op); err != nil {
		fr.fail(http.StatusServiceUnavailable)
	}
}

func (fr *fileReq) onOpen(_ *sched.Op, r sched.Result) {
	if r.Res < 0 {
		fr.openFailed(unix.Errno(-r.Res))
		return
	}
	fd := int(r.Res)
	fr.op.PrepStat(fd, &emptyPath[0], unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &fr.st, func(_ *sched.Op, r sched.Result) {
		fr.onStat(fd, r)
	})
	fr.submit()
}

func (fr *fileReq) onStat(fd int, r sched.Result) {
	if r.Res < 0 {
		unix.Close(fd)
		fr.fs().ErrorLog.Error("httpd: statx", "path", string(fr.rel), "err", r.Err())
		fr.fail(http.StatusInternalServerError)
		return
	}
	e := fr.fs().newEntry(string(fr.rel), fd, &fr.st, content.Identity, fr.rel)
	fr.fl.live[e] = struct{}{}
	e.checked = fr.fl.loop.Now()
	fr.fl.insert(e)
	// Held from here, so that an entry the cache does not keep (no
	// cache, or evicted at once) closes when the request is done with it.
	if fr.opened != nil {
		fr.fl.release(fr.opened)
	}
	fr.opened = e
	fr.fl.acquire(e)
	fr.have(e)
}

func (fr *fileReq) fs() *FileServer { return fr.fl.fs }

// openFailed maps an open error to a status; a missing index file moves
// on to the next one.
func (fr *fileReq) openFailed(errno unix.Errno) {
	if fr.index >= 0 && (errno == unix.ENOENT || errno == unix.ENOTDIR) {
		fr.tryIndex(fr.index + 1)
		return
	}
	switch errno {
	case unix.ENOENT, unix.ENOTDIR, unix.ELOOP, unix.EXDEV, unix.ENAMETOOLONG:
		// EXDEV and ELOOP: the path or a link in it leads out of the root
		// (RESOLVE_BENEATH) or is a link the policy refuses; say nothing
		// more than "not found".
		fr.fail(http.StatusNotFound)
	case unix.EACCES, unix.EPERM:
		fr.fail(http.StatusForbidden)
	case unix.EMFILE, unix.ENFILE, unix.ENOMEM:
		fr.fs().ErrorLog.Error("httpd: open", "path", string(fr.rel), "err", errno)
		fr.fail(http.StatusServiceUnavailable)
	default:
		fr.fs().ErrorLog.Error("httpd: open", "path", string(fr.rel), "err", errno)
		fr.fail(http.StatusInternalServerError)
	}
}

// revalidate checks a cached entry against the file system: a file
// replaced, changed or deleted since is opened anew.
func (fr *fileReq) revalidate(e *fileEntry) {
	fr.fl.acquire(e)
	fr.op.PrepStat(fr.fs().rootFd, &fr.path[0], unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &fr.st, func(_ *sched.Op, r sched.Result) {
		fr.fl.release(e)
		if r.Res == 0 && !e.evicted && (e.sameFile(&fr.st) || fr.st.Mode&unix.S_IFMT == unix.S_IFLNK) && !e.isDir == (fr.st.Mode&unix.S_IFMT != unix.S_IFDIR) {
			if fr.st.Mode&unix.S_IFMT == unix.S_IFLNK {
				// A link's own metadata says nothing about its target:
				// open again (cheap, and through RESOLVE_BENEATH).
				fr.fl.evict(e)
				fr.open()
				return
			}
			e.checked = fr.fl.loop.Now()
			// Sidecars change on their own: look them up again.
			fr.fl.dropSidecars(e)
			fr.have(e)
			return
		}
		fr.fl.evict(e)
		fr.open()
	})
	fr.submit()
}

// have serves a cache entry: a directory's index or listing, or a file.
func (fr *fileReq) have(e *fileEntry) {
	if e.isDir {
		fr.directory(e)
		return
	}
	if fr.dir && fr.index < 0 {
		// "file/" names no directory.
		fr.fail(http.StatusNotFound)
		return
	}
	fr.hold(e)
	fr.file()
}

// directory redirects "dir" to "dir/", and serves "dir/" from an index
// file or a listing.
func (fr *fileReq) directory(e *fileEntry) {
	if !fr.dir {
		// Built from the cleaned path, never from the raw one: a raw
		// "//host/x" would make a Location to another host.
		w := fr.w
		_, query, _ := bytes.Cut(fr.url, []byte{'?'})
		loc := append([]byte(nil), fr.fs().Prefix...)
		loc = append(loc, '/')
		if !(len(fr.rel) == 1 && fr.rel[0] == '.') {
			loc = append(loc, escapePath(fr.rel)...)
			loc = append(loc, '/')
		}
		if len(query) > 0 {
			loc = append(append(loc, '?'), query...)
		}
		w.SetStatus(http.StatusMovedPermanently)
		w.HeaderBytes("Location", loc)
		fr.finish()
		return
	}
	if fr.index >= 0 {
		// An index name that is a directory: not an index.
		fr.tryIndex(fr.index + 1)
		return
	}
	fr.base = len(fr.rel)
	if len(fr.rel) == 1 && fr.rel[0] == '.' {
		fr.base = 0
	}
	// Held for a listing, whatever index files are opened meanwhile.
	fr.dirEnt = e
	fr.fl.acquire(e)
	fr.tryIndex(0)
}

// tryIndex looks for Index[i] in the directory.
func (fr *fileReq) tryIndex(i int) {
	fs := fr.fs()
	if i >= len(fs.Index) {
		fr.index = -1
		if fs.Listing && fr.dirEnt != nil {
			fr.listing(fr.dirEnt)
			return
		}
		fr.fail(http.StatusForbidden)
		return
	}
	fr.index = i
	dir := fr.path[:fr.base]
	p := append([]byte(nil), dir...)
	if len(p) > 0 {
		p = append(p, '/')
	}
	p = append(p, fs.Index[i]...)
	fr.setRel(p)
	fr.start()
}

// listing reads the directory on a goroutine (there is no ring operation
// for getdents) and answers with an HTML page.
func (fr *fileReq) listing(dir *fileEntry) {
	// A descriptor of its own: a dup would share the cached one's read
	// position, and the next listing would start at its end.
	fd, err := unix.Openat(dir.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		fr.fail(http.StatusServiceUnavailable)
		return
	}
	urlPath, _, _ := bytes.Cut(fr.url, []byte{'?'})
	up := string(urlPath)
	go func() {
		f := os.NewFile(uintptr(fd), "dir")
		ents, err := f.ReadDir(-1)
		f.Close()
		var page []byte
		if err == nil {
			list := make([]content.Entry, 0, len(ents))
			for _, d := range ents {
				if d.Name()[0] == '.' && fr.fs().Dotfiles != DotfilesAllow {
					continue
				}
				ce := content.Entry{Name: d.Name(), IsDir: d.IsDir()}
				if info, err := d.Info(); err == nil {
					ce.Size, ce.ModTime = info.Size(), info.ModTime()
				}
				list = append(list, ce)
			}
			page = content.AppendListing(nil, up, list)
		}
		fr.w.Post(func(w *Response) {
			if err != nil {
				fr.fail(http.StatusInternalServerError)
				return
			}
			w.Header("Content-Type", "text/html; charset=utf-8")
			if fr.fs().CacheControl != "" {
				w.Header("Cache-Control", "no-cache")
			}
			if fr.head {
				w.SetContentLength(int64(len(page)))
			} else {
				w.Write(page)
			}
			fr.finish()
		})
	}()
}

// file picks the representation (a precompressed sidecar, on-the-fly
// compression, or the file itself) and serves it.
func (fr *fileReq) file() {
	fs, e := fr.fs(), fr.entry
	compressible := content.Compressible(e.ctype)
	avail := content.EncodingSet(0).Add(content.Identity)
	if fs.Precompressed && compressible && len(fr.ae) > 0 {
		for _, enc := range []content.Encoding{content.Brotli, content.Zstd, content.Gzip} {
			sc := e.sidecars[enc]
			if sc == nil {
				if !acceptsCoding(fr.ae, enc) {
					continue
				}
				fr.probeSidecar(enc)
				return
			}
			if sc.fd >= 0 {
				avail = avail.Add(enc)
			}
		}
	}
	// Whether the response depends on Accept-Encoding does not depend on
	// which sidecars this client's header made us look for.
	onTheFly := fs.Compression != nil && fs.Compression.onTheFly(e.ctype)
	vary := compressible && fs.Precompressed || onTheFly
	c := fs.Compression
	canCompress := onTheFly && len(fr.conds.Range) == 0 && e.st.Size >= c.MinSize && e.st.Size <= c.MaxSize
	onTheFlySet := content.EncodingSet(0).Add(content.Identity).Add(content.Gzip).Add(content.Zstd)
	enc, ok := content.Negotiate(fr.ae, avail)
	if !ok && canCompress {
		// Identity refused and no sidecar taken: a coding made on the
		// fly may still do.
		if zenc, ok := content.Negotiate(fr.ae, onTheFlySet); ok && zenc != content.Identity {
			fr.compressed(zenc)
			return
		}
	}
	if !ok {
		if vary {
			fr.w.Header("Vary", "Accept-Encoding")
		}
		fr.fail(http.StatusNotAcceptable)
		return
	}
	target := e
	if enc != content.Identity {
		target = e.sidecars[enc]
	} else if canCompress {
		if zenc, ok := content.Negotiate(fr.ae, onTheFlySet); ok && zenc != content.Identity {
			fr.compressed(zenc)
			return
		}
	}
	fr.target = target
	fr.serve(target, enc, vary)
}

// acceptsCoding is a quick check before probing for a sidecar: does the
// header name the coding or "*" at all.
func acceptsCoding(ae []byte, enc content.Encoding) bool {
	return containsFold(ae, enc.String()) || bytes.IndexByte(ae, '*') >= 0
}

// containsFold reports whether s contains sub, ASCII case-insensitively.
func containsFold(s []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if equalFold(bytesToString(s[i:i+len(sub)]), sub) {
			return true
		}
	}
	return false
}

// escapePath percent-encodes what a Location path must not hold raw.
func escapePath(p []byte) []byte {
	return []byte((&url.URL{Path: string(p)}).EscapedPath())
}

// probeSidecar opens name+suffix; the result (or its absence) is cached
// with the entry.
func (fr *fileReq) probeSidecar(enc content.Encoding) {
	e := fr.entry
	fr.probing = enc
	name := append(append([]byte(nil), e.key...), enc.Suffix()...)
	fr.path = append(fr.path[:0], name...)
	fr.path = append(fr.path, 0)
	fr.how = unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY, Resolve: fr.fs().resolveFlags()}
	fr.op.PrepOpen(fr.fs().rootFd, &fr.path[0], &fr.how, fr.onSidecarOpen)
	fr.submit()
}

func (fr *fileReq) onSidecarOpen(_ *sched.Op, r sched.Result) {
	// The request holds e: even if a busy cache evicted it meanwhile, its
	// descriptor stays open, and a sidecar found now stays with it until
	// its last reference goes (release). Starting over instead would let
	// a few concurrent requests on a small cache evict each other forever.
	e, enc := fr.entry, fr.probing
	missing := &fileEntry{key: e.key + enc.Suffix(), fd: -1, evicted: true}
	if r.Res < 0 {
		if e.sidecars[enc] == nil {
			e.sidecars[enc] = missing
		}
		fr.file()
		return
	}
	fd := int(r.Res)
	fr.op.PrepStat(fd, &emptyPath[0], unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &fr.st, func(_ *sched.Op, r sched.Result) {
		switch {
		case e.sidecars[enc] != nil:
			// Another request's probe of the same coding got there first.
			unix.Close(fd)
		case r.Res < 0 || fr.st.Mode&unix.S_IFMT != unix.S_IFREG:
			unix.Close(fd)
			e.sidecars[enc] = missing
		default:
			sc := fr.fs().newEntry(e.key+enc.Suffix(), fd, &fr.st, enc, []byte(e.key))
			fr.fl.live[sc] = struct{}{}
			sc.ctype = e.ctype
			sc.refs = 1 // the entry's
			e.sidecars[enc] = sc
		}
		fr.file()
	})
	fr.submit()
}

// serve answers with representation t: preconditions, ranges, headers,
// then the body (read and written for small files, spliced otherwise).
func (fr *fileReq) serve(t *fileEntry, enc content.Encoding, vary bool) {
	fs, w := fr.fs(), fr.w
	d := content.Evaluate(fr.conds, content.Meta{ETag: t.etag, ModTime: t.st.ModTime})
	fr.validators(t, enc, vary)
	if d.Status != 0 {
		w.SetStatus(d.Status)
		fr.finish()
		return
	}
	size := t.st.Size
	var ranges []content.Range
	status := http.StatusOK
	if d.UseRange {
		ranges, status = content.ParseRange(fr.ranges[:0], fr.conds.Range, size, nil)
	}
	w.Header("Content-Type", t.ctype)
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		w.SetStatus(status)
		w.HeaderBytes("Content-Range", content.AppendUnsatisfiedRange(w.ld.scratch2[:0], size))
		fr.finish()
		return
	case http.StatusPartialContent:
		w.SetStatus(status)
		if len(ranges) > 1 {
			fr.multipart(t, ranges)
			return
		}
		w.HeaderBytes("Content-Range", content.AppendContentRange(w.ld.scratch2[:0], ranges[0], size))
		fr.body(t, ranges[0].Start, ranges[0].Length)
		return
	}
	_ = fs
	fr.body(t, 0, size)
}

// validators adds ETag, Last-Modified and the other representation
// headers (they go with 304s too).
func (fr *fileReq) validators(t *fileEntry, enc content.Encoding, vary bool) {
	w := fr.w
	w.HeaderBytes("ETag", t.etag)
	w.HeaderBytes("Last-Modified", t.lastMod)
	if enc != content.Identity {
		w.Header("Content-Encoding", enc.String())
	} else {
		w.Header("Accept-Ranges", "bytes")
	}
	if vary {
		w.Header("Vary", "Accept-Encoding")
	}
	if cc := fr.fs().CacheControl; cc != "" {
		w.Header("Cache-Control", cc)
	}
}

// body sends n bytes of t from off.
func (fr *fileReq) body(t *fileEntry, off, n int64) {
	w := fr.w
	w.SetContentLength(n)
	if fr.head || n == 0 {
		fr.finish()
		return
	}
	if n <= fr.fs().SmallFile {
		fr.read(t, off, n)
		return
	}
	fr.verify(t, func() {
		w.Flush()
		fr.sendFile(t, off, n)
		fr.finish()
	})
}

// verify checks, before a large body is spliced, that t's file is still
// the one its headers describe: a file rewritten in place since its
// statx would otherwise go out as a complete response that is neither
// version (its new bytes cut to the old length). A change is handled as
// read handles one. A change during the transfer is not caught (nginx's
// sendfile has the same window); the response is then cut short or torn.
func (fr *fileReq) verify(t *fileEntry, send func()) {
	fr.fl.acquire(t)
	fr.op.PrepStat(t.fd, &emptyPath[0], unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &fr.st, func(_ *sched.Op, r sched.Result) {
		fr.fl.release(t)
		if r.Res < 0 || !t.sameFile(&fr.st) {
			fr.changed(r.Res >= 0)
			return
		}
		send()
	})
	fr.submit()
}

// changed handles a file found different from its cache entry while
// serving it: the entry is dropped and the request starts over once, so
// no stale length or mixed bytes go out; a second change fails it.
func (fr *fileReq) changed(retry bool) {
	fr.fl.evict(fr.entry)
	if retry && !fr.retried {
		fr.retried = true
		fr.w.resetHeaders()
		// fr.index stays: an index file found changed is looked up
		// again as the same directory's index.
		fr.setRel([]byte(fr.entry.key))
		if fr.buf != nil {
			fr.fl.putBuf(fr.buf)
			fr.buf = nil
		}
		fr.start()
		return
	}
	fr.fail(http.StatusInternalServerError)
}

// sendFile queues a spliced file range; t stays open until it is out.
func (fr *fileReq) sendFile(t *fileEntry, off, n int64) {
	fl := fr.fl
	fl.acquire(t)
	fr.w.sendFile(t.fd, off, n, func(int64, error) { fl.release(t) })
}

// read reads a small body and sends it with the headers.
func (fr *fileReq) read(t *fileEntry, off, n int64) {
	// One byte more than expected: a file that grew since its statx shows
	// up as a long read, as one that shrank shows up as a short one.
	want := n
	if off+n == t.st.Size {
		want++
	}
	if fr.readInline(t, off, n, want) {
		return
	}
	fr.buf = fr.fl.getBuf(int(want))
	fr.fl.acquire(t)
	fr.op.PrepRead(t.fd, fr.buf, off, func(_ *sched.Op, r sched.Result) {
		fr.fl.release(t)
		if r.Res < 0 || int64(r.Res) != n {
			// The file changed since its statx.
			fr.changed(r.Res >= 0)
			return
		}
		// The head first (its length is declared), so the body is copied
		// once, into the connection's output.
		fr.w.Flush()
		fr.w.Write(fr.buf[:n])
		fr.finish()
	})
	fr.submit()
}

// readInline serves a body whose pages are in the page cache by reading
// them on the loop with preadv2(RWF_NOWAIT) straight into the
// connection's output, after the head: one copy, no ring round trip.
// It reports false, having sent nothing, when the read would wait for
// the disk or comes up short (which the ring read then tells apart from
// a truncated file).
func (fr *fileReq) readInline(t *fileEntry, off, n, want int64) bool {
	fl := fr.fl
	if fl.noInline {
		return false
	}
	body := fr.w.reserveBody(n, int(want))
	if body == nil {
		return false
	}
	got, err := preadNowait(t.fd, body, off)
	switch {
	case err == nil && int64(got) == n:
		fr.w.commitBody(int(n))
		fr.finish()
		return true
	case err == nil && int64(got) > n:
		// The file grew since its statx.
		fr.changed(true)
		return true
	case err == unix.EOPNOTSUPP:
		fl.noInline = true // a file system without RWF_NOWAIT
	}
	return false
}

// preadNowait is preadv2(fd, b, off, RWF_NOWAIT): a read that fails with
// EAGAIN rather than wait for the device.
func preadNowait(fd int, b []byte, off int64) (int, error) {
	iov := unix.Iovec{Base: &b[0]}
	iov.SetLen(len(b))
	n, _, errno := unix.Syscall6(unix.SYS_PREADV2, uintptr(fd), uintptr(unsafe.Pointer(&iov)), 1,
		uintptr(off), uintptr(uint64(off)>>32), unix.RWF_NOWAIT)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

// multipart sends a multipart/byteranges body.
func (fr *fileReq) multipart(t *fileEntry, ranges []content.Range) {
	w := fr.w
	var src rand.PCG
	src.Seed(uint64(time.Now().UnixNano()), uint64(t.st.Ino))
	if !fr.plan.Build(ranges, t.st.Size, t.ctype, content.NewBoundary(&src)) {
		fr.fail(http.StatusInternalServerError)
		return
	}
	w.resetHeader("Content-Type")
	w.HeaderBytes("Content-Type", fr.plan.ContentType)
	w.SetContentLength(fr.plan.Length)
	if fr.head {
		fr.finish()
		return
	}
	fr.verify(t, func() {
		w.Flush()
		for _, seg := range fr.plan.Segments {
			if seg.Data != nil {
				w.Write(seg.Data)
				continue
			}
			fr.sendFile(t, seg.File.Start, seg.File.Length)
		}
		fr.finish()
	})
}

// compressed serves the entry compressed on the fly with enc: from the
// loop's cache of compressed bodies, or after a read and an offload job.
func (fr *fileReq) compressed(enc content.Encoding) {
	e := fr.entry
	if z := fr.fl.zcache.get(e, enc); z != nil {
		fr.sendCompressed(z, enc)
		return
	}
	n := e.st.Size
	fr.buf = fr.fl.getBuf(int(n) + 1) // one more: see read
	fr.fl.acquire(e)
	fr.op.PrepRead(e.fd, fr.buf, 0, func(_ *sched.Op, r sched.Result) {
		fr.fl.release(e)
		if int64(r.Res) != n {
			fr.changed(r.Res >= 0)
			return
		}
		data := append([]byte(nil), fr.buf[:n]...)
		fr.fl.putBuf(fr.buf)
		fr.buf = nil
		c := fr.fs().Compression
		var job offload.Job
		if enc == content.Gzip {
			job = offload.Gzip(data, c.GzipLevel)
		} else {
			job = offload.Zstd(data, zstd.EncoderLevel(c.ZstdLevel))
		}
		err := c.Pool.Go(context.Background(), fr.fl.loop, offload.CPU, offload.FailFast, job, func(v any, err error) {
			if err != nil {
				// Overloaded or failed: the identity body will do.
				fr.target = e
				fr.serve(e, content.Identity, true)
				return
			}
			z := fr.fl.zcache.put(e, enc, v.([]byte))
			fr.sendCompressed(z, enc)
		})
		if err != nil {
			fr.target = e
			fr.serve(e, content.Identity, true)
		}
	})
	fr.submit()
}

func (fr *fileReq) sendCompressed(z *zentry, enc content.Encoding) {
	w, e := fr.w, fr.entry
	d := content.Evaluate(fr.conds, content.Meta{ETag: z.etag, ModTime: e.st.ModTime})
	w.HeaderBytes("ETag", z.etag)
	w.HeaderBytes("Last-Modified", e.lastMod)
	w.Header("Content-Encoding", enc.String())
	w.Header("Vary", "Accept-Encoding")
	if cc := fr.fs().CacheControl; cc != "" {
		w.Header("Cache-Control", cc)
	}
	if d.Status != 0 {
		w.SetStatus(d.Status)
		fr.finish()
		return
	}
	w.Header("Content-Type", e.ctype)
	w.SetContentLength(int64(len(z.data)))
	if !fr.head {
		w.Write(z.data)
	}
	fr.finish()
}

// zcache keeps compressed bodies of small files, per loop, bounded in
// bytes (least recently used go first).
type zcache struct {
	max, used int
	m         map[string]*zentry
	head      *zentry
	tail      *zentry
}

type zentry struct {
	key        string
	etag       []byte
	data       []byte
	prev, next *zentry
}

func newZcache(max int) *zcache { return &zcache{max: max, m: make(map[string]*zentry)} }

// zkey names a compressed body: the file, its version (etag) and coding.
func zkey(e *fileEntry, enc content.Encoding) string {
	return e.key + "\x00" + string(e.etag) + "\x00" + enc.String()
}

func (z *zcache) get(e *fileEntry, enc content.Encoding) *zentry {
	if z == nil {
		return nil
	}
	ze := z.m[zkey(e, enc)]
	if ze != nil && z.head != ze {
		z.unlink(ze)
		z.push(ze)
	}
	return ze
}

func (z *zcache) put(e *fileEntry, enc content.Encoding, data []byte) *zentry {
	ze := &zentry{key: zkey(e, enc), data: data}
	ze.etag = content.AppendWeakETag(nil, e.st, enc)
	if len(data) > z.max {
		return ze
	}
	if old := z.m[ze.key]; old != nil {
		z.unlink(old)
		delete(z.m, old.key)
		z.used -= len(old.data)
	}
	for z.used+len(data) > z.max && z.tail != nil {
		t := z.tail
		z.unlink(t)
		delete(z.m, t.key)
		z.used -= len(t.data)
	}
	z.m[ze.key] = ze
	z.push(ze)
	z.used += len(data)
	return ze
}

func (z *zcache) push(ze *zentry) {
	ze.prev, ze.next = nil, z.head
	if z.head != nil {
		z.head.prev = ze
	}
	z.head = ze
	if z.tail == nil {
		z.tail = ze
	}
}

func (z *zcache) unlink(ze *zentry) {
	if ze.prev != nil {
		ze.prev.next = ze.next
	} else if z.head == ze {
		z.head = ze.next
	}
	if ze.next != nil {
		ze.next.prev = ze.prev
	} else if z.tail == ze {
		z.tail = ze.prev
	}
	ze.prev, ze.next = nil, nil
}
