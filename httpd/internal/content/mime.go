package content

import (
	"errors"
	"maps"
)

// DefaultType is the Content-Type of a file whose extension no table
// entry names: bytes the client should not interpret (and browsers, with
// nosniff, will not render as HTML).
const DefaultType = "application/octet-stream"

// maxExtLen bounds the extensions a table holds, so that lookups can fold
// case in a fixed stack buffer.
const maxExtLen = 16

// Text types carry charset=utf-8: without it browsers guess, and a guess of
// a legacy charset garbles (or, for UTF-7 in old browsers, scripts) text.
// JSON and XML types go without: JSON is UTF-8 by definition (RFC 8259) and
// XML declares its own encoding.
var builtinTypes = map[string]string{
	// Web pages and code.
	"html": "text/html; charset=utf-8",
	"htm":  "text/html; charset=utf-8",
	"css":  "text/css; charset=utf-8",
	"js":   "text/javascript; charset=utf-8", // RFC 9239
	"mjs":  "text/javascript; charset=utf-8",
	"cjs":  "text/javascript; charset=utf-8",
	"json": "application/json",
	"map":  "application/json", // source maps
	"wasm": "application/wasm",
	// Web manifests and feeds.
	"webmanifest": "application/manifest+json",
	"jsonld":      "application/ld+json",
	"xml":         "application/xml",
	"rss":         "application/rss+xml",
	"atom":        "application/atom+xml",
	// Plain text.
	"txt":  "text/plain; charset=utf-8",
	"md":   "text/markdown; charset=utf-8",
	"csv":  "text/csv; charset=utf-8",
	"ics":  "text/calendar; charset=utf-8",
	"vtt":  "text/vtt; charset=utf-8",
	"yaml": "application/yaml",
	"yml":  "application/yaml",
	"toml": "application/toml",
	// Images.
	"svg":  "image/svg+xml",
	"png":  "image/png",
	"apng": "image/apng",
	"jpg":  "image/jpeg",
	"jpeg": "image/jpeg",
	"gif":  "image/gif",
	"webp": "image/webp",
	"avif": "image/avif",
	"jxl":  "image/jxl",
	"ico":  "image/x-icon", // image/vnd.microsoft.icon is registered; x-icon is what every browser knows
	"bmp":  "image/bmp",
	"tif":  "image/tiff",
	"tiff": "image/tiff",
	// Fonts.
	"woff":  "font/woff",
	"woff2": "font/woff2",
	"ttf":   "font/ttf",
	"otf":   "font/otf",
	"eot":   "application/vnd.ms-fontobject",
	// Video, audio and streaming playlists.
	"mp4":  "video/mp4",
	"m4v":  "video/mp4",
	"webm": "video/webm",
	"ogv":  "video/ogg",
	"mov":  "video/quicktime",
	"mkv":  "video/x-matroska",
	"ts":   "video/mp2t", // HLS segments; TypeScript sources are not served to browsers
	"m4s":  "video/iso.segment",
	"ogg":  "audio/ogg",
	"oga":  "audio/ogg",
	"opus": "audio/ogg",
	"mp3":  "audio/mpeg",
	"m4a":  "audio/mp4",
	"aac":  "audio/aac",
	"flac": "audio/flac",
	"wav":  "audio/wav",
	"m3u8": "application/vnd.apple.mpegurl",
	"mpd":  "application/dash+xml",
	// Documents and archives.
	"pdf":  "application/pdf",
	"epub": "application/epub+zip",
	"zip":  "application/zip",
	"gz":   "application/gzip",
	"tgz":  "application/gzip",
	"zst":  "application/zstd",
	"br":   "application/x-brotli",
	"xz":   "application/x-xz",
	"bz2":  "application/x-bzip2",
	"tar":  "application/x-tar",
	"7z":   "application/x-7z-compressed",
}

// builtin is the table TypeByName and a nil *MIMETable use.
var builtin = &MIMETable{byExt: builtinTypes}

// MIMETable maps file extensions to Content-Type values. Build it at
// startup: Set must not run concurrently with lookups, which may run
// concurrently with each other. The zero value is an empty table (every
// name gets DefaultType); NewMIMETable starts from the built-in entries.
type MIMETable struct {
	byExt map[string]string // lower-case extension without the dot
}

// NewMIMETable returns a table holding the built-in entries, to be changed
// with Set.
func NewMIMETable() *MIMETable {
	return &MIMETable{byExt: maps.Clone(builtinTypes)}
}

// Set maps ext (with or without its leading dot, any case) to contentType,
// replacing any entry; an empty contentType removes the entry, so the
// extension gets DefaultType. It refuses an empty or over-long extension,
// one holding a dot or slash, and a contentType that is not type/subtype
// made of printable ASCII (a control byte would let a config file inject
// header lines).
func (t *MIMETable) Set(ext, contentType string) error {
	if len(ext) > 0 && ext[0] == '.' {
		ext = ext[1:]
	}
	if len(ext) == 0 || len(ext) > maxExtLen {
		return errors.New("content: MIME extension must have 1 to 16 bytes")
	}
	var buf [maxExtLen]byte
	for i := range len(ext) {
		c := ext[i]
		if c == '.' || c == '/' || c <= ' ' || c >= 0x7f {
			return errors.New("content: MIME extension " + ext + " has a dot, slash, space or non-ASCII byte")
		}
		buf[i] = lower(c)
	}
	key := string(buf[:len(ext)])
	if contentType == "" {
		delete(t.byExt, key)
		return nil
	}
	slash := false
	for i := range len(contentType) {
		c := contentType[i]
		if c < ' ' || c >= 0x7f {
			return errors.New("content: Content-Type for ." + key + " has a control or non-ASCII byte")
		}
		slash = slash || c == '/'
	}
	if !slash {
		return errors.New("content: Content-Type for ." + key + " is not type/subtype")
	}
	if t.byExt == nil {
		t.byExt = make(map[string]string)
	}
	t.byExt[key] = contentType
	return nil
}

// TypeByName returns the Content-Type for a file name or path by its
// extension: the bytes after the last dot of the last path segment,
// compared case-insensitively. Without an extension the table knows it
// returns DefaultType. A nil table is the built-in one. For a sidecar pass
// the name of the file it encodes (style.css for style.css.br): the type is
// the uncompressed content's.
func (t *MIMETable) TypeByName(name []byte) string {
	if t == nil {
		t = builtin
	}
	dot := -1
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			dot = i
			break
		}
	}
	ext := name[dot+1:]
	if dot < 0 || len(ext) == 0 || len(ext) > maxExtLen {
		return DefaultType
	}
	var buf [maxExtLen]byte
	for i, c := range ext {
		buf[i] = lower(c)
	}
	if ct, ok := t.byExt[string(buf[:len(ext)])]; ok {
		return ct
	}
	return DefaultType
}

// TypeByName looks name up in the built-in table; see MIMETable.TypeByName.
func TypeByName(name []byte) string { return builtin.TypeByName(name) }
