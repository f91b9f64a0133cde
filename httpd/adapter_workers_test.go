package httpd

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestAdapterWorkers: net/http handlers run on reused goroutines. After a
// burst of more concurrent handlers than maxIdleWorkers, exactly that
// many workers stay waiting and the rest exit; sequential requests then
// run on the waiting workers instead of new goroutines; Shutdown ends
// them all (goleak in TestMain checks that none is left).
func TestAdapterWorkers(t *testing.T) {
	release := make(chan struct{})
	var blocked sync.WaitGroup
	s := &Server{Loops: 1, HTTPHandler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/block" {
			blocked.Done()
			<-release
		}
		io.WriteString(w, "ok")
	})}
	addr := serve(t, s)
	get := func(c net.Conn, br *bufio.Reader, path string) error {
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return err
	}

	burst := maxIdleWorkers + 40
	blocked.Add(burst)
	errs := make(chan error, burst)
	var done sync.WaitGroup
	for range burst {
		done.Add(1)
		go func() {
			defer done.Done()
			c, err := net.DialTimeout("tcp", addr, testTimeout)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testTimeout))
			errs <- get(c, bufio.NewReader(c), "/block")
		}()
	}
	blocked.Wait() // every handler runs at once: one worker each
	if got := s.handler.spawned.Load(); got != int64(burst) {
		t.Fatalf("%d workers started for %d concurrent handlers", got, burst)
	}
	close(release)
	done.Wait()
	for range burst {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the workers past maxIdleWorkers to exit", func() bool {
		return s.handler.waiting.Load() == maxIdleWorkers
	})

	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	br := bufio.NewReader(c)
	before := s.handler.spawned.Load()
	const n = 50
	for range n {
		if err := get(c, br, "/"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the worker to wait again", func() bool { return s.handler.waiting.Load() == maxIdleWorkers })
	}
	// A worker is counted as waiting just before it blocks, so a request
	// may, rarely, find none blocked yet and start one; never most.
	if started := s.handler.spawned.Load() - before; started > n/10 {
		t.Errorf("%d of %d sequential requests started a new goroutine", started, n)
	}
}
