package influence

import (
	"fmt"
	"math"

	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// Vecs is a set of K vectors in the parameter space of an MLP, held on the
// model's device one parameter at a time: T[j] is a K×n_j matrix whose row
// k is vector k's part of parameter j, in the model's Params order (W₀, b₀,
// W₁, b₁, …). For a linear layer l with W of shape out×in, T[2l] read as a
// (K·out)×in matrix stacks the K directions' weight blocks, which is the
// layout the batched Hessian-vector product of HVP works in.
//
// The methods that take another Vecs panic if it was made for a model of
// another shape or holds another number of vectors.
type Vecs struct {
	K int
	T []*tensor.Tensor

	view bool // T belongs to another Vecs
}

// NewVecs returns K zero vectors in the parameter space of m, on m's
// device.
func NewVecs(m *train.MLP, k int) (*Vecs, error) {
	v := &Vecs{K: k}
	for _, p := range m.Params() {
		t, err := tensor.New(m.Device(), k, p.Value.Len())
		if err != nil {
			v.Free()
			return nil, fmt.Errorf("influence: %d vectors for %s: %w", k, p.Name, err)
		}
		v.T = append(v.T, t)
	}
	return v, nil
}

// Free releases the vectors' device memory. Freeing a view does nothing.
func (v *Vecs) Free() {
	if v.view {
		return
	}
	for _, t := range v.T {
		t.Free()
	}
	v.T = nil
}

// Dim returns the number of parameters, the length of each vector.
func (v *Vecs) Dim() int {
	n := 0
	for _, t := range v.T {
		n += t.Cols()
	}
	return n
}

// Rows returns a view of vectors [i, j), sharing v's memory.
func (v *Vecs) Rows(i, j int) *Vecs {
	w := &Vecs{K: j - i, view: true}
	for _, t := range v.T {
		w.T = append(w.T, t.RowSlice(i, j))
	}
	return w
}

func (v *Vecs) check(op string, o *Vecs) {
	if len(v.T) != len(o.T) || v.K != o.K || v.Dim() != o.Dim() {
		panic(fmt.Sprintf("influence: %s: %d vectors of %d parameters "+
			"and %d of %d", op, v.K, v.Dim(), o.K, o.Dim()))
	}
}

// Copy sets v = src.
func (v *Vecs) Copy(src *Vecs) {
	v.check("Copy", src)
	for j, t := range v.T {
		t.Copy(src.T[j])
	}
}

// Zero sets every vector to zero.
func (v *Vecs) Zero() {
	for _, t := range v.T {
		t.Fill(0)
	}
}

// Scale sets v = α·v.
func (v *Vecs) Scale(alpha float32) {
	for _, t := range v.T {
		t.Scale(alpha)
	}
}

// Axpy sets v = v + α·x.
func (v *Vecs) Axpy(alpha float32, x *Vecs) {
	v.check("Axpy", x)
	for j, t := range v.T {
		t.Axpy(alpha, x.T[j])
	}
}

// AxpyRows sets vector k of v to vₖ + αₖ·xₖ for every k, skipping the
// zero αₖ. It panics unless len(alpha) is K.
func (v *Vecs) AxpyRows(alpha []float64, x *Vecs) {
	v.check("AxpyRows", x)
	if len(alpha) != v.K {
		panic(fmt.Sprintf("influence: AxpyRows: %d factors for %d vectors",
			len(alpha), v.K))
	}
	for k, a := range alpha {
		if a == 0 {
			continue
		}
		for j, t := range v.T {
			t.RowSlice(k, k+1).Axpy(float32(a), x.T[j].RowSlice(k, k+1))
		}
	}
}

// ScaleRows sets vector k of v to αₖ·vₖ for every k. It panics unless
// len(alpha) is K.
func (v *Vecs) ScaleRows(alpha []float64) {
	if len(alpha) != v.K {
		panic(fmt.Sprintf("influence: ScaleRows: %d factors for %d vectors",
			len(alpha), v.K))
	}
	for k, a := range alpha {
		for _, t := range v.T {
			t.RowSlice(k, k+1).Scale(float32(a))
		}
	}
}

// RowDots returns ⟨aₖ, bₖ⟩ for k = 0, …, K−1. Each parameter's dot product
// is summed in float32 on the device and the parameters' sums in float64.
func RowDots(a, b *Vecs) ([]float64, error) {
	a.check("RowDots", b)
	out := make([]float64, a.K)
	if a.K == 0 {
		return out, nil
	}
	dev := a.T[0].Device()
	acc, err := tensor.New(dev, a.K)
	if err != nil {
		return nil, fmt.Errorf("influence: row dots: %w", err)
	}
	defer acc.Free()
	host := make([]float32, a.K)
	for j, t := range a.T {
		acc.RowDot(t, b.T[j])
		if err := dev.CopyOut(host, acc.Buffer()); err != nil {
			return nil, fmt.Errorf("influence: row dots: %w", err)
		}
		for k, x := range host {
			out[k] += float64(x)
		}
	}
	return out, nil
}

// Dots returns the Ka×Kb matrix of inner products ⟨aᵢ, bⱼ⟩, row-major,
// with one matrix product per parameter.
func Dots(a, b *Vecs) ([]float64, error) {
	if a.Dim() != b.Dim() || len(a.T) != len(b.T) {
		panic(fmt.Sprintf("influence: Dots: vectors of %d and %d parameters",
			a.Dim(), b.Dim()))
	}
	out := make([]float64, a.K*b.K)
	if len(out) == 0 {
		return out, nil
	}
	dev := a.T[0].Device()
	acc, err := tensor.New(dev, a.K, b.K)
	if err != nil {
		return nil, fmt.Errorf("influence: dots: %w", err)
	}
	defer acc.Free()
	for j, t := range a.T {
		acc.MatMulAdd(1, t, false, b.T[j], true, 1)
	}
	host, err := acc.Host()
	if err != nil {
		return nil, fmt.Errorf("influence: dots: %w", err)
	}
	for i, x := range host {
		out[i] = float64(x)
	}
	return out, nil
}

// Host copies the vectors to the host, each flattened in Params order:
// the result is K×Dim(), row-major.
func (v *Vecs) Host() ([]float64, error) {
	dim := v.Dim()
	out := make([]float64, v.K*dim)
	off := 0
	for _, t := range v.T {
		h, err := t.Host()
		if err != nil {
			return nil, fmt.Errorf("influence: vectors to the host: %w", err)
		}
		n := t.Cols()
		for k := range v.K {
			for i, x := range h[k*n : (k+1)*n] {
				out[k*dim+off+i] = float64(x)
			}
		}
		off += n
	}
	return out, nil
}

// SetHost copies host values, laid out as Host returns them, into v. It
// panics unless len(x) is K·Dim().
func (v *Vecs) SetHost(x []float64) error {
	dim := v.Dim()
	if len(x) != v.K*dim {
		panic(fmt.Sprintf("influence: SetHost: %d values for %d vectors of %d",
			len(x), v.K, dim))
	}
	off := 0
	for _, t := range v.T {
		n := t.Cols()
		h := make([]float32, v.K*n)
		for k := range v.K {
			for i := range n {
				h[k*n+i] = float32(x[k*dim+off+i])
			}
		}
		if err := t.CopyFrom(h); err != nil {
			return fmt.Errorf("influence: vectors to the device: %w", err)
		}
		off += n
	}
	return nil
}

// finite reports whether every value of xs is neither NaN nor infinite.
func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
