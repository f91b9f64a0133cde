// Command kvstore is a small in-memory key-value server that speaks a
// subset of the Redis protocol (RESP: PING, ECHO, SET, GET, DEL, INCR,
// EXISTS, QUIT), written on evnet, uringd's connection layer, without
// HTTP: the protocol is a Handler whose methods run on the event loops.
// redis-cli and redis-benchmark can talk to it.
//
//	go run ./examples/kvstore -addr 127.0.0.1:6380 -loops 2
//	redis-benchmark -p 6380 -t set,get -n 100000 -q
package main

import (
	"bytes"
	"context"
	"flag"
	"hash/maphash"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/uringd/uringd/evnet"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "listen address (tcp host:port, or unix:/path or unix:@name)")
	loops := flag.Int("loops", 0, "event loops (0: GOMAXPROCS)")
	maxConns := flag.Int("max-conns", 10000, "connections beyond this are refused")
	flag.Parse()

	network, address := "tcp", *addr
	if len(address) > 5 && address[:5] == "unix:" {
		network, address = "unix", address[5:]
	}
	srv, err := evnet.Listen(network, address, &server{store: newStore()}, evnet.Config{
		Loops:         *loops,
		MaxConns:      *maxConns,
		RefuseMessage: []byte("-ERR max number of clients reached\r\n"),
	})
	if err != nil {
		slog.Error("listen", "err", err)
		os.Exit(1)
	}
	slog.Info("serving", "addr", srv.Addrs()[0].String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		slog.Error("shutdown", "err", err)
	}
}

// server is the protocol: evnet calls it on the connection's loop.
type server struct{ store *store }

// client is one connection's state: input that did not make a whole
// command yet.
type client struct {
	in   []byte
	args [][]byte
}

const maxInput = 1 << 20 // a command larger than this closes the connection

func (s *server) OnOpen(c *evnet.Conn) {
	c.Context = &client{}
	c.SetTimeout(5 * time.Minute)
}

func (s *server) OnData(c *evnet.Conn, data []byte) {
	cl := c.Context.(*client)
	buf := data
	if len(cl.in) > 0 {
		cl.in = append(cl.in, data...)
		buf = cl.in
	}
	for len(buf) > 0 {
		args, n, err := parseCommand(buf, cl.args[:0])
		if err != nil {
			c.WriteString("-ERR Protocol error: " + err.Error() + "\r\n")
			c.Close()
			return
		}
		if n == 0 {
			break // incomplete
		}
		cl.args = args
		buf = buf[n:]
		if !s.exec(c, args) {
			c.Close()
			return
		}
	}
	if len(buf) > maxInput {
		c.WriteString("-ERR Protocol error: command too large\r\n")
		c.Close()
		return
	}
	// Keep the incomplete rest (data is the loop's buffer, reused after
	// this call).
	cl.in = append(cl.in[:0], buf...)
	c.SetTimeout(5 * time.Minute)
}

func (s *server) OnClose(c *evnet.Conn, err error) {}

// exec runs one command; false means close the connection.
func (s *server) exec(c *evnet.Conn, args [][]byte) bool {
	if len(args) == 0 {
		return true
	}
	// Upper-case the command name in a stack array: no allocation.
	var up [16]byte
	cmd := up[:copy(up[:], args[0])]
	for i, ch := range cmd {
		if 'a' <= ch && ch <= 'z' {
			cmd[i] = ch - 'a' + 'A'
		}
	}
	if len(args[0]) > len(up) {
		cmd = nil
	}
	switch {
	case string(cmd) == "PING" && len(args) == 1:
		c.WriteString("+PONG\r\n")
	case string(cmd) == "ECHO" && len(args) == 2:
		writeBulk(c, args[1])
	case string(cmd) == "SET" && len(args) == 3:
		s.store.set(args[1], args[2])
		c.WriteString("+OK\r\n")
	case string(cmd) == "GET" && len(args) == 2:
		if v, ok := s.store.get(args[1]); ok {
			writeBulk(c, v)
		} else {
			c.WriteString("$-1\r\n")
		}
	case string(cmd) == "DEL" && len(args) >= 2:
		writeInt(c, int64(s.store.del(args[1:])))
	case string(cmd) == "EXISTS" && len(args) >= 2:
		writeInt(c, int64(s.store.exists(args[1:])))
	case string(cmd) == "INCR" && len(args) == 2:
		n, err := s.store.incr(args[1])
		if err != nil {
			c.WriteString("-ERR value is not an integer or out of range\r\n")
		} else {
			writeInt(c, n)
		}
	case string(cmd) == "QUIT":
		c.WriteString("+OK\r\n")
		return false
	case string(cmd) == "CONFIG": // redis-benchmark asks; answer empty
		c.WriteString("*0\r\n")
	default:
		c.WriteString("-ERR unknown command or wrong number of arguments\r\n")
	}
	return true
}

func writeBulk(c *evnet.Conn, v []byte) {
	b := c.AvailableBuffer()
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(v)), 10)
	b = append(b, "\r\n"...)
	b = append(b, v...)
	b = append(b, "\r\n"...)
	c.Write(b)
}

func writeInt(c *evnet.Conn, n int64) {
	b := c.AvailableBuffer()
	b = append(b, ':')
	b = strconv.AppendInt(b, n, 10)
	b = append(b, "\r\n"...)
	c.Write(b)
}

// parseCommand parses one RESP array of bulk strings, or an inline
// command (space-separated, as redis-cli sends when typed by hand). It
// returns n == 0 when buf holds only part of a command.
func parseCommand(buf []byte, args [][]byte) ([][]byte, int, error) {
	if buf[0] != '*' {
		end := bytes.IndexByte(buf, '\n')
		if end < 0 {
			return args, 0, nil
		}
		line := bytes.TrimRight(buf[:end], "\r")
		return append(args, bytes.Fields(line)...), end + 1, nil
	}
	count, pos, ok, err := parseLen(buf, 0)
	if !ok || err != nil {
		return args, 0, err
	}
	if count > 1024 {
		return args, 0, errBadLength
	}
	for range count {
		if pos >= len(buf) {
			return args, 0, nil
		}
		if buf[pos] != '$' {
			return args, 0, errExpectedBulk
		}
		n, next, ok, err := parseLen(buf, pos)
		if !ok || err != nil {
			return args, 0, err
		}
		if n > maxInput {
			return args, 0, errBadLength
		}
		if len(buf) < next+n+2 {
			return args, 0, nil
		}
		args = append(args, buf[next:next+n])
		pos = next + n + 2
	}
	return args, pos, nil
}

type protoError string

func (e protoError) Error() string { return string(e) }

const (
	errBadLength    = protoError("invalid length")
	errExpectedBulk = protoError("expected '$'")
)

// parseLen parses "<prefix><digits>\r\n" at buf[pos].
func parseLen(buf []byte, pos int) (n, next int, ok bool, err error) {
	end := bytes.IndexByte(buf[pos:], '\n')
	if end < 0 {
		if len(buf)-pos > 32 {
			return 0, 0, false, errBadLength
		}
		return 0, 0, false, nil
	}
	line := bytes.TrimRight(buf[pos+1:pos+end], "\r")
	v, perr := strconv.Atoi(string(line))
	if perr != nil || v < 0 {
		return 0, 0, false, errBadLength
	}
	return v, pos + end + 1, true, nil
}

// store is a map sharded by key hash: handlers on different loops take
// different locks most of the time, each for a few nanoseconds.
type store struct {
	seed   maphash.Seed
	shards [64]shard
}

type shard struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newStore() *store {
	s := &store{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[string][]byte)
	}
	return s
}

func (s *store) shard(key []byte) *shard {
	return &s.shards[maphash.Bytes(s.seed, key)%uint64(len(s.shards))]
}

func (s *store) set(key, val []byte) {
	sh := s.shard(key)
	sh.mu.Lock()
	sh.m[string(key)] = bytes.Clone(val)
	sh.mu.Unlock()
}

func (s *store) get(key []byte) ([]byte, bool) {
	sh := s.shard(key)
	sh.mu.Lock()
	v, ok := sh.m[string(key)]
	sh.mu.Unlock()
	return v, ok
}

func (s *store) del(keys [][]byte) int {
	n := 0
	for _, k := range keys {
		sh := s.shard(k)
		sh.mu.Lock()
		if _, ok := sh.m[string(k)]; ok {
			delete(sh.m, string(k))
			n++
		}
		sh.mu.Unlock()
	}
	return n
}

func (s *store) exists(keys [][]byte) int {
	n := 0
	for _, k := range keys {
		if _, ok := s.get(k); ok {
			n++
		}
	}
	return n
}

func (s *store) incr(key []byte) (int64, error) {
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var n int64
	if v, ok := sh.m[string(key)]; ok {
		var err error
		if n, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return 0, err
		}
	}
	n++
	sh.m[string(key)] = strconv.AppendInt(nil, n, 10)
	return n, nil
}
