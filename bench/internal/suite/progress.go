package suite

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Progress shows on stderr what runs now: scenario, peer, round and the
// seconds left of the current measurement. On a terminal one status line
// is redrawn twice a second; otherwise each step prints one line.
type Progress struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	start    time.Time
	scenario string
	index    int
	total    int
	step     string
	deadline time.Time
	stop     chan struct{}
	wg       sync.WaitGroup
}

// NewProgress starts the display on w.
func NewProgress(w io.Writer) *Progress {
	p := &Progress{w: w, start: time.Now(), stop: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if p.tty {
		p.wg.Add(1)
		go p.loop()
	}
	return p
}

// Scenario announces scenario i of n.
func (p *Progress) Scenario(name string, i, n int) {
	p.mu.Lock()
	p.scenario, p.index, p.total, p.step, p.deadline = name, i, n, "starting", time.Time{}
	p.mu.Unlock()
	p.emit(true)
}

// Step announces what is measured now and for how long (0: unknown).
func (p *Progress) Step(format string, args ...any) { p.StepFor(0, format, args...) }

// StepFor is Step with the measurement's duration.
func (p *Progress) StepFor(d time.Duration, format string, args ...any) {
	p.mu.Lock()
	p.step = fmt.Sprintf(format, args...)
	p.deadline = time.Time{}
	if d > 0 {
		p.deadline = time.Now().Add(d)
	}
	p.mu.Unlock()
	p.emit(!p.tty)
}

// Logf prints a message above the status line.
func (p *Progress) Logf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format+"\n", args...)
	if p.tty {
		fmt.Fprint(p.w, p.line())
	}
}

func (p *Progress) line() string {
	left := ""
	if !p.deadline.IsZero() {
		left = fmt.Sprintf(" · %ds left", int(time.Until(p.deadline).Round(time.Second).Seconds()))
	}
	return fmt.Sprintf("[%d/%d %s] %s%s · elapsed %s", p.index, p.total, p.scenario, p.step, left,
		time.Since(p.start).Round(time.Second))
}

func (p *Progress) emit(newline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K"+p.line())
		return
	}
	if newline {
		fmt.Fprintln(p.w, p.line())
	}
}

func (p *Progress) loop() {
	defer p.wg.Done()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.emit(false)
		case <-p.stop:
			return
		}
	}
}

// Close stops the display and clears the status line.
func (p *Progress) Close() {
	close(p.stop)
	p.wg.Wait()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
