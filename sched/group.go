package sched

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// Group is a set of loops, one per core by default, with a placement
// policy for new work.
type Group struct {
	loops []*Loop
	next  atomic.Uint32
}

// NewGroup starts n loops (GOMAXPROCS when n <= 0) configured by cfg. If
// any loop fails to start, the ones already running are closed.
func NewGroup(n int, cfg Config) (*Group, error) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	g := &Group{}
	for range n {
		l, err := NewLoop(cfg)
		if err != nil {
			_ = g.Close(context.Background())
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	return g, nil
}

// GroupOf makes a group of loops that already run (closing the group
// closes them).
func GroupOf(loops ...*Loop) *Group {
	return &Group{loops: append([]*Loop(nil), loops...)}
}

// Len returns the number of loops.
func (g *Group) Len() int { return len(g.loops) }

// Loop returns loop i.
func (g *Group) Loop(i int) *Loop { return g.loops[i] }

// Next returns the loops in turn (round robin).
func (g *Group) Next() *Loop {
	return g.loops[int(g.next.Add(1)-1)%len(g.loops)]
}

// ForFd returns the loop that owns fd under fd-hash placement, so that all
// work on one descriptor lands on one loop.
func (g *Group) ForFd(fd int) *Loop {
	return g.loops[fd%len(g.loops)]
}

// Close closes every loop concurrently and returns when all have exited,
// or with ctx's error when ctx ends first.
func (g *Group) Close(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(g.loops))
	for i, l := range g.loops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Close(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
