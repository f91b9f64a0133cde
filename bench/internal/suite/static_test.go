package suite

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/uringd/uringd/bench/internal/load"
	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/report"
)

func TestMixFiles(t *testing.T) {
	files := mixFiles(mixCount, mixMin, mixMax, mixSeed)
	if len(files) != mixCount {
		t.Fatalf("%d files", len(files))
	}
	names := map[string]bool{}
	// Log-uniform: each of the ten doublings from 1 KiB to 1 MiB holds
	// about a tenth of the files.
	var perOctave [10]int
	for _, f := range files {
		if f.size < mixMin || f.size > mixMax {
			t.Fatalf("%s: %d bytes, outside [1 KiB, 1 MiB]", f.name, f.size)
		}
		if !strings.HasPrefix(f.name, mixDir+"/") || names[f.name] {
			t.Fatalf("bad or repeated name %q", f.name)
		}
		names[f.name] = true
		perOctave[min(int(math.Log2(float64(f.size)/mixMin)), 9)]++
	}
	for i, n := range perOctave {
		if n < mixCount/10/2 || n > mixCount/10*2 {
			t.Errorf("%d files between %d and %d KiB, want about %d: %v", n, 1<<i, 2<<i, mixCount/10, perOctave)
		}
	}
	if !slices.Equal(files, mixFiles(mixCount, mixMin, mixMax, mixSeed)) {
		t.Fatal("not deterministic")
	}
	if slices.Equal(files, mixFiles(mixCount, mixMin, mixMax, mixSeed+1)) {
		t.Fatal("the seed changes nothing")
	}
	paths := mixPaths(files)
	if len(paths) != mixCount || paths[42] != "/static/mix/0042.bin" {
		t.Fatalf("paths %v…", paths[:3])
	}
	// The script wrk runs asks for exactly these paths.
	lua := peers.MixLua(paths, luaSeed)
	for _, p := range []string{paths[0], paths[999]} {
		if !strings.Contains(lua, `"`+p+`"`) {
			t.Fatalf("script lacks %s", p)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestMixSample(t *testing.T) {
	files := mixFiles(mixCount, mixMin, mixMax, mixSeed)
	s := mixSample(files, mixVerify)
	if len(s) != mixVerify {
		t.Fatalf("%d files sampled: %v", len(s), s)
	}
	sizes := make([]int, len(files))
	for i, f := range files {
		sizes[i] = f.size
	}
	if files[s[0]].size != slices.Min(sizes) || files[s[1]].size != slices.Max(sizes) {
		t.Fatalf("sample %v lacks the smallest or the largest file", s)
	}
	seen := map[int]bool{}
	for _, i := range s {
		if seen[i] || i < 0 || i >= len(files) {
			t.Fatalf("sample %v: bad or repeated index %d", s, i)
		}
		seen[i] = true
	}
	if got := mixSample(files[:3], 16); len(got) != 3 {
		t.Fatalf("3 files, sample %v", got)
	}
	if mixSample(nil, 4) != nil {
		t.Fatal("sampled from nothing")
	}
}

func TestFileData(t *testing.T) {
	a, b := fileData(mixSeed, 1, 4096), fileData(mixSeed, 2, 4096)
	if len(a) != 4096 || bytes.Equal(a, b) || !bytes.Equal(a, fileData(mixSeed, 1, 4096)) {
		t.Fatal("file contents must be distinct per file and deterministic")
	}
	if !bytes.Equal(fileData(mixSeed, 1, 100), a[:100]) {
		t.Fatal("a file's content must not depend on its size beyond its length")
	}
}

func TestRecordBytes(t *testing.T) {
	w := wrkRun{CPU: 2 * time.Second}
	w.Requests, w.Seconds, w.RPS, w.P99, w.BytesRead = 1000, 2, 500, 1500, 4<<20
	row := &report.Row{}
	record(row, w, noBytes)
	if len(row.Values["mibs"]) != 0 || len(row.Values["cpu_us_mib"]) != 0 || row.Values["cpu_us"][0] != 2000 || row.Values["p99_ms"][0] != 1.5 {
		t.Fatalf("noBytes: %v", row.Values)
	}
	row = &report.Row{}
	record(row, w, 1<<20) // 500 req/s of 1 MiB for 2 s: 1000 MiB
	if row.Values["mibs"][0] != 500 || row.Values["cpu_us_mib"][0] != 2000 {
		t.Fatalf("fixed size: %v", row.Values)
	}
	row = &report.Row{}
	record(row, w, wrkBytesRead) // 4 MiB in 2 s
	if row.Values["mibs"][0] != 2 || row.Values["cpu_us_mib"][0] != 5e5 {
		t.Fatalf("wrk's bytes: %v", row.Values)
	}
}

func TestRecordStreams(t *testing.T) {
	res := load.RangeResult{Requests: 400, Bytes: 400 << 20, Seconds: 2,
		TTFB: load.RTTResult{P50: 250, P99: 4000}, Latency: load.RTTResult{P99: 90000}}
	row := &report.Row{}
	recordStreams(row, res, time.Second)
	want := map[string]float64{"rps": 200, "mibs": 200, "cpu_us": 2500, "cpu_us_mib": 2500, "p99_ms": 90, "ttfb_p50_ms": 0.25, "ttfb_p99_ms": 4}
	for k, v := range want {
		if got := row.Values[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
}

// TestStaticPeers: the mix and the streams run uringd's native
// FileServer (the ratio reference) and every other kind of file server
// the single-file groups do.
func TestStaticPeers(t *testing.T) {
	if !bigStaticPeers[0].ref || bigStaticPeers[0].label != uringdHTTP.label {
		t.Fatal("uringd native must lead the mix and the streams as the reference")
	}
	for _, p := range bigStaticPeers {
		if !slices.ContainsFunc(staticPeers, func(q httpPeer) bool { return q.label == p.label }) {
			t.Errorf("%s is in the mix but not the single-file groups", p.label)
		}
	}
	for _, p := range idlePeers {
		if p.label == uringdHTTP.label && (p.pending != "" || p.start == nil) {
			t.Fatal("uringd's idle HTTP row is still a placeholder")
		}
	}
}
