// Package stats defines the JSON document served at /.uringd/stats
// (config key stats.path), which the demo site's status page polls once a
// second.
//
// Counters are totals since the start (they only grow), so that a client
// computes rates from two samples and a missed poll loses nothing; gauges
// (connections, queue depth) and lag percentiles describe the moment or
// the interval since the previous snapshot the server took.
//
// The schema is versioned: fields may be added under the same Version,
// never renamed or removed.
package stats

// Version is the schema version a Snapshot carries.
const Version = 1

// Snapshot is one answer of the stats endpoint.
type Snapshot struct {
	// Version is the schema version (Version).
	Version int `json:"version"`
	// UnixMilli is when the snapshot was taken, in milliseconds since the
	// Unix epoch; clients divide counter differences by its difference.
	UnixMilli int64 `json:"unix_ms"`
	// UptimeSeconds is the time since the daemon started.
	UptimeSeconds float64 `json:"uptime_s"`
	// ServerVersion is the daemon's version string.
	ServerVersion string `json:"server_version"`
	// Connections are totals over all loops.
	Connections Connections `json:"connections"`
	// Loops has one entry per event loop, in loop order.
	Loops []Loop `json:"loops"`
	// Offload is the worker pool shared by the loops.
	Offload Offload `json:"offload"`
}

// Connections counts client connections.
type Connections struct {
	// Open is the number open now.
	Open int64 `json:"open"`
	// Accepted is the total accepted since the start.
	Accepted uint64 `json:"accepted_total"`
	// Refused is the total closed at once because of limits.max_conns.
	Refused uint64 `json:"refused_total"`
}

// Loop is one event loop's counters.
type Loop struct {
	// ID is the loop's index, from 0.
	ID int `json:"id"`
	// Requests is the total of requests answered.
	Requests uint64 `json:"requests_total"`
	// BytesIn and BytesOut are totals received and sent on the loop's
	// connections, headers included.
	BytesIn  uint64 `json:"bytes_in_total"`
	BytesOut uint64 `json:"bytes_out_total"`
	// Connections is the number of connections open on this loop now.
	Connections int64 `json:"connections"`
	// Lag is how late the loop ran callbacks after their completions
	// arrived, over the interval since the previous snapshot.
	Lag Lag `json:"lag_us"`
}

// Lag holds latency percentiles in microseconds. With power-of-two
// histograms behind them, each is the upper bound of its bucket.
type Lag struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Offload is the worker pool's state.
type Offload struct {
	// QueueDepth is the number of jobs waiting now, all classes together.
	QueueDepth int `json:"queue_depth"`
	// Running is the number of jobs running now.
	Running int64 `json:"running"`
	// Completed is the total of jobs that ran.
	Completed uint64 `json:"completed_total"`
	// Rejected is the total refused because a queue was full.
	Rejected uint64 `json:"rejected_total"`
	// Classes has the same numbers per work class ("cpu", "blocking").
	Classes []OffloadClass `json:"classes"`
}

// OffloadClass is one work class of the pool.
type OffloadClass struct {
	Name       string  `json:"name"`
	QueueDepth int     `json:"queue_depth"`
	QueueCap   int     `json:"queue_cap"`
	Running    int64   `json:"running"`
	Completed  uint64  `json:"completed_total"`
	Rejected   uint64  `json:"rejected_total"`
	WaitP99    float64 `json:"wait_p99_us"` // time from submission to start, microseconds
}
