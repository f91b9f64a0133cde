package suite

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uringd/uringd/bench/internal/disk"
	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/report"
)

// staticFiles are the static scenario's single-file groups.
var staticFiles = []struct {
	name, label string
	size        int
}{
	{"1k.bin", "1 KiB", 1 << 10},
	{"64k.bin", "64 KiB", 64 << 10},
	{"10m.bin", "10 MiB", 10 << 20},
}

var (
	// staticPeers serve the single-file groups.
	staticPeers = []httpPeer{uringdHTTP, uringdNetHTTP, nginxHTTP, netHTTP, fastHTTP, nodeHTTP}
	// bigStaticPeers serve the 1,000-file mix and the streams: uringd's
	// native FileServer and one file server of each other kind.
	bigStaticPeers = []httpPeer{uringdHTTP, nginxHTTP, netHTTP, fastHTTP, nodeHTTP}
)

// The 1,000-file mix: sizes log-uniform between mixMin and mixMax.
const (
	mixCount  = 1000
	mixMin    = 1 << 10
	mixMax    = 1 << 20
	mixSeed   = 0x6d6978 // "mix": file sizes and contents
	luaSeed   = 20250101 // wrk's per-thread generator: luaSeed + thread index
	mixVerify = 16       // files checked by SHA-256 on each peer before measuring
	mixDir    = "mix"
)

// mixFile is one file of the mix, under the static root.
type mixFile struct {
	name string // "mix/0042.bin"
	size int
}

// mixFiles returns n files whose sizes are drawn log-uniformly from
// [lo, hi] with seed: as many between 1 and 2 KiB as between 512 KiB
// and 1 MiB. The same arguments give the same files.
func mixFiles(n, lo, hi int, seed uint64) []mixFile {
	rng := rand.New(rand.NewPCG(seed, 1))
	lnLo, lnHi := math.Log(float64(lo)), math.Log(float64(hi))
	files := make([]mixFile, n)
	for i := range files {
		size := int(math.Round(math.Exp(lnLo + rng.Float64()*(lnHi-lnLo))))
		files[i] = mixFile{name: fmt.Sprintf("%s/%04d.bin", mixDir, i), size: min(max(size, lo), hi)}
	}
	return files
}

// mixSample picks k files to verify: the smallest, the largest, and the
// rest spread evenly over the list.
func mixSample(files []mixFile, k int) []int {
	if len(files) == 0 || k <= 0 {
		return nil
	}
	lo, hi := 0, 0
	for i, f := range files {
		if f.size < files[lo].size {
			lo = i
		}
		if f.size > files[hi].size {
			hi = i
		}
	}
	out := []int{lo}
	if hi != lo {
		out = append(out, hi)
	}
	for j := 0; len(out) < min(k, len(files)); j++ {
		i := j * len(files) / k % len(files)
		if !slices.Contains(out, i) {
			out = append(out, i)
		} else if j > 2*len(files) {
			break
		}
	}
	return out
}

// fileData is the content of file i of the mix: ChaCha8 from seed and i,
// so every file differs from every other.
func fileData(seed uint64, i, size int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	b := make([]byte, size)
	_, _ = rand.NewChaCha8(key).Read(b)
	return b
}

// thousands prints n with comma separators ("1,000").
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// mixPaths are the URL paths of files.
func mixPaths(files []mixFile) []string {
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = "/static/" + f.name
	}
	return paths
}

// staticRoot writes the static files once (world-readable, for nginx's
// unprivileged worker).
func (r *Runner) staticRoot() (string, error) {
	r.staticOnce.Do(func() {
		dir := filepath.Join(r.tmp, "static")
		if r.staticErr = os.MkdirAll(dir, 0o755); r.staticErr != nil {
			return
		}
		_ = os.Chmod(r.tmp, 0o755)
		for i, f := range staticFiles {
			b := bytes.Repeat([]byte{byte('a' + i)}, f.size)
			for j := range b {
				b[j] = byte(j*7 + i)
			}
			if r.staticErr = os.WriteFile(filepath.Join(dir, f.name), b, 0o644); r.staticErr != nil {
				return
			}
		}
		r.staticDir = dir
	})
	return r.staticDir, r.staticErr
}

// writeMix writes the mix's files under root (once per run: the root is
// the run's scratch directory).
func writeMix(root string, files []mixFile) error {
	if err := os.MkdirAll(filepath.Join(root, mixDir), 0o755); err != nil {
		return err
	}
	for i, f := range files {
		if err := os.WriteFile(filepath.Join(root, f.name), fileData(mixSeed, i, f.size), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// The 256 video-like streams.
const (
	streamConns       = 256
	streamRange       = 1 << 20
	streamCount       = 4
	streamVerifyEvery = 64
	streamSeed        = 0x73747265616d // "stream": offsets; files get seeds 1..4
)

// streamSize is the size of each stream file: 256 MiB, 16 MiB with -quick.
func (r *Runner) streamSize() int64 {
	if r.opt.Quick {
		return 16 << 20
	}
	return 256 << 20
}

// streamFiles makes the stream files in -dir once (random data, really
// written; kept for later runs and rewritten only when a size is wrong or
// a file is sparse) and returns their directory and names.
func (r *Runner) streamFiles() (string, []string, error) {
	size := r.streamSize()
	dir := filepath.Join(r.opt.Dir, "uringbench-streams")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	_ = os.Chmod(dir, 0o755) // nginx's worker reads them
	var names []string
	for i := range streamCount {
		name := fmt.Sprintf("video%d-%dm.bin", i, size>>20)
		path := filepath.Join(dir, name)
		r.prog.Step("preparing %s (%d MiB)", path, size>>20)
		wrote, err := disk.EnsureFileSeed(path, size, uint64(i+1))
		if err != nil {
			return "", nil, err
		}
		if wrote {
			r.prog.Logf("wrote %s (%d MiB of random data; kept for later runs)", path, size>>20)
		}
		_ = os.Chmod(path, 0o644)
		names = append(names, name)
	}
	return dir, names, nil
}

// readThrough reads files once so every peer starts from a warm page
// cache.
func readThrough(dir string, names []string) error {
	buf := make([]byte, 4<<20)
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			return err
		}
		_, err = io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *Runner) static() (*report.Table, error) {
	files := mixFiles(mixCount, mixMin, mixMax, mixSeed)
	mixTotal := 0
	for _, f := range files {
		mixTotal += f.size
	}
	mixGroup := fmt.Sprintf("%s-file mix, 1 KiB–1 MiB", thousands(mixCount))
	streamGroup := fmt.Sprintf("%d video-like streams, 1 MiB ranges of %d × %d MiB", streamConns, streamCount, r.streamSize()>>20)
	t := &report.Table{
		Title: "static files",
		Method: append(r.httpMethod(""),
			"nginx: `sendfile on`; uringd: httpd.FileServer (native handler: open, statx and splice on the loop; net/http adapter: its HTTPHandler); net/http: http.FileServer; fasthttp: fasthttp.FS; node: fs.stat + fs.createReadStream().pipe(res) (with one Range)",
			fmt.Sprintf("%s: %d files (%d MiB in all) of log-uniform sizes from 1 KiB to 1 MiB (seed %#x), written once into the root; wrk with a Lua script asking for a random one per request (seed %d + thread); %d files checked by SHA-256 on each peer first; MiB/s and CPU/MiB from the bytes wrk read (heads included)",
				mixGroup, mixCount, mixTotal>>20, mixSeed, luaSeed, mixVerify),
			fmt.Sprintf("%s: a Go client (`uringbench load ranges`, GOMAXPROCS=1, %s) keeps %d keep-alive connections each asking for `Range: bytes=START-END`, 1 MiB at a random 1 MiB-aligned offset of one of %d files of real random data in -dir; TTFB = request written → first byte of the response head, latency = → last body byte (GOMAXPROCS=1 client: its scheduling is included); every response's status 206, Content-Range and length checked, each connection's first body and every %dth body compared by SHA-256 with the file; warm-up in every round; CPU/MiB = server CPU ÷ body MiB",
				streamGroup, cpuNote(r.opt.LoadCPU), streamConns, streamCount, streamVerifyEvery)),
		Metrics: []report.Metric{
			{Key: "rps", Label: "req/s", Higher: true, Ratio: true, Chart: true},
			{Key: "mibs", Label: "MiB/s", Higher: true},
			{Key: "cpu_us", Label: "server CPU µs/req", Ratio: true, Chart: true},
			{Key: "cpu_us_mib", Label: "server CPU µs/MiB"},
			{Key: "p99_ms", Label: "p99 latency ms"},
			{Key: "ttfb_p50_ms", Label: "TTFB p50 ms"},
			{Key: "ttfb_p99_ms", Label: "TTFB p99 ms", Ratio: true},
		},
	}
	root, err := r.staticRoot()
	if err != nil {
		return t, err
	}
	rowsFor := func(p httpPeer) []*report.Row {
		var rows []*report.Row
		if slices.ContainsFunc(staticPeers, func(q httpPeer) bool { return q.label == p.label }) {
			for _, f := range staticFiles {
				rows = append(rows, t.Row(f.label, p.label))
			}
		}
		if slices.ContainsFunc(bigStaticPeers, func(q httpPeer) bool { return q.label == p.label }) {
			rows = append(rows, t.Row(mixGroup, p.label))
		}
		return rows
	}
	streamRows := func(p httpPeer) []*report.Row { return []*report.Row{t.Row(streamGroup, p.label)} }
	list := slices.Clone(staticPeers)
	if _, err := wrkPath(); err != nil {
		for _, p := range list {
			for _, row := range rowsFor(p) {
				row.Ref = p.ref
				skip(row, err)
			}
		}
	} else {
		r.prog.Step("writing the %d-file mix (%d MiB)", mixCount, mixTotal>>20)
		if err := writeMix(root, files); err != nil {
			return t, err
		}
		if err := r.staticWrk(t, root, rowsFor, files, mixGroup); err != nil {
			return t, err
		}
	}
	// The streams need 256 MiB × 4 of real data in -dir: their own servers.
	r.streams(t, streamGroup, streamRows)
	return t, nil
}

// staticWrk measures the single-file groups and the mix with wrk.
func (r *Runner) staticWrk(t *report.Table, root string, rowsFor func(httpPeer) []*report.Row, files []mixFile, mixGroup string) error {
	live := r.startHTTPPeers(staticPeers, root, rowsFor)
	defer func() {
		for _, s := range live {
			s.child.Stop()
		}
	}()
	type target struct {
		s     *liveServer
		group string
	}
	var ok []target
	inBig := func(s *liveServer) bool {
		return slices.ContainsFunc(bigStaticPeers, func(q httpPeer) bool { return q.label == s.peer.label })
	}
	for _, s := range live {
		for _, f := range staticFiles {
			want, err := os.ReadFile(filepath.Join(root, f.name))
			if err != nil {
				return err
			}
			if err := verifyFile("http://"+s.addr+"/static/"+f.name, want); err != nil {
				skip(t.Row(f.label, s.peer.label), fmt.Errorf("wrong response: %w", err))
				continue
			}
			ok = append(ok, target{s, f.label})
		}
		if !inBig(s) {
			continue
		}
		var bad error
		for _, i := range mixSample(files, mixVerify) {
			if bad = verifyFile("http://"+s.addr+"/static/"+files[i].name, fileData(mixSeed, i, files[i].size)); bad != nil {
				break
			}
		}
		if bad != nil {
			skip(t.Row(mixGroup, s.peer.label), fmt.Errorf("wrong response: %w", bad))
			continue
		}
		ok = append(ok, target{s, mixGroup})
	}
	script := filepath.Join(r.tmp, "mix.lua")
	if err := os.WriteFile(script, []byte(peers.MixLua(mixPaths(files), luaSeed)), 0o644); err != nil {
		return err
	}
	groups := []string{}
	for _, f := range staticFiles {
		groups = append(groups, f.label)
	}
	groups = append(groups, mixGroup)
	warmed := map[string]bool{}
	for round := range r.rounds() {
		for gi, g := range groups {
			var group []target
			for _, tg := range ok {
				if tg.group == g {
					group = append(group, tg)
				}
			}
			url, lua, size := "", "", wrkBytesRead
			for _, tg := range rotate(group, round) {
				if g == mixGroup {
					url, lua = "http://"+tg.s.addr+"/", script
				} else {
					url, size = "http://"+tg.s.addr+"/static/"+staticFiles[gi].name, staticFiles[gi].size
				}
				row := t.Row(g, tg.s.peer.label)
				// One warm-up per server, and one more for the mix (its
				// 1,000 files are new to every server's caches).
				if key := tg.s.peer.label + "\x00" + strconv.FormatBool(g == mixGroup); !warmed[key] {
					warmed[key] = true
					r.prog.StepFor(time.Second, "%s %s · warm-up", tg.s.peer.label, g)
					_, _ = r.wrk(tg.s.child, url, time.Second, lua)
				}
				r.prog.StepFor(wrkDuration(r.opt.Duration), "%s %s · round %d/%d", tg.s.peer.label, g, round+1, r.rounds())
				w, err := r.wrk(tg.s.child, url, r.opt.Duration, lua)
				if err != nil {
					row.Note("round %d failed: %v", round+1, err)
					continue
				}
				record(row, w, size)
			}
		}
	}
	return nil
}

// verifyFile fetches url once and compares its body with want by SHA-256.
func verifyFile(url string, want []byte) error {
	sum := sha256.Sum256(want)
	return verifyGET(url, func(b []byte) error {
		if sha256.Sum256(b) != sum {
			return fmt.Errorf("%d bytes that differ from the %d-byte file", len(b), len(want))
		}
		return nil
	})
}

// verifyRange asks url for bytes first..last and checks the 206, its
// Content-Range and the bytes against file.
func verifyRange(url, file string, first, last int64) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	want := make([]byte, last-first+1)
	if _, err := f.ReadAt(want, first); err != nil {
		return err
	}
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", first, last))
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if cr, wantCR := resp.Header.Get("Content-Range"), load.ContentRange(first, last, st.Size()); resp.StatusCode != 206 || cr != wantCR {
		return fmt.Errorf("GET %s %s: status %d, Content-Range %q (want 206, %q)", url, req.Header.Get("Range"), resp.StatusCode, cr, wantCR)
	}
	if sha256.Sum256(body) != sha256.Sum256(want) {
		return fmt.Errorf("GET %s %s: %d bytes that differ from the file's", url, req.Header.Get("Range"), len(body))
	}
	return nil
}

// streams measures the video-like streams: each peer serves the stream
// directory, checked with a few ranges first, then rounds of the range
// client, peers alternating.
func (r *Runner) streams(t *report.Table, group string, rowsFor func(httpPeer) []*report.Row) {
	dir, names, err := r.streamFiles()
	if err == nil {
		r.prog.Step("reading the stream files into the page cache")
		err = readThrough(dir, names)
	}
	if err != nil {
		for _, p := range bigStaticPeers {
			for _, row := range rowsFor(p) {
				row.Ref = p.ref
				skip(row, fmt.Errorf("stream files: %w", err))
			}
		}
		return
	}
	live := r.startHTTPPeers(bigStaticPeers, dir, rowsFor)
	defer func() {
		for _, s := range live {
			s.child.Stop()
		}
	}()
	var ok []*liveServer
	size := r.streamSize()
	for _, s := range live {
		var bad error
		for _, n := range names {
			for _, first := range []int64{0, size - streamRange} {
				if bad = verifyRange("http://"+s.addr+"/static/"+n, filepath.Join(dir, n), first, first+streamRange-1); bad != nil {
					break
				}
			}
			if bad != nil {
				break
			}
		}
		if bad != nil {
			skip(t.Row(group, s.peer.label), fmt.Errorf("wrong response: %w", bad))
			continue
		}
		ok = append(ok, s)
	}
	for round := range r.rounds() {
		warmup := min(time.Second, max(r.opt.Duration/4, 250*time.Millisecond))
		if round == 0 {
			warmup = time.Second
		}
		for _, s := range rotate(ok, round) {
			row := t.Row(group, s.peer.label)
			r.prog.StepFor(warmup+r.opt.Duration, "%s streams · round %d/%d", s.peer.label, round+1, r.rounds())
			res, cpu, err := r.streamsOnce(s.child, s.addr, dir, names, warmup, uint64(round))
			if err != nil {
				row.Note("round %d failed: %v", round+1, err)
				continue
			}
			if res.Bad > 0 {
				row.Note("round %d not counted: %d responses failed their checks (first: %s)", round+1, res.Bad, res.FirstErr)
				continue
			}
			if res.Errors > 0 {
				row.Note("round %d: %d connection errors (first: %s)", round+1, res.Errors, res.FirstErr)
			}
			recordStreams(row, res, cpu)
		}
	}
}

// recordStreams adds one range-client window to row.
func recordStreams(row *report.Row, res load.RangeResult, cpu time.Duration) {
	mib := float64(res.Bytes) / (1 << 20)
	row.Add("rps", float64(res.Requests)/res.Seconds)
	row.Add("mibs", mib/res.Seconds)
	row.Add("cpu_us", cpu.Seconds()*1e6/float64(res.Requests))
	row.Add("cpu_us_mib", cpu.Seconds()*1e6/mib)
	row.Add("p99_ms", res.Latency.P99/1e3)
	row.Add("ttfb_p50_ms", res.TTFB.P50/1e3)
	row.Add("ttfb_p99_ms", res.TTFB.P99/1e3)
}

// streamsOnce runs the range client once against a server child, pinned
// to the load CPU, and returns its result and the server's CPU time in
// the measured window.
func (r *Runner) streamsOnce(server *Child, addr, dir string, names []string, warmup time.Duration, round uint64) (load.RangeResult, time.Duration, error) {
	var res load.RangeResult
	cpu, err := clientWindow(ChildSpec{Name: "range client", CPU: r.opt.LoadCPU, Env: gomaxprocs1, Argv: []string{
		r.opt.Exe, "load", "ranges", "-addr", addr, "-conns", strconv.Itoa(streamConns),
		"-dir", dir, "-files", strings.Join(names, ","), "-prefix", "/static/", "-range", strconv.Itoa(streamRange),
		"-warmup", warmup.String(), "-duration", r.opt.Duration.String(),
		"-seed", strconv.FormatUint(streamSeed+round, 10), "-verify-every", strconv.Itoa(streamVerifyEvery)}},
		server, warmup, r.opt.Duration, 60*time.Second, &res)
	if err != nil {
		return res, 0, err
	}
	if res.Requests == 0 || res.Seconds <= 0 {
		return res, 0, errors.New("range client completed no requests")
	}
	return res, cpu, nil
}
