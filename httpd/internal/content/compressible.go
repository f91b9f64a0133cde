package content

// compressibleTypes are the media types (without parameters) outside text/*
// and the +json/+xml suffixes that shrink under gzip, brotli or zstd.
var compressibleTypes = [...]string{
	"application/json",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"application/xml",
	"application/wasm", // code: typically a third of its size under brotli
	"application/yaml",
	"application/toml",
	"application/x-ndjson",
	"application/vnd.apple.mpegurl", // HLS playlists are text
	"application/x-mpegurl",
	"application/rtf",
	"application/x-sh",
	"application/vnd.ms-fontobject", // EOT is mostly uncompressed glyph tables
	"font/ttf",                      // TrueType and OpenType are uncompressed; WOFF/WOFF2 are not
	"font/otf",
	"font/collection",
	"image/x-icon", // ICO and BMP hold uncompressed bitmaps
	"image/vnd.microsoft.icon",
	"image/bmp",
}

// Compressible reports whether compressing a body of this Content-Type on
// the fly is worth its CPU: text (text/*), JSON and XML (including any
// +json or +xml type such as image/svg+xml), JavaScript, WebAssembly, and
// uncompressed fonts and bitmaps. Formats already compressed (images such
// as PNG, JPEG, WebP, AVIF; audio; video; WOFF fonts; archives; PDF) are
// not: compressing them again costs CPU and saves nothing. Parameters such
// as charset are ignored, and case does not matter.
func Compressible(contentType string) bool {
	mt := contentType
	for i := range len(mt) {
		if mt[i] == ';' {
			mt = mt[:i]
			break
		}
	}
	for len(mt) > 0 && isOWS(mt[len(mt)-1]) {
		mt = mt[:len(mt)-1]
	}
	for len(mt) > 0 && isOWS(mt[0]) {
		mt = mt[1:]
	}
	if hasPrefixFold(mt, "text/") || hasSuffixFold(mt, "+json") || hasSuffixFold(mt, "+xml") {
		return true
	}
	for _, ct := range compressibleTypes {
		if len(mt) == len(ct) && hasPrefixFold(mt, ct) {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with the lower-case prefix p,
// ignoring ASCII case in s.
func hasPrefixFold(s, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := range len(p) {
		if lower(s[i]) != p[i] {
			return false
		}
	}
	return true
}

// hasSuffixFold is hasPrefixFold for a suffix.
func hasSuffixFold(s, p string) bool {
	return len(s) >= len(p) && hasPrefixFold(s[len(s)-len(p):], p)
}
