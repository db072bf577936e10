package influence

import (
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// acts are one step's inputs a and output gradients d of a linear layer,
// a row per point of the batch. The rows of d are 1/B_t times the
// per-sample δᵢ (see train.StepInfo), which cancels the 1/B_t of the
// relevance sum. Layer 0 reads its input from the data instead of a,
// which may then be nil.
type acts struct{ a, d *tensor.Tensor }

// modelActs returns the inputs and output gradients that the layers of m
// hold after a backward pass.
func modelActs(m *train.MLP) []acts {
	lins := m.Linears()
	out := make([]acts, len(lins))
	for l, lin := range lins {
		out[l] = acts{a: lin.Input(), d: lin.OutputGrad()}
	}
	return out
}

// accumulate adds the terms of a step over batch, at learning rate lr and
// with coefficient c (the c_t of Coefficients), to the scores of the
// batch's points, reading each layer's rows from layers.
func (p *prepared) accumulate(batch []int32, lr, c float64, layers []acts) error {
	b, j := len(batch), len(p.obj.TestPoints)
	for i := range p.sum {
		clear(p.sum[i][:b*max(1, j)])
	}
	for l, la := range layers {
		if err := p.layer(l, la.a, la.d, batch); err != nil {
			return err
		}
	}

	sc, bb := p.scores, float64(b)
	for r, i := range batch {
		if sc.TestLoss != nil {
			sc.TestLoss[i] -= c * p.sum[0][r]
		}
		if sc.Self != nil {
			sc.Self[i] -= c * p.sum[1][r]
		}
		sc.TracIn[i] += lr * bb * bb * p.sum[2][r]
		for k := range j {
			sc.Points[int(i)*j+k] -= c * p.sum[3][r*j+k]
		}
	}
	return nil
}

// layer adds linear layer l's share of the batch's dot products to p.sum,
// from its inputs a and output gradients d.
func (p *prepared) layer(l int, a, d *tensor.Tensor, batch []int32) error {
	b := len(batch)
	vec := p.vec.RowSlice(0, b)

	// ‖aᵢ‖² + 1, the input factor of ‖∇ℓᵢ‖² (layer 0 reads the data's).
	aa := make([]float64, b)
	if l == 0 {
		for r, i := range batch {
			aa[r] = p.xNorm[i] + 1
		}
	} else {
		vec.RowDot(a, a)
		if err := p.hostRow(aa, vec, 1); err != nil {
			return err
		}
		for r := range aa {
			aa[r]++
		}
	}

	// TracIn: ‖δᵢ‖²·(‖aᵢ‖² + 1).
	vec.RowDot(d, d)
	if err := p.hostMul(p.sum[2], vec, aa); err != nil {
		return err
	}

	if p.obj.TestLoss {
		if err := p.layerTestLoss(l, a, d, batch); err != nil {
			return err
		}
	}
	if p.obj.Self {
		if err := p.layerSelf(l, a, d, batch); err != nil {
			return err
		}
	}
	if len(p.obj.TestPoints) > 0 {
		return p.layerPoints(l, a, d, batch)
	}
	return nil
}

// layerTestLoss adds δᵢᵀ·(V·aᵢ + v) to p.sum[0].
func (p *prepared) layerTestLoss(l int, a, d *tensor.Tensor, batch []int32) error {
	b, out := len(batch), d.Cols()
	pv := view(p.wide, b, out)
	if l == 0 {
		pv.GatherRows(p.p0, batch)
	} else {
		pv.MatMul(a, false, p.vW[l], true)
		pv.AddRowVector(p.vb[l])
	}
	vec := p.vec.RowSlice(0, b)
	vec.RowDot(d, pv)
	return p.hostRow(p.sum[0], vec, 1)
}

// layerSelf adds (δᵢᵀδᵢ(T))·(aᵢᵀaᵢ(T) + 1) to p.sum[1].
func (p *prepared) layerSelf(l int, a, d *tensor.Tensor, batch []int32) error {
	b := len(batch)
	aa := make([]float64, b)
	if l == 0 {
		for r, i := range batch {
			aa[r] = p.xNorm[i] + 1
		}
	} else {
		af := view(p.gath, b, a.Cols())
		af.GatherRows(p.aFinal[l], batch)
		vec := p.vec.RowSlice(0, b)
		vec.RowDot(a, af)
		if err := p.hostRow(aa, vec, 1); err != nil {
			return err
		}
		for r := range aa {
			aa[r]++
		}
	}
	df := view(p.gath, b, d.Cols())
	df.GatherRows(p.dFinal[l], batch)
	vec := p.vec.RowSlice(0, b)
	vec.RowDot(d, df)
	return p.hostMul(p.sum[1], vec, aa)
}

// layerPoints adds (δᵢᵀδⱼ)·(aᵢᵀaⱼ + 1) to p.sum[3] for every test point j.
func (p *prepared) layerPoints(l int, a, d *tensor.Tensor, batch []int32) error {
	b, j := len(batch), len(p.obj.TestPoints)
	dd, aa := view(p.wide, b, j), view(p.wide2, b, j)
	dd.MatMul(d, false, p.dTest[l], true)
	if l == 0 {
		aa.GatherRows(p.k0, batch)
	} else {
		aa.MatMul(a, false, p.aTest[l], true)
	}
	hd, ha := p.host[:b*j], p.host2[:b*j]
	dev := dd.Device()
	if err := dev.CopyOut(hd, dd.Buffer()); err != nil {
		return err
	}
	if err := dev.CopyOut(ha, aa.Buffer()); err != nil {
		return err
	}
	for k := range hd {
		p.sum[3][k] += float64(hd[k]) * (float64(ha[k]) + 1)
	}
	return nil
}

// hostRow adds s times the values of t to dst.
func (p *prepared) hostRow(dst []float64, t *tensor.Tensor, s float64) error {
	return hostAdd(dst[:t.Len()], t, p.host, s)
}

// hostMul adds t ⊙ f to dst.
func (p *prepared) hostMul(dst []float64, t *tensor.Tensor, f []float64) error {
	h := p.host[:t.Len()]
	if err := t.Device().CopyOut(h, t.Buffer()); err != nil {
		return err
	}
	for r, v := range h {
		dst[r] += float64(v) * f[r]
	}
	return nil
}
