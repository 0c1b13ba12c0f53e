package sim

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestWriteSVG(t *testing.T) {
	cases := []struct {
		name  string
		plot  Plot
		lines int
	}{
		{"log-with-gaps", Plot{Title: "a<b", LogY: true, Series: []Series{
			{Name: "x", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 0.1, math.NaN(), 0.01, 0.001}},
			{Name: "y", X: []float64{0, 1}, Y: []float64{2, 0}, Dash: true},
		}}, 2},
		{"linear", Plot{Series: []Series{{Name: "z", X: []float64{1, 2, 3}, Y: []float64{3, 3, 3}}}}, 1},
		{"empty", Plot{}, 0},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := c.plot.WriteSVG(&b); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := b.String()
		if !strings.HasPrefix(s, "<svg") || !strings.HasSuffix(s, "</svg>\n") || strings.Contains(s, "NaN") || strings.Contains(s, "a<b") {
			t.Errorf("%s: malformed SVG", c.name)
		}
		if n := strings.Count(s, "<polyline"); n != c.lines {
			t.Errorf("%s: %d polylines, want %d", c.name, n, c.lines)
		}
	}
}
