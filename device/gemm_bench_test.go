package device_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/viterin/vek/vek32"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/device/devicetest"
)

// benchShapes are the m, n, k of the Gemm benchmarks. An MLP 784→128→10
// trained in batches of 128, with each weight matrix stored out×in, runs
//
//	Y₁  = X·W₁ᵀ     NT  128×128×784
//	Y₂  = H·W₂ᵀ     NT  128×10×128
//	dW₂ = dY₂ᵀ·H    TN  10×128×128
//	dH  = dY₂·W₂    NN  128×128×10
//	dW₁ = dY₁ᵀ·X    TN  128×784×128
//
// and with the weights stored in×out the same shapes come with the other
// transpose flags, so every shape is run with all four. 1024³ is the usual
// large square for comparison with published numbers.
var benchShapes = []struct{ m, n, k int }{
	{128, 128, 784},
	{128, 784, 128},
	{128, 10, 128},
	{10, 128, 128},
	{128, 128, 10},
	{1024, 1024, 1024},
}

var benchTrans = []struct {
	name string
	a, b bool
}{
	{"NN", false, false}, {"NT", false, true},
	{"TN", true, false}, {"TT", true, true},
}

// BenchmarkGemm times C = A·B in float32 on the CPU device and, as the peer
// in the same run, gonum's blas32.Gemm on the same operands, and reports
// GFLOP/s (2·m·n·k floating-point operations per product).
func BenchmarkGemm(b *testing.B) {
	for _, sh := range benchShapes {
		for _, tr := range benchTrans {
			name := fmt.Sprintf("%s/%dx%dx%d", tr.name, sh.m, sh.n, sh.k)
			a, bm := benchOperands(sh.m, sh.n, sh.k)
			b.Run(name+"/cpu", func(b *testing.B) {
				benchDevice(b, tr.a, tr.b, sh.m, sh.n, sh.k, a, bm)
			})
			b.Run(name+"/gonum", func(b *testing.B) {
				benchGonum(b, tr.a, tr.b, sh.m, sh.n, sh.k, a, bm)
			})
		}
	}
}

// benchOperands returns seeded random operands of m×k and k×n values.
func benchOperands(m, n, k int) (a, b []float32) {
	rng := rand.New(rand.NewPCG(1, 2))
	a, b = make([]float32, m*k), make([]float32, k*n)
	for i := range a {
		a[i] = rng.Float32()*2 - 1
	}
	for i := range b {
		b[i] = rng.Float32()*2 - 1
	}
	return a, b
}

func benchDevice(b *testing.B, transA, transB bool, m, n, k int,
	a, bm []float32) {
	dev := device.NewCPU(0)
	defer dev.Close()
	da, db, dc := upload(b, dev, a), upload(b, dev, bm), upload(b, dev,
		make([]float32, m*n))
	for b.Loop() {
		dev.Gemm(transA, transB, m, n, k, 1, da, db, 0, dc)
	}
	if err := dev.Sync(); err != nil {
		b.Fatalf("Sync: %v", err)
	}
	reportGFLOPs(b, m, n, k)
}

func benchGonum(b *testing.B, transA, transB bool, m, n, k int,
	a, bm []float32) {
	ga := general(a, m, k, transA)
	gb := general(bm, k, n, transB)
	gc := general(make([]float32, m*n), m, n, false)
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	for b.Loop() {
		blas32.Gemm(ta, tb, 1, ga, gb, 0, gc)
	}
	reportGFLOPs(b, m, n, k)
}

// general wraps x as the r×c matrix op(X), stored c×r when trans is set.
func general(x []float32, r, c int, trans bool) blas32.General {
	if trans {
		r, c = c, r
	}
	return blas32.General{Rows: r, Cols: c, Stride: c, Data: x}
}

func upload(b *testing.B, dev device.Device, x []float32) device.Buffer {
	buf, err := dev.Alloc(len(x))
	if err != nil {
		b.Fatalf("Alloc(%d): %v", len(x), err)
	}
	if err := dev.CopyIn(buf, x); err != nil {
		b.Fatalf("CopyIn: %v", err)
	}
	return buf
}

// reportGFLOPs reports the rate of b.N products of m×k by k×n.
func reportGFLOPs(b *testing.B, m, n, k int) {
	flop := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
	b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TODO(gemm): the prototypes below are candidates for the CPU Gemm, kept
// here with their benchmark until cpu_gemm.go adopts or rejects them.
// vek32.MatMul_Into computes the last n mod 32 columns of its output in
// scalar code, so its rate falls about fourfold for n < 32 (the MLP's
// 128×10×128); and an explicit transpose of B costs a quarter of the
// time of the NT product at 128×128×784.

// BenchmarkGemmProto times the prototypes on the shapes they target, to be
// read against BenchmarkGemm's cpu lines of the same names.
func BenchmarkGemmProto(b *testing.B) {
	for _, sh := range benchShapes[:5] {
		m, n, k := sh.m, sh.n, sh.k
		a, bm := benchOperands(m, n, k)
		c, bt := make([]float32, m*n), make([]float32, k*n)
		name := fmt.Sprintf("%dx%dx%d", m, n, k)
		b.Run("NT/"+name+"/dot", func(b *testing.B) {
			for b.Loop() {
				dotNT(c, a, bm, m, n, k)
			}
			reportGFLOPs(b, m, n, k)
		})
		b.Run("NN/"+name+"/transpose4+dot", func(b *testing.B) {
			for b.Loop() {
				transpose4(bt, bm, k, n)
				dotNT(c, a, bt, m, n, k)
			}
			reportGFLOPs(b, m, n, k)
		})
		b.Run("NT/"+name+"/transpose4+vek", func(b *testing.B) {
			for b.Loop() {
				transpose4(bt, bm, n, k)
				vek32.MatMul_Into(c, a, bt, k)
			}
			reportGFLOPs(b, m, n, k)
		})
	}
}

// TestGemmProto checks the prototypes against the reference.
func TestGemmProto(t *testing.T) {
	const m, n, k = 37, 10, 130
	a, bm := benchOperands(m, n, k)
	want := make([]float64, m*n)
	devicetest.RefGemm(false, true, m, n, k, 1,
		devicetest.Float64s(a), devicetest.Float64s(bm), 0, want)

	got := make([]float32, m*n)
	dotNT(got, a, bm, m, n, k)
	bt := make([]float32, n*k)
	transpose4(bt, bm, n, k)
	viaT := vek32.MatMul(a, bt, k)
	for i, w := range want {
		// 4u·k, the conformance suite's tolerance for Gemm.
		const tol = 4 * 0x1p-24 * k
		if math.Abs(float64(got[i])-w) > tol ||
			math.Abs(float64(viaT[i])-w) > tol {
			t.Fatalf("C[%d]: dot %v, transpose4 %v, want %v",
				i, got[i], viaT[i], w)
		}
	}
}

// dotNT sets the m×n matrix c = a·bᵀ, for a m×k and b n×k, as m·n dot
// products of contiguous rows, the rows of c split over GOMAXPROCS
// goroutines when the product is large enough to pay for them.
func dotNT(c, a, b []float32, m, n, k int) {
	const minFlops = 1 << 16 // as the CPU device's own split
	parts := runtime.GOMAXPROCS(0)
	if m*n*k < minFlops {
		parts = 1
	}
	var wg sync.WaitGroup
	for p := range parts {
		i0, i1 := p*m/parts, (p+1)*m/parts
		wg.Go(func() {
			for i := i0; i < i1; i++ {
				ai, ci := a[i*k:(i+1)*k], c[i*n:(i+1)*n]
				for j := range ci {
					ci[j] = vek32.Dot(ai, b[j*k:(j+1)*k])
				}
			}
		})
	}
	wg.Wait()
}

// transpose4 writes the s×r transpose of the r×s matrix src into dst,
// reading four rows of src at a time so that each write fills four
// consecutive values of dst.
func transpose4(dst, src []float32, r, s int) {
	i := 0
	for ; i+4 <= r; i += 4 {
		r0 := src[i*s : (i+1)*s]
		r1 := src[(i+1)*s : (i+2)*s][:len(r0)]
		r2 := src[(i+2)*s : (i+3)*s][:len(r0)]
		r3 := src[(i+3)*s : (i+4)*s][:len(r0)]
		for j := range r0 {
			d := dst[j*r+i : j*r+i+4]
			d[0], d[1], d[2], d[3] = r0[j], r1[j], r2[j], r3[j]
		}
	}
	for ; i < r; i++ {
		for j := range s {
			dst[j*r+i] = src[i*s+j]
		}
	}
}
