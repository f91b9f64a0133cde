package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person: the verdict, each problem
// with its fix, then the facts.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	if r.CanRun {
		fmt.Fprintf(&b, "%s\n", r.Verdict)
	} else {
		// The problems below say why; the verdict would repeat the first.
		b.WriteString("uringd cannot run here.\n")
	}
	for _, p := range r.Problems {
		kind := "warning"
		if p.Fatal {
			kind = "PROBLEM"
		}
		fmt.Fprintf(&b, "\n%s (%s): %s\n  fix: %s\n", kind, p.Cause, p.What, p.Fix)
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("kernel", "Linux %s (%s)", r.Kernel.Release, r.Kernel.Machine)
	row("io_uring_disabled", "%s", sysctlString(r.Sysctl.IOUringDisabled, map[int]string{
		0: "enabled", 1: "CAP_SYS_ADMIN and io_uring_group only", 2: "disabled",
	}))
	row("io_uring_group", "%s", sysctlString(r.Sysctl.IOUringGroup, map[int]string{-1: "none"}))
	row("process", "uid %d, CAP_SYS_ADMIN %s, in io_uring_group %s", r.Process.UID, yesNo(r.Process.CapSysAdmin), yesNo(r.Process.InIOUringGroup))
	row("seccomp", "%s", seccompString(r.Process))
	row("memlock", "%s soft, %s hard", memlockString(r.Process.MemlockSoft), memlockString(r.Process.MemlockHard))
	if r.Setup.OK {
		row("io_uring_setup", "ok (SQ %d, CQ %d entries)", r.Setup.SQEntries, r.Setup.CQEntries)
		row("setup flags", "%s", strings.Join(r.Setup.Flags, " "))
		row("features", "%s", strings.Join(r.Setup.Features, " "))
	} else {
		row("io_uring_setup", "FAILED: %s", r.Setup.Error)
	}
	row("buffer rings", "%s", checkString(r.BufferRing))
	row("multishot accept", "%s", checkString(r.MultishotAccept))
	row("multishot recv", "%s", checkString(r.MultishotRecv))
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Setup.OK {
		fmt.Fprintf(&b, "\nopcodes (%d supported, last %s):\n%s\n", len(r.Opcodes.Supported), r.Opcodes.Last, wrap(r.Opcodes.Supported, 76, "  "))
		if len(r.Opcodes.MissingRequired) > 0 {
			fmt.Fprintf(&b, "missing opcodes uringd uses: %s\n", strings.Join(r.Opcodes.MissingRequired, " "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sysctlString(v *int, names map[int]string) string {
	if v == nil {
		return "(no such sysctl: Linux < 6.6)"
	}
	if n, ok := names[*v]; ok {
		return fmt.Sprintf("%d (%s)", *v, n)
	}
	return fmt.Sprint(*v)
}

func seccompString(p Process) string {
	switch p.SeccompMode {
	case 0:
		return "none"
	case 1:
		return "strict mode"
	case 2:
		return fmt.Sprintf("filtered (%d filters)", p.SeccompFilters)
	}
	return "unknown"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func checkString(c Check) string {
	switch {
	case c.OK:
		return "ok"
	case c.Skipped:
		return "not checked (" + c.Error + ")"
	}
	return "FAILED: " + c.Error
}

// wrap joins words into lines of at most width columns, each indented.
func wrap(words []string, width int, indent string) string {
	var b strings.Builder
	line := indent
	for _, w := range words {
		if len(line) > len(indent) && len(line)+1+len(w) > width {
			b.WriteString(line + "\n")
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += w
	}
	b.WriteString(line)
	return b.String()
}
