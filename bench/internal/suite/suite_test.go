package suite

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uringd/uringd/bench/internal/peers"
	"github.com/uringd/uringd/bench/internal/proc"
	"github.com/uringd/uringd/bench/internal/report"
	"github.com/uringd/uringd/bench/internal/servers"
)

func TestChild(t *testing.T) {
	sh, err := proc.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	// The child forks a grandchild (like nginx's master and worker) that
	// must die with the group.
	c, err := StartChild(ChildSpec{Name: "sh", CPU: NoCPU, Tree: true, Stdin: true,
		Argv: []string{sh, "-c", `echo hello; sleep 30 & echo "READY 7"; read x; echo "got $x" >&2; wait`}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if l, err := c.Line(5 * time.Second); err != nil || l != "hello" {
		t.Fatalf("Line = %q, %v", l, err)
	}
	if rest, err := c.Expect("READY", 5*time.Second); err != nil || rest != "7" {
		t.Fatalf("Expect = %q, %v", rest, err)
	}
	if tree := proc.Tree(c.PID); len(tree) < 2 {
		t.Fatalf("process tree %v lacks the sleeping grandchild", tree)
	}
	if _, err := c.CPU(); err != nil {
		t.Fatal(err)
	}
	if kb, err := c.RSS(); err != nil || kb <= 0 {
		t.Fatalf("RSS %d, %v", kb, err)
	}
	sleeper := proc.Tree(c.PID)[1]
	c.Stop()
	if !c.Exited() {
		t.Fatal("child still running after Stop")
	}
	// Dead means gone, or a zombie its new parent has not reaped yet.
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := proc.ReadStat(sleeper)
		if errors.Is(syscall.Kill(sleeper, 0), syscall.ESRCH) || (err == nil && st.State == 'Z') || err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d survived Stop (state %c)", sleeper, st.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := c.Line(time.Second); err == nil {
		t.Fatal("Line after exit succeeded")
	}
}

func TestChildFailures(t *testing.T) {
	if _, err := StartChild(ChildSpec{Name: "nothing", CPU: NoCPU, Argv: []string{"/nonexistent/binary"}}); err == nil {
		t.Fatal("starting a missing binary succeeded")
	}
	sh, err := proc.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	c, err := StartChild(ChildSpec{Name: "failing", CPU: NoCPU, Argv: []string{sh, "-c", "echo oops >&2; exit 3"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(5 * time.Second); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("Wait = %v, want the exit status and stderr", err)
	}
	addr, _ := FreeAddr()
	c, _ = StartChild(ChildSpec{Name: "silent", CPU: NoCPU, Argv: []string{sh, "-c", "exit 0"}})
	if err := c.WaitListening(addr, 5*time.Second); err == nil {
		t.Fatal("WaitListening succeeded for a child that never listened")
	}
}

func TestRotate(t *testing.T) {
	in := []int{1, 2, 3}
	for round, want := range [][]int{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}} {
		if got := rotate(in, round); !slices.Equal(got, want) {
			t.Errorf("round %d: %v, want %v", round, got, want)
		}
	}
	if !slices.Equal(in, []int{1, 2, 3}) || rotate([]int(nil), 1) != nil {
		t.Fatal("rotate changed its input or invented items")
	}
}

func TestRatioCheck(t *testing.T) {
	tb := &report.Table{}
	tb.Row("", "a").Add("cpu", 3)
	tb.Row("", "b").Add("cpu", 6)
	if got := ratioCheck(tb, "", "a", "b", "cpu", "a <= 0.7x b", 0.7, true); got != "target a <= 0.7x b: 0.50x → met" {
		t.Fatal(got)
	}
	if got := ratioCheck(tb, "", "a", "b", "cpu", "a >= 2x b", 2, false); !strings.HasSuffix(got, "NOT met") {
		t.Fatal(got)
	}
	if got := ratioCheck(tb, "", "a", "zz", "cpu", "x", 1, true); !strings.Contains(got, "not checked") {
		t.Fatal(got)
	}
}

// testRunner is a Runner that pins nothing.
func testRunner(t *testing.T) *Runner {
	wd, _ := os.Getwd()
	r, err := NewRunner(Options{Rounds: 1, Duration: time.Second, Conns: 4, IdleConns: 10, ServerCPU: NoCPU, LoadCPU: NoCPU,
		BenchDir: filepath.Join(wd, "..", "..")}, NewProgress(new(strings.Builder)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestExternalPeers starts nginx, node and the liburing anchor the way
// the HTTP scenarios do and checks one real response from each; a missing
// one is skipped with the reason.
func TestExternalPeers(t *testing.T) {
	r := testRunner(t)
	root, err := r.staticRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(filepath.Join(root, staticFiles[1].name))
	if err := os.MkdirAll(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "s.bin"), []byte("in a subdirectory"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []httpPeer{nginxHTTP, nodeHTTP, anchorHTTP} {
		t.Run(strings.Fields(p.label)[0], func(t *testing.T) {
			addr, err := FreeAddr()
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.start(r, addr, root)
			if err != nil {
				if strings.Contains(err.Error(), "not found") || strings.Contains(err.Error(), "not installed") {
					t.Skipf("skipped: %v", err)
				}
				t.Fatal(err)
			}
			defer c.Stop()
			if err := c.WaitListening(addr, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			if err := verifyGET("http://"+addr+"/plaintext", checkPlaintext); err != nil {
				t.Error(err)
			}
			if err := verifyGET("http://"+addr+"/json", checkJSON); err != nil {
				t.Error(err)
			}
			if p.label == anchorHTTP.label {
				return
			}
			err = verifyGET("http://"+addr+"/static/"+staticFiles[1].name, func(b []byte) error {
				if string(b) != string(want) {
					return errors.New("static file differs")
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
			// The streams' ranges, and a file in a subdirectory (the mix).
			if err := verifyRange("http://"+addr+"/static/"+staticFiles[1].name, filepath.Join(root, staticFiles[1].name), 4096, 3*4096-1); err != nil {
				t.Error(err)
			}
			if err := verifyFile("http://"+addr+"/static/sub/s.bin", []byte("in a subdirectory")); err != nil {
				t.Error(err)
			}
			if cpu, err := c.CPU(); err != nil || cpu < 0 {
				t.Errorf("CPU %v %v", cpu, err)
			}
		})
	}
}

func TestAnchorNotInstalled(t *testing.T) {
	if err := peers.HaveLiburing(); err != nil {
		r := testRunner(t)
		if _, err := r.anchor(); err == nil {
			t.Fatal("anchor built without liburing")
		}
	}
}

func TestHTTPChecks(t *testing.T) {
	if checkPlaintext([]byte(servers.PlaintextBody)) != nil || checkPlaintext([]byte("Hello")) == nil {
		t.Fatal("checkPlaintext")
	}
	if checkJSON([]byte(`{ "message": "Hello, World!" }`)) != nil || checkJSON([]byte(`{"message":"hi"}`)) == nil {
		t.Fatal("checkJSON")
	}
	if wrkDuration(300*time.Millisecond) != time.Second || wrkDuration(5*time.Second) != 5*time.Second {
		t.Fatal("wrkDuration")
	}
	_ = runtime.NumCPU()
}
