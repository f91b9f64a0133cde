package evnet

import "errors"

// Handler is a protocol. Its methods run on the connection's loop, one at
// a time per loop, and must not block.
type Handler interface {
	// OnOpen runs once for a new connection, before any other method.
	OnOpen(c *Conn)
	// OnData runs with bytes received on c, in order. data is valid only
	// during the call (its buffer goes back to the kernel after it): a
	// handler keeps what it has not consumed by copying it.
	OnData(c *Conn, data []byte)
	// OnClose runs once when c has been closed and its descriptor
	// released, with why: nil after Close, io.EOF when the peer closed
	// first, ErrTimeout, ErrShutdown, or the socket error.
	OnClose(c *Conn, err error)
}

// Optional Handler interfaces.
type (
	// EOFHandler handles the peer closing its sending side (a TCP FIN)
	// while the connection can still write. Without it the connection is
	// closed once its output has been sent.
	EOFHandler interface {
		OnEOF(c *Conn)
	}
	// WritableHandler learns that a connection throttled by
	// Config.WriteHighWater has sent enough to fall below
	// Config.WriteLowWater and reads again.
	WritableHandler interface {
		OnWritable(c *Conn)
	}
	// DrainHandler learns that everything queued on a connection has
	// been sent (for write timeouts).
	DrainHandler interface {
		OnDrained(c *Conn)
	}
	// TimeoutHandler handles the expiry of a timeout set with
	// Conn.SetTimeout. Without it the connection is aborted with
	// ErrTimeout.
	TimeoutHandler interface {
		OnTimeout(c *Conn)
	}
	// Drainer is asked by Shutdown to finish a connection: typically to
	// close it now if idle, or after the response in progress. Without it
	// Shutdown closes connections once their output has been sent.
	Drainer interface {
		OnDrain(c *Conn)
	}
)

// Errors reported by the package; they work with errors.Is.
var (
	// ErrClosed is returned for writes to a closed or closing connection
	// and for operations on a closed server.
	ErrClosed = errors.New("evnet: connection closed")
	// ErrTimeout is the close reason of a connection whose timeout expired.
	ErrTimeout = errors.New("evnet: timeout")
	// ErrDetached is the close reason of a connection handed over with
	// Detach.
	ErrDetached = errors.New("evnet: connection detached")
	// ErrShutdown is the close reason of connections aborted because a
	// Shutdown's context ended first, or by Close.
	ErrShutdown = errors.New("evnet: server shut down")
)
