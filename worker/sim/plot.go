package sim

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Series is one line of a plot.
type Series struct {
	Name string
	X, Y []float64
	Dash bool
}

// Plot describes a line chart.
type Plot struct {
	Title, XLabel, YLabel string
	LogY                  bool
	Series                []Series
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// niceStep returns a round tick step for a span divided into about n parts.
func niceStep(span float64, n int) float64 {
	raw := span / float64(n)
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// WriteSVG renders the plot as a self-contained SVG. Points with a
// non-finite value (or a non-positive one on a log axis) break the line.
func (p Plot) WriteSVG(w io.Writer) error {
	const W, H, ml, mr, mt, mb = 860.0, 520.0, 80.0, 230.0, 40.0, 60.0
	tr := func(y float64) float64 {
		if p.LogY {
			return math.Log10(y)
		}
		return y
	}
	ok := func(y float64) bool { return finite(y) && (!p.LogY || y > 0) }
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range p.Series {
		for i := range s.X {
			if i >= len(s.Y) || !ok(s.Y[i]) || !finite(s.X[i]) {
				continue
			}
			x0, x1 = math.Min(x0, s.X[i]), math.Max(x1, s.X[i])
			y0, y1 = math.Min(y0, tr(s.Y[i])), math.Max(y1, tr(s.Y[i]))
		}
	}
	if !(x1 >= x0) {
		x0, x1, y0, y1 = 0, 1, 0, 1
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 == y0 {
		y0, y1 = y0-0.5, y1+0.5
	}
	pad := (y1 - y0) * 0.05
	y0, y1 = y0-pad, y1+pad
	px := func(x float64) float64 { return ml + (x-x0)/(x1-x0)*(W-ml-mr) }
	py := func(y float64) float64 { return H - mb - (tr(y)-y0)/(y1-y0)*(H-mt-mb) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", (ml+W-mr)/2, html.EscapeString(p.Title))
	// axes and ticks
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#444"/>`+"\n", ml, mt, W-ml-mr, H-mt-mb)
	xs := niceStep(x1-x0, 8)
	for x := math.Ceil(x0/xs) * xs; x <= x1+1e-9; x += xs {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#ddd"/><text x="%.1f" y="%.0f" text-anchor="middle">%g</text>`+"\n",
			px(x), mt, px(x), H-mb, px(x), H-mb+16, x)
	}
	if p.LogY {
		for e := math.Floor(y0); e <= math.Ceil(y1); e++ {
			if e < y0 || e > y1 {
				continue
			}
			y := H - mb - (e-y0)/(y1-y0)*(H-mt-mb)
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">1e%d</text>`+"\n",
				ml, y, W-mr, y, ml-6, y+4, int(e))
		}
	} else {
		ys := niceStep(y1-y0, 8)
		for y := math.Ceil(y0/ys) * ys; y <= y1+1e-9; y += ys {
			fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" text-anchor="end">%.4g</text>`+"\n",
				ml, py(y), W-mr, py(y), ml-6, py(y)+4, y)
		}
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", (ml+W-mr)/2, H-18, html.EscapeString(p.XLabel))
	fmt.Fprintf(&b, `<text x="18" y="%.0f" text-anchor="middle" transform="rotate(-90 18 %.0f)">%s</text>`+"\n", (mt+H-mb)/2, (mt+H-mb)/2, html.EscapeString(p.YLabel))
	// lines
	for k, s := range p.Series {
		col := palette[k%len(palette)]
		dash := ""
		if s.Dash {
			dash = ` stroke-dasharray="6 4"`
		}
		var pts []string
		flush := func() {
			if len(pts) > 1 {
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6"%s points="%s"/>`+"\n", col, dash, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i := range s.X {
			if i >= len(s.Y) || !ok(s.Y[i]) || !finite(s.X[i]) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.X[i]), py(s.Y[i])))
		}
		flush()
		ly := mt + 10 + float64(k)*18
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="%s" stroke-width="2"%s/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			W-mr+12, ly, W-mr+40, ly, col, dash, W-mr+46, ly+4, html.EscapeString(s.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
