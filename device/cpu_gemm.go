package device

import (
	"fmt"

	"github.com/viterin/vek/vek32"
)

// Gemm computes C = α·op(A)·op(B) + β·C.
//
// Two kernels from github.com/viterin/vek do the arithmetic, chosen by the
// shape (BenchmarkGemm in gemm_bench_test.go):
//
//   - vek32.MatMul_Into multiplies untransposed row-major matrices with
//     AVX2, 45–60 GFLOP/s on the MLP's shapes, but handles the last n mod
//     32 columns of C in scalar code: below 32 columns it falls to 2–5.
//   - For those narrow products, each element of C is one vek32.Dot of a
//     row of op(A) with a column of op(B), 12–20 GFLOP/s at 128×10×128.
//
// An operand that the kernel needs in the other order is first transposed
// into scratch memory, at O(mk) or O(kn) against the product's O(mnk).
//
// MatMul_Into reads all of op(B) for each row of op(A), so an op(B) too
// large for the cache makes it wait on memory. When op(B) is the larger
// operand and at least swapMinB values, Gemm computes Cᵀ = op(B)ᵀ·op(A)ᵀ
// instead, streaming the smaller op(A)ᵀ, and transposes the product into
// C. Each element of C is then the same chain of fused multiply-adds over
// k, in the same order (MatMul_Into fuses them in its vector and its
// scalar code alike), so the two ways agree bit for bit.
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
	if swapGemm(m, n, k) {
		c.gemmSwapped(transA, transB, m, n, k, alpha, as, bs, beta, cs)
	} else {
		c.gemmDirect(transA, transB, m, n, k, alpha, as, bs, beta, cs)
	}
}

// gemmDirect sets C = α·op(A)·op(B) + β·C with MatMul_Into, or with the
// dot kernel when C is narrow.
func (c *CPU) gemmDirect(transA, transB bool, m, n, k int, alpha float32,
	as, bs []float32, beta float32, cs []float32) {
	if transA { // A is stored k×m; both kernels want it m×k
		as = c.transpose(c.scratchBuf(0, m*k), as, k, m)
	}
	if n < dotMaxCols && k >= dotMinDepth {
		if !transB { // B is stored k×n; the dot kernel wants n×k
			bs = c.transpose(c.scratchBuf(1, k*n), bs, k, n)
		}
		c.gemmDot(m, n, k, alpha, as, bs, beta, cs)
		return
	}
	if transB { // B is stored n×k; MatMul wants k×n
		bs = c.transpose(c.scratchBuf(1, k*n), bs, n, k)
	}
	if alpha == 1 && beta == 0 {
		vek32.MatMul_Into(cs, as, bs, k)
		return
	}
	p := c.scratchBuf(2, m*n)
	vek32.MatMul_Into(p, as, bs, k)
	scaleOrZero(cs, beta)
	vek32.MulNumber_Inplace(p, alpha)
	vek32.Add_Inplace(cs, p)
}

// swapMinB is the size of op(B), in values, from which Gemm computes the
// transposed product when op(A) is the smaller operand: 1 MiB of float32,
// the L2 cache of one core of the AMD EPYC machine this was tuned on.
// BenchmarkGemm, NT/128x4096x784 (the forward pass of a Hessian-vector
// product of 32 vectors): 33 GFLOP/s directly, 64 swapped.
const swapMinB = 1 << 18

// swapGemm reports whether Gemm computes an m×n×k product as its
// transpose: op(B) is large and larger than op(A), and both C and Cᵀ are
// wide enough for MatMul_Into's vector code.
func swapGemm(m, n, k int) bool {
	return k*n >= swapMinB && m < n && m >= dotMaxCols
}

// gemmSwapped sets C = α·op(A)·op(B) + β·C through P = op(B)ᵀ·op(A)ᵀ,
// n×m, staged in scratch: op(B)ᵀ is B as stored when transB is set, and
// op(A)ᵀ is A as stored when transA is set.
func (c *CPU) gemmSwapped(transA, transB bool, m, n, k int, alpha float32,
	as, bs []float32, beta float32, cs []float32) {
	if !transB { // B is stored k×n; the kernel wants op(B)ᵀ, n×k
		bs = c.transpose(c.scratchBuf(1, k*n), bs, k, n)
	}
	if !transA { // A is stored m×k; the kernel wants op(A)ᵀ, k×m
		as = c.transpose(c.scratchBuf(0, m*k), as, m, k)
	}
	p := c.scratchBuf(2, m*n)
	vek32.MatMul_Into(p, bs, as, k)
	c.parallel(m, m*n, func(i0, i1 int) {
		addTransposed(cs, p, i0, i1, n, alpha, beta)
	})
}

// transTile is the side of the tiles in which addTransposed walks its
// matrices: 16 float32 values are one 64-byte cache line.
const transTile = 16

// addTransposed sets rows [i0, i1) of the m×n matrix C to α·Pᵀ + β·C, P
// being n×m, in tiles of transTile×transTile so that each cache line of
// P read serves a whole tile. With β = 0, C is not read.
func addTransposed(cs, p []float32, i0, i1, n int, alpha, beta float32) {
	m := len(p) / n
	for r0 := i0; r0 < i1; r0 += transTile {
		r1 := min(r0+transTile, i1)
		for j0 := 0; j0 < n; j0 += transTile {
			j1 := min(j0+transTile, n)
			for i := r0; i < r1; i++ {
				row := cs[i*n : (i+1)*n]
				for j := j0; j < j1; j++ {
					v := alpha * p[j*m+i]
					if beta != 0 {
						v += beta * row[j]
					}
					row[j] = v
				}
			}
		}
	}
}

// The dot kernel takes products with fewer than dotMaxCols columns, where
// MatMul_Into runs scalar code, and at least dotMinDepth terms per
// element, below which the calls to vek32.Dot cost more than they save
// (BenchmarkGemm: 1.7 GFLOP/s at k = 10).
const (
	dotMaxCols  = 32
	dotMinDepth = 32
)

// gemmDot sets C = α·A·Btᵀ + β·C for A m×k and Bt n×k, one dot product
// per element, with the rows of C split across the device's threads.
func (c *CPU) gemmDot(m, n, k int, alpha float32, a, bt []float32,
	beta float32, cs []float32) {
	c.parallel(m, m*n*k, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			ai, ci := a[i*k:(i+1)*k], cs[i*n:(i+1)*n]
			for j := range ci {
				d := alpha * vek32.Dot(ai, bt[j*k:(j+1)*k])
				if beta != 0 {
					d += beta * ci[j]
				}
				ci[j] = d
			}
		}
	})
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
		vek32.MulNumber_Inplace(x, beta)
	}
}

// transpose writes the s×r transpose of the r×s matrix src into dst and
// returns dst, with the rows of src split across the device's threads.
func (c *CPU) transpose(dst, src []float32, r, s int) []float32 {
	if len(dst) != r*s || len(src) != r*s {
		panic(fmt.Sprintf("device: transpose of %d values as %d×%d", len(src), r, s))
	}
	groups := (r + 3) / 4
	c.parallel(groups, r*s, func(g0, g1 int) {
		transposeRows(dst, src, 4*g0, min(4*g1, r), r, s)
	})
	return dst
}

// transposeRows writes rows [i0, i1) of the r×s matrix src as columns of
// its s×r transpose dst. It reads four rows at a time, so that each write
// fills four consecutive values of dst: about 10 GB/s against 4 for one
// row at a time (BenchmarkGemm, the transposed cases).
func transposeRows(dst, src []float32, i0, i1, r, s int) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		r0 := src[i*s : (i+1)*s]
		r1 := src[(i+1)*s : (i+2)*s][:len(r0)]
		r2 := src[(i+2)*s : (i+3)*s][:len(r0)]
		r3 := src[(i+3)*s : (i+4)*s][:len(r0)]
		for j := range r0 {
			d := dst[j*r+i : j*r+i+4]
			d[0], d[1], d[2], d[3] = r0[j], r1[j], r2[j], r3[j]
		}
	}
	for ; i < i1; i++ {
		for j := range s {
			dst[j*r+i] = src[i*s+j]
		}
	}
}
