package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/uringd/uringd/bench/internal/proc"
)

var env = Env{Machine: proc.Machine{CPU: "Test CPU", Cores: 2, Kernel: "6.1.0", Go: "go1.26"}, Date: "2026-01-01 00:00 UTC", Command: "uringbench echo"}

func echoTable() *Table {
	t := &Table{Scenario: "echo", Title: "echo <test>", Env: env, Method: []string{"pinned"},
		Metrics: []Metric{
			{Key: "msgs", Label: "msg/s", Higher: true, Ratio: true, Chart: true},
			{Key: "cpu", Label: "CPU µs/msg", Ratio: true, Chart: true},
		}}
	u := t.Row("", "uringd")
	u.Ref = true
	for _, v := range []float64{100, 120, 110} {
		u.Add("msgs", v)
	}
	for _, v := range []float64{2, 2.2, 1.8} {
		u.Add("cpu", v)
	}
	g := t.Row("", "gnet | v2")
	g.Add("msgs", 55)
	g.Add("cpu", 4)
	g.Note("1 error")
	t.Row("", "absent").Status = "skipped: not installed"
	t.Checks = []string{"target: met"}
	return t
}

func TestStats(t *testing.T) {
	s := []float64{3, 1, 2, 10}
	if Median(s) != 2.5 || Min(s) != 1 || Max(s) != 10 {
		t.Fatalf("median/min/max of %v = %v %v %v", s, Median(s), Min(s), Max(s))
	}
	if Median([]float64{5, 1, 3}) != 3 {
		t.Fatal("odd median")
	}
	if !math.IsNaN(Median(nil)) {
		t.Fatal("median of nothing")
	}
	if s[0] != 3 {
		t.Fatal("Median sorted its input")
	}
}

func TestFormatNum(t *testing.T) {
	for v, want := range map[float64]string{
		1234567: "1,234,567", 12345.6: "12,346", 999.6: "1000", 123.4: "123", 12.34: "12.3",
		4: "4", 1.234: "1.23", 0.1234: "0.123", 0.001234: "0.0012", 0: "0", math.NaN(): "–", -20000: "-20,000",
	} {
		if got := FormatNum(v); got != want && !(math.IsNaN(v) && got == "–") {
			t.Errorf("FormatNum(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := echoTable().WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"### echo <test>",
		"- machine: Test CPU, 2 cores · kernel 6.1.0 · go1.26 · 2026-01-01 00:00 UTC",
		"- command: `uringbench echo`",
		"| peer | msg/s median (min–max) | × uringd | CPU µs/msg median (min–max) | × uringd | notes |",
		"| uringd | 110 (100–120) | 1.00 | 2 (1.80–2.20) | 1.00 |  |",
		"| gnet \\| v2 | 55 | 0.50 | 4 | 2.00 | 1 error |",
		"| absent | *skipped: not installed* |  |  |  |  |",
		"Ratio: the peer's median ÷ uringd's in the same group.",
		"- target: met",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestMarkdownPendingReference(t *testing.T) {
	tb := &Table{Title: "http", Env: env, Metrics: []Metric{{Key: "rps", Label: "req/s", Higher: true, Ratio: true}}}
	u := tb.Row("", "uringd")
	u.Ref, u.Status = true, StatusPending
	tb.Row("", "a").Add("rps", 50)
	tb.Row("", "b").Add("rps", 200)
	var b bytes.Buffer
	if err := tb.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"| req/s median (min–max) | × best |", "| a | 50 | 0.25 |", "| b | 200 | 1.00 |",
		"| uringd | *not yet built (httpd/ pending)* |", "÷ the best measured peer's"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// Lower is better: the best is the smallest.
	tb.Metrics[0].Higher = false
	if r, best, ok := tb.Ratio(tb.Find("", "b"), tb.Metrics[0]); !ok || !best || r != 4 {
		t.Fatalf("ratio vs best (lower is better) = %v %v %v, want 4", r, best, ok)
	}
}

func TestMarkdownGroups(t *testing.T) {
	tb := &Table{Title: "g", Env: env, Metrics: []Metric{{Key: "v", Label: "v", Ratio: true}}}
	tb.Row("A", "uringd").Ref = true
	tb.Row("A", "uringd").Add("v", 1)
	tb.Row("B", "x").Add("v", 2)
	tb.Row("A", "x").Add("v", 3) // added late: printed with group A
	var b bytes.Buffer
	_ = tb.WriteMarkdown(&b)
	md := b.String()
	if i, j := strings.Index(md, "| A | x |"), strings.Index(md, "| B | x |"); i < 0 || j < 0 || i > j {
		t.Fatalf("rows not grouped:\n%s", md)
	}
	if !strings.Contains(md, "| ratio |") || !strings.Contains(md, "1.00 ★") {
		t.Fatalf("mixed references not marked:\n%s", md)
	}
}

func TestSVG(t *testing.T) {
	var b bytes.Buffer
	if err := echoTable().WriteSVG(&b); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	// Well-formed XML all the way through.
	d := xml.NewDecoder(strings.NewReader(svg))
	elems := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			elems[se.Name.Local]++
		}
	}
	// Two measured rows × two charted metrics = four bars (+ the background).
	if elems["svg"] != 1 || elems["rect"] != 5 {
		t.Fatalf("elements %v, want 1 svg and 5 rects", elems)
	}
	for _, want := range []string{"echo &lt;test&gt;", "skipped: not installed", colourRef, "110", "higher is better", "lower is better"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, env, []*Table{echoTable()}); err != nil {
		t.Fatal(err)
	}
	var doc Document
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	st := doc.Tables[0].Stats
	if len(st) != 3 || st[0].Metrics["msgs"].Median != 110 || *st[1].Metrics["msgs"].Ratio != 0.5 || st[2].Status == "" {
		t.Fatalf("stats = %+v", st)
	}
	if doc.Env.CPU != "Test CPU" {
		t.Fatalf("env = %+v", doc.Env)
	}
}
