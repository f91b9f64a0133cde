package sched

import (
	"context"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Dial connects through the loop, like net.Dialer.DialContext: network is
// "tcp", "tcp4", "tcp6" or "unix" ('@' for an abstract name). A host name
// is resolved with ctx, and each of its addresses is tried in turn, the
// time left split between them as package net does, until one connects;
// the error is the first attempt's.
func (l *Loop) Dial(ctx context.Context, network, address string) (*Conn, error) {
	opErr := func(addr net.Addr, err error) error {
		return &net.OpError{Op: "dial", Net: network, Addr: addr, Err: err}
	}
	if err := ctx.Err(); err != nil {
		return nil, opErr(nil, err)
	}
	switch network {
	case "unix":
		addr := &net.UnixAddr{Name: address, Net: "unix"}
		c, err := l.dialOne(ctx, network, &unix.SockaddrUnix{Name: address}, unix.AF_UNIX, addr)
		if err != nil {
			return nil, opErr(addr, err)
		}
		return c, nil
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, opErr(nil, net.UnknownNetworkError(network))
	}
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, opErr(nil, err)
	}
	port, err := net.DefaultResolver.LookupPort(ctx, network, portStr)
	if err != nil {
		return nil, opErr(nil, err)
	}
	if host == "" {
		// Like package net: an empty host is the local system.
		host = "127.0.0.1"
		if network == "tcp6" {
			host = "::1"
		}
	}
	addrs, err := resolve(ctx, network, host)
	if err != nil {
		return nil, opErr(nil, err)
	}
	var first error
	for i, a := range addrs {
		addr := &net.TCPAddr{IP: a.IP, Port: port, Zone: a.Zone}
		actx, cancel := partialDeadline(ctx, len(addrs)-i)
		sa, family := tcpSockaddr(a.IP, port, a.Zone, false)
		c, err := l.dialOne(actx, network, sa, family, addr)
		cancel()
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = opErr(addr, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// partialDeadline gives one of n remaining attempts its share of ctx's
// time: an equal share, but at least 2 s (or all that is left).
func partialDeadline(ctx context.Context, n int) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok || n <= 1 {
		return ctx, func() {}
	}
	left := time.Until(deadline)
	share := left / time.Duration(n)
	const minShare = 2 * time.Second
	if share < minShare {
		share = min(minShare, left)
	}
	return context.WithTimeout(ctx, share)
}

func (l *Loop) dialOne(ctx context.Context, network string, sa unix.Sockaddr, family int, raddr net.Addr) (*Conn, error) {
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := l.Connect(ctx, fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return newConn(l, fd, network, raddr), nil
}

// Dial connects through the group's next loop.
func (g *Group) Dial(ctx context.Context, network, address string) (*Conn, error) {
	return g.Next().Dial(ctx, network, address)
}
