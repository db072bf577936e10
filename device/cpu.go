package device

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/viterin/vek/vek32"
)

// CPU is the pure-Go backend. Its buffers are Go slices; its matrix
// product is vek32.MatMul_Into (AVX2 with a pure-Go fallback), which splits
// rows across the machine's cores, and its other operations are plain loops,
// split across Threads goroutines where the work is large enough to pay for
// them. Results do not depend on timing: every output element is computed by
// the same code whatever the split, so runs repeat bit for bit.
type CPU struct {
	threads int
	scratch [3][]float32 // Gemm: transposed A, transposed B, staged product
}

// NewCPU returns a CPU device that uses up to threads goroutines for its
// element-wise operations; threads ≤ 0 means runtime.GOMAXPROCS(0).
func NewCPU(threads int) *CPU {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return &CPU{threads: threads}
}

type cpuBuffer struct {
	data  []float32
	owner *CPU
}

func (b *cpuBuffer) Len() int { return len(b.data) }

func (b *cpuBuffer) Slice(i, j int) Buffer {
	if i < 0 || j < i || j > len(b.data) {
		panic(fmt.Sprintf("device: slice [%d:%d] of a buffer of length %d",
			i, j, len(b.data)))
	}
	return &cpuBuffer{data: b.data[i:j:j], owner: b.owner}
}

// Name describes the device.
func (c *CPU) Name() string { return fmt.Sprintf("cpu (%d threads)", c.threads) }

// Kind returns KindCPU.
func (c *CPU) Kind() Kind { return KindCPU }

// Alloc returns a zeroed buffer of n values. Running out of memory is
// fatal in Go rather than an error, so Alloc refuses up front any buffer
// larger than the machine's physical memory, with ErrOutOfMemory.
func (c *CPU) Alloc(n int) (Buffer, error) {
	if n < 0 {
		return nil, fmt.Errorf("device: alloc of %d values", n)
	}
	if mem := physicalMemory(); mem > 0 && uint64(n) > mem/4 {
		return nil, fmt.Errorf("device: alloc of %d float32 values (%d bytes) "+
			"on a machine with %d bytes: %w", n, uint64(n)*4, mem, ErrOutOfMemory)
	}
	return &cpuBuffer{data: make([]float32, n), owner: c}, nil
}

// Free drops the device's reference to b; the garbage collector reclaims
// the memory.
func (c *CPU) Free(b Buffer) {}

// CopyIn copies src into the start of dst.
func (c *CPU) CopyIn(dst Buffer, src []float32) error {
	d := c.buf(dst)
	if len(src) > len(d) {
		return fmt.Errorf("device: copy of %d values into a buffer of %d",
			len(src), len(d))
	}
	copy(d, src)
	return nil
}

// CopyOut copies the start of src into dst.
func (c *CPU) CopyOut(dst []float32, src Buffer) error {
	s := c.buf(src)
	if len(dst) > len(s) {
		return fmt.Errorf("device: copy of %d values out of a buffer of %d",
			len(dst), len(s))
	}
	copy(dst, s)
	return nil
}

// Sync returns nil: CPU operations finish before they return.
func (c *CPU) Sync() error { return nil }

// Close releases the scratch memory.
func (c *CPU) Close() error {
	c.scratch = [3][]float32{}
	return nil
}

// buf returns the slice behind b, panicking if b belongs to another device.
func (c *CPU) buf(b Buffer) []float32 {
	cb, ok := b.(*cpuBuffer)
	if !ok || cb.owner != c {
		panic("device: buffer does not belong to this CPU device")
	}
	return cb.data
}

// Host returns the Go slice behind a buffer of a CPU device. It lets
// CPU-only code, such as tests and reference implementations, read values
// without a copy. It panics if b is not a CPU buffer.
func Host(b Buffer) []float32 {
	cb, ok := b.(*cpuBuffer)
	if !ok {
		panic("device: Host of a buffer that is not on a CPU device")
	}
	return cb.data
}

// parallel calls f on contiguous parts of [0, n), one goroutine per part,
// when the work is at least minWork·n elements worth; otherwise it calls
// f(0, n) directly.
func (c *CPU) parallel(n, work int, f func(i0, i1 int)) {
	const minWork = 1 << 16 // below this a goroutine costs more than it saves
	parts := min(c.threads, n)
	if parts <= 1 || work < minWork {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		i0, i1 := p*n/parts, (p+1)*n/parts
		wg.Go(func() { f(i0, i1) })
	}
	wg.Wait()
}

func checkLen(op string, b []float32, want int) {
	if len(b) != want {
		panic(fmt.Sprintf("device: %s: buffer of length %d, want %d",
			op, len(b), want))
	}
}

// Copy sets dst = src.
func (c *CPU) Copy(dst, src Buffer) {
	d, s := c.buf(dst), c.buf(src)
	checkLen("Copy", d, len(s))
	copy(d, s)
}

// each calls f on contiguous parts of [0, n), split across the threads
// when n elements are worth it: the loop of an element-wise operation.
func (c *CPU) each(n int, f func(i0, i1 int)) { c.parallel(n, n, f) }

// Fill sets every element of x to v.
func (c *CPU) Fill(x Buffer, v float32) {
	d := c.buf(x)
	c.each(len(d), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d[i] = v
		}
	})
}

// Scale sets x = α·x.
func (c *CPU) Scale(alpha float32, x Buffer) {
	d := c.buf(x)
	c.each(len(d), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d[i] *= alpha
		}
	})
}

// Axpy sets y = α·x + y.
func (c *CPU) Axpy(alpha float32, x, y Buffer) {
	xs, ys := c.buf(x), c.buf(y)
	checkLen("Axpy", ys, len(xs))
	c.each(len(xs), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			ys[i] += alpha * xs[i]
		}
	})
}

// Mul sets dst = a ⊙ b.
func (c *CPU) Mul(dst, a, b Buffer) {
	d, as, bs := c.buf(dst), c.buf(a), c.buf(b)
	checkLen("Mul", as, len(d))
	checkLen("Mul", bs, len(d))
	c.each(len(d), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d[i] = as[i] * bs[i]
		}
	})
}

// AddRowVector adds v to every row of the m×n matrix x.
func (c *CPU) AddRowVector(x Buffer, m, n int, v Buffer) {
	xs, vs := c.buf(x), c.buf(v)
	checkLen("AddRowVector", xs, m*n)
	checkLen("AddRowVector", vs, n)
	for i := range m {
		row := xs[i*n : (i+1)*n]
		for j, b := range vs {
			row[j] += b
		}
	}
}

// SumRows sets dst = β·dst + Σᵢ x[i,:].
func (c *CPU) SumRows(dst Buffer, x Buffer, m, n int, beta float32) {
	d, xs := c.buf(dst), c.buf(x)
	checkLen("SumRows", xs, m*n)
	checkLen("SumRows", d, n)
	if beta == 0 {
		clear(d)
	} else if beta != 1 {
		for j := range d {
			d[j] *= beta
		}
	}
	for i := range m {
		row := xs[i*n : (i+1)*n]
		for j, v := range row {
			d[j] += v
		}
	}
}

// RowDot sets dst[i] = Σⱼ a[i,j]·b[i,j].
func (c *CPU) RowDot(dst, a, b Buffer, m, n int) {
	d, as, bs := c.buf(dst), c.buf(a), c.buf(b)
	checkLen("RowDot", d, m)
	checkLen("RowDot", as, m*n)
	checkLen("RowDot", bs, m*n)
	c.parallel(m, m*n, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d[i] = vek32.Dot(as[i*n:(i+1)*n], bs[i*n:(i+1)*n])
		}
	})
}

// ReLU sets dst = max(x, 0).
func (c *CPU) ReLU(dst, x Buffer) {
	d, xs := c.buf(dst), c.buf(x)
	checkLen("ReLU", xs, len(d))
	c.each(len(d), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			d[i] = max(xs[i], 0)
		}
	})
}

// ReLUBackward sets dst = g where x > 0, and 0 elsewhere.
func (c *CPU) ReLUBackward(dst, g, x Buffer) {
	d, gs, xs := c.buf(dst), c.buf(g), c.buf(x)
	checkLen("ReLUBackward", gs, len(d))
	checkLen("ReLUBackward", xs, len(d))
	c.each(len(d), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			if xs[i] > 0 {
				d[i] = gs[i]
			} else {
				d[i] = 0
			}
		}
	})
}

// SoftmaxCrossEntropy computes the per-row loss and, when grad is not nil,
// s times its gradient with respect to the logits. Sums run in float64.
func (c *CPU) SoftmaxCrossEntropy(loss, grad, z Buffer, y []int32,
	m, n int, s float32) {
	ls, zs := c.buf(loss), c.buf(z)
	checkLen("SoftmaxCrossEntropy", ls, m)
	checkLen("SoftmaxCrossEntropy", zs, m*n)
	if len(y) != m {
		panic(fmt.Sprintf("device: SoftmaxCrossEntropy: %d labels, want %d", len(y), m))
	}
	var gs []float32
	if grad != nil {
		gs = c.buf(grad)
		checkLen("SoftmaxCrossEntropy", gs, m*n)
	}
	for i := range m {
		if y[i] < 0 || int(y[i]) >= n {
			panic(fmt.Sprintf("device: SoftmaxCrossEntropy: label %d outside [0,%d)",
				y[i], n))
		}
		row := zs[i*n : (i+1)*n]
		zmax := float64(vek32.Max(row))
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v) - zmax)
		}
		lse := zmax + math.Log(sum)
		ls[i] = float32(lse - float64(row[y[i]]))
		if gs == nil {
			continue
		}
		g := gs[i*n : (i+1)*n]
		for j, v := range row {
			g[j] = s * float32(math.Exp(float64(v)-lse))
		}
		g[y[i]] -= s
	}
}

// SGDStep makes one step of SGD with momentum and weight decay.
func (c *CPU) SGDStep(w, g, v Buffer, eta, mu, lambda float32) {
	ws, gs, vs := c.buf(w), c.buf(g), c.buf(v)
	checkLen("SGDStep", gs, len(ws))
	checkLen("SGDStep", vs, len(ws))
	c.each(len(ws), func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			vs[i] = mu*vs[i] + gs[i] + lambda*ws[i]
			ws[i] -= eta * vs[i]
		}
	})
}

// GatherRows sets dst[r,:] = src[idx[r],:].
func (c *CPU) GatherRows(dst, src Buffer, idx []int32, n int) {
	d, s := c.buf(dst), c.buf(src)
	checkLen("GatherRows", d, len(idx)*n)
	rows := len(s) / n
	for _, i := range idx {
		if i < 0 || int(i) >= rows {
			panic(fmt.Sprintf("device: GatherRows: index %d outside [0,%d)", i, rows))
		}
	}
	c.parallel(len(idx), len(idx)*n, func(r0, r1 int) {
		for r := r0; r < r1; r++ {
			i := int(idx[r])
			copy(d[r*n:(r+1)*n], s[i*n:(i+1)*n])
		}
	})
}

// ScatterAddRows adds src[r,:] to dst[idx[r],:].
func (c *CPU) ScatterAddRows(dst, src Buffer, idx []int32, n int) {
	d, s := c.buf(dst), c.buf(src)
	checkLen("ScatterAddRows", s, len(idx)*n)
	rows := len(d) / n
	for r, i := range idx {
		if i < 0 || int(i) >= rows {
			panic(fmt.Sprintf("device: ScatterAddRows: index %d outside [0,%d)",
				i, rows))
		}
		vek32.Add_Inplace(d[int(i)*n:(int(i)+1)*n], s[r*n:(r+1)*n])
	}
}
