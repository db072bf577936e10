package device

import (
	"fmt"

	"github.com/viterin/vek/vek32"
)

// Gemm computes C = α·op(A)·op(B) + β·C with vek32.MatMul_Into, which
// multiplies untransposed row-major matrices. A transposed operand is first
// copied into scratch memory in transposed order; the copy costs O(mk) or
// O(kn) against the product's O(mnk). When α ≠ 1 or β ≠ 0 the product is
// staged in scratch memory and combined with C afterwards.
func (c *CPU) Gemm(transA, transB bool, m, n, k int, alpha float32,
	a, b Buffer, beta float32, cb Buffer) {
	as, bs, cs := c.buf(a), c.buf(b), c.buf(cb)
	checkLen("Gemm A", as, m*k)
	checkLen("Gemm B", bs, k*n)
	checkLen("Gemm C", cs, m*n)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleOrZero(cs, beta)
		return
	}

	if transA { // A is stored k×m
		as = transpose(c.scratchBuf(0, m*k), as, k, m)
	}
	if transB { // B is stored n×k
		bs = transpose(c.scratchBuf(1, k*n), bs, n, k)
	}
	if alpha == 1 && beta == 0 {
		vek32.MatMul_Into(cs, as, bs, k)
		return
	}

	// The product needs its own buffer: C is still to be read, and
	// both scratch buffers may hold operands.
	p := make([]float32, m*n)
	vek32.MatMul_Into(p, as, bs, k)
	scaleOrZero(cs, beta)
	for i, v := range p {
		cs[i] += alpha * v
	}
}

// scratchBuf returns scratch slot i resized to n values.
func (c *CPU) scratchBuf(i, n int) []float32 {
	if cap(c.scratch[i]) < n {
		c.scratch[i] = make([]float32, n)
	}
	return c.scratch[i][:n]
}

// scaleOrZero sets x = β·x, without reading x when β is zero.
func scaleOrZero(x []float32, beta float32) {
	switch beta {
	case 0:
		clear(x)
	case 1:
	default:
		for i := range x {
			x[i] *= beta
		}
	}
}

// transpose writes the transpose of the r×s matrix src into dst (s×r) and
// returns dst. It works in square tiles so that both matrices are walked
// through cache lines rather than across them.
func transpose(dst, src []float32, r, s int) []float32 {
	const tile = 32 // 32×32 float32 = 4 KiB per tile, well inside L1
	if len(dst) != r*s || len(src) != r*s {
		panic(fmt.Sprintf("device: transpose of %d values as %d×%d", len(src), r, s))
	}
	for i0 := 0; i0 < r; i0 += tile {
		i1 := min(i0+tile, r)
		for j0 := 0; j0 < s; j0 += tile {
			j1 := min(j0+tile, s)
			for i := i0; i < i1; i++ {
				row := src[i*s : (i+1)*s]
				for j := j0; j < j1; j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
	return dst
}
