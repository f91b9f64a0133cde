package suite

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/uringd/uringd/bench/internal/proc"
)

// NoCPU: do not pin.
const NoCPU = -1

// ChildSpec is a process to start.
type ChildSpec struct {
	Name  string
	Argv  []string
	Env   []string // added to the harness's environment
	CPU   int      // pin with taskset -c CPU, or NoCPU
	Tree  bool     // measure CPU and RSS over the whole process tree
	Stdin bool     // keep a pipe to its stdin (closed by CloseStdin or Stop)
}

// Child is a running process the harness started. Its stdout is read
// line by line; the tail of its stderr is kept for error messages.
type Child struct {
	Spec  ChildSpec
	cmd   *exec.Cmd
	PID   int
	lines chan string
	stdin io.WriteCloser
	tail  *tailBuffer
	done  chan struct{}
	err   error
	stop  sync.Once
}

var (
	tasksetOnce sync.Once
	tasksetPath string
)

func taskset() string {
	tasksetOnce.Do(func() { tasksetPath, _ = proc.LookPath("taskset") })
	return tasksetPath
}

// StartChild starts spec in its own process group (so Stop reaches
// nginx's worker too), killed with SIGKILL if the harness dies.
func StartChild(spec ChildSpec) (*Child, error) {
	argv := spec.Argv
	if spec.CPU != NoCPU {
		ts := taskset()
		if ts == "" {
			return nil, errors.New("taskset not found (util-linux): cannot pin")
		}
		argv = append([]string{ts, "-c", strconv.Itoa(spec.CPU)}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &Child{Spec: spec, cmd: cmd, lines: make(chan string, 1024), tail: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stderr = c.tail
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if spec.Stdin {
		if c.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, err)
	}
	c.PID = cmd.Process.Pid
	live.Store(c, struct{}{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody reads this child's chatter
			}
		}
	}()
	go func() {
		<-readDone
		c.err = cmd.Wait()
		close(c.lines)
		close(c.done)
	}()
	return c, nil
}

// Line returns the next line of stdout, waiting at most timeout.
func (c *Child) Line(timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l, ok := <-c.lines:
		if !ok {
			<-c.done
			return "", fmt.Errorf("%s exited (%v): %s", c.Spec.Name, c.err, c.Stderr())
		}
		return l, nil
	case <-t.C:
		return "", fmt.Errorf("%s: no output in %v: %s", c.Spec.Name, timeout, c.Stderr())
	}
}

// Expect reads lines until one starts with prefix and returns the rest.
func (c *Child) Expect(prefix string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.Line(time.Until(deadline))
		if err != nil {
			return "", err
		}
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			return strings.TrimSpace(rest), nil
		}
	}
}

// CloseStdin closes the child's stdin (the idle client's signal to go).
func (c *Child) CloseStdin() {
	if c.stdin != nil {
		c.stdin.Close()
	}
}

// Wait waits for the child to exit on its own, at most timeout, and
// returns its exit error.
func (c *Child) Wait(timeout time.Duration) error {
	select {
	case <-c.done:
		if c.err != nil {
			return fmt.Errorf("%s: %v: %s", c.Spec.Name, c.err, c.Stderr())
		}
		return nil
	case <-time.After(timeout):
		c.Stop()
		return fmt.Errorf("%s did not finish within %v", c.Spec.Name, timeout)
	}
}

// Exited reports whether the child has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Stop ends the child and its process group: SIGTERM, then SIGKILL after
// 3 s.
func (c *Child) Stop() {
	c.stop.Do(func() {
		defer live.Delete(c)
		c.CloseStdin()
		if c.Exited() {
			return
		}
		_ = syscall.Kill(-c.PID, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-c.PID, syscall.SIGKILL)
			<-c.done
		}
		// nginx's worker may outlive a killed master for a moment.
		_ = syscall.Kill(-c.PID, syscall.SIGKILL)
	})
}

// live holds every child not yet stopped, for KillAll.
var live sync.Map

// KillAll kills every child still running and its process group (the
// harness calls it when interrupted: nginx's worker would otherwise
// outlive its master).
func KillAll() {
	live.Range(func(k, _ any) bool {
		c := k.(*Child)
		_ = syscall.Kill(-c.PID, syscall.SIGKILL)
		return true
	})
}

// CPU is the child's CPU time so far (its process tree's when Tree).
func (c *Child) CPU() (time.Duration, error) {
	if c.Spec.Tree {
		return proc.TreeCPU(c.PID)
	}
	st, err := proc.ReadStat(c.PID)
	return st.CPU(), err
}

// clientWindow runs a load client child that prints START when its
// measured window begins and RESULT <json> when it ends, decodes the JSON
// into res, and returns the server's CPU time spent in that window. slack
// is how much longer than its warm-up, then than the window, the client
// may take to say so.
func clientWindow(spec ChildSpec, server *Child, warmup, window, slack time.Duration, res any) (time.Duration, error) {
	client, err := StartChild(spec)
	if err != nil {
		return 0, err
	}
	defer client.Stop()
	if _, err := client.Expect("START", warmup+slack); err != nil {
		return 0, err
	}
	cpu0, err := server.CPU()
	if err != nil {
		return 0, err
	}
	out, err := client.Expect("RESULT", window+slack)
	if err != nil {
		return 0, err
	}
	cpu1, err := server.CPU()
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal([]byte(out), res); err != nil {
		return 0, fmt.Errorf("%s result %q: %w", spec.Name, out, err)
	}
	if err := client.Wait(30 * time.Second); err != nil {
		return 0, err
	}
	return cpu1 - cpu0, nil
}

// RSS is the child's resident memory in KiB (summed over its tree when
// Tree).
func (c *Child) RSS() (int64, error) {
	if c.Spec.Tree {
		return proc.TreeRSS(c.PID)
	}
	return proc.RSS(c.PID)
}

// Stderr returns the tail of the child's stderr.
func (c *Child) Stderr() string { return strings.TrimSpace(c.tail.String()) }

// WaitListening waits until addr accepts TCP connections (or the child
// exits, or timeout).
func (c *Child) WaitListening(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return nil
		}
		if c.Exited() {
			return fmt.Errorf("%s exited (%v): %s", c.Spec.Name, c.err, c.Stderr())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %v: %v: %s", c.Spec.Name, addr, timeout, err, c.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// FreeAddr returns a loopback address with a port that was free a moment
// ago.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
