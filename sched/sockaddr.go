package sched

import (
	"bytes"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockaddrToRaw encodes sa into raw as the kernel expects it and returns
// its length.
func sockaddrToRaw(sa unix.Sockaddr, raw *unix.RawSockaddrAny) (uint32, error) {
	*raw = unix.RawSockaddrAny{}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET
		p.Port = htons(uint16(a.Port))
		p.Addr = a.Addr
		return unix.SizeofSockaddrInet4, nil
	case *unix.SockaddrInet6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		p.Family = unix.AF_INET6
		p.Port = htons(uint16(a.Port))
		p.Scope_id = a.ZoneId
		p.Addr = a.Addr
		return unix.SizeofSockaddrInet6, nil
	case *unix.SockaddrUnix:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		p.Family = unix.AF_UNIX
		name := a.Name
		abstract := len(name) > 0 && name[0] == '@'
		// A pathname needs its NUL terminator inside Path; an abstract name
		// (leading NUL, written '@' as package net does) has none.
		if len(name) > len(p.Path) || (!abstract && len(name) == len(p.Path)) {
			return 0, unix.EINVAL
		}
		for i := 0; i < len(name); i++ {
			p.Path[i] = int8(name[i])
		}
		n := uint32(unsafe.Offsetof(p.Path)) + uint32(len(name))
		if abstract {
			p.Path[0] = 0
			return n, nil
		}
		return n + 1, nil
	}
	return 0, unix.EAFNOSUPPORT
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// RawToSockaddr decodes the first n bytes of raw, as filled by an accept
// (Op.PrepAcceptAddr), into a unix.Sockaddr. It returns nil for an unnamed
// Unix socket or an unknown family.
func RawToSockaddr(raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	return rawToSockaddr(raw, n)
}

func rawToSockaddr(raw *unix.RawSockaddrAny, n uint32) unix.Sockaddr {
	switch raw.Addr.Family {
	case unix.AF_INET:
		if n < unix.SizeofSockaddrInet4 {
			return nil
		}
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		return &unix.SockaddrInet4{Port: int(htons(p.Port)), Addr: p.Addr}
	case unix.AF_INET6:
		if n < unix.SizeofSockaddrInet6 {
			return nil
		}
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		return &unix.SockaddrInet6{Port: int(htons(p.Port)), ZoneId: p.Scope_id, Addr: p.Addr}
	case unix.AF_UNIX:
		p := (*unix.RawSockaddrUnix)(unsafe.Pointer(raw))
		pathLen := int(n) - int(unsafe.Offsetof(p.Path))
		if pathLen <= 0 {
			return &unix.SockaddrUnix{Name: "@"} // unnamed, as package net writes it
		}
		pathLen = min(pathLen, len(p.Path))
		b := make([]byte, pathLen)
		for i := range b {
			b[i] = byte(p.Path[i])
		}
		if b[0] == 0 {
			// Abstract: the name is every byte after the NUL, as is.
			b[0] = '@'
		} else if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		return &unix.SockaddrUnix{Name: string(b)}
	}
	return nil
}

// sockaddrToNet converts a unix.Sockaddr to the net.Addr of a stream
// socket of network ("tcp*" or "unix").
func sockaddrToNet(sa unix.Sockaddr, network string) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		var zone string
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	if network == "unix" {
		return &net.UnixAddr{Name: "@", Net: "unix"} // unnamed, as package net writes it
	}
	return nil
}

// tcpSockaddr converts a TCP address for binding or connecting; v6only
// forces an AF_INET6 socket even for an IPv4 (or unspecified) address.
func tcpSockaddr(ip net.IP, port int, zone string, v6 bool) (unix.Sockaddr, int) {
	if ip4 := ip.To4(); !v6 && (ip4 != nil || ip == nil) {
		sa := &unix.SockaddrInet4{Port: port}
		if ip4 != nil {
			copy(sa.Addr[:], ip4)
		}
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: port}
	if ip != nil {
		copy(sa.Addr[:], ip.To16())
	}
	if zone != "" {
		if ifi, err := net.InterfaceByName(zone); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}

func isTCP(network string) bool {
	return network == "tcp" || network == "tcp4" || network == "tcp6"
}
