// Package report turns measured samples into what people read: a
// Markdown table per scenario (median with min–max, ratios against
// uringd), JSON for machines, and hand-written SVG bar charts.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/uringd/uringd/bench/internal/proc"
)

// Env is printed with every table: where and how it was measured.
type Env struct {
	proc.Machine
	Date    string `json:"date"`
	Command string `json:"command"`
	Total   string `json:"total,omitempty"` // the whole run's wall time
}

// Metric describes one measured quantity (a table column).
type Metric struct {
	Key    string `json:"key"`
	Label  string `json:"label"`            // column header, with its unit
	Higher bool   `json:"higher_is_better"` // for "best" and chart notes
	Ratio  bool   `json:"ratio"`            // print a ratio column after it
	Chart  bool   `json:"chart"`            // draw it in the SVG
}

// Status values of rows that were not measured.
const (
	// StatusPending marks uringd rows whose layer does not exist yet.
	StatusPending = "not yet built (httpd/ pending)"
)

// Row is one peer in one group of a table.
type Row struct {
	Group  string               `json:"group,omitempty"`
	Peer   string               `json:"peer"`
	Ref    bool                 `json:"ref,omitempty"`    // the ratio reference of its group (uringd)
	Status string               `json:"status,omitempty"` // empty when measured: "skipped: why", StatusPending
	Values map[string][]float64 `json:"samples,omitempty"`
	Notes  []string             `json:"notes,omitempty"`
}

// Add appends one sample of metric key.
func (r *Row) Add(key string, v float64) {
	if r.Values == nil {
		r.Values = map[string][]float64{}
	}
	r.Values[key] = append(r.Values[key], v)
}

// Note adds a note once.
func (r *Row) Note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(r.Notes, n) {
		r.Notes = append(r.Notes, n)
	}
}

// Measured reports whether the row has samples and no status.
func (r *Row) Measured() bool { return r.Status == "" && len(r.Values) > 0 }

// Table is one scenario's results.
type Table struct {
	Scenario string    `json:"scenario"`
	Title    string    `json:"title"`
	Method   []string  `json:"method,omitempty"`
	Metrics  []Metric  `json:"metrics"`
	RefName  string    `json:"ref_name"` // what ratios are against, "uringd" by default
	Rows     []*Row    `json:"rows"`
	Checks   []string  `json:"checks,omitempty"` // targets and whether they were met
	Env      Env       `json:"env"`
	Stats    []RowStat `json:"stats"` // filled by Finish, for JSON readers
}

// RowStat is the summary of one row for JSON output.
type RowStat struct {
	Group   string                `json:"group,omitempty"`
	Peer    string                `json:"peer"`
	Status  string                `json:"status,omitempty"`
	Metrics map[string]MetricStat `json:"metrics,omitempty"`
}

// MetricStat summarises a metric's samples.
type MetricStat struct {
	Median float64  `json:"median"`
	Min    float64  `json:"min"`
	Max    float64  `json:"max"`
	N      int      `json:"n"`
	Ratio  *float64 `json:"ratio,omitempty"` // vs the group's reference
}

// Row returns the row for (group, peer), adding it if new.
func (t *Table) Row(group, peer string) *Row {
	for _, r := range t.Rows {
		if r.Group == group && r.Peer == peer {
			return r
		}
	}
	r := &Row{Group: group, Peer: peer}
	t.Rows = append(t.Rows, r)
	return r
}

// Find returns the row for (group, peer) or nil.
func (t *Table) Find(group, peer string) *Row {
	for _, r := range t.Rows {
		if r.Group == group && r.Peer == peer {
			return r
		}
	}
	return nil
}

// Median, Min and Max summarise samples (NaN when there are none).
func Median(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// Min returns the smallest sample.
func Min(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

// Max returns the largest sample.
func Max(s []float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// groups returns the table's groups in first-seen order.
func (t *Table) groups() []string {
	var gs []string
	for _, r := range t.Rows {
		if !slices.Contains(gs, r.Group) {
			gs = append(gs, r.Group)
		}
	}
	return gs
}

// ordered returns the rows grouped: groups in first-seen order, rows in
// insertion order within each.
func (t *Table) ordered() []*Row {
	var out []*Row
	for _, g := range t.groups() {
		for _, r := range t.Rows {
			if r.Group == g {
				out = append(out, r)
			}
		}
	}
	return out
}

// reference returns the median that ratios of metric m in group g are
// taken against, and whether it is the best peer instead of uringd.
func (t *Table) reference(g string, m Metric) (ref float64, best bool, ok bool) {
	for _, r := range t.Rows {
		if r.Group == g && r.Ref && r.Measured() && len(r.Values[m.Key]) > 0 {
			return Median(r.Values[m.Key]), false, true
		}
	}
	found := false
	for _, r := range t.Rows {
		if r.Group != g || !r.Measured() || len(r.Values[m.Key]) == 0 {
			continue
		}
		v := Median(r.Values[m.Key])
		if !found || (m.Higher && v > ref) || (!m.Higher && v < ref) {
			ref, found = v, true
		}
	}
	return ref, true, found
}

// Ratio returns row r's median of m divided by the group's reference.
func (t *Table) Ratio(r *Row, m Metric) (ratio float64, vsBest bool, ok bool) {
	if !r.Measured() || len(r.Values[m.Key]) == 0 {
		return 0, false, false
	}
	ref, best, ok := t.reference(r.Group, m)
	if !ok || ref == 0 {
		return 0, false, false
	}
	return Median(r.Values[m.Key]) / ref, best, true
}

// Finish fills Stats for JSON output.
func (t *Table) Finish() {
	t.Stats = nil
	for _, r := range t.Rows {
		rs := RowStat{Group: r.Group, Peer: r.Peer, Status: r.Status}
		if r.Measured() {
			rs.Metrics = map[string]MetricStat{}
			for _, m := range t.Metrics {
				s := r.Values[m.Key]
				if len(s) == 0 {
					continue
				}
				ms := MetricStat{Median: Median(s), Min: Min(s), Max: Max(s), N: len(s)}
				if ratio, _, ok := t.Ratio(r, m); ok {
					ms.Ratio = &ratio
				}
				rs.Metrics[m.Key] = ms
			}
		}
		t.Stats = append(t.Stats, rs)
	}
}

// FormatNum prints v with about three significant digits, and thousands
// separators for large values.
func FormatNum(v float64) string {
	switch a := math.Abs(v); {
	case math.IsNaN(v):
		return "–"
	case a >= 1e4:
		return thousands(int64(math.Round(v)))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// cell prints "median (min–max)", or just the value for one sample.
func cell(s []float64) string {
	if len(s) == 0 {
		return "–"
	}
	if len(s) == 1 {
		return FormatNum(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", FormatNum(Median(s)), FormatNum(Min(s)), FormatNum(Max(s)))
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Header prints the environment lines every table carries.
func (e Env) Header() string {
	return fmt.Sprintf("- machine: %s, %d cores · kernel %s · %s · %s\n- command: `%s`\n",
		e.CPU, e.Cores, e.Kernel, e.Go, e.Date, e.Command)
}

// WriteMarkdown writes the table.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", t.Title)
	b.WriteString(t.Env.Header())
	for _, m := range t.Method {
		fmt.Fprintf(&b, "- %s\n", m)
	}
	b.WriteByte('\n')
	groups := t.groups()
	showGroup := len(groups) > 1 || (len(groups) == 1 && groups[0] != "")
	ref := t.RefName
	if ref == "" {
		ref = "uringd"
	}
	// The ratio column is "× uringd" when every group has a measured
	// reference row, "× best" when none has (uringd pending everywhere),
	// and "ratio" with ★ on the rows taken against the best otherwise.
	refs, bests := 0, 0
	for _, g := range groups {
		for _, m := range t.Metrics {
			if !m.Ratio {
				continue
			}
			if _, best, ok := t.reference(g, m); ok && best {
				bests++
			} else if ok {
				refs++
			}
		}
	}
	ratioHdr, star := "× "+ref, false
	switch {
	case refs == 0 && bests > 0:
		ratioHdr = "× best"
	case refs > 0 && bests > 0:
		ratioHdr, star = "ratio", true
	}
	hdr, align := []string{}, []string{}
	if showGroup {
		hdr, align = append(hdr, "group"), append(align, "---")
	}
	hdr, align = append(hdr, "peer"), append(align, "---")
	for _, m := range t.Metrics {
		hdr, align = append(hdr, m.Label+" median (min–max)"), append(align, "---:")
		if m.Ratio {
			hdr, align = append(hdr, ratioHdr), append(align, "---:")
		}
	}
	hdr, align = append(hdr, "notes"), append(align, "---")
	fmt.Fprintf(&b, "| %s |\n| %s |\n", strings.Join(hdr, " | "), strings.Join(align, " | "))
	anyBest := false
	for _, r := range t.ordered() {
		var cells []string
		if showGroup {
			cells = append(cells, mdEscape(r.Group))
		}
		cells = append(cells, mdEscape(r.Peer))
		if !r.Measured() {
			status := r.Status
			if status == "" {
				status = "no samples"
			}
			for i, m := range t.Metrics {
				c := ""
				if i == 0 {
					c = "*" + mdEscape(status) + "*"
				}
				cells = append(cells, c)
				if m.Ratio {
					cells = append(cells, "")
				}
			}
		} else {
			for _, m := range t.Metrics {
				cells = append(cells, cell(r.Values[m.Key]))
				if m.Ratio {
					c := "–"
					if ratio, best, ok := t.Ratio(r, m); ok {
						c = fmt.Sprintf("%.2f", ratio)
						if best && star {
							c += " ★"
						}
						anyBest = anyBest || best
					}
					cells = append(cells, c)
				}
			}
		}
		cells = append(cells, mdEscape(strings.Join(r.Notes, "; ")))
		fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
	}
	b.WriteByte('\n')
	if slices.ContainsFunc(t.Metrics, func(m Metric) bool { return m.Ratio }) {
		switch {
		case ratioHdr == "× best":
			fmt.Fprintf(&b, "Ratio: the peer's median ÷ the best measured peer's in the same group (%s has no measured row here yet).\n", ref)
		case anyBest:
			fmt.Fprintf(&b, "Ratio: the peer's median ÷ %s's in the same group (★: ÷ the best measured peer, where %s has no row yet).\n", ref, ref)
		default:
			fmt.Fprintf(&b, "Ratio: the peer's median ÷ %s's in the same group.\n", ref)
		}
	}
	for _, c := range t.Checks {
		fmt.Fprintf(&b, "- %s\n", c)
	}
	b.WriteByte('\n')
	_, err := io.WriteString(w, b.String())
	return err
}

// Document is the JSON output.
type Document struct {
	Env    Env      `json:"env"`
	Tables []*Table `json:"tables"`
}

// WriteJSON writes the tables as indented JSON.
func WriteJSON(w io.Writer, env Env, tables []*Table) error {
	for _, t := range tables {
		t.Finish()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Document{Env: env, Tables: tables})
}
