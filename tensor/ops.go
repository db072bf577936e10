package tensor

import (
	"fmt"
	"slices"
)

// sameDevice panics unless every tensor lives on t's device.
func (t *Tensor) sameDevice(op string, others ...*Tensor) {
	for _, o := range others {
		if o.dev != t.dev {
			panic(fmt.Sprintf("tensor: %s: %v and %v are on different devices", op, t, o))
		}
	}
}

// sameLen panics unless every tensor is on t's device and has t's
// number of elements.
func (t *Tensor) sameLen(op string, others ...*Tensor) {
	t.sameDevice(op, others...)
	for _, o := range others {
		if o.Len() != t.Len() {
			panic(fmt.Sprintf("tensor: %s: shapes %v and %v differ", op, t.shape, o.shape))
		}
	}
}

// matrix returns t's shape read as a matrix: rows × cols.
func (t *Tensor) matrix() (int, int) { return t.Rows(), t.Cols() }

// Copy sets t = src.
func (t *Tensor) Copy(src *Tensor) {
	t.sameLen("Copy", src)
	t.dev.Copy(t.buf, src.buf)
}

// Fill sets every element of t to v.
func (t *Tensor) Fill(v float32) { t.dev.Fill(t.buf, v) }

// Scale sets t = α·t.
func (t *Tensor) Scale(alpha float32) { t.dev.Scale(alpha, t.buf) }

// Axpy sets t = t + α·x.
func (t *Tensor) Axpy(alpha float32, x *Tensor) {
	t.sameLen("Axpy", x)
	t.dev.Axpy(alpha, x.buf, t.buf)
}

// Mul sets t = a ⊙ b, element by element.
func (t *Tensor) Mul(a, b *Tensor) {
	t.sameLen("Mul", a, b)
	t.dev.Mul(t.buf, a.buf, b.buf)
}

// MatMul sets t = op(a)·op(b), where op transposes its matrix when the flag
// beside it is set. Tensors of more than two dimensions are read as
// matrices of Rows() × Cols().
func (t *Tensor) MatMul(a *Tensor, transA bool, b *Tensor, transB bool) {
	t.MatMulAdd(1, a, transA, b, transB, 0)
}

// MatMulAdd sets t = α·op(a)·op(b) + β·t.
func (t *Tensor) MatMulAdd(alpha float32, a *Tensor, transA bool,
	b *Tensor, transB bool, beta float32) {
	t.sameDevice("MatMul", a, b)
	m, k := a.matrix()
	if transA {
		m, k = k, m
	}
	kb, n := b.matrix()
	if transB {
		kb, n = n, kb
	}
	if tm, tn := t.matrix(); k != kb || tm != m || tn != n {
		panic(fmt.Sprintf("tensor: MatMul: %v%s · %v%s into %v",
			a.shape, tick(transA), b.shape, tick(transB), t.shape))
	}
	t.dev.Gemm(transA, transB, m, n, k, alpha, a.buf, b.buf, beta, t.buf)
}

func tick(trans bool) string {
	if trans {
		return "ᵀ"
	}
	return ""
}

// AddRowVector adds the vector v to every row of t.
func (t *Tensor) AddRowVector(v *Tensor) {
	t.sameDevice("AddRowVector", v)
	m, n := t.matrix()
	if v.Len() != n {
		panic(fmt.Sprintf("tensor: AddRowVector: %v to rows of %v", v.shape, t.shape))
	}
	t.dev.AddRowVector(t.buf, m, n, v.buf)
}

// SumRows sets t = β·t + Σᵢ x[i,:]: t holds one value per column of x.
func (t *Tensor) SumRows(x *Tensor, beta float32) {
	t.sameDevice("SumRows", x)
	m, n := x.matrix()
	if t.Len() != n {
		panic(fmt.Sprintf("tensor: SumRows: %v into %v", x.shape, t.shape))
	}
	t.dev.SumRows(t.buf, x.buf, m, n, beta)
}

// RowDot sets t[i] = a[i,:]·b[i,:]: t holds one value per row of a and b.
func (t *Tensor) RowDot(a, b *Tensor) {
	a.sameLen("RowDot", b)
	t.sameDevice("RowDot", a)
	m, n := a.matrix()
	if t.Len() != m {
		panic(fmt.Sprintf("tensor: RowDot: rows of %v into %v", a.shape, t.shape))
	}
	t.dev.RowDot(t.buf, a.buf, b.buf, m, n)
}

// ReLU sets t = max(x, 0).
func (t *Tensor) ReLU(x *Tensor) {
	t.sameLen("ReLU", x)
	t.dev.ReLU(t.buf, x.buf)
}

// ReLUBackward sets t = g where x > 0 and 0 elsewhere.
func (t *Tensor) ReLUBackward(g, x *Tensor) {
	t.sameLen("ReLUBackward", g, x)
	t.dev.ReLUBackward(t.buf, g.buf, x.buf)
}

// SoftmaxCrossEntropy sets loss[i] to the cross-entropy of the softmax of
// row i of the logits z against label y[i], and, when grad is not nil,
// grad = s·∂loss[i]/∂z. z and grad are m×n, loss has m elements.
func SoftmaxCrossEntropy(loss, grad, z *Tensor, y []int32, s float32) {
	m, n := z.matrix()
	z.sameDevice("SoftmaxCrossEntropy", loss)
	if loss.Len() != m || len(y) != m {
		panic(fmt.Sprintf("tensor: SoftmaxCrossEntropy: logits %v, loss %v, %d labels",
			z.shape, loss.shape, len(y)))
	}
	if grad == nil {
		z.dev.SoftmaxCrossEntropy(loss.buf, nil, z.buf, y, m, n, s)
		return
	}
	z.sameLen("SoftmaxCrossEntropy", grad)
	if gm, gn := grad.matrix(); gm != m || gn != n {
		panic(fmt.Sprintf("tensor: SoftmaxCrossEntropy: gradient %v for logits %v",
			grad.shape, z.shape))
	}
	z.dev.SoftmaxCrossEntropy(loss.buf, grad.buf, z.buf, y, m, n, s)
}

// SGDStep makes one step of SGD with momentum μ and weight decay λ on the
// parameters t, given their gradient g and momentum buffer v:
//
//	v = μ·v + g + λ·t
//	t = t − η·v
func (t *Tensor) SGDStep(g, v *Tensor, eta, mu, lambda float32) {
	t.sameLen("SGDStep", g, v)
	t.dev.SGDStep(t.buf, g.buf, v.buf, eta, mu, lambda)
}

// GatherRows sets row r of t to row idx[r] of src.
func (t *Tensor) GatherRows(src *Tensor, idx []int32) {
	t.sameDevice("GatherRows", src)
	if t.Rows() != len(idx) || t.Cols() != src.Cols() {
		panic(fmt.Sprintf("tensor: GatherRows: %d rows of %v into %v",
			len(idx), src.shape, t.shape))
	}
	t.dev.GatherRows(t.buf, src.buf, idx, src.Cols())
}

// ScatterAddRows adds row r of src to row idx[r] of t.
func (t *Tensor) ScatterAddRows(src *Tensor, idx []int32) {
	t.sameDevice("ScatterAddRows", src)
	if src.Rows() != len(idx) || t.Cols() != src.Cols() {
		panic(fmt.Sprintf("tensor: ScatterAddRows: %v at %d rows of %v",
			src.shape, len(idx), t.shape))
	}
	t.dev.ScatterAddRows(t.buf, src.buf, idx, src.Cols())
}

// EqualShape reports whether a and b have the same shape.
func EqualShape(a, b *Tensor) bool { return slices.Equal(a.shape, b.shape) }
