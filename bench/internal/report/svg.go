package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Chart geometry, in SVG user units (pixels).
const (
	svgMargin  = 16
	svgLabelW  = 230
	svgPanelW  = 300
	svgPanelGp = 70
	svgRowH    = 22
	svgBarH    = 14
	svgTitleH  = 44
	svgGroupH  = 26
)

// Palette: uringd stands out, everyone else in one colour.
const (
	colourRef   = "#d9480f"
	colourPeer  = "#4263eb"
	colourText  = "#212529"
	colourMuted = "#868e96"
	colourGrid  = "#dee2e6"
)

// WriteSVG draws the table as horizontal bar charts: one block per group,
// one panel per charted metric, bars at the median with a min–max
// whisker. Each panel is scaled to its own group's largest value, so
// groups of very different magnitude (1 KiB and 10 MiB files) stay
// readable. Rows that were not measured show their status instead.
func (t *Table) WriteSVG(w io.Writer) error {
	var metrics []Metric
	for _, m := range t.Metrics {
		if m.Chart {
			metrics = append(metrics, m)
		}
	}
	if len(metrics) == 0 && len(t.Metrics) > 0 {
		metrics = t.Metrics[:1]
	}
	groups := t.groups()
	// At least wide enough for the subtitle, the status texts of skipped
	// rows and the command line at the bottom.
	width := max(2*svgMargin+svgLabelW+len(metrics)*(svgPanelW+svgPanelGp), 900)
	height := svgMargin + svgTitleH
	for _, g := range groups {
		height += svgGroupH + svgRowH*t.countRows(g) + 10
	}
	height += svgMargin + 14

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold" fill="%s">%s</text>`+"\n",
		svgMargin, svgMargin+14, colourText, esc(t.Title))
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="%s">%s</text>`+"\n",
		svgMargin, svgMargin+30, colourMuted,
		esc(fmt.Sprintf("%s, %d cores · kernel %s · %s · %s · bars: median, whiskers: min–max", t.Env.CPU, t.Env.Cores, t.Env.Kernel, t.Env.Go, t.Env.Date)))
	y := svgMargin + svgTitleH
	for _, g := range groups {
		// Group header with the metric names over their panels.
		if g != "" {
			fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold" fill="%s">%s</text>`+"\n", svgMargin, y+16, colourText, esc(g))
		}
		for i, m := range metrics {
			x := svgMargin + svgLabelW + i*(svgPanelW+svgPanelGp)
			dir := "higher is better"
			if !m.Higher {
				dir = "lower is better"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s <tspan fill="%s" font-size="10">(%s)</tspan></text>`+"\n",
				x, y+16, colourText, esc(m.Label), colourMuted, dir)
		}
		y += svgGroupH
		scale := make([]float64, len(metrics))
		for i, m := range metrics {
			for _, r := range t.Rows {
				if r.Group == g && r.Measured() {
					scale[i] = math.Max(scale[i], Max(r.Values[m.Key]))
				}
			}
		}
		for _, r := range t.Rows {
			if r.Group != g {
				continue
			}
			colour := colourPeer
			if r.Ref {
				colour = colourRef
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" fill="%s">%s</text>`+"\n",
				svgMargin+svgLabelW-8, y+svgBarH-2, colourText, esc(truncate(r.Peer, 34)))
			if !r.Measured() {
				status := r.Status
				if status == "" {
					status = "no samples"
				}
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-style="italic" fill="%s">%s</text>`+"\n",
					svgMargin+svgLabelW, y+svgBarH-2, colourMuted, esc(truncate(status, 90)))
				y += svgRowH
				continue
			}
			for i, m := range metrics {
				x := float64(svgMargin + svgLabelW + i*(svgPanelW+svgPanelGp))
				s := r.Values[m.Key]
				if len(s) == 0 || scale[i] <= 0 {
					continue
				}
				k := float64(svgPanelW) / scale[i]
				med, lo, hi := Median(s)*k, Min(s)*k, Max(s)*k
				fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n",
					x, y-3, x, y+svgBarH+3, colourGrid)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n",
					x, y, math.Max(med, 1), svgBarH, colour)
				if hi > lo {
					mid := y + svgBarH/2
					fmt.Fprintf(&b, `<path d="M%.1f %dH%.1fM%.1f %dV%dM%.1f %dV%d" stroke="%s" fill="none"/>`+"\n",
						x+lo, mid, x+hi, x+lo, mid-4, mid+4, x+hi, mid-4, mid+4, colourText)
				}
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" fill="%s">%s</text>`+"\n",
					x+math.Max(hi, med)+4, y+svgBarH-2, colourText, esc(FormatNum(Median(s))))
			}
			y += svgRowH
		}
		y += 10
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="10" fill="%s">%s</text>`+"\n",
		svgMargin, height-svgMargin, colourMuted, esc(truncate(t.Env.Command, 150)))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func (t *Table) countRows(g string) int {
	n := 0
	for _, r := range t.Rows {
		if r.Group == g {
			n++
		}
	}
	return n
}

func esc(s string) string { return html.EscapeString(s) }

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
