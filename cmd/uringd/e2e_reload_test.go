package main

// End to end: SIGHUP reloads the config file (good and bad) and reopens
// the access log, without dropping a connection.

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestE2EReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "uringd.toml")
	logPath := filepath.Join(dir, "access.log")
	big := patterned(24<<20, 'A')
	for _, name := range []string{"A", "B", "C"} {
		writeFile(t, dir, name+"/v.txt", []byte("version "+name+"\n"))
	}
	writeFile(t, dir, "A/big.bin", big)
	writeConfig := func(body string) {
		t.Helper()
		head := fmt.Sprintf("loops = 2\n\n[[listen]]\naddress = \"127.0.0.1:0\"\n\n[access_log]\nformat = \"combined\"\npath = %q\n\n", logPath)
		writeFile(t, dir, "uringd.toml", []byte(head+body))
	}
	writeConfig("[[mount]]\nroot = \"A\"\n")

	p := startProc(t, procOpts{args: []string{"serve", "-config", cfg}})
	base := p.baseURL()
	kept := dialRaw(t, "tcp", p.hostPort())
	if _, body := kept.get("/v.txt"); string(body) != "version A\n" {
		t.Fatalf("before any reload: %q", body)
	}

	fresh := func() string {
		t.Helper()
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		return string(httpGet(t, c, base+"/v.txt", 200).body)
	}
	expectServing := func(when, want string) {
		t.Helper()
		if st, body := kept.get("/v.txt"); st != 200 || string(body) != want {
			t.Errorf("%s, on the connection kept alive: %d %q, want %q", when, st, body, want)
		}
		if got := fresh(); got != want {
			t.Errorf("%s, on a new connection: %q, want %q", when, got, want)
		}
	}

	t.Run("good config", func(t *testing.T) {
		writeConfig("[[mount]]\nroot = \"B\"\n")
		out := p.in(t).reload()
		if !strings.Contains(out, `msg="configuration reloaded"`) || strings.Contains(out, "level=ERROR") {
			t.Fatalf("reload log: %s", out)
		}
		expectServing("after the reload to root B", "version B\n")
	})

	t.Run("download in progress across a reload", func(t *testing.T) {
		pt := p.in(t)
		// A download of A/big.bin, from the A mount, goes on across a
		// reload to another root: it keeps the file it started with.
		writeConfig("[[mount]]\nroot = \"A\"\n")
		pt.reload()
		dl := dialRaw(t, "tcp", p.hostPort())
		fmt.Fprintf(dl.c, "GET /big.bin HTTP/1.1\r\nHost: e2e.test\r\n\r\n")
		resp, err := http.ReadResponse(dl.br, nil)
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != int64(len(big)) {
			t.Fatalf("GET /big.bin: %v %v", resp, err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		if _, err := io.CopyN(h, resp.Body, 1<<20); err != nil {
			t.Fatal(err)
		}
		writeConfig("[[mount]]\nroot = \"B\"\n")
		if out := pt.reload(); !strings.Contains(out, `msg="configuration reloaded"`) {
			t.Fatalf("reload log: %s", out)
		}
		n, err := io.Copy(h, resp.Body)
		if err != nil {
			t.Errorf("the download in progress across the reload: %v after %d bytes", err, (1<<20)+n)
		}
		if want := sha256.Sum256(big); !bytes.Equal(h.Sum(nil), want[:]) {
			t.Errorf("the download in progress across the reload is corrupt")
		}
		expectServing("after the reload to root B", "version B\n")
	})

	for _, tt := range []struct {
		name string
		body string   // after the 9-line head writeConfig adds
		want []string // in the refusal; FILE stands for the config path
	}{
		{"syntax error", "[[mount]\nroot = \"C\"\n", []string{"FILE:10: expected end of table array name delimiter"}},
		{"invalid value", "[[mount]]\nroot = \"C\"\n\n[timeouts]\nidle = \"soon\"\n", []string{"FILE:14: timeouts.idle: "}},
		{"unknown key", "[[mount]]\nrooot = \"C\"\n", []string{"FILE:11: ", "rooot: unknown key", `did you mean \"root\"`}},
		{"missing root", "[[mount]]\nroot = \"C\"\n[[mount]]\nprefix = \"/x/\"\nroot = \"nowhere\"\n", []string{"FILE:14: mount[1].root: ", "nowhere"}},
	} {
		t.Run("bad config: "+tt.name, func(t *testing.T) {
			writeConfig(tt.body)
			out := p.in(t).reload()
			if !strings.Contains(out, `level=ERROR msg="reload refused; the running configuration stays"`) || strings.Contains(out, "configuration reloaded") {
				t.Errorf("reload log: %s", out)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "FILE", cfg); !strings.Contains(out, w) {
					t.Errorf("the refusal does not say %q: %s", w, out)
				}
			}
			expectServing("after a refused reload", "version B\n")
		})
	}

	t.Run("good config after bad ones", func(t *testing.T) {
		// A setting that needs a restart is reported, the rest applied.
		writeConfig("[[mount]]\nroot = \"C\"\n\n[timeouts]\nidle = \"30s\"\n")
		out := p.in(t).reload()
		if !strings.Contains(out, `msg="configuration reloaded"`) || !strings.Contains(out, "take effect only after a restart") {
			t.Errorf("reload log: %s", out)
		}
		expectServing("after the reload to root C", "version C\n")
	})

	t.Run("access log reopened", func(t *testing.T) {
		pt := p.in(t)
		agentIn := func(path, agent string) bool {
			for _, l := range readLines(path) {
				if strings.Contains(l, `"`+agent+`"`) {
					return true
				}
			}
			return false
		}
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		httpGet(t, c, base+"/v.txt", 200, "User-Agent", "before-rotation")
		pt.waitFor("the request before the rotation in the log", func() bool { return agentIn(logPath, "before-rotation") })

		// logrotate: rename, then SIGHUP. Until then the old file
		// (renamed) gets the lines.
		rotated := logPath + ".1"
		if err := os.Rename(logPath, rotated); err != nil {
			t.Fatal(err)
		}
		httpGet(t, c, base+"/v.txt", 200, "User-Agent", "between-rename-and-hup")
		pt.waitFor("the request after the rename in the renamed log", func() bool { return agentIn(rotated, "between-rename-and-hup") })
		if _, err := os.Stat(logPath); err == nil {
			t.Errorf("%s exists again before SIGHUP", logPath)
		}

		if out := pt.reload(); !strings.Contains(out, `msg="configuration reloaded"`) {
			t.Fatalf("reload log: %s", out)
		}
		httpGet(t, c, base+"/v.txt", 200, "User-Agent", "after-hup")
		pt.waitFor("the request after SIGHUP in a new log at the original path", func() bool { return agentIn(logPath, "after-hup") })
		if agentIn(rotated, "after-hup") || agentIn(logPath, "between-rename-and-hup") || agentIn(logPath, "before-rotation") {
			t.Errorf("lines in the wrong file:\n%s:\n%s\n%s:\n%s", rotated, strings.Join(readLines(rotated), "\n"), logPath, strings.Join(readLines(logPath), "\n"))
		}
		// The new file has whole lines in the configured format.
		for _, l := range readLines(logPath) {
			if !combinedRE.MatchString(l) {
				t.Errorf("new log line %q is not in the combined format", l)
			}
		}
	})

	// Everything above went over one kept-alive connection.
	if st, body := kept.get("/v.txt"); st != 200 || string(body) != "version C\n" {
		t.Errorf("at the end, on the kept-alive connection: %d %q", st, body)
	}
	p.stop()
}

// TestE2EReloadRightAfterStart sends SIGHUP as soon as uringd says where
// it serves (and, under systemd, READY=1): a reload, not the end.
func TestE2EReloadRightAfterStart(t *testing.T) {
	t.Parallel()
	bin := uringdBinary(t)
	for attempt := range 20 {
		home := t.TempDir()
		cmd := exec.Command(bin, "serve", "-root", home, "-listen", "127.0.0.1:0", "-access-log", "off")
		cmd.Env = daemonEnv(home)
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// One goroutine reads stdout (two readers of the pipe would race
		// for the line): it sends SIGHUP the moment "serving on" appears,
		// as a supervisor would, then drains the rest.
		hupSent, done := make(chan struct{}), make(chan struct{})
		var waitErr error
		go func() {
			buf := make([]byte, 256)
			var got []byte
			sent := false
			for {
				n, err := out.Read(buf)
				if !sent {
					if got = append(got, buf[:n]...); bytes.Contains(got, []byte("serving on")) {
						_ = cmd.Process.Signal(syscall.SIGHUP)
						close(hupSent)
						sent = true
					}
				}
				if err != nil {
					break
				}
			}
			waitErr = cmd.Wait()
			close(done)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})
		select {
		case <-hupSent:
		case <-done:
			t.Fatalf("attempt %d: uringd ended before it said where it serves: %v\n%s", attempt, waitErr, stderr.String())
		case <-time.After(e2eWait):
			t.Fatalf("attempt %d: uringd did not say where it serves\n%s", attempt, stderr.String())
		}
		deadline := time.Now().Add(e2eWait)
		for !strings.Contains(stderr.String(), "configuration reloaded") {
			select {
			case <-done:
				t.Fatalf("attempt %d: uringd ended on a SIGHUP sent right after it announced itself: %v\n%s", attempt, waitErr, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("no reload logged")
			}
			time.Sleep(10 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if waitErr != nil {
			t.Errorf("attempt %d: after SIGTERM: %v", attempt, waitErr)
		}
	}
}
