package device_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"

	"github.com/optraj/optraj/device"
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
// transpose flags, so every shape is run with all four. A Hessian-vector
// product of 32 vectors at once (influence.HVP) adds, for the first layer,
//
//	R{Y₁}   = X·Vᵀ      NT  128×4096×784
//	R{dW₁}  = R{dY₁}ᵀ·X TN  4096×784×128
//
// 1024³ is the usual large square for comparison with published numbers.
var benchShapes = []struct{ m, n, k int }{
	{128, 128, 784},
	{128, 784, 128},
	{128, 10, 128},
	{10, 128, 128},
	{128, 128, 10},
	{128, 4096, 784},
	{4096, 784, 128},
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
