package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestReloadOnce(t *testing.T) {
	good := config.Default()
	tests := []struct {
		name      string
		reload    func() (*config.Config, error)
		applyErr  error
		ok        bool
		applied   bool
		logHas    string
		logHasNot string
	}{
		{"good file", func() (*config.Config, error) { return good, nil }, nil, true, true, "configuration reloaded", "refused"},
		{"bad file", func() (*config.Config, error) {
			return nil, errors.New("uringd.toml:3: timeouts.idle: invalid duration")
		}, nil, false, false, "uringd.toml:3: timeouts.idle", "reloaded"},
		{"apply fails", func() (*config.Config, error) { return good, nil }, errors.New("cannot bind :80"), false, true, "cannot bind :80", "reloaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			applied := false
			ok := reloadOnce(tt.reload, func(c *config.Config) error {
				applied = c == good
				return tt.applyErr
			}, slog.New(slog.NewTextHandler(&logs, nil)))
			if ok != tt.ok || applied != tt.applied {
				t.Errorf("ok %v applied %v, want %v %v", ok, applied, tt.ok, tt.applied)
			}
			if !strings.Contains(logs.String(), tt.logHas) || strings.Contains(logs.String(), tt.logHasNot) {
				t.Errorf("log %q", logs.String())
			}
		})
	}
}

// TestWatchReloadOnSIGHUP sends this process SIGHUP and expects a reload.
func TestWatchReloadOnSIGHUP(t *testing.T) {
	// As serveCommand does: the channel is registered before anything
	// sends SIGHUP, so the signal is caught (uncaught, it would end the
	// test binary) and waits in the channel until watchReload reads it.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	ctx, cancel := context.WithCancel(context.Background())
	reloaded := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchReload(ctx, hup, func() (*config.Config, error) { return config.Default(), nil }, func(*config.Config) error {
			select {
			case reloaded <- struct{}{}:
			default:
			}
			return nil
		}, discardLogger())
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reloaded:
	case <-time.After(time.Minute):
		t.Fatal("no reload after SIGHUP")
	}
	cancel()
	<-done
}
