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
	log := slog.New(slog.NewTextHandler(stderr, nil))
	load := func() (*config.Config, error) { return loadServeConfig(ov, log) }
	cfg, err := load()
	if err != nil {
		fmt.Fprintf(stderr, "uringd: %v\n", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runServe(ctx, cfg, load); err != nil {
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
