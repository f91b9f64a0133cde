package httpd

// Many clients at once: concurrent requests with every response checked,
// and thousands of connections held open together; afterwards the
// server's connection count and the process's fds return to where they
// were.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentClients(t *testing.T) {
	goroutines, perG := 200, 50
	if testing.Short() {
		goroutines, perG = 50, 20
	}
	forModes(t, nil, func(t *testing.T, s *Server, addr string, log *served) {
		cl := newClient(t, goroutines)
		var wg sync.WaitGroup
		var bad atomic.Int64
		errs := make(chan error, 16)
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perG {
					target := fmt.Sprintf("/g%d/r%d", g, i)
					var resp *http.Response
					var err error
					var body []byte
					if i%2 == 0 {
						resp, err = cl.Get("http://" + addr + target)
					} else {
						body = bytes.Repeat([]byte{byte('a' + g%26)}, (g*perG+i)%3000)
						resp, err = cl.Post("http://"+addr+target, "application/octet-stream", bytes.NewReader(body))
					}
					if err == nil {
						var got []byte
						got, err = io.ReadAll(resp.Body)
						resp.Body.Close()
						method := map[bool]string{true: "GET", false: "POST"}[i%2 == 0]
						if want := echoBody(method, target, body); err == nil && (resp.StatusCode != 200 || string(got) != want) {
							err = fmt.Errorf("%s: %d %.60q, want %.60q", target, resp.StatusCode, got, want)
						}
					}
					if err != nil {
						bad.Add(1)
						select {
						case errs <- err:
						default:
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := bad.Load(); n != 0 {
			t.Fatalf("%d of %d requests failed", n, goroutines*perG)
		}
		if n := len(log.get()); n != goroutines*perG {
			t.Fatalf("handler ran %d times, want %d", n, goroutines*perG)
		}
	})
}

// 5,000 connections, each doing a request and held open until all are
// done, then closed: no failures, every connection counted open at once,
// then none, and no fd left behind.
func TestManyConnections(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 1000
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			checkFds(t)
			var opened, closed atomic.Int64
			s := m.server(nil)
			s.ConnState = func(_ net.Addr, st http.ConnState) {
				switch st {
				case http.StateNew:
					opened.Add(1)
				case http.StateClosed:
					closed.Add(1)
				}
			}
			addr := serve(t, s)
			conns := make([]net.Conn, n)
			t.Cleanup(func() {
				for _, c := range conns {
					if c != nil {
						c.Close()
					}
				}
			})
			var wg sync.WaitGroup
			var failed atomic.Int64
			errs := make(chan error, 8)
			sem := make(chan struct{}, 256) // dials in flight
			for i := range n {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					err := func() error {
						c, err := net.DialTimeout("tcp", addr, testTimeout)
						if err != nil {
							return err
						}
						conns[i] = c
						c.SetDeadline(time.Now().Add(2 * testTimeout))
						target := fmt.Sprintf("/c%d", i)
						if _, err := c.Write([]byte(get(target))); err != nil {
							return err
						}
						r, err := readResp(bufio.NewReader(c), "GET")
						if err != nil {
							return err
						}
						if string(r.body) != echoBody("GET", target, nil) {
							return fmt.Errorf("%s: %v", target, r)
						}
						return nil
					}()
					if err != nil {
						failed.Add(1)
						select {
						case errs <- err:
						default:
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if f := failed.Load(); f != 0 {
				t.Fatalf("%d of %d connections failed", f, n)
			}
			if open := s.Stats().Open; open != int64(n) {
				t.Fatalf("%d connections open, want %d", open, n)
			}
			for i, c := range conns {
				c.Close()
				conns[i] = nil
			}
			waitOpen(t, s, 0)
			waitFor(t, "ConnState closed for every connection", func() bool { return closed.Load() == int64(n) })
			if o := opened.Load(); o != int64(n) {
				t.Fatalf("ConnState new %d, want %d", o, n)
			}
			if a := s.Stats().Accepted; a != uint64(n) {
				t.Fatalf("accepted %d, want %d", a, n)
			}
		})
	}
}
