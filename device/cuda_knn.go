//go:build cuda

package device

import (
	"fmt"

	"github.com/optraj/optraj/device/internal/cu"
)

// CosineTopK finds, for each of the nq rows of the nq×dim matrix q, the k
// rows of the nx×dim matrix x most similar to it by cosine similarity,
// with the kernel of kernels/knn.cu, and writes their indices to idx and
// similarities to sim (both nq×k, host memory, best first; equal
// similarities in index order). When self0 ≥ 0, query row i is row
// self0 + i of x and is left out of its own list. A list with fewer than
// k candidates ends in index −1 and similarity −∞. CosineTopK waits for
// the GPU.
//
// It panics if k is outside [1, 32], the kernel's limit, if a length
// does not match its shape, or if self0 ≥ 0 and self0 + nq > nx.
//
// TODO(knn-interface): this is a method of the CUDA backend only; an
// optional interface in device.go, with a CPU version, would let recsys
// use it on every backend.
func (d *cudaDevice) CosineTopK(idx []int32, sim []float32, q, x Buffer,
	nq, nx, dim, k, self0 int) error {
	qb, xb := d.buf(q), d.buf(x)
	if k < 1 || k > knnMaxNeighbs {
		panic(fmt.Sprintf("device: CosineTopK: k = %d outside [1, %d]",
			k, knnMaxNeighbs))
	}
	cudaCheckLen("CosineTopK q", qb.n, nq*dim)
	cudaCheckLen("CosineTopK x", xb.n, nx*dim)
	cudaCheckLen("CosineTopK idx", len(idx), nq*k)
	cudaCheckLen("CosineTopK sim", len(sim), nq*k)
	self := int32(-1)
	if self0 >= 0 {
		if self0+nq > nx {
			panic(fmt.Sprintf("device: CosineTopK: queries %d to %d are "+
				"not rows of x, which has %d", self0, self0+nq-1, nx))
		}
		self = int32(self0)
	}
	if nq == 0 {
		return d.err
	}

	out, err := d.Alloc(2 * nq * k) // indices, then similarities
	if err != nil {
		return fmt.Errorf("device: CosineTopK: %w", err)
	}
	defer d.Free(out)
	ob := d.buf(out)
	ip, sp := ob.ptr, ob.ptr+cu.Ptr(4*nq*k)

	grid := cu.Dim3{X: min(nq, cudaMaxBlocks), Y: 1, Z: 1}
	d.launch("CosineTopK", d.k.cosineTopK, grid,
		cu.Dim3{X: knnBlock, Y: 1, Z: 1}, ip, sp, qb.ptr, xb.ptr,
		cudaInt32("CosineTopK", nq), cudaInt32("CosineTopK", nx),
		cudaInt32("CosineTopK", dim), int32(k), self)
	if d.err != nil {
		return d.err
	}
	d.fail("CosineTopK", cu.CopyOut(d.ctx, idx, ip))
	if d.err == nil {
		d.fail("CosineTopK", cu.CopyOut(d.ctx, sim, sp))
	}
	return d.err
}
