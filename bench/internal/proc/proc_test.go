package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	// A command name with spaces and parentheses, as a process may choose.
	in := []byte("4242 (my (odd) name) S 17 4242 4242 0 -1 4194560 1234 0 0 0 250 75 30 12 20 0 5 0 100 1000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n")
	st, err := ParseStat(in)
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 4242, Comm: "my (odd) name", State: 'S', PPID: 17, UTime: 250, STime: 75, CUTime: 30, CSTime: 12}
	if st != want {
		t.Fatalf("got %+v, want %+v", st, want)
	}
	if got := st.CPU(); got != 367*10*time.Millisecond {
		t.Fatalf("CPU = %v, want 3.67s", got)
	}
	for _, bad := range []string{"", "12 no parens S 1 2", "x (a) S 1 2 3", "1 (a) S 1 2 3 4 5 6 7 8 9 10 11 x 13 14 15"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) succeeded", bad)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	in := []byte("Name:\tnginx\nVmPeak:\t  10000 kB\nVmRSS:\t    5432 kB\nThreads:\t1\n")
	kb, err := ParseVmRSS(in)
	if err != nil || kb != 5432 {
		t.Fatalf("got %d, %v; want 5432", kb, err)
	}
	if _, err := ParseVmRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Fatal("no VmRSS line accepted")
	}
}

func TestParseCPUModel(t *testing.T) {
	in := []byte("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n")
	if got := ParseCPUModel(in); got != "AMD EPYC 7B13" {
		t.Fatalf("got %q", got)
	}
	if got := ParseCPUModel(nil); got != "unknown" {
		t.Fatalf("got %q", got)
	}
}

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	st, err := ReadStat(pid)
	if err != nil || st.PID != pid {
		t.Fatalf("ReadStat(self) = %+v, %v", st, err)
	}
	// Burn a little CPU so the clock-tick counters move.
	end := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(end); x++ {
		_ = x * x
	}
	if c, err := TreeCPU(pid); err != nil || c <= 0 {
		t.Fatalf("TreeCPU(self) = %v, %v", c, err)
	}
	if kb, err := TreeRSS(pid); err != nil || kb <= 0 {
		t.Fatalf("TreeRSS(self) = %d, %v", kb, err)
	}
	if tree := Tree(1); len(tree) < 2 {
		t.Fatalf("Tree(1) = %v: init has no descendants?", tree)
	}
	m := ThisMachine()
	if m.Cores < 1 || m.Kernel == "" || m.Go == "" {
		t.Fatalf("ThisMachine() = %+v", m)
	}
}
