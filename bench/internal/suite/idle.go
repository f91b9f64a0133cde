package suite

import (
	"fmt"
	"strconv"
	"time"

	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/report"
)

// idlePeer is a server of the idle scenario: how to start it and what to
// say on each connection before leaving it idle.
type idlePeer struct {
	group, label string
	ref          bool
	pending      string
	proto        string
	start        func(r *Runner, addr string) (*Child, error)
}

func idleGo(name string) func(*Runner, string) (*Child, error) {
	return func(r *Runner, addr string) (*Child, error) {
		return StartChild(r.goChild(name, r.opt.ServerCPU, "serve", name, "-addr", addr))
	}
}

func idleHTTPStart(p httpPeer) func(*Runner, string) (*Child, error) {
	return func(r *Runner, addr string) (*Child, error) { return p.start(r, addr, "") }
}

const (
	idleEcho = "echo servers (one 64-byte round trip per connection)"
	idleHTTP = "HTTP servers (one keep-alive GET per connection)"
)

var idlePeers = []idlePeer{
	{idleEcho, echoPeers[0].label, true, "", load.ProtoEcho, idleGo("echo-uringd")},
	{idleEcho, echoPeers[1].label, false, "", load.ProtoEcho, idleGo("echo-gnet")},
	{idleEcho, echoPeers[2].label, false, "", load.ProtoEcho, idleGo("echo-net")},
	{idleHTTP, uringdHTTP.label, true, "", load.ProtoHTTP, idleHTTPStart(uringdHTTP)},
	{idleHTTP, nginxHTTP.label, false, "", load.ProtoHTTP, idleHTTPStart(nginxHTTP)},
	{idleHTTP, nodeHTTP.label, false, "", load.ProtoHTTP, idleHTTPStart(nodeHTTP)},
	{idleHTTP, netHTTP.label, false, "", load.ProtoHTTP, idleHTTPStart(netHTTP)},
	{idleHTTP, fastHTTP.label, false, "", load.ProtoHTTP, idleHTTPStart(fastHTTP)},
	{idleHTTP, anchorHTTP.label, false, "", load.ProtoHTTP, idleHTTPStart(anchorHTTP)},
}

// idleSettle is how long connections sit idle before RSS is read.
func (r *Runner) idleSettle() time.Duration {
	if r.opt.Quick {
		return 200 * time.Millisecond
	}
	return 2 * time.Second
}

func (r *Runner) idle() (*report.Table, error) {
	n := r.opt.IdleConns
	t := &report.Table{
		Title: fmt.Sprintf("memory of %d idle keep-alive connections", n),
		Method: []string{
			fmt.Sprintf("each round starts the server afresh (%s, Go servers GOMAXPROCS=1), reads its VmRSS (baseline), opens %d connections from a Go client %s, makes one exchange on each, waits %v, reads VmRSS again", cpuNote(r.opt.ServerCPU), n, cpuNote(r.opt.LoadCPU), r.idleSettle()),
			"KiB/conn = (RSS with the connections − baseline) / connections; nginx: master + worker summed; soft RLIMIT_NOFILE raised to the hard limit in client and servers",
			fmt.Sprintf("%d rounds, peers alternating", r.rounds()),
		},
		Metrics: []report.Metric{
			{Key: "kib_conn", Label: "KiB/conn", Ratio: true, Chart: true},
			{Key: "rss_mib", Label: "RSS MiB with conns"},
			{Key: "base_mib", Label: "baseline RSS MiB"},
		},
	}
	var live []idlePeer
	for _, p := range idlePeers {
		row := t.Row(p.group, p.label)
		row.Ref = p.ref
		if p.pending != "" {
			row.Status = p.pending
			continue
		}
		live = append(live, p)
	}
	for round := range r.rounds() {
		for _, p := range rotate(live, round) {
			row := t.Row(p.group, p.label)
			if row.Status != "" {
				continue // skipped in an earlier round
			}
			r.prog.StepFor(r.idleSettle()+3*time.Second, "%s · %d conns · round %d/%d", p.label, n, round+1, r.rounds())
			base, with, err := r.idleOnce(p, n)
			if err != nil {
				if round == 0 && len(row.Values) == 0 {
					skip(row, err)
				} else {
					row.Note("round %d failed: %v", round+1, err)
				}
				continue
			}
			row.Add("kib_conn", float64(with-base)/float64(n))
			row.Add("rss_mib", float64(with)/1024)
			row.Add("base_mib", float64(base)/1024)
		}
	}
	t.Checks = append(t.Checks,
		ratioCheck(t, idleEcho, echoPeers[0].label, echoPeers[1].label, "kib_conn", "uringd KiB/conn vs gnet (lower is better)", 1, true),
		ratioCheck(t, idleEcho, echoPeers[0].label, echoPeers[2].label, "kib_conn", "uringd KiB/conn vs net (lower is better)", 1, true))
	return t, nil
}

// idleOnce measures one server: baseline RSS and RSS with n idle
// connections, in KiB.
func (r *Runner) idleOnce(p idlePeer, n int) (base, with int64, err error) {
	addr, err := FreeAddr()
	if err != nil {
		return 0, 0, err
	}
	server, err := p.start(r, addr)
	if err != nil {
		return 0, 0, err
	}
	defer server.Stop()
	if err := server.WaitListening(addr, 15*time.Second); err != nil {
		return 0, 0, err
	}
	time.Sleep(500 * time.Millisecond)
	if base, err = server.RSS(); err != nil {
		return 0, 0, err
	}
	client, err := StartChild(ChildSpec{
		Name: "idle client", CPU: r.opt.LoadCPU, Env: gomaxprocs1, Stdin: true,
		Argv: []string{r.opt.Exe, "load", "idle", "-addr", addr, "-conns", strconv.Itoa(n), "-proto", p.proto, "-path", "/"},
	})
	if err != nil {
		return 0, 0, err
	}
	defer client.Stop()
	if _, err := client.Expect("READY", 2*time.Minute); err != nil {
		return 0, 0, err
	}
	time.Sleep(r.idleSettle())
	if with, err = server.RSS(); err != nil {
		return 0, 0, err
	}
	client.CloseStdin()
	if err := client.Wait(time.Minute); err != nil {
		return 0, 0, err
	}
	return base, with, nil
}
