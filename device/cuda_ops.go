//go:build cuda

package device

import (
	"fmt"

	"github.com/optraj/optraj/device/internal/cu"
	"github.com/optraj/optraj/kernels"
)

var _ Device = (*cudaDevice)(nil)

// Launch geometry. The block shapes and tiles must match the kernels
// (the constants of the same meaning in kernels/*.cu).
const (
	// cudaBlock is the block size of the one-dimensional kernels: eight
	// warps, which every GPU since sm_30 runs at full occupancy.
	cudaBlock = 256

	// cudaMaxBlocks caps the grid of the grid-stride kernels: 2¹⁶ blocks
	// of 256 threads are about 60 times the threads that an H100 (132
	// SMs × 2048) holds at once. Past that, threads loop.
	cudaMaxBlocks = 1 << 16

	// cudaMaxGridY is the largest gridDim.y of every GPU.
	cudaMaxGridY = 65535

	gemmTile      = 64 // rows and columns of C per block (BM, BN)
	sumRowsTile   = 32 // columns per block and rows in flight (SUM_TILE)
	rowsPerBlock  = 8  // rows per block of row_dot and softmax_xent
	knnBlock      = 256
	knnMaxNeighbs = 32 // a neighbour list lives in one warp (KNN_MAXK)
)

// cudaKernels are the kernels of kernels/*.cu.
type cudaKernels struct {
	fill, scale, axpy, mul, relu, reluBackward, sgdStep cu.Function

	gemm [2][2]cu.Function // by [transA][transB]

	addRowVector, sumRows, rowDot, gatherRows, scatterAddRows cu.Function

	softmaxXent, cosineTopK cu.Function
}

// cudaKernel names a kernel, its module and where its handle goes.
type cudaKernel struct {
	module, name string
	f            *cu.Function
}

func (k *cudaKernels) table() []cudaKernel {
	return []cudaKernel{
		{"elementwise", "fill", &k.fill},
		{"elementwise", "scale", &k.scale},
		{"elementwise", "axpy", &k.axpy},
		{"elementwise", "mul", &k.mul},
		{"elementwise", "relu", &k.relu},
		{"elementwise", "relu_backward", &k.reluBackward},
		{"elementwise", "sgd_step", &k.sgdStep},
		{"gemm", "gemm_nn", &k.gemm[0][0]},
		{"gemm", "gemm_nt", &k.gemm[0][1]},
		{"gemm", "gemm_tn", &k.gemm[1][0]},
		{"gemm", "gemm_tt", &k.gemm[1][1]},
		{"rows", "add_row_vector", &k.addRowVector},
		{"rows", "sum_rows", &k.sumRows},
		{"rows", "row_dot", &k.rowDot},
		{"rows", "gather_rows", &k.gatherRows},
		{"rows", "scatter_add_rows", &k.scatterAddRows},
		{"softmax", "softmax_xent", &k.softmaxXent},
		{"knn", "cosine_topk", &k.cosineTopK},
	}
}

// load loads the embedded PTX modules into ctx and looks up every kernel.
func (k *cudaKernels) load(ctx *cu.Context) error {
	mods := map[string]cu.Module{}
	for _, e := range k.table() {
		m, ok := mods[e.module]
		if !ok {
			ptx, err := kernels.PTX(e.module)
			if err != nil {
				return fmt.Errorf("device: %w", err)
			}
			if m, err = ctx.LoadModule(ptx); err != nil {
				return fmt.Errorf("device: loading kernels/%s.ptx: %w",
					e.module, err)
			}
			mods[e.module] = m
		}
		f, err := ctx.Function(m, e.name)
		if err != nil {
			return fmt.Errorf("device: kernels/%s.ptx: %w", e.module, err)
		}
		*e.f = f
	}
	return nil
}

// launch issues kernel f unless the device has met an error, and keeps
// the error of issuing it.
func (d *cudaDevice) launch(op string, f cu.Function, grid, block cu.Dim3,
	args ...any) {
	if d.err != nil {
		return
	}
	d.fail(op, d.ctx.Launch(f, grid, block, 0, args...))
}

// cudaBlocks returns the number of blocks that cover n items at per items
// a block, capped at cudaMaxBlocks for grid-stride kernels.
func cudaBlocks(n, per int) int {
	return min((n+per-1)/per, cudaMaxBlocks)
}

// flat launches a grid-stride kernel over n items, one thread per item.
func (d *cudaDevice) flat(op string, f cu.Function, n int, args ...any) {
	if n == 0 {
		return
	}
	grid := cu.Dim3{X: cudaBlocks(n, cudaBlock), Y: 1, Z: 1}
	d.launch(op, f, grid, cu.Dim3{X: cudaBlock, Y: 1, Z: 1}, args...)
}

// cudaCheckLen panics unless a buffer of length got has length want.
func cudaCheckLen(op string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("device: %s: buffer of length %d, want %d",
			op, got, want))
	}
}

// cudaCheckIndex panics unless every index is in [0, n).
func cudaCheckIndex(op, what string, idx []int32, n int) {
	for _, i := range idx {
		if i < 0 || int(i) >= n {
			panic(fmt.Sprintf("device: %s: %s %d outside [0,%d)",
				op, what, i, n))
		}
	}
}

// Copy sets dst = src with a device-to-device copy.
func (d *cudaDevice) Copy(dst, src Buffer) {
	db, sb := d.buf(dst), d.buf(src)
	cudaCheckLen("Copy", db.n, sb.n)
	if d.err != nil || db.n == 0 {
		return
	}
	d.fail("Copy", d.ctx.CopyDevice(db.ptr, sb.ptr, 4*db.n))
}

// Fill sets every element of x to v.
func (d *cudaDevice) Fill(x Buffer, v float32) {
	b := d.buf(x)
	d.flat("Fill", d.k.fill, b.n, b.ptr, int64(b.n), v)
}

// Scale sets x = α·x.
func (d *cudaDevice) Scale(alpha float32, x Buffer) {
	b := d.buf(x)
	d.flat("Scale", d.k.scale, b.n, b.ptr, int64(b.n), alpha)
}

// Axpy sets y = α·x + y.
func (d *cudaDevice) Axpy(alpha float32, x, y Buffer) {
	xb, yb := d.buf(x), d.buf(y)
	cudaCheckLen("Axpy", yb.n, xb.n)
	d.flat("Axpy", d.k.axpy, xb.n, yb.ptr, xb.ptr, int64(xb.n), alpha)
}

// Mul sets dst = a ⊙ b.
func (d *cudaDevice) Mul(dst, a, b Buffer) {
	db, ab, bb := d.buf(dst), d.buf(a), d.buf(b)
	cudaCheckLen("Mul", ab.n, db.n)
	cudaCheckLen("Mul", bb.n, db.n)
	d.flat("Mul", d.k.mul, db.n, db.ptr, ab.ptr, bb.ptr, int64(db.n))
}

// ReLU sets dst = max(x, 0).
func (d *cudaDevice) ReLU(dst, x Buffer) {
	db, xb := d.buf(dst), d.buf(x)
	cudaCheckLen("ReLU", xb.n, db.n)
	d.flat("ReLU", d.k.relu, db.n, db.ptr, xb.ptr, int64(db.n))
}

// ReLUBackward sets dst = g where x > 0, and 0 elsewhere.
func (d *cudaDevice) ReLUBackward(dst, g, x Buffer) {
	db, gb, xb := d.buf(dst), d.buf(g), d.buf(x)
	cudaCheckLen("ReLUBackward", gb.n, db.n)
	cudaCheckLen("ReLUBackward", xb.n, db.n)
	d.flat("ReLUBackward", d.k.reluBackward, db.n,
		db.ptr, gb.ptr, xb.ptr, int64(db.n))
}

// SGDStep makes one step of SGD with momentum and weight decay.
func (d *cudaDevice) SGDStep(w, g, v Buffer, eta, mu, lambda float32) {
	wb, gb, vb := d.buf(w), d.buf(g), d.buf(v)
	cudaCheckLen("SGDStep", gb.n, wb.n)
	cudaCheckLen("SGDStep", vb.n, wb.n)
	d.flat("SGDStep", d.k.sgdStep, wb.n,
		wb.ptr, gb.ptr, vb.ptr, int64(wb.n), eta, mu, lambda)
}

// Gemm computes C = α·op(A)·op(B) + β·C with the tiled kernels of
// kernels/gemm.cu, one 64×64 tile of C per block.
func (d *cudaDevice) Gemm(transA, transB bool, m, n, k int, alpha float32,
	a, b Buffer, beta float32, c Buffer) {
	ab, bb, cb := d.buf(a), d.buf(b), d.buf(c)
	cudaCheckLen("Gemm A", ab.n, m*k)
	cudaCheckLen("Gemm B", bb.n, k*n)
	cudaCheckLen("Gemm C", cb.n, m*n)
	if m == 0 || n == 0 {
		return
	}

	tilesM := (m + gemmTile - 1) / gemmTile
	grid := cu.Dim3{
		X: (n + gemmTile - 1) / gemmTile,
		Y: min(tilesM, cudaMaxGridY),
		Z: 1,
	}
	f := d.k.gemm[cudaIndex(transA)][cudaIndex(transB)]
	d.launch("Gemm", f, grid, cu.Dim3{X: 256, Y: 1, Z: 1},
		cudaInt32("Gemm", m), cudaInt32("Gemm", n), cudaInt32("Gemm", k),
		alpha, ab.ptr, bb.ptr, beta, cb.ptr)
}

// cudaIndex is 1 for true and 0 for false.
func cudaIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AddRowVector adds v to every row of the m×n matrix x.
func (d *cudaDevice) AddRowVector(x Buffer, m, n int, v Buffer) {
	xb, vb := d.buf(x), d.buf(v)
	cudaCheckLen("AddRowVector", xb.n, m*n)
	cudaCheckLen("AddRowVector", vb.n, n)
	d.flat("AddRowVector", d.k.addRowVector, m*n, xb.ptr, vb.ptr,
		cudaInt32("AddRowVector", m), cudaInt32("AddRowVector", n))
}

// SumRows sets dst = β·dst + Σᵢ x[i,:], 32 columns per block.
func (d *cudaDevice) SumRows(dst Buffer, x Buffer, m, n int, beta float32) {
	db, xb := d.buf(dst), d.buf(x)
	cudaCheckLen("SumRows", xb.n, m*n)
	cudaCheckLen("SumRows", db.n, n)
	if n == 0 {
		return
	}
	grid := cu.Dim3{X: (n + sumRowsTile - 1) / sumRowsTile, Y: 1, Z: 1}
	block := cu.Dim3{X: sumRowsTile, Y: sumRowsTile, Z: 1}
	d.launch("SumRows", d.k.sumRows, grid, block, db.ptr, xb.ptr,
		cudaInt32("SumRows", m), cudaInt32("SumRows", n), beta)
}

// RowDot sets dst[i] = Σⱼ a[i,j]·b[i,j], one warp per row.
func (d *cudaDevice) RowDot(dst, a, b Buffer, m, n int) {
	db, ab, bb := d.buf(dst), d.buf(a), d.buf(b)
	cudaCheckLen("RowDot", db.n, m)
	cudaCheckLen("RowDot", ab.n, m*n)
	cudaCheckLen("RowDot", bb.n, m*n)
	d.rows("RowDot", d.k.rowDot, m, db.ptr, ab.ptr, bb.ptr,
		cudaInt32("RowDot", m), cudaInt32("RowDot", n))
}

// rows launches a kernel that gives each of m rows to one warp.
func (d *cudaDevice) rows(op string, f cu.Function, m int, args ...any) {
	if m == 0 {
		return
	}
	grid := cu.Dim3{X: cudaBlocks(m, rowsPerBlock), Y: 1, Z: 1}
	d.launch(op, f, grid, cu.Dim3{X: cudaBlock, Y: 1, Z: 1}, args...)
}

// SoftmaxCrossEntropy computes the per-row loss and, when grad is not
// nil, s times its gradient, one warp per row. The labels are checked
// here and copied to the GPU.
func (d *cudaDevice) SoftmaxCrossEntropy(loss, grad, z Buffer, y []int32,
	m, n int, s float32) {
	lb, zb := d.buf(loss), d.buf(z)
	cudaCheckLen("SoftmaxCrossEntropy", lb.n, m)
	cudaCheckLen("SoftmaxCrossEntropy", zb.n, m*n)
	if len(y) != m {
		panic(fmt.Sprintf("device: SoftmaxCrossEntropy: %d labels, want %d",
			len(y), m))
	}
	var gp cu.Ptr // a null grad pointer tells the kernel to skip it
	if grad != nil {
		gb := d.buf(grad)
		cudaCheckLen("SoftmaxCrossEntropy", gb.n, m*n)
		gp = gb.ptr
	}
	cudaCheckIndex("SoftmaxCrossEntropy", "label", y, n)
	if m == 0 {
		return
	}

	yp := d.upload("SoftmaxCrossEntropy", y)
	d.rows("SoftmaxCrossEntropy", d.k.softmaxXent, m, lb.ptr, gp, zb.ptr,
		yp, cudaInt32("SoftmaxCrossEntropy", m),
		cudaInt32("SoftmaxCrossEntropy", n), s)
}

// GatherRows sets dst[r,:] = src[idx[r],:].
func (d *cudaDevice) GatherRows(dst, src Buffer, idx []int32, n int) {
	db, sb := d.buf(dst), d.buf(src)
	d.indexed("GatherRows", d.k.gatherRows, db, sb, db, sb, idx, n)
}

// ScatterAddRows adds src[r,:] to dst[idx[r],:] with atomic additions.
func (d *cudaDevice) ScatterAddRows(dst, src Buffer, idx []int32, n int) {
	db, sb := d.buf(dst), d.buf(src)
	d.indexed("ScatterAddRows", d.k.scatterAddRows, db, sb, sb, db, idx, n)
}

// indexed checks and launches GatherRows or ScatterAddRows: packed is
// the len(idx)×n matrix and table the matrix whose rows idx names.
func (d *cudaDevice) indexed(op string, f cu.Function, dst, src, packed,
	table *cudaBuffer, idx []int32, n int) {
	cudaCheckLen(op, packed.n, len(idx)*n)
	if len(idx) == 0 || n == 0 {
		return
	}
	cudaCheckIndex(op, "index", idx, table.n/n)

	ip := d.upload(op, idx)
	d.flat(op, f, len(idx)*n, dst.ptr, src.ptr, ip,
		cudaInt32(op, len(idx)), cudaInt32(op, n))
}
