// Package servers holds the Go servers the harness measures: echo
// servers (uringd's native callbacks, gnet v2, net with a goroutine per
// connection) and HTTP servers (httpd native and through its net/http
// adapter, net/http, fasthttp, nbio's nbhttp, and a minimal HTTP/1.1
// responder on gnet). Each runs in `uringbench serve NAME` as a child
// process pinned to one CPU, or in-process for the tests.
package servers

import (
	"fmt"
	"slices"
)

// Server is a running server.
type Server interface {
	// Addr is the address it listens on (host:port).
	Addr() string
	// Close stops it and releases its sockets.
	Close() error
}

// Options configure a server.
type Options struct {
	// Root is the directory served under /static/ by the HTTP servers
	// that serve files (http-uringd, http-uringd-nethttp, http-net,
	// http-fasthttp); empty: no /static/.
	Root string
}

// Names are the servers Start knows, in the order scenarios list them.
var Names = []string{"echo-uringd", "echo-uringd-conn", "echo-gnet", "echo-net", "http-uringd", "http-uringd-nethttp", "http-net", "http-fasthttp", "http-gnet", "http-nbio"}

// Start starts server name listening on addr (use port 0 for any).
func Start(name, addr string, opt Options) (Server, error) {
	switch name {
	case "echo-uringd":
		return StartUringdEcho(addr)
	case "echo-uringd-conn":
		return StartConnEcho(addr)
	case "echo-gnet":
		return StartGnetEcho(addr)
	case "echo-net":
		return StartNetEcho(addr)
	case "http-uringd":
		return StartUringdHTTP(addr, 1, opt.Root)
	case "http-uringd-nethttp":
		return StartUringdNetHTTP(addr, opt.Root)
	case "http-net":
		return StartNetHTTP(addr, opt.Root)
	case "http-fasthttp":
		return StartFastHTTP(addr, opt.Root)
	case "http-gnet":
		return StartGnetHTTP(addr)
	case "http-nbio":
		return StartNbioHTTP(addr)
	}
	return nil, fmt.Errorf("unknown server %q (known: %v)", name, slices.Clone(Names))
}

// Response bodies every HTTP peer returns (nginx, node and the C anchor
// included): TechEmpower's plaintext and JSON tests.
const (
	PlaintextBody = "Hello, World!"
	JSONBody      = `{"message":"Hello, World!"}`
)

// Message is the JSON test's object, serialised per request by the Go
// peers (encoding/json), as TechEmpower's rules ask.
type Message struct {
	Message string `json:"message"`
}
