package httpd

import (
	"math/bits"
	"net"
	"sync/atomic"
	"time"

	"github.com/uringd/uringd/httpd/internal/h1"
)

// AccessInfo describes a finished request, for access logs. Its byte
// slices are valid only during the AccessLog call.
type AccessInfo struct {
	Start    time.Time     // when the request's head was complete
	Duration time.Duration // until the response was handed to the connection
	Remote   net.Addr      // nil when the client had gone before the response was complete
	Method   []byte
	Target   []byte
	Proto    string
	Host     []byte
	Referer  []byte
	Agent    []byte // User-Agent
	Status   int
	Bytes    int64 // body bytes
	Loop     int   // which loop served it (index in the server's group)
}

// requestInfo keeps what the access log needs of a request past its
// handler: copies of the request line and a few headers.
type requestInfo struct {
	start  time.Time
	buf    []byte
	method []byte
	target []byte
	host   []byte
	ref    []byte
	agent  []byte
	minor  int
}

func (ri *requestInfo) capture(start time.Time, req *h1.Request) {
	ri.start, ri.minor = start, req.ProtoMinor
	b := ri.buf[:0]
	keep := func(v []byte) []byte {
		s := len(b)
		b = append(b, v...)
		return b[s:len(b):len(b)]
	}
	ri.method, ri.target = keep(req.Method), keep(req.Target)
	ri.host, ri.ref, ri.agent = keep(req.TargetHost()), keep(req.Header("Referer")), keep(req.Header("User-Agent"))
	if cap(b) != cap(ri.buf) && ri.buf != nil {
		// The buffer grew: the slices may point into the old one.
		ri.buf = b
		ri.capture(start, req)
		return
	}
	ri.buf = b
}

// LoopStats are one loop's HTTP counters.
type LoopStats struct {
	Requests uint64
	BytesOut uint64 // body bytes of the responses
	// Conns is the connections open on the loop now; BytesIn and
	// BytesSent count every byte received and sent on its connections
	// (heads, bodies and files spliced), as the socket layer saw them.
	Conns     int64
	BytesIn   uint64
	BytesSent uint64
	// Status counts responses by class: [1] 1xx ... [5] 5xx.
	Status [6]uint64
	// Latency[i] counts requests whose response took [2^(i-1), 2^i)
	// microseconds from the end of the head (bucket 0: under 1 µs).
	Latency [24]uint64
}

type loopCounters struct {
	requests, bytesOut atomic.Uint64
	status             [6]atomic.Uint64
	latency            [24]atomic.Uint64
}

func (lc *loopCounters) record(status int, bytes int64, d time.Duration) {
	lc.requests.Add(1)
	lc.bytesOut.Add(uint64(max(bytes, 0)))
	if c := status / 100; c >= 1 && c <= 5 {
		lc.status[c].Add(1)
	}
	lc.latency[min(bits.Len64(uint64(max(d/time.Microsecond, 0))), 23)].Add(1)
}

// LoopStats returns each loop's counters, in the order of the server's
// group.
func (s *Server) LoopStats() []LoopStats {
	s.mu.Lock()
	ev := s.ev
	s.mu.Unlock()
	if ev == nil {
		return nil
	}
	g := ev.Group()
	wire := ev.LoopStats()
	out := make([]LoopStats, g.Len())
	for i := range out {
		lc := &s.loops[g.Loop(i)].counters
		st := &out[i]
		st.Requests, st.BytesOut = lc.requests.Load(), lc.bytesOut.Load()
		if i < len(wire) {
			st.Conns, st.BytesIn, st.BytesSent = wire[i].Open, wire[i].BytesIn, wire[i].BytesOut
		}
		for j := range st.Status {
			st.Status[j] = lc.status[j].Load()
		}
		for j := range st.Latency {
			st.Latency[j] = lc.latency[j].Load()
		}
	}
	return out
}

// done records a finished response: counters, and the access log.
func (ld *loopData) done(c *conn, ri *requestInfo, status int, bytes int64) {
	now := ld.loop.Now()
	d := now.Sub(ri.start)
	ld.counters.record(status, bytes, d)
	log := ld.srv.AccessLog
	if log == nil {
		return
	}
	proto := "HTTP/1.1"
	if ri.minor == 0 {
		proto = "HTTP/1.0"
	}
	var remote net.Addr
	if c != nil {
		remote = c.ec.RemoteAddr()
	}
	info := &ld.info
	*info = AccessInfo{
		Start: ri.start, Duration: d, Remote: remote,
		Method: ri.method, Target: ri.target, Proto: proto, Host: ri.host,
		Referer: ri.ref, Agent: ri.agent, Status: status, Bytes: bytes, Loop: ld.index,
	}
	log(info)
}
