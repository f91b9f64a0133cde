// Package evnet is a connection layer on sched's event loops, for servers
// that speak their own protocol: the HTTP server in httpd is written on
// it, and so can any Go program's protocol be.
//
// A Server listens on TCP (IPv4, IPv6) and Unix sockets. With TCP each
// loop has a listening socket of its own on the shared port
// (SO_REUSEPORT), so the kernel spreads connections over the loops, and a
// multishot accept keeps it accepting without an SQE per connection. A
// connection lives on one loop for its life: its receive is a multishot
// recv drawing from the loop's provided buffer ring (an idle connection
// holds no read buffer), and what the handler writes goes into an output
// queue that is sent once per loop turn: every response produced from one
// batch of completions leaves in one send.
//
// The protocol implements Handler. Its methods run on the connection's
// loop, one at a time, and must not block: they share the loop with every
// other connection on it. Work that blocks or takes long goes to a
// goroutine or to offload, and comes back with Conn.Post.
//
// Flow control: when a connection's queued output passes
// Config.WriteHighWater (a peer that reads slowly), the connection stops
// reading until the queue falls below Config.WriteLowWater, so memory per
// connection stays bounded. Config.MaxConns refuses connections beyond a
// limit with an optional message (such as an HTTP 503) instead of letting
// them pile up. Shutdown stops accepting, lets handlers finish (Drainer),
// closes what is left when its context ends, and returns when every
// connection is gone.
//
// The handler sees connections, bytes and events, never descriptors or
// ring operations: a second backend (Go's netpoller, for hosts where
// io_uring is disabled) can implement the same Conn without any handler
// changing.
package evnet
