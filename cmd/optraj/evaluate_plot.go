package main

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/optraj/optraj/evaluate"
	"github.com/optraj/optraj/internal/atomicfile"
)

// Picture sizes: a tile of the LOO grid, and a single chart.
const (
	tileSide   = 3 * vg.Inch
	chartWidth = 7 * vg.Inch
	chartHigh  = 4.5 * vg.Inch
	looColumns = 4    // tiles per row of the LOO grid
	ldsPad     = 0.15 // room above and below the LDS bars for the legend
)

// writeEvalPlots draws a picture per protocol that ran, each as PNG and
// SVG.
func writeEvalPlots(dir string, rep *evaluate.Report) error {
	type picture struct {
		name  string
		plots [][]*plot.Plot
		w, h  vg.Length
	}
	var pics []picture
	if rep.LOO != nil {
		grid := looPlots(rep.LOO)
		pics = append(pics, picture{"loo", grid,
			vg.Length(len(grid[0])) * tileSide, vg.Length(len(grid)) * tileSide})
	}
	if rep.LDS != nil {
		pics = append(pics, picture{"lds", one(ldsPlot(rep.LDS)), chartWidth, chartHigh})
	}
	if rep.Mislabel != nil {
		pics = append(pics, picture{"mislabel", one(mislabelPlot(rep.Mislabel)),
			chartWidth, chartHigh})
	}
	pics = append(pics, picture{"cost", one(costPlot(rep)), chartWidth, chartHigh})
	for _, p := range pics {
		if err := saveGrid(filepath.Join(dir, p.name), p.plots, p.w, p.h); err != nil {
			return err
		}
	}
	return nil
}

func one(p *plot.Plot) [][]*plot.Plot { return [][]*plot.Plot{{p}} }

// saveGrid draws the grid of plots into base.png and base.svg.
func saveGrid(base string, plots [][]*plot.Plot, w, h vg.Length) error {
	img := vgimg.New(w, h)
	drawGrid(draw.New(img), plots)
	if err := saveTo(base+".png", vgimg.PngCanvas{Canvas: img}); err != nil {
		return err
	}
	svg := vgsvg.New(w, h)
	drawGrid(draw.New(svg), plots)
	return saveTo(base+".svg", svg)
}

func drawGrid(dc draw.Canvas, plots [][]*plot.Plot) {
	tiles := draw.Tiles{Rows: len(plots), Cols: len(plots[0]),
		PadX: vg.Millimeter, PadY: vg.Millimeter}
	canvases := plot.Align(plots, tiles, dc)
	for r, row := range plots {
		for c, p := range row {
			if p != nil {
				p.Draw(canvases[r][c])
			}
		}
	}
}

func saveTo(path string, wt io.WriterTo) error {
	err := atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
	if err != nil {
		return fmt.Errorf("picture: %w", err)
	}
	return nil
}

// looPlots returns a scatter plot of predicted against actual change per
// method that has scores, looColumns to a row.
func looPlots(r *evaluate.LOOReport) [][]*plot.Plot {
	var flat []*plot.Plot
	for _, m := range r.Methods {
		if m.Err == "" {
			flat = append(flat, looScatter(r.Actual, m))
		}
	}
	if len(flat) == 0 {
		flat = append(flat, emptyPlot("leave-one-out: no method has scores"))
	}
	cols := min(looColumns, len(flat))
	grid := make([][]*plot.Plot, (len(flat)+cols-1)/cols)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
		copy(grid[i], flat[i*cols:min((i+1)*cols, len(flat))])
	}
	return grid
}

func emptyPlot(title string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	return p
}

// looScatter plots one method's predictions, the points chosen by score
// apart from the random ones.
func looScatter(a *evaluate.LOOActual, m evaluate.LOOMethod) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s (r = %s, ρ = %s)", m.Method, num(m.Pearson),
		num(m.Spearman))
	p.X.Label.Text = "predicted change"
	p.Y.Label.Text = "actual change"
	var top, random plotter.XYs
	for k, pt := range a.Points {
		v := m.Predicted[k]
		if math.IsNaN(v) {
			continue
		}
		xy := plotter.XY{X: v, Y: pt.Actual}
		if pt.Top {
			top = append(top, xy)
		} else {
			random = append(random, xy)
		}
	}
	addScatter(p, top, "by |score|", plotutil.Color(0), draw.CircleGlyph{})
	addScatter(p, random, "at random", plotutil.Color(1), draw.TriangleGlyph{})
	p.Legend.Top, p.Legend.Left = true, true
	return p
}

func addScatter(p *plot.Plot, xys plotter.XYs, name string, c color.Color,
	shape draw.GlyphDrawer) {
	if len(xys) == 0 {
		return
	}
	s, err := plotter.NewScatter(xys)
	if err != nil {
		return // non-finite values: nothing to draw
	}
	s.GlyphStyle.Color, s.GlyphStyle.Shape = c, shape
	s.GlyphStyle.Radius = vg.Points(2)
	p.Add(s)
	p.Legend.Add(name, s)
}

// ldsPlot is a bar chart of each method's LDS, of the loss and of the
// margin.
func ldsPlot(r *evaluate.LDSReport) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("linear datamodeling score (%d subsets of %.0f%%)",
		r.Subsets, 100*r.Fraction)
	p.Y.Label.Text = "mean Spearman correlation"
	var names []string
	var loss, margin plotter.Values
	for _, m := range r.Methods {
		names = append(names, m.Method)
		loss = append(loss, finiteOr0(float64(m.Loss)))
		margin = append(margin, finiteOr0(float64(m.Margin)))
	}
	low := 0.0
	for _, v := range append(slices.Clone(loss), margin...) {
		low = min(low, v)
	}
	p.Y.Min, p.Y.Max = low-ldsPad, 1+ldsPad // LDS is a correlation
	w := vg.Points(12)
	addBars(p, loss, "loss", plotutil.Color(0), -w/2, w)
	addBars(p, margin, "margin", plotutil.Color(1), w/2, w)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	p.Legend.Top = true
	return p
}

func addBars(p *plot.Plot, v plotter.Values, name string, c color.Color,
	offset, width vg.Length) {
	b, err := plotter.NewBarChart(v, width)
	if err != nil {
		return
	}
	b.Color, b.LineStyle.Width, b.Offset = c, 0, offset
	p.Add(b)
	p.Legend.Add(name, b)
}

func finiteOr0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// mislabelPlot draws the detection curve of each method's first detector
// and the diagonal of a random order.
func mislabelPlot(r *evaluate.MislabelResult) *plot.Plot {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("mislabel detection (%d flipped labels)", r.Flipped)
	p.X.Label.Text = "share of the training set inspected"
	p.Y.Label.Text = "share of the flipped labels found"
	seen := map[string]bool{}
	for _, m := range r.Methods {
		if m.Err != "" || seen[m.Method] {
			continue
		}
		seen[m.Method] = true
		xys := make(plotter.XYs, len(m.Curve))
		for k, v := range m.Curve {
			xys[k] = plotter.XY{X: r.CurveShares[k], Y: v}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			continue
		}
		l.Color = plotutil.Color(len(seen) - 1)
		l.Dashes = plotutil.Dashes(len(seen) - 1)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (AUC %.3f)", m.Method, m.AUC), l)
	}
	p.Legend.Top, p.Legend.Left = false, false
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	return p
}

// costPlot is a bar chart of each method's wall time.
func costPlot(rep *evaluate.Report) *plot.Plot {
	p := plot.New()
	p.Title.Text = "cost of scoring every training point"
	p.Y.Label.Text = "wall time (s)"
	var names []string
	var secs plotter.Values
	for _, c := range rep.Costs {
		names = append(names, c.Method)
		secs = append(secs, c.Seconds)
	}
	addBars(p, secs, "wall time", plotutil.Color(0), 0, vg.Points(16))
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = math.Pi / 4
	p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
	return p
}
