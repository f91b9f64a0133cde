package httpd

// slowhttptest's slowloris (-H), slow body (-B) and slow read (-X)
// attacks, all three at once against one server, while a normal client
// keeps fetching: the client must keep getting its 200s, and the server
// must be rid of the attack's connections afterwards.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSlowHTTPAttacks(t *testing.T) {
	bin, err := exec.LookPath("slowhttptest")
	if err != nil {
		t.Skip("slowhttptest not installed (Debian package slowhttptest)")
	}
	checkFds(t)
	conns, secs := 500, 10
	if testing.Short() {
		conns, secs = 200, 5
	}
	s := &Server{
		Handler:           nativeApp(nil),
		ReadHeaderTimeout: time.Second,
		ReadTimeout:       time.Second,
		WriteTimeout:      time.Second,
		IdleTimeout:       2 * time.Second,
	}
	addr := serve(t, s)
	base := "http://" + addr

	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs+20)*time.Second)
	defer cancel()
	common := []string{"-c", strconv.Itoa(conns), "-r", strconv.Itoa(conns / 2), "-l", strconv.Itoa(secs), "-p", "3"}
	attacks := map[string][]string{
		"slowloris": append([]string{"-H", "-i", "1", "-x", "24", "-u", base + "/"}, common...),
		"slow-body": append([]string{"-B", "-i", "1", "-s", "8192", "-u", base + "/echo"}, common...),
		"slow-read": append([]string{"-X", "-k", "3", "-n", "1", "-w", "1", "-y", "64", "-z", "32", "-u", base + "/big?n=65536"}, common...),
	}
	var wg sync.WaitGroup
	outputs := make(map[string]*bytes.Buffer)
	for name, args := range attacks {
		out := &bytes.Buffer{}
		outputs[name] = out
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil && ctx.Err() != nil {
				t.Errorf("%s did not end by itself: %v", name, err)
			}
		}()
	}
	attackDone := make(chan struct{})
	go func() { wg.Wait(); close(attackDone) }()

	// The normal client: a new connection per request, as a stream of
	// independent visitors would.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var ok, total int
	var firstErrs []string
	for {
		select {
		case <-attackDone:
		default:
			total++
			target := "/visitor" + strconv.Itoa(total)
			resp, err := cl.Get(base + target)
			if err == nil {
				b, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if rerr == nil && resp.StatusCode == 200 && string(b) == echoBody("GET", target, nil) {
					ok++
				} else {
					err = fmt.Errorf("%d %q %v", resp.StatusCode, b, rerr)
				}
			}
			if err != nil && len(firstErrs) < 5 {
				firstErrs = append(firstErrs, err.Error())
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		break
	}
	for name, out := range outputs {
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		t.Logf("%s: ...%s", name, strings.Join(lines[max(0, len(lines)-6):], " | "))
	}
	t.Logf("normal client: %d/%d ok during the attacks; server accepted %d connections", ok, total, s.Stats().Accepted)
	if total < 10 {
		t.Fatalf("the normal client made only %d requests", total)
	}
	if ok*100 < total*95 {
		t.Fatalf("normal client: only %d of %d requests succeeded during the attacks: %q", ok, total, firstErrs)
	}
	if s.Stats().Accepted < uint64(conns) {
		t.Fatalf("the attacks opened only %d connections", s.Stats().Accepted)
	}
	waitOpen(t, s, 0)
	// And it still serves.
	if _, b := httpGet(t, newClient(t, 1), "GET", base+"/after"); string(b) != echoBody("GET", "/after", nil) {
		t.Fatalf("after the attacks: %q", b)
	}
}
