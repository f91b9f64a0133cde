// Command uringd is a static-file web server on Linux io_uring.
//
// With no arguments it serves a bundled demo site on 127.0.0.1:8080.
// Commands:
//
//	uringd [serve] [flags]        serve files (see uringd serve -h)
//	uringd probe [-json]          check whether this machine can run uringd
//	uringd config example         print a configuration file documenting every key
//	uringd config check FILE      validate a configuration file
//	uringd version                print the version
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command failed (or, for probe, uringd cannot run)
	exitUsage = 2 // bad command line
)

// command is a parsed command line.
type command struct {
	name string            // "serve", "probe", "version", "config example", "config check", "help"
	ov   *config.Overrides // serve's flags
	json bool              // probe -json
	file string            // config check FILE
	help func(w io.Writer) // for "help": the usage to print
}

// run executes a command line and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cmd, err := parse(args, stderr)
	var uerr *usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK // the usage has been printed
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "uringd: %v\nRun 'uringd %s-h' for usage.\n", uerr.err, uerr.cmd)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "uringd: %v\nRun 'uringd -h' for usage.\n", err)
		return exitUsage
	}
	switch cmd.name {
	case "help":
		cmd.help(stdout)
		return exitOK
	case "serve":
		return serveCommand(cmd.ov, stdout, stderr)
	case "probe":
		return probeCommand(cmd.json, stdout)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "config example":
		fmt.Fprint(stdout, config.Example)
		return exitOK
	case "config check":
		return configCheckCommand(cmd.file, stdout, stderr)
	}
	panic("uringd: unhandled command " + cmd.name)
}

// usageError is a bad command line for command cmd ("serve ", or "" for
// the top level).
type usageError struct {
	cmd string
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// parseFlags parses a command's flags. The flag package's own messages
// are silenced, so that an error is reported once, by run; -h prints the
// usage to stderr and returns flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer, usage func(io.Writer, *flag.FlagSet)) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		usage(stderr, fs)
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return &usageError{cmd: strings.TrimPrefix(fs.Name(), "uringd ") + " ", err: err}
	}
	return err
}

// parse reads the command line. A usage problem is an error; -h prints
// the usage to stderr and returns flag.ErrHelp, as the flag package does.
func parse(args []string, stderr io.Writer) (*command, error) {
	if len(args) == 0 {
		return parseServe(nil, stderr)
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			// "uringd help serve" is "uringd serve -h".
			return parse([]string{args[1], "-h"}, stderr)
		}
		return &command{name: "help", help: usage}, nil
	case "serve":
		return parseServe(args[1:], stderr)
	case "probe":
		return parseProbe(args[1:], stderr)
	case "version", "-version", "--version":
		if len(args) > 1 {
			return nil, fmt.Errorf("version takes no arguments")
		}
		return &command{name: "version"}, nil
	case "config":
		return parseConfig(args[1:], stderr)
	default:
		if strings.HasPrefix(name, "-") {
			// Flags without a command are serve's: uringd -root DIR.
			return parseServe(args, stderr)
		}
		return nil, fmt.Errorf("unknown command %q", name)
	}
}

func parseServe(args []string, stderr io.Writer) (*command, error) {
	fs := flag.NewFlagSet("uringd serve", flag.ContinueOnError)
	ov := config.RegisterFlags(fs)
	if err := parseFlags(fs, args, stderr, serveUsage); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &usageError{"serve ", fmt.Errorf("unexpected argument %q (directories are given with -root DIR)", fs.Arg(0))}
	}
	return &command{name: "serve", ov: ov}, nil
}

func parseProbe(args []string, stderr io.Writer) (*command, error) {
	fs := flag.NewFlagSet("uringd probe", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON (stable field names)")
	if err := parseFlags(fs, args, stderr, probeUsage); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, &usageError{"probe ", fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return &command{name: "probe", json: *asJSON}, nil
}

func parseConfig(args []string, stderr io.Writer) (*command, error) {
	if len(args) == 0 {
		return nil, errors.New("config: want 'config example' or 'config check FILE'")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		configUsage(stderr)
		return nil, flag.ErrHelp
	case "example":
		if len(args) != 1 {
			return nil, errors.New("config example takes no arguments")
		}
		return &command{name: "config example"}, nil
	case "check":
		if len(args) != 2 || strings.HasPrefix(args[1], "-") {
			return nil, errors.New("config check: want one FILE")
		}
		return &command{name: "config check", file: args[1]}, nil
	}
	return nil, fmt.Errorf("config: unknown subcommand %q (want example or check)", args[0])
}
