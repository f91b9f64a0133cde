package evnet

import (
	"sync"
	"sync/atomic"

	"github.com/uringd/uringd/sched"
)

// loopState is the server's part of one loop: its connections, the
// connections with output to send at the end of the current batch, and a
// pool of output buffers. Everything in it is owned by the loop.
type loopState struct {
	srv  *Server
	loop *sched.Loop

	// flush runs after every other callback of the batch in which the
	// first connection got output (a KindCall op submitted from the loop
	// joins the end of the batch being run), so all output of one batch
	// leaves in one send per connection.
	flush       sched.Op
	flushQueued bool
	dirty       []*Conn

	head  *Conn // every open connection, for Shutdown
	count int
	// Counters read by LoopStats from other goroutines.
	openConns         atomic.Int64
	bytesIn, bytesOut atomic.Uint64
	bufs              bufPool
	ops               []*sched.Op // free send ops
	pipes             []pipe      // free, empty pipes for splicing
}

func (ls *loopState) getOp() *sched.Op {
	if n := len(ls.ops); n > 0 {
		op := ls.ops[n-1]
		ls.ops = ls.ops[:n-1]
		return op
	}
	return new(sched.Op)
}

func (ls *loopState) putOp(op *sched.Op) {
	if len(ls.ops) < maxFreeBuf {
		ls.ops = append(ls.ops, op)
	}
}

func newLoopState(s *Server, l *sched.Loop) *loopState {
	ls := &loopState{srv: s, loop: l}
	ls.flush.PrepCall(ls.flushAll)
	return ls
}

// markDirty queues c's output for the end of the batch.
func (ls *loopState) markDirty(c *Conn) {
	if c.flags&flagDirty != 0 {
		return
	}
	c.flags |= flagDirty
	ls.dirty = append(ls.dirty, c)
	if !ls.flushQueued {
		ls.flushQueued = true
		if err := ls.loop.Submit(&ls.flush); err != nil {
			// Only a closing loop refuses a call (calls do not count
			// against MaxOps); its connections are being cancelled.
			ls.flushQueued = false
		}
	}
}

func (ls *loopState) flushAll(*sched.Op, sched.Result) {
	ls.flushQueued = false
	// Flushing may make more connections dirty (a close that completes):
	// take the list first.
	for len(ls.dirty) > 0 {
		dirty := ls.dirty
		ls.dirty = nil
		for i, c := range dirty {
			dirty[i] = nil
			c.flags &^= flagDirty
			c.flush()
		}
		if ls.dirty == nil {
			ls.dirty = dirty[:0]
		}
	}
}

func (ls *loopState) add(c *Conn) {
	c.next = ls.head
	if ls.head != nil {
		ls.head.prev = c
	}
	ls.head = c
	ls.count++
	ls.openConns.Add(1)
}

func (ls *loopState) remove(c *Conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		ls.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	ls.count--
	ls.openConns.Add(-1)
}

// drain runs on the loop when Shutdown starts: stop accepting, and ask
// every connection to finish.
func (ls *loopState) drain() {
	for _, ln := range ls.srv.listenersSnapshot() {
		for _, a := range ln.acceptors {
			if a.ls == ls {
				a.stop()
			}
		}
	}
	d, _ := ls.srv.h.(Drainer)
	for c := ls.head; c != nil; {
		next := c.next
		if d != nil {
			d.OnDrain(c)
		} else {
			c.Close()
		}
		c = next
	}
}

// abortAll runs on the loop when a Shutdown's context has ended.
func (ls *loopState) abortAll() {
	for c := ls.head; c != nil; {
		next := c.next
		c.abort(ErrShutdown)
		c = next
	}
}

// post runs fn on the loop; if the loop has closed, fn is dropped (the
// loop cancelled everything it had).
func (ls *loopState) post(fn func()) error { return ls.postOp(fn, false) }

// postAlways is post for a function that must run even if the loop closes
// before it gets to it (it then runs during the close, still on the loop):
// one that releases a resource nothing else would.
func (ls *loopState) postAlways(fn func()) error { return ls.postOp(fn, true) }

func (ls *loopState) postOp(fn func(), always bool) error {
	p := postPool.Get().(*postOp)
	p.fn, p.always = fn, always
	p.op.Data = p
	p.op.PrepCall(runPost)
	if err := ls.loop.Post(&p.op); err != nil {
		p.fn = nil
		postPool.Put(p)
		return err
	}
	return nil
}

type postOp struct {
	op     sched.Op
	fn     func()
	always bool
}

var postPool = sync.Pool{New: func() any { return new(postOp) }}

func runPost(op *sched.Op, r sched.Result) {
	p := op.Data.(*postOp)
	fn := p.fn
	p.fn = nil
	if r.Err() == nil || p.always {
		fn()
	}
	// Back to the pool only after fn returned: if it panics, the loop's
	// recovery still reads the op (it is then left to the GC).
	postPool.Put(p)
}

func (s *Server) listenersSnapshot() []*listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*listener(nil), s.listeners...)
}

// bufPool keeps output buffers of the loop's connections, so that an idle
// connection holds none and a busy one reuses them. Loop-owned.
type bufPool struct {
	free [][]byte
}

const (
	minOutBuf  = 4 << 10
	keepOutBuf = 256 << 10 // larger buffers are left to the GC
	maxFreeBuf = 256
)

func (p *bufPool) get(need int) []byte {
	for i := len(p.free) - 1; i >= 0; i-- {
		if cap(p.free[i]) >= need {
			b := p.free[i]
			p.free[i] = p.free[len(p.free)-1]
			p.free[len(p.free)-1] = nil
			p.free = p.free[:len(p.free)-1]
			return b[:0]
		}
	}
	return make([]byte, 0, max(need, minOutBuf))
}

func (p *bufPool) put(b []byte) {
	if b == nil || cap(b) > keepOutBuf || len(p.free) >= maxFreeBuf {
		return
	}
	p.free = append(p.free, b[:0])
}
