package httpd

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/uringd/uringd/httpd/internal/content"
	"golang.org/x/sys/unix"
)

// HTTPHandler returns the file server as a net/http.Handler, for
// net/http servers (or httpd's net/http adapter): the same path rules
// (openat2 beneath the root), conditionals, ranges, index files, listings
// and precompressed sidecars, with blocking system calls on the request's
// goroutine and the body sent by net/http (sendfile for a plain
// connection). On-the-fly compression is left to the native handler.
func (fs *FileServer) HTTPHandler() http.Handler { return httpFileServer{fs} }

type httpFileServer struct{ fs *FileServer }

func (h httpFileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fs := h.fs
	if err := fs.init(); err != nil {
		fs.ErrorLog.Error("httpd: file server", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	raw := []byte(r.URL.EscapedPath())
	if len(fs.prefix) > 0 {
		if !bytes.HasPrefix(raw, fs.prefix) || (len(raw) > len(fs.prefix) && raw[len(fs.prefix)] != '/' && fs.prefix[len(fs.prefix)-1] != '/') {
			http.NotFound(w, r)
			return
		}
		raw = raw[len(fs.prefix):]
	}
	p, err := content.CleanPath(nil, raw)
	if err != nil {
		status := http.StatusBadRequest
		if pe, ok := err.(*content.PathError); ok {
			status = pe.Status()
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	if p.Hidden && fs.Dotfiles != DotfilesAllow {
		if fs.Dotfiles == DotfilesDeny {
			http.Error(w, "forbidden", http.StatusForbidden)
		} else {
			http.NotFound(w, r)
		}
		return
	}
	rel := string(p.Rel)
	if rel == "" {
		rel = "."
	}
	f, st, status := fs.openBlocking(rel)
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer f.Close()
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if !p.Dir {
			// From the cleaned path: a raw "//host/x" would redirect to
			// another host.
			loc := fs.Prefix + "/"
			if rel != "." {
				loc += string(escapePath([]byte(rel))) + "/"
			}
			if r.URL.RawQuery != "" {
				loc += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, loc, http.StatusMovedPermanently)
			return
		}
		for _, idx := range fs.Index {
			name := idx
			if rel != "." {
				name = rel + "/" + idx
			}
			if fi, ist, status := fs.openBlocking(name); status == 0 {
				if ist.Mode&unix.S_IFMT == unix.S_IFREG {
					defer fi.Close()
					fs.serveFileHTTP(w, r, fi, ist, name)
					return
				}
				fi.Close()
			}
		}
		if fs.Listing {
			fs.listHTTP(w, r, f)
			return
		}
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if p.Dir {
		http.NotFound(w, r)
		return
	}
	fs.serveFileHTTP(w, r, f, st, rel)
}

// openBlocking opens rel beneath the root on the calling goroutine and
// stats it; status is 0 or the error status.
func (fs *FileServer) openBlocking(rel string) (*os.File, *unix.Statx_t, int) {
	how := unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOCTTY, Resolve: fs.resolveFlags()}
	fd, err := unix.Openat2(fs.rootFd, rel, &how)
	if err != nil {
		switch err {
		case unix.EACCES, unix.EPERM:
			return nil, nil, http.StatusForbidden
		case unix.EMFILE, unix.ENFILE, unix.ENOMEM:
			return nil, nil, http.StatusServiceUnavailable
		}
		return nil, nil, http.StatusNotFound
	}
	var st unix.Statx_t
	if err := unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st); err != nil {
		unix.Close(fd)
		return nil, nil, http.StatusInternalServerError
	}
	return os.NewFile(uintptr(fd), rel), &st, 0
}

func (fs *FileServer) serveFileHTTP(w http.ResponseWriter, r *http.Request, f *os.File, st *unix.Statx_t, rel string) {
	e := fs.newEntry(rel, int(f.Fd()), st, content.Identity, []byte(rel))
	compressible := content.Compressible(e.ctype)
	ae := []byte(r.Header.Get("Accept-Encoding"))
	avail := content.EncodingSet(0).Add(content.Identity)
	var sidecars [4]*os.File
	var sideSt [4]*unix.Statx_t
	if fs.Precompressed && compressible && len(ae) > 0 {
		for _, enc := range []content.Encoding{content.Brotli, content.Zstd, content.Gzip} {
			if !acceptsCoding(ae, enc) {
				continue
			}
			if sf, sst, status := fs.openBlocking(rel + enc.Suffix()); status == 0 {
				if sst.Mode&unix.S_IFMT == unix.S_IFREG {
					sidecars[enc], sideSt[enc] = sf, sst
					avail = avail.Add(enc)
					defer sf.Close()
				} else {
					sf.Close()
				}
			}
		}
	}
	enc, ok := content.Negotiate(ae, avail)
	if !ok {
		if compressible && fs.Precompressed {
			w.Header().Set("Vary", "Accept-Encoding")
		}
		http.Error(w, "not acceptable", http.StatusNotAcceptable)
		return
	}
	body, t := f, e
	if enc != content.Identity {
		body = sidecars[enc]
		t = fs.newEntry(rel+enc.Suffix(), int(body.Fd()), sideSt[enc], enc, []byte(rel))
	}
	h := w.Header()
	h.Set("ETag", string(t.etag))
	h.Set("Last-Modified", string(t.lastMod))
	if enc != content.Identity {
		h.Set("Content-Encoding", enc.String())
	} else {
		h.Set("Accept-Ranges", "bytes")
	}
	if compressible && fs.Precompressed {
		h.Set("Vary", "Accept-Encoding")
	}
	if fs.CacheControl != "" {
		h.Set("Cache-Control", fs.CacheControl)
	}
	conds := content.Conditions{
		Method:            []byte(r.Method),
		IfMatch:           []byte(r.Header.Get("If-Match")),
		IfNoneMatch:       []byte(r.Header.Get("If-None-Match")),
		IfModifiedSince:   []byte(r.Header.Get("If-Modified-Since")),
		IfUnmodifiedSince: []byte(r.Header.Get("If-Unmodified-Since")),
		IfRange:           []byte(r.Header.Get("If-Range")),
		Range:             []byte(r.Header.Get("Range")),
	}
	d := content.Evaluate(conds, content.Meta{ETag: t.etag, ModTime: t.st.ModTime})
	if d.Status != 0 {
		w.WriteHeader(d.Status)
		return
	}
	size := t.st.Size
	status := http.StatusOK
	var ranges []content.Range
	if d.UseRange {
		ranges, status = content.ParseRange(nil, conds.Range, size, nil)
	}
	h.Set("Content-Type", t.ctype)
	head := r.Method == http.MethodHead
	switch {
	case status == http.StatusRequestedRangeNotSatisfiable:
		h.Set("Content-Range", string(content.AppendUnsatisfiedRange(nil, size)))
		w.WriteHeader(status)
	case status == http.StatusPartialContent && len(ranges) == 1:
		rg := ranges[0]
		h.Set("Content-Range", string(content.AppendContentRange(nil, rg, size)))
		h.Set("Content-Length", itoa(rg.Length))
		w.WriteHeader(status)
		if !head {
			copyRange(w, body, rg.Start, rg.Length)
		}
	case status == http.StatusPartialContent:
		var plan content.MultipartPlan
		var src rand.PCG
		src.Seed(uint64(time.Now().UnixNano()), st.Ino)
		if !plan.Build(ranges, size, t.ctype, content.NewBoundary(&src)) {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		h.Set("Content-Type", string(plan.ContentType))
		h.Set("Content-Length", itoa(plan.Length))
		w.WriteHeader(status)
		if head {
			return
		}
		for _, seg := range plan.Segments {
			if seg.Data != nil {
				if _, err := w.Write(seg.Data); err != nil {
					return
				}
				continue
			}
			if !copyRange(w, body, seg.File.Start, seg.File.Length) {
				return
			}
		}
	default:
		h.Set("Content-Length", itoa(size))
		w.WriteHeader(http.StatusOK)
		if !head {
			copyRange(w, body, 0, size)
		}
	}
}

// copyRange sends n bytes of f from off; it reports whether all were
// sent. net/http's response writer sends an io.LimitReader over an
// *os.File with sendfile.
func copyRange(w io.Writer, f *os.File, off, n int64) bool {
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return false
	}
	m, err := io.Copy(w, io.LimitReader(f, n))
	return err == nil && m == n
}

func (fs *FileServer) listHTTP(w http.ResponseWriter, r *http.Request, f *os.File) {
	ents, err := f.ReadDir(-1)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	list := make([]content.Entry, 0, len(ents))
	for _, d := range ents {
		if d.Name()[0] == '.' && fs.Dotfiles != DotfilesAllow {
			continue
		}
		ce := content.Entry{Name: d.Name(), IsDir: d.IsDir()}
		if info, err := d.Info(); err == nil {
			ce.Size, ce.ModTime = info.Size(), info.ModTime()
		}
		list = append(list, ce)
	}
	page := content.AppendListing(nil, r.URL.EscapedPath(), list)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", itoa(int64(len(page))))
	if r.Method != http.MethodHead {
		w.Write(page)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
