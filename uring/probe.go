package uring

import (
	"unsafe"
)

// Probe is the set of opcodes the running kernel supports.
type Probe struct {
	lastOp    Op
	supported [256]bool
}

// Probe asks the kernel which opcodes it supports (IORING_REGISTER_PROBE).
func (r *Ring) Probe() (*Probe, error) {
	const nOps = 256
	var buf struct {
		hdr probeHeader
		ops [nOps]probeOp
	}
	if _, err := r.register(regRegisterProbe, unsafe.Pointer(&buf), nOps); err != nil {
		return nil, err
	}
	p := &Probe{lastOp: Op(buf.hdr.LastOp)}
	for i := 0; i < int(buf.hdr.OpsLen) && i < nOps; i++ {
		if buf.ops[i].Flags&opSupported != 0 {
			p.supported[buf.ops[i].Op] = true
		}
	}
	return p, nil
}

// Supports reports whether op is supported.
func (p *Probe) Supports(op Op) bool { return p.supported[op] }

// LastOp returns the highest opcode the kernel knows.
func (p *Probe) LastOp() Op { return p.lastOp }

// Supported lists the supported opcodes in numeric order.
func (p *Probe) Supported() []Op {
	var ops []Op
	for i, ok := range p.supported {
		if ok {
			ops = append(ops, Op(i))
		}
	}
	return ops
}
