// Package site holds the demo site that uringd serves when it is given
// no directory: a home page, a page with a streamed video and a live
// status page. The files are embedded in the binary; package
// cmd/uringd/internal/site unpacks them to disk, to be served like any
// root.
package site

import "embed"

//go:generate ./make-clip.sh

// Files is the site: only the files listed here are served (not this
// package's Go files, README or script).
//
//go:embed index.html video.html video.js status.html status.js style.css clip.webm
var Files embed.FS
