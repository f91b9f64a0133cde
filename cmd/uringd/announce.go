package main

import (
	"fmt"
	"io"
	"net"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/cmd/uringd/internal/site"
)

// announce prints where uringd serves, one line per listener, as URLs a
// user can open. addrs are the bound addresses, in cfg.Listen's order
// (they differ from the configured ones for port 0).
func announce(w io.Writer, cfg *config.Config, addrs []net.Addr) {
	what := ""
	if len(cfg.Mounts) == 1 && site.IsUnpacked(cfg.Mounts[0].Root) {
		what = " (the bundled demo site)"
	}
	for i, l := range cfg.Listen {
		addr := l.Address
		if i < len(addrs) && addrs[i] != nil {
			addr = addrs[i].String()
		}
		fmt.Fprintf(w, "uringd: serving on %s%s\n", listenURL(l.Network, addr), what)
	}
}

// listenURL is a URL for a listener: http://host:port/ (localhost for a
// wildcard address), or unix:PATH.
func listenURL(network, addr string) string {
	if network == config.NetUnix {
		return "unix:" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr + "/"
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		return "http://localhost:" + port + "/ (all interfaces)"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}
