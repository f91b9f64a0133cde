package content

import "time"

// Stat is what a file's entity tag is derived from: statx's inode, size and
// modification time.
type Stat struct {
	Ino     uint64
	Size    int64
	ModTime time.Time
}

// AppendETag appends the strong entity tag of the representation held in a
// file with metadata st and content coding enc:
//
//	"<mtime seconds>.<mtime nanoseconds>-<size>-<inode>[-<coding>]"
//
// with the numbers in lower-case hex (seconds as a 64-bit two's complement
// for mtimes before 1970) and the coding's token (br, zstd, gzip) appended
// for anything but identity (an Encoding that is none of the constants
// counts as identity).
//
// For a precompressed sidecar pass the sidecar's own Stat and its encoding,
// so that each representation (file.css, file.css.br, ...) has its own tag
// and replacing only the sidecar changes it.
//
// Why metadata and not a content hash: the tag costs no read of the file
// and is known from the statx the server does anyway, and it is stable
// across restarts (nothing is random or process-local). Caveats:
//
//   - A file rewritten in place with the same size within the same
//     nanosecond (or whose mtime is reset, e.g. by touch -d or tar) keeps
//     its tag, though its bytes changed; so does a file replaced by one with
//     the same inode (after deletion), size and mtime. Clients would keep
//     stale copies. Atomic replacement (write a new file, rename) always
//     gets a new inode and avoids this.
//   - The tag differs between machines serving the same files (inodes
//     differ), so behind a load balancer revalidations that land on another
//     machine get full responses instead of 304: correct but wasteful.
//   - It discloses the inode number and exact mtime.
//   - Filesystems with coarse timestamps (FAT: 2 s) widen the first caveat.
//
// A tag must promise identical bytes: for a body compressed on the fly,
// whose bytes depend on the compressor's version and level, use
// AppendWeakETag instead.
func AppendETag(dst []byte, st Stat, enc Encoding) []byte {
	dst = append(dst, '"')
	dst = appendHex(dst, uint64(st.ModTime.Unix()))
	dst = append(dst, '.')
	dst = appendHex(dst, uint64(st.ModTime.Nanosecond()))
	dst = append(dst, '-')
	dst = appendHex(dst, uint64(st.Size))
	dst = append(dst, '-')
	dst = appendHex(dst, st.Ino)
	if enc != Identity && enc.valid() {
		dst = append(dst, '-')
		dst = append(dst, enc.String()...)
	}
	return append(dst, '"')
}

// AppendWeakETag appends AppendETag's tag marked weak (W/"..."), for a
// representation that is equivalent but not byte-identical from one
// response to the next, such as a body compressed on the fly from the file
// st describes. Weak tags satisfy If-None-Match but never If-Match or
// If-Range (RFC 9110 §8.8.3.2).
func AppendWeakETag(dst []byte, st Stat, enc Encoding) []byte {
	return AppendETag(append(dst, "W/"...), st, enc)
}
