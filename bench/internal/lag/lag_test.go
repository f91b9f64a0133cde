package lag

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/uringd/uringd/bench/internal/load"
)

// TestRun runs every mode briefly with small jobs: the timer fires, echo
// round trips complete through the loop's echo server, and jobs run.
func TestRun(t *testing.T) {
	probe := func(addr string, d time.Duration) (load.RTTResult, error) {
		return load.RTT(addr, time.Millisecond, d, 64)
	}
	for _, c := range []struct {
		mode    string
		workers int
	}{{ModeIdle, 0}, {ModeOffload, 0}, {ModeOffload, 1}, {ModeInline, 0}} {
		res, err := Run(Config{Mode: c.mode, Workers: c.workers, Duration: 150 * time.Millisecond, Warmup: 20 * time.Millisecond, JobSize: 64 << 10, Probe: probe})
		if err != nil {
			if os.Getenv("URINGD_REQUIRE_IOURING") == "" && strings.Contains(err.Error(), "io_uring") {
				t.Skipf("io_uring unavailable: %v", err)
			}
			t.Fatalf("%s: %v", c.mode, err)
		}
		// Counts only: a saturated pool delays ticks and echoes by ~10 ms
		// each (that is what the scenario measures).
		if res.Timer.N < 3 || res.Echo.N < 1 {
			t.Fatalf("%s: %d ticks, %d echoes", c.mode, res.Timer.N, res.Echo.N)
		}
		if c.mode != ModeIdle && (res.Jobs == 0 || res.CompressedB == 0 || res.CompressedB >= 64<<10) {
			t.Fatalf("%s: %d jobs, %d compressed bytes", c.mode, res.Jobs, res.CompressedB)
		}
		if c.mode == ModeOffload && c.workers == 1 && res.Workers != 1 {
			t.Fatalf("workers %d", res.Workers)
		}
	}
	if _, err := Run(Config{Mode: "sideways"}); err == nil {
		t.Fatal("unknown mode accepted")
	}
}

func TestData(t *testing.T) {
	d := Data(1 << 16)
	if len(d) != 1<<16 || !strings.Contains(string(d), "uringd") {
		t.Fatalf("%d bytes", len(d))
	}
}
