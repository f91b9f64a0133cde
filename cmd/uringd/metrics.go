package main

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/uringd/uringd/offload"
)

// metricsMux serves the side listener: Prometheus /metrics, /healthz
// (the process is up), /readyz (serving, not shutting down), and the
// JSON stats.
func (d *daemon) metricsMux() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), &collector{d})
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if d.draining.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(d.snapshot())
	})
	return mux
}

// collector reads the counters of the loops, the server, the file
// servers and the offload pool at scrape time: nothing is counted twice
// and the hot paths pay nothing extra for Prometheus.
type collector struct{ d *daemon }

var (
	descRequests    = prometheus.NewDesc("uringd_http_requests_total", "HTTP responses by loop and status class.", []string{"loop", "class"}, nil)
	descBytes       = prometheus.NewDesc("uringd_http_response_body_bytes_total", "Response body bytes written by handlers, by loop: no status lines, header fields or chunk framing.", []string{"loop"}, nil)
	descWireIn      = prometheus.NewDesc("uringd_network_receive_bytes_total", "Bytes received on client connections, by loop.", []string{"loop"}, nil)
	descWireOut     = prometheus.NewDesc("uringd_network_transmit_bytes_total", "Bytes sent on client connections, by loop: heads, bodies and files spliced.", []string{"loop"}, nil)
	descLoopOpen    = prometheus.NewDesc("uringd_loop_connections_open", "Connections open, by loop.", []string{"loop"}, nil)
	descLatency     = prometheus.NewDesc("uringd_http_request_duration_seconds", "Time from a request's head to its response being queued.", []string{"loop"}, nil)
	descOpen        = prometheus.NewDesc("uringd_connections_open", "Open connections.", nil, nil)
	descAccepted    = prometheus.NewDesc("uringd_connections_accepted_total", "Connections accepted.", nil, nil)
	descRefused     = prometheus.NewDesc("uringd_connections_refused_total", "Connections refused (limit, shutdown).", nil, nil)
	descLag         = prometheus.NewDesc("uringd_loop_callback_lag_seconds", "Time a loop's batch of callbacks took to run: what the last completion of a batch waited.", []string{"loop"}, nil)
	descEnters      = prometheus.NewDesc("uringd_loop_io_uring_enter_total", "io_uring_enter system calls.", []string{"loop"}, nil)
	descSQEs        = prometheus.NewDesc("uringd_loop_sqes_total", "Submission queue entries handed to the kernel.", []string{"loop"}, nil)
	descCQEs        = prometheus.NewDesc("uringd_loop_cqes_total", "Completions reaped.", []string{"loop"}, nil)
	descOverflows   = prometheus.NewDesc("uringd_loop_cq_overflows_total", "Loop turns that found the completion queue overflowed.", []string{"loop"}, nil)
	descPanics      = prometheus.NewDesc("uringd_loop_callback_panics_total", "Callbacks that panicked (logged; the loop went on).", []string{"loop"}, nil)
	descOffDepth    = prometheus.NewDesc("uringd_offload_queue_depth", "Jobs waiting in the offload pool.", []string{"class"}, nil)
	descOffRunning  = prometheus.NewDesc("uringd_offload_running", "Jobs running.", []string{"class"}, nil)
	descOffDone     = prometheus.NewDesc("uringd_offload_jobs_total", "Jobs by outcome.", []string{"class", "outcome"}, nil)
	descCacheHits   = prometheus.NewDesc("uringd_file_cache_hits_total", "File requests served from a loop's open-file cache without a check.", []string{"mount"}, nil)
	descCacheMisses = prometheus.NewDesc("uringd_file_cache_misses_total", "File requests that opened the file.", []string{"mount"}, nil)
	descCacheReval  = prometheus.NewDesc("uringd_file_cache_revalidations_total", "Cached entries checked again before use.", []string{"mount"}, nil)
)

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descBytes, descWireIn, descWireOut, descLoopOpen, descLatency, descOpen, descAccepted, descRefused,
		descLag, descEnters, descSQEs, descCQEs, descOverflows, descPanics, descOffDepth, descOffRunning, descOffDone,
		descCacheHits, descCacheMisses, descCacheReval} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	st := d.srv.Stats()
	gauge(descOpen, float64(st.Open))
	counter(descAccepted, st.Accepted)
	counter(descRefused, st.Refused)
	for i, ls := range d.srv.LoopStats() {
		loop := strconv.Itoa(i)
		for class := 1; class <= 5; class++ {
			counter(descRequests, ls.Status[class], loop, strconv.Itoa(class)+"xx")
		}
		counter(descBytes, ls.BytesOut, loop)
		counter(descWireIn, ls.BytesIn, loop)
		counter(descWireOut, ls.BytesSent, loop)
		gauge(descLoopOpen, float64(ls.Conns), loop)
		ch <- histogram(descLatency, ls.Latency[:], time.Microsecond, loop)
	}
	for i := range d.group.Len() {
		m := d.group.Loop(i).Metrics()
		loop := strconv.Itoa(i)
		ch <- histogram(descLag, m.CallbackLag[:], time.Microsecond, loop)
		counter(descEnters, m.Enters, loop)
		counter(descSQEs, m.SQEsSubmitted, loop)
		counter(descCQEs, m.CQEs, loop)
		counter(descOverflows, m.CQOverflows, loop)
		counter(descPanics, m.CallbackPanics+m.Goexits, loop)
	}
	for cl, m := range d.pool.Metrics() {
		name := offload.Class(cl).String()
		gauge(descOffDepth, float64(m.QueueDepth), name)
		gauge(descOffRunning, float64(m.Running), name)
		counter(descOffDone, m.Completed, name, "completed")
		counter(descOffDone, m.Rejected, name, "rejected")
		counter(descOffDone, m.Cancelled, name, "cancelled")
		counter(descOffDone, m.Panics, name, "panicked")
	}
	if r := d.routes.Load(); r != nil {
		for _, m := range r.mounts {
			s := m.fs.Stats()
			name := string(m.prefix)
			if name == "" {
				name = "/"
			}
			counter(descCacheHits, s.Hits, name)
			counter(descCacheMisses, s.Misses, name)
			counter(descCacheReval, s.Revalidations, name)
		}
	}
}

// histogram converts a power-of-two histogram (bucket i holds [2^(i-1),
// 2^i) units) to a Prometheus one in seconds.
func histogram(desc *prometheus.Desc, buckets []uint64, unit time.Duration, labels ...string) prometheus.Metric {
	cum := make(map[float64]uint64, len(buckets))
	var count uint64
	var sum float64
	for i, n := range buckets {
		count += n
		upper := time.Duration(uint64(1)<<i) * unit
		cum[upper.Seconds()] = count
		// The bucket's midpoint stands in for its observations.
		sum += float64(n) * (upper.Seconds() * 0.75)
	}
	return prometheus.MustNewConstHistogram(desc, count, sum, cum, labels...)
}
