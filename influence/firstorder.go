package influence

import (
	"fmt"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// prepared holds what the replay of FirstOrder needs from the final
// weights, the per-step workspaces, and the scores being summed.
type prepared struct {
	obj    Objectives
	data   *train.Data
	scores *Scores
	owned  []*tensor.Tensor // every device tensor below, to free

	// Against the mean test loss: per linear layer l, the test gradient
	// (vW[l], vb[l]); for layer 0, p0 = X·vW[0]ᵀ + vb[0] for all N.
	vW, vb []*tensor.Tensor
	p0     *tensor.Tensor

	// Against test points: per layer, their inputs and output gradients
	// at the final weights (J×in, J×out); k0 = X·aTest[0]ᵀ, N×J.
	aTest, dTest []*tensor.Tensor
	k0           *tensor.Tensor

	// Self: per layer, each training point's final output gradient
	// (N×out) and, past layer 0, its final input (N×in); ‖xᵢ‖².
	dFinal, aFinal []*tensor.Tensor
	xNorm          []float64

	// Per-step workspaces, BatchSize rows.
	wide, wide2 *tensor.Tensor // B×max(out, J)
	gath        *tensor.Tensor // B×max(in, out)
	vec         *tensor.Tensor // B
	host, host2 []float32
	sum         [4][]float64 // per batch row: test loss, self, tracin, points (B×J)
}

func (p *prepared) alloc(dev device.Device, shape ...int) (*tensor.Tensor, error) {
	t, err := tensor.New(dev, shape...)
	if err != nil {
		return nil, fmt.Errorf("influence: %w", err)
	}
	p.owned = append(p.owned, t)
	return t, nil
}

func (p *prepared) free() {
	for _, t := range p.owned {
		t.Free()
	}
	p.owned = nil
}

// prepare computes, at the final weights of model, everything the
// objectives need, and allocates the scores.
// The per-step workspaces hold batchRows rows.
func prepare(model *train.MLP, batchRows int, data *train.Data,
	obj Objectives) (*prepared, error) {
	n, j := data.N(), len(obj.TestPoints)
	p := &prepared{obj: obj, data: data, scores: &Scores{
		TracIn: make([]float64, n), FinalLoss: make([]float64, n)}}
	if obj.TestLoss {
		p.scores.TestLoss = make([]float64, n)
	}
	if j > 0 {
		p.scores.Points = make([]float64, n*j)
	}
	if obj.Self {
		p.scores.Self = make([]float64, n)
	}
	if err := p.workspaces(model.Device(), model.Sizes, batchRows); err != nil {
		return p, err
	}
	steps := []func(*train.MLP) error{p.finalPass}
	if obj.TestLoss {
		steps = append(steps, p.testGradient)
	}
	if j > 0 {
		steps = append(steps, p.testPoints)
	}
	for _, step := range steps {
		if err := step(model); err != nil {
			return p, err
		}
	}
	return p, nil
}

// workspaces allocates the per-step buffers for batches of b rows of a
// model with the given layer sizes.
func (p *prepared) workspaces(dev device.Device, sizes []int, b int) error {
	wide, gath := len(p.obj.TestPoints), 1
	for _, s := range sizes {
		wide, gath = max(wide, s), max(gath, s)
	}
	var err error
	for _, t := range []struct {
		dst   **tensor.Tensor
		shape []int
	}{
		{&p.wide, []int{b, wide}}, {&p.wide2, []int{b, wide}},
		{&p.gath, []int{b, gath}}, {&p.vec, []int{b}},
	} {
		if *t.dst, err = p.alloc(dev, t.shape...); err != nil {
			return err
		}
	}
	p.host = make([]float32, b*wide)
	p.host2 = make([]float32, b*wide)
	for i := range p.sum {
		p.sum[i] = make([]float64, b*max(1, len(p.obj.TestPoints)))
	}
	return nil
}

// view returns the first rows×cols elements of t as a rows×cols matrix.
func view(t *tensor.Tensor, rows, cols int) *tensor.Tensor {
	return t.Reshape(t.Len()).RowSlice(0, rows*cols).Reshape(rows, cols)
}

// chunks calls f on consecutive row ranges of at most size rows covering
// [0, n).
func chunks(n, size int, f func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := f(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}

// finalPass runs every training point through the final model: its loss,
// ‖xᵢ‖², and, for self-relevance, its per-layer inputs and gradients.
func (p *prepared) finalPass(m *train.MLP) error {
	dev, n, lins := m.Device(), p.data.N(), m.Linears()
	if p.obj.Self {
		p.dFinal = make([]*tensor.Tensor, len(lins))
		p.aFinal = make([]*tensor.Tensor, len(lins))
		for l, lin := range lins {
			var err error
			if p.dFinal[l], err = p.alloc(dev, n, lin.Out); err != nil {
				return err
			}
			if l == 0 {
				continue
			}
			if p.aFinal[l], err = p.alloc(dev, n, lin.In); err != nil {
				return err
			}
		}
	}
	x := p.data.X
	norm, err := p.alloc(dev, n)
	if err != nil {
		return err
	}
	norm.RowDot(x, x)
	p.xNorm = make([]float64, n)
	if err := hostAdd(p.xNorm, norm, make([]float32, n), 1); err != nil {
		return err
	}

	buf := make([]float32, m.MaxRows)
	return chunks(n, m.MaxRows, func(lo, hi int) error {
		xc := x.RowSlice(lo, hi)
		loss, _ := m.Loss(xc, p.data.Y[lo:hi], p.obj.Self, 1)
		if err := hostAdd(p.scores.FinalLoss[lo:hi], loss, buf, 1); err != nil {
			return err
		}
		if !p.obj.Self {
			return nil
		}
		m.BackwardOutputs(hi - lo)
		for l, lin := range lins {
			p.dFinal[l].RowSlice(lo, hi).Copy(lin.OutputGrad())
			if l > 0 {
				p.aFinal[l].RowSlice(lo, hi).Copy(lin.Input())
			}
		}
		return nil
	})
}

// testGradient sets vW, vb to the gradient of the mean test loss at the
// final weights, and p0 = X·vW[0]ᵀ + vb[0].
func (p *prepared) testGradient(m *train.MLP) error {
	dev, test, lins := m.Device(), p.obj.Test, m.Linears()
	for _, lin := range lins {
		w, err := p.alloc(dev, lin.Out, lin.In)
		if err != nil {
			return err
		}
		b, err := p.alloc(dev, lin.Out)
		if err != nil {
			return err
		}
		p.vW, p.vb = append(p.vW, w), append(p.vb, b)
	}
	s := 1 / float32(test.N())
	err := chunks(test.N(), m.MaxRows, func(lo, hi int) error {
		m.Loss(test.X.RowSlice(lo, hi), test.Y[lo:hi], true, s)
		m.Backward(hi - lo)
		for l, lin := range lins {
			p.vW[l].Axpy(1, lin.W.Grad)
			p.vb[l].Axpy(1, lin.B.Grad)
		}
		return dev.Sync()
	})
	if err != nil {
		return err
	}
	if p.p0, err = p.alloc(dev, p.data.N(), lins[0].Out); err != nil {
		return err
	}
	p.p0.MatMul(p.data.X, false, p.vW[0], true)
	p.p0.AddRowVector(p.vb[0])
	return dev.Sync()
}

// testPoints keeps each test point's per-layer inputs and output
// gradients at the final weights, and k0 = X·aTest[0]ᵀ.
func (p *prepared) testPoints(m *train.MLP) error {
	dev, lins, pts := m.Device(), m.Linears(), p.obj.TestPoints
	for _, lin := range lins {
		a, err := p.alloc(dev, len(pts), lin.In)
		if err != nil {
			return err
		}
		d, err := p.alloc(dev, len(pts), lin.Out)
		if err != nil {
			return err
		}
		p.aTest, p.dTest = append(p.aTest, a), append(p.dTest, d)
	}
	idx := make([]int32, len(pts))
	y := make([]int32, len(pts))
	for i, j := range pts {
		idx[i], y[i] = int32(j), p.obj.Test.Y[j]
	}
	x, err := p.alloc(dev, len(pts), lins[0].In)
	if err != nil {
		return err
	}
	x.GatherRows(p.obj.Test.X, idx)
	err = chunks(len(pts), m.MaxRows, func(lo, hi int) error {
		m.Loss(x.RowSlice(lo, hi), y[lo:hi], true, 1)
		m.BackwardOutputs(hi - lo)
		for l, lin := range lins {
			p.aTest[l].RowSlice(lo, hi).Copy(lin.Input())
			p.dTest[l].RowSlice(lo, hi).Copy(lin.OutputGrad())
		}
		return dev.Sync()
	})
	if err != nil {
		return err
	}
	if p.k0, err = p.alloc(dev, p.data.N(), len(pts)); err != nil {
		return err
	}
	p.k0.MatMul(p.data.X, false, p.aTest[0], true)
	return dev.Sync()
}

// hostAdd adds the values of t, times s, to dst, using buf to copy them.
func hostAdd(dst []float64, t *tensor.Tensor, buf []float32, s float64) error {
	h := buf[:t.Len()]
	if err := t.Device().CopyOut(h, t.Buffer()); err != nil {
		return fmt.Errorf("influence: %w", err)
	}
	for i, v := range h {
		dst[i] += s * float64(v)
	}
	return nil
}
