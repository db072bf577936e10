//go:build cuda

package device_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/optraj/optraj/device"
)

// cudaBenchShapes are the m, n, k of the GPU Gemm benchmark: the MLP's
// products (see benchShapes) and the 4096³ square that issue 3 compares
// with cuBLAS through PyTorch (bench/peers/torch_gemm.py).
var cudaBenchShapes = []struct{ m, n, k int }{
	{128, 128, 784},
	{128, 784, 128},
	{128, 10, 128},
	{1024, 1024, 1024},
	{4096, 4096, 4096},
}

// BenchmarkCUDAGemm times C = op(A)·op(B) on GPU 0 and reports GFLOP/s.
// Each iteration is synchronised, so the time includes the launch. It is
// skipped without a GPU.
func BenchmarkCUDAGemm(b *testing.B) {
	dev, err := device.OpenCUDA(0)
	if errors.Is(err, device.ErrNoDriver) {
		b.Skipf("no GPU: %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	for _, sh := range cudaBenchShapes {
		for _, tr := range benchTrans {
			name := fmt.Sprintf("%s/%dx%dx%d", tr.name, sh.m, sh.n, sh.k)
			b.Run(name, func(b *testing.B) {
				benchCUDA(b, dev, tr.a, tr.b, sh.m, sh.n, sh.k)
			})
		}
	}
}

func benchCUDA(b *testing.B, dev device.Device, ta, tb bool, m, n, k int) {
	a, bm := benchOperands(m, n, k)
	da, err := dev.Alloc(len(a))
	if err != nil {
		b.Fatal(err)
	}
	db, err := dev.Alloc(len(bm))
	if err != nil {
		b.Fatal(err)
	}
	dc, err := dev.Alloc(m * n)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { dev.Free(da); dev.Free(db); dev.Free(dc) }()
	if err := dev.CopyIn(da, a); err != nil {
		b.Fatal(err)
	}
	if err := dev.CopyIn(db, bm); err != nil {
		b.Fatal(err)
	}

	dev.Gemm(ta, tb, m, n, k, 1, da, db, 0, dc) // warm up: module load, clocks
	if err := dev.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		dev.Gemm(ta, tb, m, n, k, 1, da, db, 0, dc)
		if err := dev.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/
		b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
