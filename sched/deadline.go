package sched

import "time"

// deadlineHeap orders ops with a Timeout by their deadline (the loop's
// monotonic clock, Loop.now). The loop sleeps no longer than the earliest
// one, and on expiry cancels the op by its own user_data, so a deadline
// can only ever hit the operation it was set for.
type deadlineHeap []*Op

func (h deadlineHeap) Len() int { return len(h) }

func (h *deadlineHeap) push(op *Op) {
	op.dlPos = int32(len(*h)) + 1
	*h = append(*h, op)
	h.up(len(*h) - 1)
}

// popDue removes and returns the earliest op if its deadline is at or
// before now.
func (h *deadlineHeap) popDue(now int64) *Op {
	if len(*h) == 0 || (*h)[0].deadline > now {
		return nil
	}
	op := (*h)[0]
	h.remove(op)
	return op
}

func (h *deadlineHeap) remove(op *Op) {
	old := *h
	i := int(op.dlPos) - 1
	last := len(old) - 1
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	op.dlPos = 0
	if i != last {
		h.down(i)
		h.up(i)
	}
}

// untilNext returns the time from now to the earliest deadline, if any.
func (h deadlineHeap) untilNext(now int64) (time.Duration, bool) {
	if len(h) == 0 {
		return 0, false
	}
	return time.Duration(max(h[0].deadline-now, 0)), true
}

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].dlPos = int32(i) + 1
	h[j].dlPos = int32(j) + 1
}

func (h deadlineHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent].deadline <= h[i].deadline {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

func (h deadlineHeap) down(i int) {
	n := len(h)
	for {
		least := i
		if l := 2*i + 1; l < n && h[l].deadline < h[least].deadline {
			least = l
		}
		if r := 2*i + 2; r < n && h[r].deadline < h[least].deadline {
			least = r
		}
		if least == i {
			return
		}
		h.swap(i, least)
		i = least
	}
}
