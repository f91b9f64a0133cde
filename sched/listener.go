package sched

import (
	"context"
	"net"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Listener is a net.Listener whose accepts run on io_uring. Accepted
// connections are placed on loops by the listener's placement function.
type Listener struct {
	loop    *Loop
	place   func() *Loop
	ref     fdRef // each Accept holds a reference
	network string
	addr    net.Addr
	unlink  string // a Unix socket path to remove on Close
	ctx     context.Context
	cancel  context.CancelFunc
}

// Listen opens a listener on this loop, like net.Listen: network is
// "tcp", "tcp4", "tcp6" or "unix". "tcp" with no host (":8080") listens on
// every IPv4 and IPv6 address of the host with one dual-stack socket. A
// Unix address starting with '@' names an abstract socket. Connections it
// accepts stay on this loop.
func (l *Loop) Listen(network, address string) (*Listener, error) {
	return listen(l, func() *Loop { return l }, network, address)
}

// Listen opens a listener whose accepted connections are spread over the
// group's loops round robin.
func (g *Group) Listen(network, address string) (*Listener, error) {
	return listen(g.Next(), g.Next, network, address)
}

func listen(l *Loop, place func() *Loop, network, address string) (*Listener, error) {
	fd, err := ListenSocket(network, address, false)
	if err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "listen", Net: network, Err: os.NewSyscallError("getsockname", err)}
	}
	ln := &Listener{loop: l, place: place, network: network, addr: sockaddrToNet(sa, network)}
	ln.ref.init(fd)
	if network == "unix" && len(address) > 0 && address[0] != '@' {
		ln.unlink = address
	}
	ln.ctx, ln.cancel = context.WithCancel(context.Background())
	return ln, nil
}

// ListenSocket creates a bound, listening stream socket as Listen
// describes, with SO_REUSEADDR on TCP sockets, and SO_REUSEPORT when
// reusePort is set (so that each loop can have a listener of its own on
// one port). The caller owns the fd.
func ListenSocket(network, address string, reusePort bool) (int, error) {
	opErr := func(err error) error {
		return &net.OpError{Op: "listen", Net: network, Err: err}
	}
	var (
		sa     unix.Sockaddr
		family int
		v6only = -1 // leave the socket's default
	)
	switch network {
	case "tcp", "tcp4", "tcp6":
		host, portStr, err := net.SplitHostPort(address)
		if err != nil {
			return -1, opErr(err)
		}
		port, err := net.DefaultResolver.LookupPort(context.Background(), network, portStr)
		if err != nil {
			return -1, opErr(err)
		}
		var ip net.IP
		var zone string
		if host != "" {
			if ip, zone, err = resolveOne(context.Background(), network, host); err != nil {
				return -1, opErr(err)
			}
		}
		switch {
		case network == "tcp6" || (ip != nil && ip.To4() == nil && !(network == "tcp" && ip.IsUnspecified())):
			sa, family = tcpSockaddr(ip, port, zone, true)
			v6only = 1
		case network == "tcp" && (ip == nil || ip.IsUnspecified()) && ipv6Available():
			// One socket for both families, as package net does.
			sa, family = tcpSockaddr(nil, port, "", true)
			v6only = 0
		default:
			sa, family = tcpSockaddr(ip, port, "", false)
		}
	case "unix":
		sa, family = &unix.SockaddrUnix{Name: address}, unix.AF_UNIX
	default:
		return -1, opErr(net.UnknownNetworkError(network))
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, opErr(os.NewSyscallError("socket", err))
	}
	fail := func(call string, err error) (int, error) {
		unix.Close(fd)
		return -1, opErr(os.NewSyscallError(call, err))
	}
	if family != unix.AF_UNIX {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if v6only >= 0 {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fail("setsockopt", err)
		}
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err := bindRaw(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, 4096); err != nil {
		return fail("listen", err)
	}
	return fd, nil
}

// bindRaw binds with the package's own address encoding, which allows a
// 108-byte abstract Unix name (x/sys's Bind refuses it; the kernel and
// package net accept it).
func bindRaw(fd int, sa unix.Sockaddr) error {
	var raw unix.RawSockaddrAny
	n, err := sockaddrToRaw(sa, &raw)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall(unix.SYS_BIND, uintptr(fd), uintptr(unsafe.Pointer(&raw)), uintptr(n))
	if errno != 0 {
		return errno
	}
	return nil
}

// ipv6Available reports whether this host can open IPv6 sockets.
func ipv6Available() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

// resolveOne resolves host for a listener: an IP literal as is, a name to
// its first address of the network's family (IPv4 first for "tcp", as
// package net prefers).
func resolveOne(ctx context.Context, network, host string) (net.IP, string, error) {
	ips, err := resolve(ctx, network, host)
	if err != nil {
		return nil, "", err
	}
	for _, a := range ips {
		if a.IP.To4() != nil {
			return a.IP, a.Zone, nil
		}
	}
	return ips[0].IP, ips[0].Zone, nil
}

// resolve returns host's addresses usable on network, in the resolver's
// order.
func resolve(ctx context.Context, network, host string) ([]net.IPAddr, error) {
	if ip, zone, ok := parseIPZone(host); ok {
		return filterFamily(network, []net.IPAddr{{IP: ip, Zone: zone}}, host)
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	return filterFamily(network, addrs, host)
}

func parseIPZone(host string) (net.IP, string, bool) {
	zone := ""
	for i := len(host) - 1; i >= 0; i-- {
		if host[i] == '%' {
			host, zone = host[:i], host[i+1:]
			break
		}
	}
	ip := net.ParseIP(host)
	return ip, zone, ip != nil
}

func filterFamily(network string, addrs []net.IPAddr, host string) ([]net.IPAddr, error) {
	out := addrs[:0:0]
	for _, a := range addrs {
		is4 := a.IP.To4() != nil
		if network == "tcp" || (network == "tcp4" && is4) || (network == "tcp6" && !is4) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, &net.AddrError{Err: "no suitable address found", Addr: host}
	}
	return out, nil
}

// Accept waits for the next connection.
func (ln *Listener) Accept() (net.Conn, error) {
	if !ln.ref.incref() {
		return nil, ln.opErr("accept", net.ErrClosed)
	}
	defer ln.ref.decref()
	fd, sa, err := ln.loop.Accept(ln.ctx, ln.ref.fd)
	if err != nil {
		if ln.ref.closing() {
			err = net.ErrClosed
		}
		return nil, ln.opErr("accept", err)
	}
	// The peer's address comes from the accept itself: by now the peer
	// may have reset, and getpeername would fail.
	return newConn(ln.place(), fd, ln.network, sockaddrToNet(sa, ln.network)), nil
}

func (ln *Listener) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: ln.network, Addr: ln.addr, Err: err}
}

// Close stops the listener: blocked Accepts return net.ErrClosed, the
// socket is closed once none uses it, and a Unix socket's file is
// removed.
func (ln *Listener) Close() error {
	if !ln.ref.startClose() {
		return ln.opErr("close", net.ErrClosed)
	}
	ln.cancel()
	<-ln.ref.drained
	if ln.unlink != "" {
		_ = os.Remove(ln.unlink)
	}
	if ln.ref.closeErr != nil {
		return ln.opErr("close", os.NewSyscallError("close", ln.ref.closeErr))
	}
	return nil
}

// Addr returns the listener's address.
func (ln *Listener) Addr() net.Addr { return ln.addr }

// Fd returns the listening socket. It stays valid until Close.
func (ln *Listener) Fd() int { return ln.ref.fd }
