package suite

import (
	"fmt"
	"strconv"
	"time"

	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/report"
)

type echoPeer struct {
	label, server string
	ref           bool
}

var echoPeers = []echoPeer{
	{"uringd (sched callbacks)", "echo-uringd", true},
	{"gnet v2 (1 event loop)", "echo-gnet", false},
	{"net (goroutine per conn)", "echo-net", false},
}

// startGoServer starts `uringbench serve name` pinned to the server CPU
// and waits until it listens.
func (r *Runner) startGoServer(name string, extra ...string) (*Child, string, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, "", err
	}
	args := append([]string{"serve", name, "-addr", addr}, extra...)
	c, err := StartChild(r.goChild(name, r.opt.ServerCPU, args...))
	if err != nil {
		return nil, "", err
	}
	if err := c.WaitListening(addr, 15*time.Second); err != nil {
		c.Stop()
		return nil, "", err
	}
	return c, addr, nil
}

const echoSize = 64

func (r *Runner) echo() (*report.Table, error) {
	conns := r.opt.Conns
	t := &report.Table{
		Title: fmt.Sprintf("echo: %d connections × %d-byte messages", conns, echoSize),
		Method: []string{
			r.pinNote() + " (a Go client, one goroutine per connection doing write/read round trips, checking every byte)",
			fmt.Sprintf("%d rounds × %v per peer after a warm-up, peers alternating; server CPU = utime+stime (+cutime+cstime) from /proc/PID/stat over the window, CLK_TCK=100", r.rounds(), r.opt.Duration),
			"uringd: one sched.Loop, multishot accept + multishot recv (provided buffer ring) + send, all callbacks",
		},
		Metrics: []report.Metric{
			{Key: "msgs", Label: "msg/s", Higher: true, Ratio: true, Chart: true},
			{Key: "cpu_us", Label: "server CPU µs/msg", Ratio: true, Chart: true},
		},
	}
	type running struct {
		peer  echoPeer
		child *Child
		addr  string
		row   *report.Row
	}
	var live []*running
	for _, p := range echoPeers {
		row := t.Row("", p.label)
		row.Ref = p.ref
		r.prog.Step("starting %s", p.server)
		c, addr, err := r.startGoServer(p.server)
		if err != nil {
			skip(row, err)
			continue
		}
		defer c.Stop()
		live = append(live, &running{p, c, addr, row})
	}
	warmup := min(time.Second, r.opt.Duration/4)
	for round := range r.rounds() {
		for _, s := range rotate(live, round) {
			if s.child.Exited() {
				skip(s.row, fmt.Errorf("server exited: %s", s.child.Stderr()))
				continue
			}
			r.prog.StepFor(warmup+r.opt.Duration, "%s · round %d/%d", s.peer.label, round+1, r.rounds())
			res, cpu, err := r.echoOnce(s.child, s.addr, conns, warmup)
			if err != nil {
				s.row.Note("round %d failed: %v", round+1, err)
				continue
			}
			s.row.Add("msgs", float64(res.Messages)/res.Seconds)
			s.row.Add("cpu_us", cpu.Seconds()*1e6/float64(res.Messages))
			if res.Errors > 0 {
				s.row.Note("%d connection errors (first: %s)", res.Errors, res.FirstErr)
			}
		}
	}
	t.Checks = append(t.Checks,
		ratioCheck(t, "", echoPeers[0].label, echoPeers[1].label, "cpu_us", "uringd CPU/msg <= 0.7x gnet", 0.7, true),
		ratioCheck(t, "", echoPeers[0].label, echoPeers[2].label, "cpu_us", "uringd CPU/msg <= 0.5x net", 0.5, true))
	return t, nil
}

// echoOnce runs one measured window of the echo client against a server
// child and returns the client's result and the server's CPU time in the
// window.
func (r *Runner) echoOnce(server *Child, addr string, conns int, warmup time.Duration) (load.EchoResult, time.Duration, error) {
	return r.echoRound(server, addr, conns, warmup, r.opt.LoadCPU, gomaxprocs1)
}

// echoRound is echoOnce with the client on loadCPU (NoCPU: unpinned) and
// env added to its environment.
func (r *Runner) echoRound(server *Child, addr string, conns int, warmup time.Duration, loadCPU int, env []string) (load.EchoResult, time.Duration, error) {
	var res load.EchoResult
	cpu, err := clientWindow(ChildSpec{Name: "echo client", CPU: loadCPU, Env: env, Argv: []string{r.opt.Exe, "load", "echo", "-addr", addr,
		"-conns", strconv.Itoa(conns), "-size", strconv.Itoa(echoSize),
		"-warmup", warmup.String(), "-duration", r.opt.Duration.String()}},
		server, warmup, r.opt.Duration, 30*time.Second, &res)
	return res, cpu, err
}
