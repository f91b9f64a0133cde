package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
	"github.com/uringd/uringd/bench/internal/servers"
)

// httpPeer is one HTTP server the HTTP and static scenarios measure.
type httpPeer struct {
	label   string
	ref     bool
	pending string // the status of a row whose peer does not exist yet (report.StatusPending); unused now
	// start starts the server on addr serving root under /static/ (root
	// may be empty); the error is the skip reason.
	start func(r *Runner, addr, root string) (*Child, error)
}

func goHTTP(name string) func(*Runner, string, string) (*Child, error) {
	return func(r *Runner, addr, root string) (*Child, error) {
		args := []string{"serve", name, "-addr", addr}
		if root != "" {
			args = append(args, "-root", root)
		}
		return StartChild(r.goChild(name, r.opt.ServerCPU, args...))
	}
}

func nginxPeer(r *Runner, addr, root string) (*Child, error) {
	dir, err := os.MkdirTemp(r.tmp, "nginx-")
	if err != nil {
		return nil, err
	}
	spec, err := peers.Nginx(peers.NginxConfig{Dir: dir, Addr: addr, Root: root, Conns: r.opt.IdleConns + 1000})
	if err != nil {
		return nil, err
	}
	return StartChild(ChildSpec{Name: "nginx", Argv: spec.Argv, CPU: r.opt.ServerCPU, Tree: true})
}

func nodePeer(r *Runner, addr, root string) (*Child, error) {
	dir, err := os.MkdirTemp(r.tmp, "node-")
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	spec, err := peers.Node(dir, host, port, root)
	if err != nil {
		return nil, err
	}
	return StartChild(ChildSpec{Name: "node", Argv: spec.Argv, CPU: r.opt.ServerCPU})
}

func anchorPeer(r *Runner, addr, _ string) (*Child, error) {
	bin, err := r.anchor()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	return StartChild(ChildSpec{Name: "hello_anchor", Argv: []string{bin, port}, CPU: r.opt.ServerCPU})
}

var (
	uringdHTTP    = httpPeer{label: "uringd (httpd, native handler)", ref: true, start: goHTTP("http-uringd")}
	uringdNetHTTP = httpPeer{label: "uringd (httpd, net/http adapter)", start: goHTTP("http-uringd-nethttp")}
	anchorHTTP    = httpPeer{label: "hello_anchor (liburing C)", start: anchorPeer}
	nginxHTTP     = httpPeer{label: "nginx (1 worker)", start: nginxPeer}
	netHTTP       = httpPeer{label: "net/http", start: goHTTP("http-net")}
	fastHTTP      = httpPeer{label: "fasthttp", start: goHTTP("http-fasthttp")}
	gnetHTTP      = httpPeer{label: "gnet v2 (minimal HTTP/1.1)", start: goHTTP("http-gnet")}
	nbioHTTP      = httpPeer{label: "nbio v1.6.8 (nbhttp, net/http handlers)", start: goHTTP("http-nbio")}
	nodeHTTP      = httpPeer{label: "node http", start: nodePeer}
	httpPeerList  = []httpPeer{uringdHTTP, uringdNetHTTP, anchorHTTP, nginxHTTP, netHTTP, fastHTTP, gnetHTTP, nbioHTTP, nodeHTTP}
)

type httpKind struct {
	scenario, title, path string
	pipeline              int
	check                 func([]byte) error
}

var (
	httpPlaintext = httpKind{"http-plaintext", "HTTP plaintext", "/plaintext", 0, checkPlaintext}
	httpPipelined = httpKind{"http-pipelined", "HTTP plaintext, pipelined 16 deep", "/plaintext", 16, checkPlaintext}
	httpJSON      = httpKind{"http-json", "HTTP JSON", "/json", 0, checkJSON}
)

func checkPlaintext(b []byte) error {
	if string(b) != servers.PlaintextBody {
		return fmt.Errorf("body %q, want %q", b, servers.PlaintextBody)
	}
	return nil
}

func checkJSON(b []byte) error {
	var m servers.Message
	if err := json.Unmarshal(b, &m); err != nil || m.Message != "Hello, World!" {
		return fmt.Errorf("body %q is not {\"message\":\"Hello, World!\"}", b)
	}
	return nil
}

// verifyGET fetches url once on a fresh connection and checks it.
func verifyGET(url string, check func([]byte) error) error {
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	if err := check(body); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// liveServer is a started peer and its table row(s).
type liveServer struct {
	peer  httpPeer
	child *Child
	addr  string
}

// startHTTPPeers starts every peer that exists; the rest get their skip
// reason (or pending status) in rowsFor's rows.
func (r *Runner) startHTTPPeers(list []httpPeer, root string, rowsFor func(httpPeer) []*report.Row) []*liveServer {
	var live []*liveServer
	for _, p := range list {
		rows := rowsFor(p)
		for _, row := range rows {
			row.Ref = p.ref
		}
		if p.pending != "" {
			for _, row := range rows {
				row.Status = p.pending
			}
			continue
		}
		r.prog.Step("starting %s", p.label)
		addr, err := FreeAddr()
		var c *Child
		if err == nil {
			c, err = p.start(r, addr, root)
		}
		if err == nil {
			if err = c.WaitListening(addr, 15*time.Second); err != nil {
				c.Stop()
			}
		}
		if err != nil {
			for _, row := range rows {
				skip(row, err)
			}
			continue
		}
		live = append(live, &liveServer{p, c, addr})
	}
	return live
}

// wrkRun is one wrk measurement and the server's CPU time during it.
type wrkRun struct {
	peers.WrkResult
	CPU time.Duration
}

// wrkDuration is wrk's -d: whole seconds, at least one.
func wrkDuration(d time.Duration) time.Duration {
	return max(d.Round(time.Second), time.Second)
}

// wrk runs `taskset -c LOAD wrk -t1 -cN -dD` against url while sampling
// the server's CPU.
func (r *Runner) wrk(server *Child, url string, d time.Duration, script string) (wrkRun, error) {
	var res wrkRun
	wrkBin, err := wrkPath()
	if err != nil {
		return res, err
	}
	d = wrkDuration(d)
	// wrk's default 2 s --timeout: a longer one (10s) breaks its latency
	// percentiles (they print 0.00us with pipelining).
	argv := []string{wrkBin, "-t1", "-c" + strconv.Itoa(r.opt.Conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s", "--latency"}
	if script != "" {
		argv = append(argv, "-s", script)
	}
	argv = append(argv, url)
	cpu0, err := server.CPU()
	if err != nil {
		return res, err
	}
	out, err := runPinned(r.opt.LoadCPU, d+60*time.Second, nil, argv...)
	if err != nil {
		return res, err
	}
	cpu1, err := server.CPU()
	if err != nil {
		return res, err
	}
	if res.WrkResult, err = peers.ParseWrk(string(out)); err != nil {
		return res, err
	}
	if res.Requests == 0 {
		return res, errors.New("wrk completed no requests")
	}
	res.CPU = cpu1 - cpu0
	return res, nil
}

func wrkPath() (string, error) {
	p, err := proc.LookPath("wrk")
	if err != nil {
		return "", errors.New("wrk not installed (apt-get install -y wrk)")
	}
	return p, nil
}

// Response sizes record gives MiB/s and CPU per MiB for.
const (
	noBytes      = 0  // HTTP scenarios: neither
	wrkBytesRead = -1 // the bytes wrk read (bodies of varying size, heads included)
)

// record adds one wrk run to row. bytesPerResp > 0 (every response's
// body size) or wrkBytesRead adds MiB/s and server CPU per MiB.
func record(row *report.Row, w wrkRun, bytesPerResp int) {
	row.Add("rps", w.RPS)
	row.Add("cpu_us", w.CPU.Seconds()*1e6/float64(w.Requests))
	if w.P99 > 0 {
		row.Add("p99_ms", w.P99/1e3)
	} else {
		row.Note("a round without usable wrk p99 (wrk prints 0.00us percentiles at high pipelined rates)")
	}
	var mib float64 // MiB per second of the run
	switch {
	case bytesPerResp > 0:
		mib = w.RPS * float64(bytesPerResp) / (1 << 20)
	case bytesPerResp == wrkBytesRead && w.Seconds > 0:
		mib = w.BytesRead / w.Seconds / (1 << 20)
	}
	if mib > 0 {
		row.Add("mibs", mib)
		row.Add("cpu_us_mib", w.CPU.Seconds()*1e6/(mib*w.Seconds))
	}
	if w.SocketErrors > 0 {
		row.Note("wrk socket errors: %d", w.SocketErrors)
	}
	if w.Non2xx > 0 {
		row.Note("non-2xx responses: %d", w.Non2xx)
	}
}

func (r *Runner) httpMethod(extra string) []string {
	return []string{
		r.pinNote() + fmt.Sprintf(": `wrk -t1 -c%d -d%v --latency`%s", r.opt.Conns, wrkDuration(r.opt.Duration), extra),
		fmt.Sprintf("%d rounds per peer after a 1 s warm-up, peers alternating; every peer's response checked with a real GET first; server CPU from /proc/PID/stat (nginx: master + worker)", r.rounds()),
		"nginx: `worker_processes 1`, `return 200`; node: one process (`http` module); hello_anchor: bench/anchors/hello_anchor.c, a liburing responder with no HTTP parsing (the floor)",
		"uringd: httpd.Server on one loop, native handler, and the same net/http handlers as net/http through httpd's adapter (HTTPHandler, a goroutine per request); nbio: nbhttp.Engine with one poller serving those net/http handlers on its default task pool",
	}
}

func (r *Runner) http(kind httpKind) (*report.Table, error) {
	extra := ""
	if kind.pipeline > 0 {
		extra = fmt.Sprintf(" with a Lua script sending %d requests per write", kind.pipeline)
	}
	t := &report.Table{
		Title:  kind.title,
		Method: r.httpMethod(extra),
		Metrics: []report.Metric{
			{Key: "rps", Label: "req/s", Higher: true, Ratio: true, Chart: true},
			{Key: "cpu_us", Label: "server CPU µs/req", Ratio: true, Chart: true},
			{Key: "p99_ms", Label: "p99 latency ms"},
		},
	}
	script := ""
	if kind.pipeline > 0 {
		script = filepath.Join(r.tmp, "pipeline.lua")
		if err := os.WriteFile(script, []byte(peers.PipelineLua(kind.path, kind.pipeline)), 0o644); err != nil {
			return t, err
		}
	}
	if _, err := wrkPath(); err != nil {
		for _, p := range httpPeerList {
			row := t.Row("", p.label)
			row.Ref = p.ref
			row.Status = p.pending
			if p.pending == "" {
				skip(row, err)
			}
		}
		return t, nil
	}
	live := r.startHTTPPeers(httpPeerList, "", func(p httpPeer) []*report.Row { return []*report.Row{t.Row("", p.label)} })
	defer func() {
		for _, s := range live {
			s.child.Stop()
		}
	}()
	var ok []*liveServer
	for _, s := range live {
		url := "http://" + s.addr + kind.path
		if err := verifyGET(url, kind.check); err != nil {
			skip(t.Row("", s.peer.label), fmt.Errorf("wrong response: %w", err))
			continue
		}
		ok = append(ok, s)
	}
	for round := range r.rounds() {
		for _, s := range rotate(ok, round) {
			row := t.Row("", s.peer.label)
			url := "http://" + s.addr + kind.path
			if round == 0 {
				r.prog.StepFor(time.Second, "%s · warm-up", s.peer.label)
				if _, err := r.wrk(s.child, url, time.Second, script); err != nil {
					row.Note("warm-up failed: %v", err)
				}
			}
			r.prog.StepFor(wrkDuration(r.opt.Duration), "%s · round %d/%d", s.peer.label, round+1, r.rounds())
			w, err := r.wrk(s.child, url, r.opt.Duration, script)
			if err != nil {
				row.Note("round %d failed: %v", round+1, err)
				continue
			}
			record(row, w, noBytes)
		}
	}
	t.Checks = append(t.Checks, bestLine(t, "rps", "req/s"))
	return t, nil
}

// bestLine names the best measured peer of a single-group table.
func bestLine(t *report.Table, key, unit string) string {
	best, bestV := "", math.Inf(-1)
	for _, row := range t.Rows {
		if row.Measured() && len(row.Values[key]) > 0 {
			if v := report.Median(row.Values[key]); v > bestV {
				best, bestV = row.Peer, v
			}
		}
	}
	if best == "" {
		return "no peer measured"
	}
	return fmt.Sprintf("best %s: %s (%s)", unit, best, report.FormatNum(bestV))
}
