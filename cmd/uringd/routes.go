package main

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/httpd"
)

// routes maps request paths to handlers: the health and stats endpoints,
// then the mounts by longest prefix. A reload swaps the whole table.
type routes struct {
	health []byte
	stats  []byte
	mounts []mount // longest prefix first
}

type mount struct {
	prefix []byte
	fs     *httpd.FileServer
}

// buildRoutes makes the routes of cfg, on start and on every reload,
// with each mount's root opened.
func (d *daemon) buildRoutes(cfg *config.Config) (*routes, error) {
	r := &routes{health: []byte(cfg.Health.Path), stats: []byte(cfg.Stats.Path)}
	// In the configuration 0 means none: no cache, no time trusted. For
	// httpd.FileServer 0 means its default and a negative value means none.
	openFiles, revalidate := cfg.Cache.OpenFiles, cfg.Cache.Revalidate.D()
	if openFiles == 0 {
		openFiles = -1
	}
	if revalidate == 0 {
		revalidate = -1
	}
	for _, m := range cfg.Mounts {
		fs := &httpd.FileServer{
			Root:          m.Root,
			Prefix:        strings.TrimSuffix(m.Prefix, "/"),
			Index:         m.Index,
			Listing:       m.Listing,
			CacheControl:  m.CacheControl,
			Precompressed: cfg.Compression.Precompressed,
			OpenFiles:     openFiles,
			Revalidate:    revalidate,
			ErrorLog:      d.log,
		}
		switch m.Dotfiles {
		case config.DotfilesDeny:
			fs.Dotfiles = httpd.DotfilesDeny
		case config.DotfilesAllow:
			fs.Dotfiles = httpd.DotfilesAllow
		}
		switch m.Symlinks {
		case config.SymlinksNever:
			fs.Symlinks = httpd.SymlinksNever
		case config.SymlinksFollow:
			fs.Symlinks = httpd.SymlinksFollow
		}
		if z := &cfg.Compression; z.OnTheFly {
			fs.Compression = &httpd.Compression{
				Pool:      d.pool,
				MinSize:   int64(z.MinSize),
				MaxSize:   int64(z.MaxSize),
				GzipLevel: z.GzipLevel,
				ZstdLevel: z.ZstdLevel,
				Types:     z.Types,
			}
		}
		if err := fs.Open(); err != nil {
			r.close()
			return nil, fmt.Errorf("mount %q: %w", m.Prefix, err)
		}
		prefix := strings.TrimSuffix(m.Prefix, "/")
		r.mounts = append(r.mounts, mount{prefix: []byte(prefix), fs: fs})
	}
	sort.SliceStable(r.mounts, func(i, j int) bool { return len(r.mounts[i].prefix) > len(r.mounts[j].prefix) })
	return r, nil
}

func (r *routes) close() {
	for _, m := range r.mounts {
		_ = m.fs.Close()
	}
}

// serveHTTP is the daemon's native handler, on the loops.
func (d *daemon) serveHTTP(w *httpd.Response, req *httpd.Request) {
	r := d.routes.Load()
	path := req.Path()
	switch {
	case len(r.health) > 0 && bytes.Equal(path, r.health):
		d.serveHealth(w)
		return
	case len(r.stats) > 0 && bytes.Equal(path, r.stats):
		d.serveStats(w)
		return
	}
	for _, m := range r.mounts {
		if len(m.prefix) == 0 || bytes.HasPrefix(path, m.prefix) && (len(path) == len(m.prefix) || path[len(m.prefix)] == '/') {
			m.fs.ServeHTTP(w, req)
			return
		}
	}
	w.SetStatus(404)
	w.Header("Content-Type", "text/plain; charset=utf-8")
	w.WriteString("not found\n")
}

// serveHealth answers 200 while serving and 503 once shutting down.
func (d *daemon) serveHealth(w *httpd.Response) {
	w.Header("Content-Type", "text/plain; charset=utf-8")
	w.Header("Cache-Control", "no-store")
	if d.draining.Load() {
		w.SetStatus(503)
		w.WriteString("shutting down\n")
		return
	}
	w.WriteString("ok\n")
}
