package load

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RangeConfig configures Ranges: Conns keep-alive connections, each
// asking again and again for a RangeSize-byte range at a random aligned
// offset of a random one of Files (like video players seeking).
type RangeConfig struct {
	Addr      string
	Conns     int
	Dir       string   // where Files are on this machine, to verify bodies against
	Files     []string // names under Dir, requested as Prefix+name
	Prefix    string   // URL path prefix, "/static/"
	RangeSize int64
	Warmup    time.Duration // before the measured window
	Duration  time.Duration // the measured window
	Seed      uint64        // connection i draws from PCG(Seed, i)
	// VerifyEvery: every connection's first body and every n-th body
	// overall are hashed (SHA-256) and compared with the file's bytes
	// (0: only the first of each connection).
	VerifyEvery int
}

// RangeResult is one measured window of Ranges. TTFB is from just before
// the request is written to the first byte of the response head; Latency
// to the last byte of the body. Both in microseconds.
type RangeResult struct {
	Requests int64     `json:"requests"` // responses completed in the window
	Bytes    int64     `json:"bytes"`    // their body bytes
	Seconds  float64   `json:"seconds"`  // the window's length
	Conns    int       `json:"conns"`
	TTFB     RTTResult `json:"ttfb"`
	Latency  RTTResult `json:"latency"`
	Verified int64     `json:"verified"` // bodies compared with the file (whole run)
	Errors   int64     `json:"errors"`   // I/O errors (the connection is dialled again)
	Bad      int64     `json:"bad"`      // responses that failed a check (status, Content-Range, length, bytes)
	FirstErr string    `json:"first_error,omitempty"`
}

// PickRange draws a file and an aligned range of rangeSize bytes inside
// it: file uniformly among sizes, then a whole block of rangeSize at a
// uniform offset. Every size must be at least rangeSize.
func PickRange(rng *rand.Rand, sizes []int64, rangeSize int64) (file int, first, last int64) {
	file = rng.IntN(len(sizes))
	first = rng.Int64N(sizes[file]/rangeSize) * rangeSize
	return file, first, first + rangeSize - 1
}

// ContentRange is the Content-Range of a 206 for bytes first..last of a
// size-byte file.
func ContentRange(first, last, size int64) string {
	return "bytes " + strconv.FormatInt(first, 10) + "-" + strconv.FormatInt(last, 10) + "/" + strconv.FormatInt(size, 10)
}

// rangeSample is one completed request, in times since the run's start.
type rangeSample struct {
	sent, first, done time.Duration
	bytes             int64
}

// windowStats is what a window's samples add up to.
type windowStats struct {
	n, bytes    int64
	ttfb, total []time.Duration
}

// accountWindow counts the samples whose response completed within
// [from, to): requests finished before the window opened (warm-up) or
// after it closed are left out, whenever they started.
func accountWindow(conns [][]rangeSample, from, to time.Duration) windowStats {
	var w windowStats
	for _, samples := range conns {
		for _, s := range samples {
			if s.done < from || s.done >= to {
				continue
			}
			w.n++
			w.bytes += s.bytes
			w.ttfb = append(w.ttfb, s.first-s.sent)
			w.total = append(w.total, s.done-s.sent)
		}
	}
	return w
}

// rangeHead is what the client takes from a response head.
type rangeHead struct {
	status        int
	contentLength int64 // -1: none
	contentRange  string
	close         bool // Connection: close
	chunked       bool
}

// readRangeHead reads a response's status line and header fields.
func readRangeHead(br *bufio.Reader) (rangeHead, error) {
	h := rangeHead{contentLength: -1}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return h, err
	}
	f := bytes.Fields(line)
	if len(f) < 2 || !bytes.HasPrefix(f[0], []byte("HTTP/1.")) {
		return h, fmt.Errorf("malformed status line %q", line)
	}
	if h.status, err = strconv.Atoi(string(f[1])); err != nil {
		return h, fmt.Errorf("malformed status line %q", line)
	}
	if string(f[0]) == "HTTP/1.0" {
		h.close = true
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return h, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return h, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return h, fmt.Errorf("malformed header field %q", line)
		}
		v = bytes.TrimSpace(v)
		switch strings.ToLower(string(bytes.TrimSpace(k))) {
		case "content-length":
			if h.contentLength, err = strconv.ParseInt(string(v), 10, 64); err != nil || h.contentLength < 0 {
				return h, fmt.Errorf("bad Content-Length %q", v)
			}
		case "content-range":
			h.contentRange = string(v)
		case "connection":
			h.close = h.close || bytes.EqualFold(v, []byte("close"))
			if bytes.EqualFold(v, []byte("keep-alive")) {
				h.close = false
			}
		case "transfer-encoding":
			h.chunked = true
		}
	}
}

// check reports why h is not the 206 for bytes first..last of a
// size-byte file.
func (h rangeHead) check(first, last, size int64) error {
	switch want := ContentRange(first, last, size); {
	case h.status != 206:
		return fmt.Errorf("status %d for %s, want 206", h.status, want)
	case h.chunked:
		return fmt.Errorf("chunked response for %s", want)
	case h.contentRange != want:
		return fmt.Errorf("Content-Range %q, want %q", h.contentRange, want)
	case h.contentLength != last-first+1:
		return fmt.Errorf("Content-Length %d for %s", h.contentLength, want)
	}
	return nil
}

// readBody reads n body bytes through buf, into h when it is not nil.
// bufio.Reader hands reads of at least its size straight to the socket,
// so with a large buf the body is not copied twice.
func readBody(br *bufio.Reader, buf []byte, n int64, h hash.Hash) error {
	for n > 0 {
		m, err := br.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 && h != nil {
			h.Write(buf[:m])
		}
		n -= int64(m)
		if err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				return io.ErrUnexpectedEOF
			}
			if n > 0 {
				return err
			}
		}
	}
	return nil
}

// rangeFiles are the files a run reads, open for verification.
type rangeFiles struct {
	names []string
	sizes []int64
	fds   []*os.File
}

func openRangeFiles(dir string, names []string, rangeSize int64) (*rangeFiles, error) {
	if len(names) == 0 {
		return nil, errors.New("no files")
	}
	rf := &rangeFiles{names: names}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			rf.close()
			return nil, err
		}
		rf.fds = append(rf.fds, f)
		st, err := f.Stat()
		if err != nil {
			rf.close()
			return nil, err
		}
		if st.Size() < rangeSize {
			rf.close()
			return nil, fmt.Errorf("%s: %d bytes, smaller than one %d-byte range", n, st.Size(), rangeSize)
		}
		rf.sizes = append(rf.sizes, st.Size())
	}
	return rf, nil
}

func (rf *rangeFiles) close() {
	for _, f := range rf.fds {
		f.Close()
	}
}

// sum is the SHA-256 of bytes first..last of file i, read through buf.
func (rf *rangeFiles) sum(i int, first, last int64, buf []byte) ([sha256.Size]byte, error) {
	h := sha256.New()
	for off := first; off <= last; {
		n, err := rf.fds[i].ReadAt(buf[:min(int64(len(buf)), last+1-off)], off)
		h.Write(buf[:n])
		off += int64(n)
		if err != nil && off <= last {
			return [sha256.Size]byte{}, err
		}
	}
	var s [sha256.Size]byte
	h.Sum(s[:0])
	return s, nil
}

// Ranges runs the range client: cfg.Conns connections for cfg.Warmup,
// then a measured window of cfg.Duration (start, if set, is called when
// it opens). Every response's status, Content-Range and length are
// checked; a response that fails a check is counted in Bad and ends its
// connection (its framing cannot be trusted), an I/O error is counted in
// Errors and the connection is dialled again (at most 3 times each).
// Every request is bounded by a 10 s deadline.
func Ranges(cfg RangeConfig, start func()) (RangeResult, error) {
	res := RangeResult{Conns: cfg.Conns}
	if cfg.Conns <= 0 || cfg.RangeSize <= 0 {
		return res, errors.New("ranges: Conns and RangeSize must be positive")
	}
	files, err := openRangeFiles(cfg.Dir, cfg.Files, cfg.RangeSize)
	if err != nil {
		return res, err
	}
	defer files.close()

	var (
		stop     atomic.Bool
		errs     atomic.Int64
		bad      atomic.Int64
		verified atomic.Int64
		verifyN  atomic.Int64
		firstErr atomic.Pointer[string]
		mu       sync.Mutex
		open     = map[int]net.Conn{}
		wg       sync.WaitGroup
	)
	fail := func(counter *atomic.Int64, err error) {
		if stop.Load() {
			return // unblocked by the end of the run
		}
		counter.Add(1)
		s := err.Error()
		firstErr.CompareAndSwap(nil, &s)
	}
	base := time.Now()
	samples := make([][]rangeSample, cfg.Conns)
	for i := range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(cfg.Seed, uint64(i)))
			buf := make([]byte, 256<<10)
			var req []byte
			verifyFirst := true
			for dials := 0; dials < 4 && !stop.Load(); dials++ {
				c, err := net.DialTimeout("tcp", cfg.Addr, 5*time.Second)
				if err != nil {
					fail(&errs, fmt.Errorf("connection %d: %w", i, err))
					time.Sleep(50 * time.Millisecond)
					continue
				}
				mu.Lock()
				open[i] = c
				mu.Unlock()
				if stop.Load() { // stopped before open[i] was set: nobody unblocks c
					c.Close()
					return
				}
				br := bufio.NewReaderSize(c, 16<<10)
				for !stop.Load() {
					f, a, b := PickRange(rng, files.sizes, cfg.RangeSize)
					req = fmt.Appendf(req[:0], "GET %s%s HTTP/1.1\r\nHost: bench\r\nRange: bytes=%d-%d\r\n\r\n", cfg.Prefix, files.names[f], a, b)
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					sent := time.Since(base)
					_, err := c.Write(req)
					if err == nil {
						_, err = br.Peek(1)
					}
					firstByte := time.Since(base)
					var h rangeHead
					if err == nil {
						h, err = readRangeHead(br)
					}
					if err != nil {
						fail(&errs, fmt.Errorf("connection %d: %w", i, err))
						break
					}
					if err := h.check(a, b, files.sizes[f]); err != nil {
						fail(&bad, fmt.Errorf("connection %d, %s: %w", i, files.names[f], err))
						c.Close()
						return
					}
					var sum hash.Hash
					if verifyFirst || (cfg.VerifyEvery > 0 && verifyN.Add(1)%int64(cfg.VerifyEvery) == 0) {
						sum = sha256.New()
					}
					if err := readBody(br, buf, h.contentLength, sum); err != nil {
						fail(&errs, fmt.Errorf("connection %d: body: %w", i, err))
						break
					}
					done := time.Since(base)
					if sum != nil {
						want, err := files.sum(f, a, b, buf)
						if err != nil {
							fail(&bad, fmt.Errorf("reading %s: %w", files.names[f], err))
							c.Close()
							return
						}
						if !bytes.Equal(sum.Sum(nil), want[:]) {
							fail(&bad, fmt.Errorf("connection %d: %s bytes %d-%d differ from the file", i, files.names[f], a, b))
							c.Close()
							return
						}
						verified.Add(1)
						verifyFirst = false
					}
					samples[i] = append(samples[i], rangeSample{sent, firstByte, done, h.contentLength})
					if h.close {
						break
					}
				}
				mu.Lock()
				delete(open, i)
				mu.Unlock()
				c.Close()
				if stop.Load() {
					return
				}
			}
		}()
	}
	time.Sleep(cfg.Warmup)
	from := time.Since(base)
	if start != nil {
		start()
	}
	time.Sleep(cfg.Duration)
	to := time.Since(base)
	stop.Store(true)
	mu.Lock()
	for _, c := range open {
		_ = c.SetDeadline(time.Now()) // unblock, then the goroutine closes it
	}
	mu.Unlock()
	wg.Wait()

	w := accountWindow(samples, from, to)
	res.Requests, res.Bytes, res.Seconds = w.n, w.bytes, (to - from).Seconds()
	res.TTFB, res.Latency = Summarise(w.ttfb), Summarise(w.total)
	res.Verified, res.Errors, res.Bad = verified.Load(), errs.Load(), bad.Load()
	if p := firstErr.Load(); p != nil {
		res.FirstErr = *p
	}
	if res.Requests == 0 {
		return res, fmt.Errorf("no responses completed in the window (%d errors, %d bad, first: %s)", res.Errors, res.Bad, res.FirstErr)
	}
	return res, nil
}
