package demo

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// figure is one rendered plot of the report: an inline <svg> element and
// the one-line caption under it.
type figure struct {
	SVG     template.HTML
	Caption string
}

// barSeries is one bar per group, all in one colour. A value that is NaN or
// infinite is drawn as an empty slot marked "n/a" (a zero bar would read as
// a measured zero).
type barSeries struct {
	Name   string
	Color  color.Color
	Values []float64
}

// Plot sizes in points; the page lays small plots out two to a row.
const (
	wideW, wideH   = 640, 250
	smallW, smallH = 420, 230
)

// reportFont is Liberation Sans, the same metrics as Arial and Helvetica, so
// a browser that lacks it still fits the text where gonum measured it.
var reportFont = font.Font{Typeface: "Liberation", Variant: "Sans"}

const svgFontFallback = "font-family:'Liberation Sans',Arial,Helvetica,sans-serif;"

// Colours: every "+ DisTaC" column is the dark shade of its regime's light
// one, so before/after pairs read at a glance.
var (
	colIdealColor = color.RGBA{0x99, 0x99, 0x99, 0xff}
	columnColors  = map[string]color.Color{
		ColMismatch:       color.RGBA{0xf4, 0xb1, 0x6b, 0xff},
		ColMismatchDisTaC: color.RGBA{0xd9, 0x5f, 0x02, 0xff},
		ColLowConf:        color.RGBA{0x8f, 0xbf, 0xe0, 0xff},
		ColLowConfDisTaC:  color.RGBA{0x1f, 0x5f, 0xa8, 0xff},
		ColIdeal:          colIdealColor,
	}
	fallbackColors = []color.Color{
		color.RGBA{0x1b, 0x9e, 0x77, 0xff}, color.RGBA{0x75, 0x70, 0xb3, 0xff},
		color.RGBA{0xe7, 0x29, 0x8a, 0xff}, color.RGBA{0x66, 0xa6, 0x1e, 0xff},
	}
	beforeShade = color.RGBA{0xbb, 0xbb, 0xbb, 0xff}
	afterShade  = color.RGBA{0x33, 0x33, 0x33, 0xff}
)

// columnColor is the colour of a column's bars; i picks a fallback for a
// name the demo does not produce.
func columnColor(name string, i int) color.Color {
	if c, ok := columnColors[name]; ok {
		return c
	}
	return fallbackColors[i%len(fallbackColors)]
}

// normPlot: ||tau_t|| per task, before (column before) and after DisTaC
// (column after). Nil when the run lacks either column.
func normPlot(r *Results, before, after, caption string) (*figure, error) {
	return modelMetricPlot(r, before, after, "task-vector norm, "+before, "L2 norm of the task vector",
		func(m ModelSummary) float64 { return m.Norm }, caption)
}

// entropyPlot: mean prediction entropy (nats) per task before and after
// DisTaC; the confidence fix lowers it.
func entropyPlot(r *Results, before, after string) (*figure, error) {
	return modelMetricPlot(r, before, after, "mean prediction entropy, "+before, "entropy (nats)",
		func(m ModelSummary) float64 { return m.Entropy },
		fmt.Sprintf("Mean prediction entropy on test per task, %s before and after DisTaC: lower is sharper.", before))
}

// confidencePlot: mean top-1 probability per task before and after DisTaC.
func confidencePlot(r *Results, before, after string) (*figure, error) {
	return modelMetricPlot(r, before, after, "mean confidence, "+before, "mean top-1 probability",
		func(m ModelSummary) float64 { return m.Confidence },
		fmt.Sprintf("Mean confidence (top-1 probability) on test per task, %s before and after DisTaC.", before))
}

// modelMetricPlot draws one per-task metric of two columns' models as
// grouped bars, one group per task.
func modelMetricPlot(r *Results, before, after, title, ylabel string, get func(ModelSummary) float64, caption string) (*figure, error) {
	cb, ca := r.Column(before), r.Column(after)
	if cb == nil || ca == nil || len(r.Tasks) == 0 {
		return nil, nil
	}
	series := []barSeries{
		{Name: before, Color: beforeShade, Values: modelValues(cb, len(r.Tasks), get)},
		{Name: after, Color: columnColor(after, 0), Values: modelValues(ca, len(r.Tasks), get)},
	}
	svg, err := groupedBars(title, ylabel, r.Tasks, series, smallW, smallH)
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", title, err)
	}
	return &figure{SVG: svg, Caption: caption}, nil
}

// modelValues is get of each task's model; a missing model is NaN.
func modelValues(c *ColumnResult, tasks int, get func(ModelSummary) float64) []float64 {
	v := make([]float64, tasks)
	for t := range v {
		v[t] = math.NaN()
		if t < len(c.Models) && c.Models[t] != nil {
			v[t] = get(c.Models[t].ModelSummary)
		}
	}
	return v
}

// accuracyPlot: mean accuracy of every merge method (groups) in every
// column (bars), normalized or absolute, in percent.
func accuracyPlot(r *Results, normalized bool) (*figure, error) {
	if len(r.Columns) == 0 {
		return nil, nil
	}
	title, caption := "absolute accuracy of the merged model", "Mean absolute test accuracy of each merged model, per merge method and regime."
	if normalized {
		title, caption = "normalized accuracy of the merged model", "Mean normalized accuracy (merged / fine-tuned, per task) of each merge method and regime: each dark \"+ DisTaC\" bar beside its light regime bar shows what conditioning recovers; grey is the ideal column."
	}
	var series []barSeries
	for i, c := range r.Columns {
		s := barSeries{Name: c.Name, Color: columnColor(c.Name, i)}
		for _, m := range demoMethods {
			v := math.NaN()
			if mr := c.Method(m); mr != nil {
				v = 100 * mr.MeanAcc
				if normalized {
					v = 100 * mr.MeanNorm
				}
			}
			s.Values = append(s.Values, v)
		}
		series = append(series, s)
	}
	svg, err := groupedBars(title, "accuracy (%)", methodLabels(), series, wideW, wideH)
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", title, err)
	}
	return &figure{SVG: svg, Caption: caption}, nil
}

// calibrationPlot: mean ECE on test of each method's merged model in one
// column, before and after temperature scaling on validation.
func calibrationPlot(c *ColumnResult) (*figure, error) {
	before := barSeries{Name: "before TS", Color: beforeShade}
	after := barSeries{Name: "after TS", Color: afterShade}
	for _, m := range demoMethods {
		b, a := math.NaN(), math.NaN()
		if mr := c.Method(m); mr != nil {
			b, a = mr.MeanECE[0], mr.MeanECE[1]
		}
		before.Values, after.Values = append(before.Values, b), append(after.Values, a)
	}
	title := "ECE, " + c.Name
	svg, err := groupedBars(title, "mean ECE", methodLabels(), []barSeries{before, after}, smallW, smallH)
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", title, err)
	}
	return &figure{SVG: svg, Caption: fmt.Sprintf("Calibration of the merged models, %s: mean expected calibration error on test before and after temperature scaling (TS) fitted on validation; lower is better.", c.Name)}, nil
}

func methodLabels() []string {
	var s []string
	for _, m := range demoMethods {
		s = append(s, methodLabel(m))
	}
	return s
}

// groupedBars draws one group per label with one bar per series side by
// side, the legend in a strip on the right, and returns the inline SVG.
func groupedBars(title, ylabel string, groups []string, series []barSeries, w, h vg.Length) (template.HTML, error) {
	if len(groups) == 0 || len(series) == 0 {
		return "", fmt.Errorf("no data: %d groups, %d series", len(groups), len(series))
	}
	p := plot.New()
	setFonts(p)
	p.Title.Text, p.Y.Label.Text = title, ylabel
	p.Title.Padding = 6
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	p.Add(grid)

	leg := plot.NewLegend()
	leg.TextStyle.Font = font.From(reportFont, 9)
	leg.Top, leg.Left, leg.Padding = true, true, 2
	for _, s := range series {
		leg.Add(s.Name, &plotter.BarChart{Values: plotter.Values{1}, Width: 1, Color: s.Color, LineStyle: barOutline(s.Color)})
	}
	legW := leg.Rectangle(draw.Canvas{}).Size().X + 12

	// The data area is roughly what the legend and the y axis leave.
	area := w - legW - 50
	slot := area / vg.Length(len(groups))
	bw := min(0.8*slot/vg.Length(len(series)), 22)
	if bw < 1 {
		bw = 1
	}
	low, top := 0.0, 0.0
	for i, s := range series {
		// One chart per bar, so a missing value leaves its slot empty.
		offset := (vg.Length(i) - vg.Length(len(series)-1)/2) * bw
		var na plotter.XYLabels
		for g := range groups {
			v := math.NaN()
			if g < len(s.Values) {
				v = s.Values[g]
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				na.XYs = append(na.XYs, plotter.XY{X: float64(g), Y: 0})
				na.Labels = append(na.Labels, "n/a")
				continue
			}
			low, top = math.Min(low, v), math.Max(top, v)
			bc, err := plotter.NewBarChart(plotter.Values{v}, bw)
			if err != nil {
				return "", err
			}
			bc.XMin, bc.Offset = float64(g), offset
			bc.Color, bc.LineStyle = s.Color, barOutline(s.Color)
			p.Add(bc)
		}
		if len(na.Labels) > 0 {
			l, err := plotter.NewLabels(na)
			if err != nil {
				return "", err
			}
			for j := range l.TextStyle {
				l.TextStyle[j].Font = font.From(reportFont, 8)
				l.TextStyle[j].Rotation = math.Pi / 2 // upright in the empty slot
				l.TextStyle[j].XAlign, l.TextStyle[j].YAlign = draw.XLeft, draw.YCenter
			}
			l.Offset = vg.Point{X: offset, Y: 2}
			p.Add(l)
		}
	}
	p.NominalX(groups...)
	p.X.Min, p.X.Max = math.Min(p.X.Min, 0), math.Max(p.X.Max, float64(len(groups)-1))
	rotateCrowdedTicks(p, groups, slot)
	p.Y.Tick.Marker = shortTicks{}
	// From zero (or below it, for a negative value) to a little above the
	// tallest bar; [0, 1] when every value is zero or missing.
	p.Y.Min, p.Y.Max = 1.08*low, 1
	if top > 0 {
		p.Y.Max = 1.08 * top
	}
	return renderSVG(p, &leg, legW, w, h)
}

// rotateCrowdedTicks tilts the group labels when the widest one does not fit
// its slot.
func rotateCrowdedTicks(p *plot.Plot, groups []string, slot vg.Length) {
	var widest vg.Length
	for _, g := range groups {
		widest = max(widest, p.X.Tick.Label.Rectangle(g).Size().X)
	}
	if widest > 0.95*slot {
		p.X.Tick.Label.Rotation = math.Pi / 6
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	}
}

// shortTicks are gonum's default ticks labelled without trailing zeros
// (75, not 75.00).
type shortTicks struct{}

func (shortTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if v, err := strconv.ParseFloat(ts[i].Label, 64); ts[i].Label != "" && err == nil {
			ts[i].Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return ts
}

// barOutline edges a bar in its own colour, so a zero bar still shows as a
// line on the axis.
func barOutline(c color.Color) draw.LineStyle {
	return draw.LineStyle{Color: c, Width: 0.5}
}

func setFonts(p *plot.Plot) {
	p.Title.TextStyle.Font = font.From(reportFont, 11)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font = font.From(reportFont, 10)
		a.Tick.Label.Font = font.From(reportFont, 9)
	}
}

// renderSVG draws p on the left and the legend in a legW-wide strip on the
// right, and returns the <svg> element without its XML prolog, its font
// names given fallbacks. A panic inside the plotting library is returned
// as an error.
func renderSVG(p *plot.Plot, leg *plot.Legend, legW, w, h vg.Length) (svg template.HTML, err error) {
	defer func() {
		if e := recover(); e != nil {
			svg, err = "", fmt.Errorf("render: %v", e)
		}
	}()
	c := vgsvg.New(w, h)
	dc := draw.New(c)
	p.Draw(draw.Crop(dc, 0, -legW, 0, 0))
	leg.Draw(draw.Crop(dc, w-legW+8, 0, 0, -28))
	var b bytes.Buffer
	if _, err := c.WriteTo(&b); err != nil {
		return "", err
	}
	s := b.String()
	i := strings.Index(s, "<svg")
	if i < 0 {
		return "", fmt.Errorf("render: no <svg> element in the output")
	}
	s = strings.ReplaceAll(s[i:], "font-family:Liberation Sans;", svgFontFallback)
	// Text in the SVG went through html.EscapeString in vgsvg; the rest is
	// numbers and fixed markup.
	return template.HTML(s), nil
}
