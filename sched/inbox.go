package sched

import "sync/atomic"

// inbox is a lock-free multi-producer, single-consumer queue of Ops: any
// goroutine pushes with one CAS; the loop takes everything at once with
// one swap and reverses it into arrival order. Ops link through Op.next,
// so pushing allocates nothing.
type inbox struct {
	head atomic.Pointer[Op]
}

func (q *inbox) push(op *Op) {
	for {
		old := q.head.Load()
		op.next = old
		if q.head.CompareAndSwap(old, op) {
			return
		}
	}
}

// takeAll returns the queued Ops in the order they were pushed (FIFO per
// producer), linked through next.
func (q *inbox) takeAll() *Op {
	top := q.head.Swap(nil)
	var fifo *Op
	for top != nil {
		next := top.next
		top.next = fifo
		fifo = top
		top = next
	}
	return fifo
}

func (q *inbox) empty() bool { return q.head.Load() == nil }

// opFIFO is a singly linked FIFO of Ops, owned by the loop.
type opFIFO struct {
	head, tail *Op
	n          int
}

func (f *opFIFO) push(op *Op) {
	op.next = nil
	if f.tail == nil {
		f.head = op
	} else {
		f.tail.next = op
	}
	f.tail = op
	f.n++
}

func (f *opFIFO) pop() *Op {
	op := f.head
	if op == nil {
		return nil
	}
	f.head = op.next
	if f.head == nil {
		f.tail = nil
	}
	op.next = nil
	f.n--
	return op
}

// remove unlinks op if present and reports whether it was.
func (f *opFIFO) remove(op *Op) bool {
	var prev *Op
	for cur := f.head; cur != nil; prev, cur = cur, cur.next {
		if cur != op {
			continue
		}
		if prev == nil {
			f.head = cur.next
		} else {
			prev.next = cur.next
		}
		if f.tail == cur {
			f.tail = prev
		}
		cur.next = nil
		f.n--
		return true
	}
	return false
}
