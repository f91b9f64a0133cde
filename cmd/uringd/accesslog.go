package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/config"
	"github.com/uringd/uringd/httpd"
)

// accessLog formats one line per request on the loop that served it into
// a buffer; a goroutine writes the buffer out every flushEvery, so a
// loop never waits for the disk. If the writer falls behind by more than
// maxPending, lines are dropped and counted rather than block a loop.
type accessLog struct {
	mu      sync.Mutex
	format  string
	cur     []byte
	out     io.WriteCloser // nil when off
	path    string
	json    *slog.Logger // for the json format; writes into cur
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
}

const (
	flushEvery = 100 * time.Millisecond
	maxPending = 4 << 20
)

func openAccessLog(c config.AccessLog) (*accessLog, error) {
	a := &accessLog{stop: make(chan struct{}), done: make(chan struct{})}
	if err := a.reopen(c); err != nil {
		return nil, err
	}
	go a.flusher()
	return a, nil
}

// reopen (re)opens the destination: on start, and on SIGHUP (logrotate)
// unless reload keeps the open file.
func (a *accessLog) reopen(c config.AccessLog) error {
	var out io.WriteCloser
	switch c.Path {
	case config.LogOff, "":
	case config.LogStderr:
		out = nopCloser{os.Stderr}
	case config.LogStdout:
		out = nopCloser{os.Stdout}
	default:
		f, err := os.OpenFile(c.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
		if err != nil {
			return err
		}
		out = f
	}
	a.flush()
	a.mu.Lock()
	old := a.out
	a.out, a.path = out, c.Path
	a.setFormat(c.Format)
	a.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// reload applies a reloaded configuration on SIGHUP. The destination is
// reopened (logrotate has renamed it) unless reopen_on_hup is false and
// the path is unchanged: then lines keep going to the file already open,
// wherever it has been moved, and only the format may change.
func (a *accessLog) reload(c config.AccessLog) error {
	a.mu.Lock()
	keep := !c.ReopenOnHUP && c.Path == a.path
	if keep {
		a.setFormat(c.Format)
	}
	a.mu.Unlock()
	if keep {
		return nil
	}
	return a.reopen(c)
}

// setFormat sets the line format; a.mu is held.
func (a *accessLog) setFormat(format string) {
	a.format = format
	a.json = nil
	if format == config.LogJSON {
		a.json = slog.New(slog.NewJSONHandler(bufWriter{a}, nil))
	}
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// bufWriter lets slog's JSON handler write into the pending buffer (it
// is called with a.mu held, from record).
type bufWriter struct{ a *accessLog }

func (w bufWriter) Write(p []byte) (int, error) {
	w.a.cur = append(w.a.cur, p...)
	return len(p), nil
}

// record is the server's AccessLog hook; it runs on a loop.
func (a *accessLog) record(e *httpd.AccessInfo) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.out == nil {
		return
	}
	if len(a.cur) > maxPending {
		a.dropped.Add(1)
		return
	}
	if a.json != nil {
		a.json.LogAttrs(context.Background(), slog.LevelInfo, "request",
			slog.String("remote", remoteString(e.Remote)),
			slog.String("method", string(e.Method)),
			slog.String("target", string(e.Target)),
			slog.String("proto", e.Proto),
			slog.String("host", string(e.Host)),
			slog.Int("status", e.Status),
			slog.Int64("bytes", e.Bytes),
			slog.Duration("duration", e.Duration),
			slog.String("referer", string(e.Referer)),
			slog.String("user_agent", string(e.Agent)),
			slog.Int("loop", e.Loop))
		return
	}
	a.cur = appendCommon(a.cur, e)
	if a.format == config.LogCombined {
		a.cur = append(a.cur, ' ')
		a.cur = appendQuoted(a.cur, e.Referer)
		a.cur = append(a.cur, ' ')
		a.cur = appendQuoted(a.cur, e.Agent)
	}
	a.cur = append(a.cur, '\n')
}

// appendCommon appends the Common Log Format fields:
// host - - [time] "request" status bytes.
func appendCommon(b []byte, e *httpd.AccessInfo) []byte {
	host := remoteString(e.Remote)
	if h, _, err := splitHostPort(host); err == nil {
		host = h
	}
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = e.Start.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendEscaped(b, e.Method)
	b = append(b, ' ')
	b = appendEscaped(b, e.Target)
	b = append(b, ' ')
	b = append(b, e.Proto...)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, ' ')
	if e.Bytes == 0 {
		return append(b, '-')
	}
	return strconv.AppendInt(b, e.Bytes, 10)
}

func appendQuoted(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, `"-"`...)
	}
	b = append(b, '"')
	b = appendEscaped(b, v)
	return append(b, '"')
}

// appendEscaped keeps a client's bytes from forging log lines: quotes,
// backslashes, control and non-ASCII bytes are escaped as \xHH.
func appendEscaped(b, v []byte) []byte {
	const hex = "0123456789abcdef"
	for _, c := range v {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

func splitHostPort(s string) (string, string, error) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			h := s[:i]
			if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
				h = h[1 : len(h)-1]
			}
			return h, s[i+1:], nil
		}
	}
	return s, "", errNoPort
}

type logError string

func (e logError) Error() string { return string(e) }

const errNoPort = logError("no port")

// flusher writes the pending lines out periodically.
func (a *accessLog) flusher() {
	defer close(a.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			a.flush()
		case <-a.stop:
			a.flush()
			return
		}
	}
}

// flush writes what is pending, outside the lock loops take.
func (a *accessLog) flush() {
	a.mu.Lock()
	buf, out := a.cur, a.out
	a.cur = nil
	a.mu.Unlock()
	if len(buf) > 0 && out != nil {
		_, _ = out.Write(buf)
	}
	if n := a.dropped.Swap(0); n > 0 && out != nil {
		_, _ = io.WriteString(out, "uringd: access log fell behind; "+strconv.FormatUint(n, 10)+" lines dropped\n")
	}
}

func (a *accessLog) close() {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	out := a.out
	a.out = nil
	a.mu.Unlock()
	if out != nil {
		out.Close()
	}
}

// remoteString is the client's address, "-" when it had gone before the
// response was complete.
func remoteString(a net.Addr) string {
	if a == nil {
		return "-"
	}
	return a.String()
}
