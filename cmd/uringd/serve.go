package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/cmd/uringd/internal/sdnotify"
	"github.com/uringd/uringd/httpd"
	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

// daemon is a running uringd: the loops, the offload pool, the HTTP
// server, and what SIGHUP may swap (routes, access log).
type daemon struct {
	cfg      *config.Config
	log      *slog.Logger
	start    time.Time
	group    *sched.Group
	pool     *offload.Pool
	srv      *httpd.Server
	routes   atomic.Pointer[routes]
	access   *accessLog
	draining atomic.Bool
	side     []*http.Server // metrics and pprof listeners
}

// runServe serves cfg until ctx is cancelled (SIGINT or SIGTERM), then
// shuts down gracefully within cfg.Timeouts.ShutdownGrace. Each signal
// on hup (SIGHUP, caught by the caller before anything is announced) runs
// reload and applies what it can (see apply).
func runServe(ctx context.Context, cfg *config.Config, hup <-chan os.Signal, reload func() (*config.Config, error)) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d := &daemon{cfg: cfg, log: log, start: time.Now()}
	if err := d.startUp(); err != nil {
		d.stop(context.Background())
		return err
	}
	addrs := make([]net.Addr, 0, len(cfg.Listen))
	for _, l := range cfg.Listen {
		if l.Network == config.NetUnix && l.Address[0] != '@' {
			// A stale socket file from a previous run would make bind fail.
			removeStaleSocket(l.Address)
		}
		a, err := d.srv.Listen(l.Network, l.Address)
		if err != nil {
			d.stop(context.Background())
			return fmt.Errorf("listen %s %s: %w", l.Network, l.Address, err)
		}
		if l.Mode != "" && l.Network == config.NetUnix && l.Address[0] != '@' {
			mode, _ := strconv.ParseUint(l.Mode, 8, 32)
			if err := os.Chmod(l.Address, os.FileMode(mode)); err != nil {
				d.stop(context.Background())
				return err
			}
		}
		addrs = append(addrs, a)
	}
	announce(os.Stdout, cfg, addrs)
	_ = sdnotify.Ready()
	reloads := make(chan struct{})
	go func() {
		defer close(reloads)
		watchReload(ctx, hup, reload, d.apply, log)
	}()

	<-ctx.Done()
	// A reload under way finishes first: it may be swapping in routes
	// that stop must close.
	<-reloads
	_ = sdnotify.Stopping()
	log.Info("shutting down", "grace", cfg.Timeouts.ShutdownGrace.D())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Timeouts.ShutdownGrace.D())
	defer cancel()
	return d.stop(sctx)
}

// startUp starts the loops, the pool, the server and the side listeners.
func (d *daemon) startUp() error {
	cfg := d.cfg
	var err error
	d.group, err = sched.NewGroup(cfg.Loops, sched.Config{LockOSThread: true, Logger: d.log})
	if err != nil {
		return err
	}
	d.pool = offload.New(offload.Config{
		CPUWorkers:      cfg.Offload.CPUWorkers,
		BlockingWorkers: cfg.Offload.BlockingWorkers,
		QueueLen:        cfg.Offload.QueueLen,
	})
	d.access, err = openAccessLog(cfg.AccessLog)
	if err != nil {
		return err
	}
	r, err := d.buildRoutes(cfg)
	if err != nil {
		return err
	}
	d.routes.Store(r)
	d.srv = &httpd.Server{
		Handler:           httpd.HandlerFunc(d.serveHTTP),
		Group:             d.group,
		ReadHeaderTimeout: cfg.Timeouts.Header.D(),
		ReadTimeout:       cfg.Timeouts.Body.D(),
		WriteTimeout:      cfg.Timeouts.Write.D(),
		IdleTimeout:       cfg.Timeouts.Idle.D(),
		MaxRequestLine:    int(cfg.Limits.MaxRequestLine),
		MaxHeaderBytes:    int(cfg.Limits.MaxHeaderBytes),
		MaxHeaders:        cfg.Limits.MaxHeaders,
		MaxBodyBytes:      int64(cfg.Limits.MaxBodyBytes),
		MaxConns:          cfg.Limits.MaxConns,
		ErrorLog:          d.log,
		AccessLog:         d.access.record,
	}
	if cfg.Metrics.Address != "" {
		if err := d.serveSide(cfg.Metrics.Address, d.metricsMux()); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
	}
	if cfg.Pprof.Address != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		if err := d.serveSide(cfg.Pprof.Address, mux); err != nil {
			return fmt.Errorf("pprof listener: %w", err)
		}
	}
	return nil
}

// serveSide runs a small net/http server beside the main one (metrics,
// pprof): low traffic, off the public listeners.
func (d *daemon) serveSide(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	d.side = append(d.side, s)
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("side listener", "addr", addr, "err", err)
		}
	}()
	d.log.Info("side listener", "addr", ln.Addr().String())
	return nil
}

// stop shuts everything down: the HTTP server within ctx, then the rest.
func (d *daemon) stop(ctx context.Context) error {
	d.draining.Store(true)
	var err error
	if d.srv != nil {
		if serr := d.srv.Shutdown(ctx); serr != nil {
			err = fmt.Errorf("graceful shutdown: %w", serr)
		}
	}
	for _, s := range d.side {
		_ = s.Close()
	}
	if r := d.routes.Load(); r != nil {
		r.close()
	}
	if d.pool != nil {
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = d.pool.Close(pctx)
		cancel()
	}
	if d.group != nil {
		_ = d.group.Close(context.Background())
	}
	if d.access != nil {
		d.access.close()
	}
	return err
}

// apply puts a reloaded configuration in place: new mounts (roots,
// caching, compression) and the access log (reopened unless
// access_log.reopen_on_hup is false) take effect at once, for new
// requests, without dropping a connection. Listeners, loops,
// limits, timeouts and offload sizes need a restart: a change to them is
// reported and otherwise ignored.
func (d *daemon) apply(cfg *config.Config) error {
	r, err := d.buildRoutes(cfg)
	if err != nil {
		return err
	}
	if err := d.access.reload(cfg.AccessLog); err != nil {
		r.close()
		return err
	}
	old := d.routes.Swap(r)
	if old != nil {
		// In-flight requests keep the descriptors they use; the old
		// caches close the rest.
		old.close()
	}
	if !slices.Equal(cfg.Listen, d.cfg.Listen) || cfg.Loops != d.cfg.Loops || cfg.Limits != d.cfg.Limits ||
		cfg.Timeouts != d.cfg.Timeouts || cfg.Offload != d.cfg.Offload || cfg.Metrics != d.cfg.Metrics || cfg.Pprof != d.cfg.Pprof {
		d.log.Warn("reload: listeners, loops, limits, timeouts, offload, metrics and pprof settings take effect only after a restart")
	}
	return nil
}

func removeStaleSocket(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close() // in use: leave it, bind will say so
			return
		}
		_ = os.Remove(path)
	}
}
