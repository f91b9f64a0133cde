package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/cmd/uringd/internal/sdnotify"
)

// watchReload reloads the configuration on every signal from hup until
// ctx ends: reload builds the new one, apply puts it in place. A
// configuration that fails either step is logged, and the running one
// stays. The caller registers hup with signal.Notify before it announces
// the server, so that no SIGHUP finds the process without a handler.
func watchReload(ctx context.Context, hup <-chan os.Signal, reload func() (*config.Config, error), apply func(*config.Config) error, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reloadOnce(reload, apply, log)
		}
	}
}

// reloadOnce is one reload, reported to systemd and to the log.
func reloadOnce(reload func() (*config.Config, error), apply func(*config.Config) error, log *slog.Logger) bool {
	_ = sdnotify.Reloading()
	// systemd waits for READY=1 after RELOADING=1 whatever the outcome.
	defer func() { _ = sdnotify.Ready() }()
	cfg, err := reload()
	if err == nil {
		err = apply(cfg)
	}
	if err != nil {
		log.Error("reload refused; the running configuration stays", "err", err)
		return false
	}
	log.Info("configuration reloaded")
	return true
}
