package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/cmd/uringd/internal/site"
)

// serveCommand resolves the configuration and runs the server until
// SIGINT or SIGTERM.
func serveCommand(ov *config.Overrides, stdout, stderr io.Writer) int {
	// Signals are caught from the start, before uringd says it serves: a
	// supervisor may send SIGHUP (systemctl reload, logrotate) or SIGTERM
	// as soon as it sees "serving on" or READY=1, and Go's default action
	// for an uncaught SIGHUP ends the process. A SIGHUP that arrives
	// before the server runs waits in hup and reloads once it does.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	load := func() (*config.Config, error) { return loadServeConfig(ov, log) }
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "uringd: %v\n", err)
		return exitFail
	}
	if err := runServe(ctx, cfg, hup, load); err != nil {
		fmt.Fprintf(stderr, "uringd: %v\n", err)
		return exitFail
	}
	return exitOK
}

// loadServeConfig resolves the file and flags, and mounts the demo site
// when nothing else is mounted.
func loadServeConfig(ov *config.Overrides, log *slog.Logger) (*config.Config, error) {
	cfg, err := config.Resolve(ov.ConfigPath, ov)
	if err != nil {
		return nil, err
	}
	if len(cfg.Mounts) == 0 {
		root, err := site.Unpack("")
		if err != nil {
			return nil, fmt.Errorf("the demo site: %w", err)
		}
		log.Info("serving the bundled demo site", "root", root)
		cfg.Mounts = []config.Mount{demoMount(root)}
	}
	return cfg, nil
}

// demoMount serves the unpacked demo site at "/".
func demoMount(root string) config.Mount {
	m := config.DefaultMount()
	m.Root = root
	return m
}
