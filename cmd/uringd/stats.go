package main

import (
	"encoding/json"
	"math"
	"time"

	"github.com/uringd/uringd/cmd/uringd/internal/stats"
	"github.com/uringd/uringd/httpd"
	"github.com/uringd/uringd/offload"
	"github.com/uringd/uringd/sched"
)

// snapshot gathers the stats the status page draws (cmd/uringd/internal/
// stats documents the schema).
func (d *daemon) snapshot() stats.Snapshot {
	now := time.Now()
	st := d.srv.Stats()
	snap := stats.Snapshot{
		Version:       stats.Version,
		UnixMilli:     now.UnixMilli(),
		UptimeSeconds: now.Sub(d.start).Seconds(),
		ServerVersion: versionString(),
		Connections:   stats.Connections{Open: st.Open, Accepted: st.Accepted, Refused: st.Refused},
	}
	loopStats := d.srv.LoopStats()
	for i := range d.group.Len() {
		m := d.group.Loop(i).Metrics()
		l := stats.Loop{ID: i, Lag: lagOf(&m)}
		if i < len(loopStats) {
			ls := &loopStats[i]
			l.Requests, l.BytesIn, l.BytesOut, l.Connections = ls.Requests, ls.BytesIn, ls.BytesSent, ls.Conns
		}
		snap.Loops = append(snap.Loops, l)
	}
	pm := d.pool.Metrics()
	for c, name := range []string{"cpu", "blocking"} {
		cm := pm[offload.Class(c)]
		snap.Offload.QueueDepth += cm.QueueDepth
		snap.Offload.Running += cm.Running
		snap.Offload.Completed += cm.Completed
		snap.Offload.Rejected += cm.Rejected
		snap.Offload.Classes = append(snap.Offload.Classes, stats.OffloadClass{
			Name: name, QueueDepth: cm.QueueDepth, QueueCap: cm.QueueCap, Running: cm.Running,
			Completed: cm.Completed, Rejected: cm.Rejected, WaitP99: float64(cm.Wait.Quantile(0.99) / time.Microsecond),
		})
	}
	return snap
}

// lagOf reads a loop's callback-lag histogram (microsecond buckets).
func lagOf(m *sched.Metrics) stats.Lag {
	return stats.Lag{
		P50: percentile(m.CallbackLag[:], 0.50),
		P99: percentile(m.CallbackLag[:], 0.99),
		Max: float64(m.CallbackLagMax / time.Microsecond),
	}
}

// percentile estimates a quantile of a power-of-two histogram (bucket i
// holds [2^(i-1), 2^i)), taking a bucket's upper bound.
func percentile(h []uint64, q float64) float64 {
	var total uint64
	for _, n := range h {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range h {
		seen += n
		if seen >= rank {
			if i == 0 {
				return 0
			}
			return float64(uint64(1) << i)
		}
	}
	return float64(uint64(1) << (len(h) - 1))
}

// serveStats answers the JSON stats (on the loop: a few microseconds,
// polled once a second by the status page).
func (d *daemon) serveStats(w *httpd.Response) {
	b, err := json.Marshal(d.snapshot())
	if err != nil {
		w.SetStatus(500)
		return
	}
	w.Header("Content-Type", "application/json")
	w.Header("Cache-Control", "no-store")
	w.Write(b)
}
