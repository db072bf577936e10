package devicetest

import "math"

// The Ref functions below are the float64 references that the suite checks
// every backend against. Each mirrors one method of device.Ops, with the
// same argument order and shapes, on host slices of float64: inputs that
// came from float32 convert exactly, so the references are exact up to
// float64 rounding, about 2⁻⁵³ relative, far below the float32 tolerances
// of the suite. They are slow and plain on purpose, and other packages'
// tests may use them as well. Like the device, they panic with a message
// prefixed "devicetest: " when a length does not match the shape.

// RefGemm computes
//
//	C = α·op(A)·op(B) + β·C
//
// where op(A) is m×k and op(B) is k×n; A is stored m×k, or k×m when transA
// is set, and B is stored k×n, or n×k when transB is set. When β is zero, C
// is not read, so it may hold NaN.
func RefGemm(transA, transB bool, m, n, k int, alpha float64,
	a, b []float64, beta float64, c []float64) {
	checkLen("RefGemm A", a, m*k)
	checkLen("RefGemm B", b, k*n)
	checkLen("RefGemm C", c, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				s += at(a, transA, i, l, m, k) * at(b, transB, l, j, k, n)
			}
			if beta == 0 {
				c[i*n+j] = alpha * s
			} else {
				c[i*n+j] = alpha*s + beta*c[i*n+j]
			}
		}
	}
}

// at returns element (i, j) of the r×s matrix op(X), where X is stored r×s,
// or s×r when trans is set.
func at(x []float64, trans bool, i, j, r, s int) float64 {
	if trans {
		return x[j*r+i]
	}
	return x[i*s+j]
}

// RefAddRowVector adds the n-vector v to every row of the m×n matrix x.
func RefAddRowVector(x []float64, m, n int, v []float64) {
	checkLen("RefAddRowVector x", x, m*n)
	checkLen("RefAddRowVector v", v, n)
	for i := range m {
		for j := range n {
			x[i*n+j] += v[j]
		}
	}
}

// RefSumRows sets dst = β·dst + Σᵢ x[i,:] for the m×n matrix x; dst has
// length n and is not read when β is zero.
func RefSumRows(dst, x []float64, m, n int, beta float64) {
	checkLen("RefSumRows dst", dst, n)
	checkLen("RefSumRows x", x, m*n)
	for j := range n {
		var s float64
		for i := range m {
			s += x[i*n+j]
		}
		if beta != 0 {
			s += beta * dst[j]
		}
		dst[j] = s
	}
}

// RefRowDot sets dst[i] = Σⱼ a[i,j]·b[i,j] for the m×n matrices a and b.
func RefRowDot(dst, a, b []float64, m, n int) {
	checkLen("RefRowDot dst", dst, m)
	checkLen("RefRowDot a", a, m*n)
	checkLen("RefRowDot b", b, m*n)
	for i := range m {
		var s float64
		for j := range n {
			s += a[i*n+j] * b[i*n+j]
		}
		dst[i] = s
	}
}

// RefReLU sets dst = max(x, 0).
func RefReLU(dst, x []float64) {
	checkLen("RefReLU x", x, len(dst))
	for i, v := range x {
		dst[i] = max(v, 0)
	}
}

// RefReLUBackward sets dst = g where x > 0 and 0 elsewhere.
func RefReLUBackward(dst, g, x []float64) {
	checkLen("RefReLUBackward g", g, len(dst))
	checkLen("RefReLUBackward x", x, len(dst))
	for i, v := range x {
		if v > 0 {
			dst[i] = g[i]
		} else {
			dst[i] = 0
		}
	}
}

// RefSoftmaxCrossEntropy sets, for the m×n logits z and the labels y,
//
//	loss[i]   = log Σⱼ exp z[i,j] − z[i,y[i]]
//	grad[i,j] = s·(softmax(z[i,:])[j] − [j = y[i]])
//
// shifting each row by its maximum so that no exponential overflows. grad
// may be nil. It panics if a label is outside [0, n).
func RefSoftmaxCrossEntropy(loss, grad, z []float64, y []int32,
	m, n int, s float64) {
	checkLen("RefSoftmaxCrossEntropy loss", loss, m)
	checkLen("RefSoftmaxCrossEntropy z", z, m*n)
	if grad != nil {
		checkLen("RefSoftmaxCrossEntropy grad", grad, m*n)
	}
	if len(y) != m {
		panic("devicetest: RefSoftmaxCrossEntropy: wrong number of labels")
	}
	for i := range m {
		if y[i] < 0 || int(y[i]) >= n {
			panic("devicetest: RefSoftmaxCrossEntropy: label out of range")
		}
		row := z[i*n : (i+1)*n]
		lse := logSumExp(row)
		loss[i] = lse - row[y[i]]
		if grad == nil {
			continue
		}
		for j, v := range row {
			grad[i*n+j] = s * math.Exp(v-lse)
		}
		grad[i*n+int(y[i])] -= s
	}
}

// logSumExp returns log Σ exp x[j], computed as max + log Σ exp(x[j] − max).
func logSumExp(x []float64) float64 {
	top := math.Inf(-1)
	for _, v := range x {
		top = max(top, v)
	}
	var s float64
	for _, v := range x {
		s += math.Exp(v - top)
	}
	return top + math.Log(s)
}

// RefSGDStep makes one step of SGD with momentum μ and weight decay λ:
//
//	v = μ·v + g + λ·w
//	w = w − η·v
func RefSGDStep(w, g, v []float64, eta, mu, lambda float64) {
	checkLen("RefSGDStep g", g, len(w))
	checkLen("RefSGDStep v", v, len(w))
	for i := range w {
		v[i] = mu*v[i] + g[i] + lambda*w[i]
		w[i] -= eta * v[i]
	}
}

// RefGatherRows sets row r of the len(idx)×n matrix dst to row idx[r] of
// src, which has n columns.
func RefGatherRows(dst, src []float64, idx []int32, n int) {
	checkLen("RefGatherRows dst", dst, len(idx)*n)
	for r, i := range idx {
		copy(dst[r*n:(r+1)*n], src[int(i)*n:(int(i)+1)*n])
	}
}

// RefScatterAddRows adds row r of the len(idx)×n matrix src to row idx[r]
// of dst, which has n columns; repeated indices accumulate.
func RefScatterAddRows(dst, src []float64, idx []int32, n int) {
	checkLen("RefScatterAddRows src", src, len(idx)*n)
	for r, i := range idx {
		for j := range n {
			dst[int(i)*n+j] += src[r*n+j]
		}
	}
}

// Float64s returns x converted to float64, which is exact.
func Float64s(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func checkLen(what string, x []float64, want int) {
	if len(x) != want {
		panic("devicetest: " + what + ": length mismatch")
	}
}
