package main

import (
	"context"
	"errors"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

// runServe serves cfg until ctx is cancelled (SIGINT or SIGTERM), then
// shuts down gracefully within cfg.Timeouts.ShutdownGrace.
//
// reload builds a fresh configuration (the file again, the same flags);
// runServe should pass it to watchReload, with a function that applies a
// new configuration to the running server, so that SIGHUP reloads. Once
// the listeners are bound it should call announce and sdnotify.Ready.
//
// The HTTP server is wired in here.
func runServe(ctx context.Context, cfg *config.Config, reload func() (*config.Config, error)) error {
	return errors.New("HTTP server not wired yet")
}
