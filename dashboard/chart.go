package dashboard

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// lagChart draws a job's lag samples between from and to as an SVG line
// chart (server-side: no script needed). Only numbers and escaped text go
// into the markup.
func lagChart(job string, samples []Row, from, to time.Time) template.HTML {
	const (
		w, h                  = 640.0, 200.0
		left, right, top, bot = 56.0, 12.0, 12.0, 28.0
	)
	pw, ph := w-left-right, h-top-bot
	maxLag := 0.0
	for _, s := range samples {
		maxLag = math.Max(maxLag, toFloat(s["lag_ms"])/1000)
	}
	yMax := niceCeil(maxLag)
	span := to.Sub(from).Seconds()
	x := func(t time.Time) float64 { return left + pw*math.Max(0, math.Min(1, t.Sub(from).Seconds()/span)) }
	y := func(sec float64) float64 { return top + ph*(1-sec/yMax) }

	var b strings.Builder
	last := "no samples in the last hour"
	if n := len(samples); n > 0 {
		last = fmt.Sprintf("%d samples, maximum %s s, latest %s s", n, dec(maxLag, 1), dec(toFloat(samples[n-1]["lag_ms"])/1000, 1))
	}
	label := html.EscapeString(fmt.Sprintf("Lag of %s over the last hour, in seconds: %s", job, last))
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, label)
	fmt.Fprintf(&b, `<title>%s</title>`, label)
	// Grid and axis labels: four horizontal lines, a tick every 15 minutes.
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`, left, y(v), w-right, y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%.1f" text-anchor="end">%s s</text>`, left-6, y(v)+4, html.EscapeString(trimNum(v)))
	}
	for i := 0; i <= 4; i++ {
		t := from.Add(time.Duration(float64(to.Sub(from)) * float64(i) / 4))
		anchor := map[int]string{0: "start", 4: "end"}[i]
		if anchor == "" {
			anchor = "middle"
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%g" text-anchor="%s">%s</text>`, x(t), h-8, anchor, t.UTC().Format("15:04"))
	}
	if len(samples) > 0 {
		var pts []string
		for _, s := range samples {
			t, ok := s["at"].(time.Time)
			if !ok {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(t), y(toFloat(s["lag_ms"])/1000)))
		}
		if len(pts) == 1 {
			fmt.Fprintf(&b, `<circle class="line" cx="%s" cy="%s" r="3"/>`, strings.Split(pts[0], ",")[0], strings.Split(pts[0], ",")[1])
		}
		fmt.Fprintf(&b, `<polyline class="line" points="%s"/>`, strings.Join(pts, " "))
	} else {
		fmt.Fprintf(&b, `<text class="axis" x="%g" y="%g" text-anchor="middle">no samples in the last hour</text>`, left+pw/2, top+ph/2)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}
