package site

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/stats"
)

// fakeStats answers the stats endpoint with counters that grow on every
// request, as a busy uringd's would: two loops, a busy offload pool.
type fakeStats struct {
	mu    sync.Mutex
	calls int
	start time.Time
}

func (f *fakeStats) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	n := uint64(f.calls)
	f.mu.Unlock()
	snap := stats.Snapshot{
		Version:       stats.Version,
		UnixMilli:     f.start.UnixMilli() + int64(n)*1000,
		UptimeSeconds: float64(n),
		ServerVersion: "uringd (fake stats)",
		Connections:   stats.Connections{Open: 12, Accepted: 40 * n},
		Loops: []stats.Loop{
			{ID: 0, Requests: 1500 * n, BytesIn: 90_000 * n, BytesOut: 3_000_000 * n, Connections: 7, Lag: stats.Lag{P50: 8, P99: 64, Max: 250}},
			{ID: 1, Requests: 1200 * n, BytesIn: 70_000 * n, BytesOut: 2_500_000 * n, Connections: 5, Lag: stats.Lag{P50: 16, P99: 128, Max: 900}},
		},
		Offload: stats.Offload{
			QueueDepth: int(n % 7), Running: 1, Completed: 30 * n,
			Classes: []stats.OffloadClass{
				{Name: "cpu", QueueDepth: int(n % 5), QueueCap: 1024, Running: 1, Completed: 25 * n, WaitP99: 512},
				{Name: "blocking", QueueDepth: int(n % 3), QueueCap: 1024, Completed: 5 * n, WaitP99: 64},
			},
		},
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(snap)
}

// demoServer serves the embedded site at / and the fake stats endpoint
// where status.html looks for it.
func demoServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/.uringd/stats", &fakeStats{start: time.Now()})
	mux.Handle("/", http.FileServerFS(Files))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
