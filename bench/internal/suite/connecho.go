package suite

import (
	"fmt"
	"time"

	"github.com/uringd/uringd/bench/internal/report"
)

// connEchoConns is the connection count of the conn-echo scenario: a
// goroutine-per-connection server at a size where goroutines, not the
// accept path, carry the load.
const connEchoConns = 16

// connEcho compares the same goroutine-per-connection echo server on
// sched's net.Listener/net.Conn (reads and writes through a loop's ring)
// and on package net, both the way Go programmers run it (no pinning,
// default GOMAXPROCS) and pinned (server on one CPU with GOMAXPROCS=1,
// the client on the other).
func (r *Runner) connEcho() (*report.Table, error) {
	t := &report.Table{
		Title: fmt.Sprintf("goroutine-per-connection echo: %d connections × %d-byte messages, sched.Conn vs package net", connEchoConns, echoSize),
		Method: []string{
			"the same server code (a goroutine per connection: Read into 4 KiB, Write back) on sched.Loop.Listen (default Config) and on net.Listen",
			"group unpinned: server and client not pinned, server with the default GOMAXPROCS; group pinned: " + r.pinNote(),
			fmt.Sprintf("%d rounds × %v per peer after a warm-up, peers alternating; server CPU = utime+stime from /proc/PID/stat over the window", r.rounds(), r.opt.Duration),
		},
		Metrics: []report.Metric{
			{Key: "msgs", Label: "msg/s", Higher: true, Ratio: true, Chart: true},
			{Key: "cpu_us", Label: "server CPU µs/msg", Ratio: true, Chart: true},
		},
	}
	peersList := []struct{ label, server string }{
		{"sched.Conn (goroutine per conn)", "echo-uringd-conn"},
		{"net (goroutine per conn)", "echo-net"},
	}
	groups := []struct {
		name               string
		serverCPU, loadCPU int
		env                []string
	}{
		{"unpinned", NoCPU, NoCPU, nil},
		{"pinned", r.opt.ServerCPU, r.opt.LoadCPU, gomaxprocs1},
	}
	warmup := min(time.Second, r.opt.Duration/4)
	for _, g := range groups {
		type running struct {
			child *Child
			addr  string
			row   *report.Row
		}
		var live []*running
		for i, p := range peersList {
			row := t.Row(g.name, p.label)
			row.Ref = i == 0
			addr, err := FreeAddr()
			if err != nil {
				return nil, err
			}
			r.prog.Step("starting %s (%s)", p.server, g.name)
			c, err := StartChild(ChildSpec{Name: p.server, Argv: []string{r.opt.Exe, "serve", p.server, "-addr", addr}, Env: g.env, CPU: g.serverCPU})
			if err != nil {
				skip(row, err)
				continue
			}
			defer c.Stop()
			if err := c.WaitListening(addr, 15*time.Second); err != nil {
				skip(row, err)
				continue
			}
			live = append(live, &running{c, addr, row})
		}
		for round := range r.rounds() {
			for _, s := range rotate(live, round) {
				if s.child.Exited() {
					skip(s.row, fmt.Errorf("server exited: %s", s.child.Stderr()))
					continue
				}
				r.prog.StepFor(warmup+r.opt.Duration, "%s %s · round %d/%d", s.row.Peer, g.name, round+1, r.rounds())
				res, cpu, err := r.echoRound(s.child, s.addr, connEchoConns, warmup, g.loadCPU, g.env)
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
		for _, s := range live {
			s.child.Stop()
		}
		t.Checks = append(t.Checks, ratioCheck(t, g.name, peersList[0].label, peersList[1].label, "cpu_us",
			fmt.Sprintf("sched.Conn CPU/msg <= 0.8x net (%s)", g.name), 0.8, true))
	}
	return t, nil
}
