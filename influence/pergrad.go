package influence

import (
	"fmt"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// This file holds the inner products of per-sample gradients that the
// scores outside FirstOrder share: against fixed vectors, against other
// points' gradients, and with themselves, each from the rank-one factors
// ∂ℓᵣ/∂W_l = δᵣᵀ·aᵣ, ∂ℓᵣ/∂b_l = δᵣ (see the package documentation).

// probeRows is the batch size of the passes over training and test sets
// that scoring makes with a model of its own: enough rows to keep the
// matrix products efficient, few enough that the workspaces stay a few
// megabytes at MNIST's widths.
const probeRows = 256

// factors holds, per linear layer l, the inputs a (rows×in) and output
// gradients δ (rows×out) of some rows: the factors of their gradients.
type factors struct {
	a, d  []*tensor.Tensor
	owned bool
}

// batchFactors returns views of the factors that m's last Loss and
// backward pass left in its layers.
func batchFactors(m *train.MLP) *factors {
	f := &factors{}
	for _, lin := range m.Linears() {
		f.a = append(f.a, lin.Input())
		f.d = append(f.d, lin.OutputGrad())
	}
	return f
}

// rows returns the number of rows.
func (f *factors) rows() int { return f.a[0].Rows() }

// slice returns views of rows [i, j).
func (f *factors) slice(i, j int) *factors {
	s := &factors{}
	for l := range f.a {
		s.a = append(s.a, f.a[l].RowSlice(i, j))
		s.d = append(s.d, f.d[l].RowSlice(i, j))
	}
	return s
}

func (f *factors) free() {
	if !f.owned {
		return
	}
	for l := range f.a {
		f.a[l].Free()
		f.d[l].Free()
	}
}

// newProbe returns a model with m's architecture, for batches of up to
// rows rows, holding m's weights.
func newProbe(m *train.MLP, rows int) (*train.MLP, error) {
	p, err := train.NewMLP(m.Device(), m.Sizes, max(rows, 1), 0)
	if err != nil {
		return nil, fmt.Errorf("influence: scoring model: %w", err)
	}
	copyWeights(p, m)
	return p, nil
}

// copyWeights sets dst's weights to src's, on the device.
func copyWeights(dst, src *train.MLP) {
	for i, p := range src.Params() {
		dst.Params()[i].Value.Copy(p.Value)
	}
}

// rowChunks calls f on consecutive ranges of at most size rows that cover
// [0, n).
func rowChunks(n, size int, f func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += size {
		if err := f(lo, min(lo+size, n)); err != nil {
			return err
		}
	}
	return nil
}

// meanGrad sets g, one vector, to the gradient of the mean loss of m over
// the rows of x with labels y.
func meanGrad(m *train.MLP, x *tensor.Tensor, y []int32, g *Vecs) error {
	g.Zero()
	s := 1 / float32(len(y))
	return rowChunks(len(y), m.MaxRows, func(lo, hi int) error {
		m.Loss(x.RowSlice(lo, hi), y[lo:hi], true, s)
		m.Backward(hi - lo)
		for j, p := range m.Params() {
			g.T[j].Axpy(1, p.Grad)
		}
		return m.Device().Sync()
	})
}

// pointFactors returns the per-sample factors, at m's weights, of rows
// idx of x with labels y (of every row of x).
func pointFactors(m *train.MLP, x *tensor.Tensor, y []int32,
	idx []int) (*factors, error) {
	dev, lins, j := m.Device(), m.Linears(), len(idx)
	f := &factors{owned: true}
	for _, lin := range lins {
		a, err := tensor.New(dev, j, lin.In)
		if err != nil {
			f.free()
			return nil, fmt.Errorf("influence: point gradients: %w", err)
		}
		d, err := tensor.New(dev, j, lin.Out)
		if err != nil {
			a.Free()
			f.free()
			return nil, fmt.Errorf("influence: point gradients: %w", err)
		}
		f.a, f.d = append(f.a, a), append(f.d, d)
	}
	if err := f.fill(m, x, y, idx); err != nil {
		f.free()
		return nil, err
	}
	return f, nil
}

// fill runs the rows idx through m and keeps their factors.
func (f *factors) fill(m *train.MLP, x *tensor.Tensor, y []int32, idx []int) error {
	rows := make([]int32, len(idx))
	labels := make([]int32, len(idx))
	for r, i := range idx {
		rows[r], labels[r] = int32(i), y[i]
	}
	xb, err := tensor.New(m.Device(), min(len(idx), m.MaxRows), x.Cols())
	if err != nil {
		return fmt.Errorf("influence: point gradients: %w", err)
	}
	defer xb.Free()
	return rowChunks(len(idx), m.MaxRows, func(lo, hi int) error {
		xc := xb.RowSlice(0, hi-lo)
		xc.GatherRows(x, rows[lo:hi])
		m.Loss(xc, labels[lo:hi], true, 1)
		m.BackwardOutputs(hi - lo)
		for l, lin := range m.Linears() {
			f.a[l].RowSlice(lo, hi).Copy(lin.Input())
			f.d[l].RowSlice(lo, hi).Copy(lin.OutputGrad())
		}
		return m.Device().Sync()
	})
}

// setVecs sets row r of v to the gradient δᵣᵀ·aᵣ, δᵣ of row r of f, for
// every row: v.K must equal f.rows().
func (f *factors) setVecs(v *Vecs) {
	for l := range f.a {
		in, out := f.a[l].Cols(), f.d[l].Cols()
		for r := range v.K {
			w := v.T[2*l].RowSlice(r, r+1).Reshape(out, in)
			w.MatMul(f.d[l].RowSlice(r, r+1), true, f.a[l].RowSlice(r, r+1), false)
			v.T[2*l+1].RowSlice(r, r+1).Copy(f.d[l].RowSlice(r, r+1))
		}
	}
}

// dotter computes inner products of the gradients of a batch's rows,
// given as factors, with the rank-one forms
//
//	⟨δᵣ⊗aᵣ, (V, v)⟩ = δᵣᵀ·(V·aᵣ + v)
//	⟨δᵣ⊗aᵣ, δⱼ⊗aⱼ⟩ = (δᵣᵀδⱼ)·(aᵣᵀaⱼ + 1)
//
// summed over the layers, on the device.
type dotter struct {
	maxRows, maxK int
	wide, wide2   *tensor.Tensor // maxRows·maxK × width
	acc, tmp      *tensor.Tensor // maxRows·maxK
	ones          *tensor.Tensor // maxK
	host          []float32
}

// newDotter returns a dotter for up to maxRows rows and maxK vectors or
// points at a time, for models of m's widths.
func newDotter(m *train.MLP, maxRows, maxK int) (*dotter, error) {
	maxK = max(maxK, 1)
	width := 0
	for _, s := range m.Sizes {
		width = max(width, s)
	}
	dt := &dotter{maxRows: maxRows, maxK: maxK,
		host: make([]float32, maxRows*maxK)}
	dev := m.Device()
	var err error
	for _, s := range []struct {
		dst **tensor.Tensor
		n   int
	}{
		{&dt.wide, maxRows * maxK * width}, {&dt.wide2, maxRows * maxK * width},
		{&dt.acc, maxRows * maxK}, {&dt.tmp, maxRows * maxK}, {&dt.ones, maxK},
	} {
		if *s.dst, err = tensor.New(dev, s.n); err != nil {
			dt.free()
			return nil, fmt.Errorf("influence: scoring workspace: %w", err)
		}
	}
	dt.ones.Fill(1)
	return dt, nil
}

func (dt *dotter) free() {
	for _, t := range []*tensor.Tensor{dt.wide, dt.wide2, dt.acc, dt.tmp, dt.ones} {
		if t != nil {
			t.Free()
		}
	}
}

// result copies the first n values of acc to the host.
func (dt *dotter) result(dev device.Device, n int) ([]float64, error) {
	h := dt.host[:n]
	if err := dev.CopyOut(h, dt.acc.Buffer()); err != nil {
		return nil, fmt.Errorf("influence: scores to the host: %w", err)
	}
	out := make([]float64, n)
	for i, x := range h {
		out[i] = float64(x)
	}
	return out, nil
}

// vecs returns the rows×K matrix of ⟨gᵣ, v_k⟩, gᵣ the gradient that the
// factors of row r give. It splits v into passes of maxK vectors.
func (dt *dotter) vecs(f *factors, v *Vecs) ([]float64, error) {
	rows, k := f.rows(), v.K
	out := make([]float64, rows*k)
	for k0 := 0; k0 < k; k0 += dt.maxK {
		k1 := min(k0+dt.maxK, k)
		part, err := dt.vecsPass(f, v.Rows(k0, k1))
		if err != nil {
			return nil, err
		}
		for r := range rows {
			copy(out[r*k+k0:r*k+k1], part[r*(k1-k0):(r+1)*(k1-k0)])
		}
	}
	return out, nil
}

func (dt *dotter) vecsPass(f *factors, v *Vecs) ([]float64, error) {
	rows, k := f.rows(), v.K
	acc, tmp := matView(dt.acc, rows*k, 1), matView(dt.tmp, rows*k, 1)
	acc.Fill(0)
	expand := expandIdx(rows, k)
	for l := range f.a {
		in, out := f.a[l].Cols(), f.d[l].Cols()
		p := matView(dt.wide, rows, k*out)
		p.MatMul(f.a[l], false, v.T[2*l].Reshape(k*out, in), true)
		p.AddRowVector(v.T[2*l+1].Reshape(k * out))
		de := matView(dt.wide2, rows*k, out)
		de.GatherRows(f.d[l], expand)
		tmp.RowDot(de, p.Reshape(rows*k, out))
		acc.Axpy(1, tmp)
	}
	return dt.result(acc.Device(), rows*k)
}

// points returns the rows×J matrix of ⟨gᵣ, gⱼ⟩ for the J rows of the
// factors q, in passes of maxK points.
func (dt *dotter) points(f, q *factors) ([]float64, error) {
	rows, j := f.rows(), q.rows()
	out := make([]float64, rows*j)
	for j0 := 0; j0 < j; j0 += dt.maxK {
		j1 := min(j0+dt.maxK, j)
		part, err := dt.pointsPass(f, q.slice(j0, j1))
		if err != nil {
			return nil, err
		}
		for r := range rows {
			copy(out[r*j+j0:r*j+j1], part[r*(j1-j0):(r+1)*(j1-j0)])
		}
	}
	return out, nil
}

func (dt *dotter) pointsPass(f, q *factors) ([]float64, error) {
	rows, j := f.rows(), q.rows()
	acc := matView(dt.acc, rows, j)
	acc.Fill(0)
	dd, aa := matView(dt.wide, rows, j), matView(dt.wide2, rows, j)
	ones := dt.ones.RowSlice(0, j)
	for l := range f.a {
		dd.MatMul(f.d[l], false, q.d[l], true)
		aa.MatMul(f.a[l], false, q.a[l], true)
		aa.AddRowVector(ones)
		dd.Mul(dd, aa)
		acc.Axpy(1, dd)
	}
	return dt.result(acc.Device(), rows*j)
}

// norms returns ‖gᵣ‖² = Σ_l ‖δᵣ‖²·(‖aᵣ‖² + 1) for every row.
func (dt *dotter) norms(f *factors) ([]float64, error) {
	rows := f.rows()
	acc := matView(dt.acc, rows, 1)
	acc.Fill(0)
	dd, aa := matView(dt.tmp, rows, 1), matView(dt.wide, rows, 1)
	for l := range f.a {
		dd.RowDot(f.d[l], f.d[l])
		aa.RowDot(f.a[l], f.a[l])
		aa.AddRowVector(dt.ones.RowSlice(0, 1))
		dd.Mul(dd, aa)
		acc.Axpy(1, dd)
	}
	return dt.result(acc.Device(), rows)
}
