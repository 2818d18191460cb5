package console

import (
	"fmt"

	"github.com/poolhost/poolhost/host/activity"
)

// chart is a provider's last day as stacked bars, one per hour, drawn by the server as
// inline SVG: no script, no chart library, and it prints.
type chart struct {
	Width, Height int
	Bars          []bar
	Max           int64
	Ticks         []tick
	Empty         bool
}

type bar struct {
	X, Y, W, H int
	Class      string // the outcome: colours come from style.css
	Title      string // the hover text
}

type tick struct {
	X      int
	Label  string
	Anchor string // text-anchor: middle, or end at the right edge
}

const (
	chartW, chartH = 480, 120
	chartTop       = 6
	chartBottom    = 18 // room for the hour labels
)

func newChart(p activity.Provider) chart {
	c := chart{Width: chartW, Height: chartH}
	for _, h := range p.Hours {
		var sum int64
		for _, o := range activity.Outcomes {
			sum += h.Counts[o]
		}
		c.Max = max(c.Max, sum)
	}
	c.Empty = c.Max == 0
	n := len(p.Hours)
	if n == 0 {
		return c
	}
	slot := chartW / n
	plot := chartH - chartTop - chartBottom
	for i, h := range p.Hours {
		x := i*slot + 1
		if h.Start.Hour()%6 == 0 {
			tk := tick{X: x + slot/2, Label: h.Start.Format("15:04"), Anchor: "middle"}
			if tk.X > chartW-16 {
				tk.X, tk.Anchor = chartW-2, "end"
			}
			c.Ticks = append(c.Ticks, tk)
		}
		if c.Max == 0 {
			continue
		}
		y := chartTop + plot
		for _, o := range activity.Outcomes {
			v := h.Counts[o]
			if v == 0 {
				continue
			}
			hgt := int(int64(plot) * v / c.Max)
			if hgt < 1 {
				hgt = 1
			}
			y -= hgt
			c.Bars = append(c.Bars, bar{X: x, Y: y, W: slot - 2, H: hgt, Class: "bar-" + o,
				Title: fmt.Sprintf("%s–%s UTC: %d %s", h.Start.Format("15:04"), h.Start.Add(59*60e9).Format("15:04"), v, o)})
		}
	}
	return c
}
