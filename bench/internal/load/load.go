// Package load holds the harness's Go load generators: the echo client
// (request/response round trips on N connections), the idle-connection
// opener, and the paced round-trip latency probe used by the lag
// scenario. Each runs in `uringbench load ...` as a child process pinned
// to the load CPU, or in-process in the tests.
package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EchoResult is one measured echo window.
type EchoResult struct {
	Messages int64   `json:"messages"` // round trips completed in the window
	Seconds  float64 `json:"seconds"`  // the window's length
	Conns    int     `json:"conns"`
	Errors   int64   `json:"errors"` // connections that failed (bad echo, I/O error)
	FirstErr string  `json:"first_error,omitempty"`
}

// paddedCounter keeps each connection's counter on its own cache line.
type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

// Echo keeps conns connections doing size-byte request/response round
// trips (write, then read the same bytes back and check them) for warmup
// and then duration, and counts round trips in the second window. start
// (if set) is called when the measured window opens. Every round trip is
// bounded by a 10 s deadline.
func Echo(addr string, conns, size int, warmup, duration time.Duration, start func()) (EchoResult, error) {
	res := EchoResult{Conns: conns}
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			for _, c := range cs[:i] {
				c.Close()
			}
			return res, fmt.Errorf("dial %d of %d: %w", i+1, conns, err)
		}
		cs[i] = c
	}
	counters := make([]paddedCounter, conns)
	var (
		stop     atomic.Bool
		errs     atomic.Int64
		firstErr atomic.Pointer[string]
		wg       sync.WaitGroup
	)
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := make([]byte, size)
			got := make([]byte, size)
			for j := range msg {
				msg[j] = byte('a' + (i+j)%26)
			}
			for seq := 0; !stop.Load(); seq++ {
				msg[0] = byte(seq)
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err := c.Write(msg)
				if err == nil {
					_, err = io.ReadFull(c, got)
				}
				if err == nil && !bytes.Equal(got, msg) {
					err = fmt.Errorf("connection %d: message %d came back different", i, seq)
				}
				if err != nil {
					if !stop.Load() {
						errs.Add(1)
						s := err.Error()
						firstErr.CompareAndSwap(nil, &s)
					}
					return
				}
				counters[i].n.Add(1)
			}
		}()
	}
	sum := func() int64 {
		var t int64
		for i := range counters {
			t += counters[i].n.Load()
		}
		return t
	}
	time.Sleep(warmup)
	c0, t0 := sum(), time.Now()
	if start != nil {
		start()
	}
	time.Sleep(duration)
	c1, t1 := sum(), time.Now()
	stop.Store(true)
	for _, c := range cs {
		_ = c.SetDeadline(time.Now()) // unblock reads, then close
	}
	wg.Wait()
	for _, c := range cs {
		c.Close()
	}
	res.Messages, res.Seconds, res.Errors = c1-c0, t1.Sub(t0).Seconds(), errs.Load()
	if p := firstErr.Load(); p != nil {
		res.FirstErr = *p
	}
	if res.Messages == 0 {
		return res, fmt.Errorf("no round trips completed (%d connection errors, first: %s)", res.Errors, res.FirstErr)
	}
	return res, nil
}

// Protocols OpenIdle speaks on each new connection before leaving it idle.
const (
	ProtoEcho = "echo" // one 64-byte round trip
	ProtoHTTP = "http" // one keep-alive GET and its full response
)

// OpenIdle opens n connections to addr with a few dialers at a time, makes
// one exchange on each (so the server has really accepted and served it)
// and returns them open and idle. The caller closes them.
func OpenIdle(ctx context.Context, addr string, n int, proto, path string) ([]net.Conn, error) {
	if proto != ProtoEcho && proto != ProtoHTTP {
		return nil, fmt.Errorf("unknown protocol %q", proto)
	}
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	const dialers = 32
	for range dialers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 10 * time.Second}
			for {
				i := int(next.Add(1) - 1)
				if i >= n || firstErr.Load() != nil || ctx.Err() != nil {
					return
				}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err == nil {
					err = exchange(c, proto, path)
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					err = fmt.Errorf("connection %d: %w", i+1, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil || ctx.Err() != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		if p != nil {
			return nil, *p
		}
		return nil, ctx.Err()
	}
	return conns, nil
}

func exchange(c net.Conn, proto, path string) error {
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if proto == ProtoEcho {
		msg := bytes.Repeat([]byte{'i'}, 64)
		if _, err := c.Write(msg); err != nil {
			return err
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			return err
		}
		if !bytes.Equal(got, msg) {
			return errors.New("echo came back different")
		}
		return nil
	}
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n", path); err != nil {
		return err
	}
	status, _, err := ReadResponse(bufio.NewReaderSize(c, 512))
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("HTTP status %d", status)
	}
	return nil
}

// ReadResponse reads one HTTP/1.1 response with a Content-Length body and
// returns its status and body. It is all the idle client needs, and keeps
// no per-connection state once the response is read.
func ReadResponse(r *bufio.Reader) (status int, body []byte, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/1.") {
		return 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	if status, err = strconv.Atoi(f[1]); err != nil {
		return 0, nil, fmt.Errorf("malformed status line %q", line)
	}
	length := -1
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		k, v, _ := strings.Cut(h, ":")
		if strings.EqualFold(strings.TrimSpace(k), "content-length") {
			if length, err = strconv.Atoi(strings.TrimSpace(v)); err != nil {
				return 0, nil, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, nil, errors.New("response without Content-Length")
	}
	body = make([]byte, length)
	_, err = io.ReadFull(r, body)
	return status, body, err
}

// RTTResult summarises a latency probe, in microseconds.
type RTTResult struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_us"`
	P99 float64 `json:"p99_us"`
	Max float64 `json:"max_us"`
}

// Summarise computes percentiles of durations.
func Summarise(d []time.Duration) RTTResult {
	if len(d) == 0 {
		return RTTResult{}
	}
	s := slices.Clone(d)
	slices.Sort(s)
	q := func(p float64) float64 {
		i := int(p * float64(len(s)-1))
		return float64(s[i]) / float64(time.Microsecond)
	}
	return RTTResult{N: len(s), P50: q(0.50), P99: q(0.99), Max: float64(s[len(s)-1]) / float64(time.Microsecond)}
}

// RTT sends a size-byte message every interval on one connection for
// duration, waits for each echo, and returns the round-trip times. A
// round trip slower than the interval delays the next send (the count
// shows it); each is bounded by a 10 s deadline.
func RTT(addr string, interval, duration time.Duration, size int) (RTTResult, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return RTTResult{}, err
	}
	defer c.Close()
	msg := bytes.Repeat([]byte{'r'}, size)
	got := make([]byte, size)
	var rtts []time.Duration
	end := time.Now().Add(duration)
	next := time.Now()
	for seq := 0; time.Now().Before(end); seq++ {
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
		next = next.Add(interval)
		msg[0] = byte(seq)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			return Summarise(rtts), err
		}
		if _, err := io.ReadFull(c, got); err != nil {
			return Summarise(rtts), err
		}
		rtts = append(rtts, time.Since(t0))
		if !bytes.Equal(got, msg) {
			return Summarise(rtts), fmt.Errorf("message %d came back different", seq)
		}
		if now := time.Now(); next.Before(now) {
			next = now // do not burst to catch up after a stall
		}
	}
	return Summarise(rtts), nil
}
