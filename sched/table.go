package sched

// opTable maps user_data to in-flight Ops. user_data is the slot index in
// the low 32 bits and the slot's generation in the high 32 bits, so a CQE
// for a slot that has since been reused (a stale generation) is detected
// and ignored instead of being delivered to the wrong Op. The table's
// reference also keeps each Op, and so every buffer it lends the kernel,
// reachable for the garbage collector until its final CQE.
type opTable struct {
	slots []tableSlot
	free  []uint32
	live  int
}

type tableSlot struct {
	op  *Op
	gen uint32
}

// user_data 0 is never issued: CQEs that carry it (linked timeouts, cancel
// acknowledgements) are the loop's own and need no dispatch.
const udIgnore = 0

func (t *opTable) insert(op *Op) uint64 {
	var idx uint32
	if n := len(t.free); n > 0 {
		idx = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		idx = uint32(len(t.slots))
		t.slots = append(t.slots, tableSlot{})
	}
	s := &t.slots[idx]
	s.gen++
	if s.gen == 0 {
		s.gen = 1 // generation 0 is reserved for udIgnore
	}
	s.op = op
	t.live++
	return uint64(s.gen)<<32 | uint64(idx)
}

// lookup returns the Op for ud, or nil when ud is unknown or stale.
func (t *opTable) lookup(ud uint64) *Op {
	idx := uint32(ud)
	if idx >= uint32(len(t.slots)) {
		return nil
	}
	s := &t.slots[idx]
	if s.op == nil || s.gen != uint32(ud>>32) {
		return nil
	}
	return s.op
}

func (t *opTable) remove(ud uint64) {
	idx := uint32(ud)
	t.slots[idx].op = nil
	t.free = append(t.free, idx)
	t.live--
}
