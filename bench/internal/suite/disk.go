package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/uringd/uringd/bench/internal/disk"
	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
)

// diskQDs are the queue depths measured: one read at a time (latency),
// the usual server depth, and a deep queue.
var diskQDs = []int{1, 32, 128}

// diskPeer is one O_DIRECT reader: returns IOs, seconds and CPU seconds.
type diskPeer struct {
	qd    int // the group it belongs to
	label string
	ref   bool
	run   func(r *Runner, file string, size int64) (diskRun, error)
}

// diskRun is one measurement of a disk peer.
type diskRun struct {
	ios          int64
	secs, cpuSec float64
	note         string
}

func uringdDisk(mode string, qd int) func(*Runner, string, int64) (diskRun, error) {
	return func(r *Runner, file string, _ int64) (diskRun, error) {
		c, err := StartChild(r.goChild("uringd diskread", r.opt.ServerCPU, "diskread", "-file", file, "-mode", mode,
			"-qd", strconv.Itoa(qd), "-duration", r.opt.Duration.String()))
		if err != nil {
			return diskRun{}, err
		}
		defer c.Stop()
		out, err := c.Expect("RESULT", r.opt.Duration+time.Minute)
		if err != nil {
			return diskRun{}, err
		}
		var res disk.Result
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			return diskRun{}, fmt.Errorf("diskread result %q: %w", out, err)
		}
		run := diskRun{ios: res.IOs, secs: res.Seconds, cpuSec: res.CPUSec}
		if res.Enters > 0 {
			run.note = fmt.Sprintf("loop: %.1f CQEs per io_uring_enter", float64(res.CQEs)/float64(res.Enters))
		}
		return run, c.Wait(30 * time.Second)
	}
}

func fioDisk(engine string, iodepth, jobs int) func(*Runner, string, int64) (diskRun, error) {
	return func(r *Runner, file string, size int64) (diskRun, error) {
		bin, err := proc.LookPath("fio")
		if err != nil {
			return diskRun{}, errors.New("fio not installed (apt-get install -y fio)")
		}
		argv := []string{bin, "--name=randread", "--filename=" + file, "--direct=1", "--rw=randread", "--bs=4k",
			fmt.Sprintf("--size=%d", size), "--time_based", "--runtime=" + peers.FioRuntime(r.opt.Duration),
			"--ioengine=" + engine, "--iodepth=" + strconv.Itoa(iodepth), "--numjobs=" + strconv.Itoa(jobs),
			"--group_reporting", "--output-format=json"}
		out, err := runPinned(r.opt.ServerCPU, r.opt.Duration+2*time.Minute, nil, argv...)
		if err != nil {
			return diskRun{}, err
		}
		res, err := peers.ParseFio(out)
		if err != nil {
			return diskRun{}, err
		}
		return diskRun{ios: res.IOs, secs: res.RuntimeSec, cpuSec: res.CPUSec}, nil
	}
}

var diskPeers = []diskPeer{
	{1, "uringd callbacks, QD1", true, uringdDisk(disk.ModeCallbacks, 1)},
	{1, "fio io_uring, QD1", false, fioDisk("io_uring", 1, 1)},
	{1, "fio libaio, QD1", false, fioDisk("libaio", 1, 1)},
	{1, "fio psync, 1 job", false, fioDisk("psync", 1, 1)},
	{32, "uringd callbacks, QD32", true, uringdDisk(disk.ModeCallbacks, 32)},
	{32, "uringd blocking ReadAt, 32 goroutines", false, uringdDisk(disk.ModeBlocking, 32)},
	{32, "fio io_uring, QD32", false, fioDisk("io_uring", 32, 1)},
	{32, "fio libaio, QD32", false, fioDisk("libaio", 32, 1)},
	{32, "fio psync, 32 jobs", false, fioDisk("psync", 1, 32)},
	{128, "uringd callbacks, QD128", true, uringdDisk(disk.ModeCallbacks, 128)},
	{128, "fio io_uring, QD128", false, fioDisk("io_uring", 128, 1)},
	{128, "fio libaio, QD128", false, fioDisk("libaio", 128, 1)},
}

// diskRest is the pause before each disk run: this VM's virtual disk
// throttles under sustained random reads (fio alone fell to a few
// hundred IOPS in one earlier run), and a rested disk makes the rounds
// comparable.
func (r *Runner) diskRest() time.Duration {
	if r.opt.Quick {
		return 0
	}
	return 3 * time.Second
}

func (r *Runner) disk() (*report.Table, error) {
	size := int64(1 << 30)
	name := "uringd-bench-direct-1g" // the file bench/sched's BenchmarkDirectRead4K uses too
	if r.opt.Quick {
		size, name = 64<<20, "uringd-bench-direct-64m"
	}
	file := filepath.Join(r.opt.Dir, name)
	directGroup := func(qd int) string { return fmt.Sprintf("O_DIRECT, QD %d, %d MiB file", qd, size>>20) }
	t := &report.Table{
		Title: "disk: 4 KiB random reads",
		Method: []string{
			fmt.Sprintf("everything %s (taskset), Go with GOMAXPROCS=1; the same file %s for every peer; %d rounds × %v, peers alternating", cpuNote(r.opt.ServerCPU), file, r.rounds(), r.opt.Duration),
			"uringd: `uringbench diskread`, one sched.Loop (LockOSThread, SubmitBatch 4); CPU from getrusage over the window. fio: `--direct=1 --rw=randread --bs=4k --time_based --group_reporting --output-format=json`, CPU = (usr_cpu+sys_cpu)% × job_runtime",
			fmt.Sprintf("a %v rest before every run: this VM's virtual disk throttles under sustained random reads", r.diskRest()),
			"page cache: bench/sched's BenchmarkPageCacheRead4K (64 MiB warm file), pinned likewise; cpu-ns/op from getrusage",
		},
		Metrics: []report.Metric{
			{Key: "iops", Label: "reads/s", Higher: true, Ratio: true, Chart: true},
			{Key: "cpu_us", Label: "CPU µs/read", Ratio: true, Chart: true},
		},
	}
	for _, p := range diskPeers {
		t.Row(directGroup(p.qd), p.label).Ref = p.ref
	}
	r.prog.Step("preparing %s (%d MiB)", file, size>>20)
	if wrote, err := disk.EnsureFile(file, size); err != nil {
		for _, p := range diskPeers {
			skip(t.Row(directGroup(p.qd), p.label), fmt.Errorf("test file: %w", err))
		}
	} else {
		if wrote {
			r.prog.Logf("wrote %s (%d MiB of random data; kept for later runs)", file, size>>20)
		}
		for round := range r.rounds() {
			for _, p := range rotate(diskPeers, round) {
				row := t.Row(directGroup(p.qd), p.label)
				if row.Status != "" {
					continue
				}
				r.prog.StepFor(r.diskRest()+r.opt.Duration, "%s · round %d/%d", p.label, round+1, r.rounds())
				time.Sleep(r.diskRest())
				run, err := p.run(r, file, size)
				if err != nil {
					if round == 0 {
						skip(row, err)
					} else {
						row.Note("round %d failed: %v", round+1, err)
					}
					continue
				}
				row.Add("iops", float64(run.ios)/run.secs)
				row.Add("cpu_us", run.cpuSec*1e6/float64(run.ios))
				if run.note != "" {
					row.Note("round %d %s", round+1, run.note)
				}
			}
		}
	}
	r.pageCache(t)
	for _, qd := range diskQDs {
		a, b := fmt.Sprintf("uringd callbacks, QD%d", qd), fmt.Sprintf("fio io_uring, QD%d", qd)
		t.Checks = append(t.Checks,
			ratioCheck(t, directGroup(qd), a, b, "iops", fmt.Sprintf("QD %d: uringd IOPS >= 0.95x fio io_uring", qd), 0.95, false),
			ratioCheck(t, directGroup(qd), a, b, "cpu_us", fmt.Sprintf("QD %d: uringd CPU/read <= 1.5x fio io_uring", qd), 1.5, true))
	}
	t.Checks = append(t.Checks,
		ratioCheck(t, pageCacheGroup, pageCachePeers["impl=uringd-blocking/goroutines=32"], pageCachePeers["impl=os.File.ReadAt/goroutines=32"], "iops",
			"page cache: uringd blocking (32 goroutines) >= 2x os.File.ReadAt (32 goroutines)", 2, false),
		ratioCheck(t, pageCacheGroup, pageCachePeers["impl=uringd-callbacks/qd=32"], pageCachePeers["impl=os.File.ReadAt/goroutines=32"], "iops",
			"page cache: uringd callbacks (QD32) >= 2x os.File.ReadAt (32 goroutines)", 2, false))
	return t, nil
}

const pageCacheGroup = "page cache, 64 MiB file"

// pageCachePeers names bench/sched's sub-benchmarks.
var pageCachePeers = map[string]string{
	"impl=uringd-blocking/goroutines=32": "uringd blocking ReadAt, 32 goroutines",
	"impl=uringd-callbacks/qd=32":        "uringd callbacks, QD32",
	"impl=os.File.ReadAt/goroutines=32":  "os.File.ReadAt, 32 goroutines",
}

// benchTime is the -benchtime for go test benchmarks in the suite.
func (r *Runner) benchTime() time.Duration {
	return min(max(r.opt.Duration/5, 100*time.Millisecond), time.Second)
}

func (r *Runner) pageCache(t *report.Table) {
	order := []string{"impl=uringd-blocking/goroutines=32", "impl=uringd-callbacks/qd=32", "impl=os.File.ReadAt/goroutines=32"}
	for i, k := range order {
		t.Row(pageCacheGroup, pageCachePeers[k]).Ref = i == 0
	}
	fail := func(err error) {
		for _, k := range order {
			skip(t.Row(pageCacheGroup, pageCachePeers[k]), err)
		}
	}
	bin, err := r.testBinary("sched")
	if err != nil {
		fail(err)
		return
	}
	r.prog.StepFor(time.Duration(r.rounds())*3*2*r.benchTime(), "page cache: go test -bench PageCacheRead4K")
	out, err := runPinned(r.opt.ServerCPU, 10*time.Minute, gomaxprocs1, bin, "-test.run", "^$",
		"-test.bench", "^BenchmarkPageCacheRead4K$", "-test.benchtime", r.benchTime().String(),
		"-test.count", strconv.Itoa(r.rounds()), "-test.benchmem")
	if err != nil {
		fail(err)
		return
	}
	for _, bl := range peers.ParseBench(string(out)) {
		sub := strings.TrimPrefix(bl.Name, "PageCacheRead4K/")
		label, ok := pageCachePeers[sub]
		if !ok || bl.Metrics["ns/op"] == 0 {
			continue
		}
		row := t.Row(pageCacheGroup, label)
		row.Add("iops", 1e9/bl.Metrics["ns/op"])
		if c, ok := bl.Metrics["cpu-ns/op"]; ok {
			row.Add("cpu_us", c/1e3)
		}
	}
	for _, k := range order {
		if row := t.Row(pageCacheGroup, pageCachePeers[k]); !row.Measured() && row.Status == "" {
			row.Status = "skipped: no result line in go test output"
		}
	}
}
