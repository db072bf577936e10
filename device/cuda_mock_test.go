//go:build cuda

package device

// These tests open the CUDA backend on the mock driver of
// internal/cu/testdata/mockcuda.c, built with gcc and loaded through
// OPTRAJ_LIBCUDA. The mock is NOT a GPU: its "device" memory is host
// memory and it records kernel launches without running them. So these
// tests check the backend's side of the driver API — that every kernel
// it looks up exists in the embedded PTX, that each operation launches
// the right kernel with parameters matching the kernel's PTX signature
// and the right grid and block, that copies and index uploads move the
// right bytes, and that driver failures become the errors device.go
// promises — and nothing about the numbers the kernels compute, which
// only TestCUDA on a GPU checks.

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/optraj/optraj/device/internal/cu"
	"github.com/optraj/optraj/device/internal/cu/cumock"
	"github.com/optraj/optraj/kernels"
)

const mockSource = "internal/cu/testdata/mockcuda.c"

// openMock opens the CUDA backend on a fresh mock driver, through
// OPTRAJ_LIBCUDA and OpenCUDA as a user would, and closes it when the test
// ends.
func openMock(t *testing.T) (*cudaDevice, *cumock.Mock) {
	t.Helper()
	path := cumock.Build(t, mockSource)
	m := cumock.Open(t, path)
	t.Setenv(cu.EnvLibrary, path)
	dev, err := OpenCUDA(0)
	if err != nil {
		t.Fatalf("OpenCUDA(0) on the mock driver: %v", err)
	}
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	m.Reset()
	return dev.(*cudaDevice), m
}

// mustAlloc returns a buffer of n values of d.
func mustAlloc(t *testing.T, d Device, n int) *cudaBuffer {
	t.Helper()
	b, err := d.Alloc(n)
	if err != nil {
		t.Fatalf("Alloc(%d): %v", n, err)
	}
	return b.(*cudaBuffer)
}

func TestCUDAMockOpen(t *testing.T) {
	d, m := openMock(t)
	if !strings.Contains(d.Name(), "not a GPU") ||
		!strings.Contains(d.Name(), "sm_80") || d.Kind() != KindCUDA {
		t.Errorf("Name, Kind = %q, %v", d.Name(), d.Kind())
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m.LiveAllocs() != 0 || m.LiveStreams() != 0 || m.CtxRefs(0) != 0 {
		t.Errorf("after Close: %d allocations, %d streams, %d context "+
			"refs; want none", m.LiveAllocs(), m.LiveStreams(), m.CtxRefs(0))
	}
}

// TestCUDAKernelTable checks that the backend's kernel table and the
// kernels of the embedded PTX are the same set, so that no kernel is
// missing from the table and none is compiled for nothing.
func TestCUDAKernelTable(t *testing.T) {
	entry := regexp.MustCompile(`\.entry\s+(\w+)\(`)
	inPTX := map[string]bool{}
	for _, mod := range kernels.Modules() {
		ptx, err := kernels.PTX(mod)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entry.FindAllSubmatch(ptx, -1) {
			inPTX[mod+"/"+string(e[1])] = true
		}
	}
	var k cudaKernels
	for _, e := range k.table() {
		name := e.module + "/" + e.name
		if !inPTX[name] {
			t.Errorf("kernel %s is not in the embedded PTX", name)
		}
		delete(inPTX, name)
	}
	for name := range inPTX {
		t.Errorf("kernel %s of the PTX is not in the backend's table", name)
	}
}

func TestCUDAMockNoDriver(t *testing.T) {
	t.Setenv(cu.EnvLibrary, "/nonexistent/libcuda.so.1")
	if dev, err := OpenCUDA(0); !errors.Is(err, ErrNoDriver) || dev != nil {
		t.Errorf("OpenCUDA without a library = %v, %v; want nil, "+
			"ErrNoDriver", dev, err)
	}
	if _, err := CUDAInfo(); !errors.Is(err, ErrNoDriver) {
		t.Errorf("CUDAInfo without a library = %v, want ErrNoDriver", err)
	}
	dev, note, err := Open("auto")
	if err != nil || dev.Kind() != KindCPU || !strings.Contains(note, "cpu") {
		t.Errorf("Open(auto) = %v, %q, %v; want the CPU and a note", dev,
			note, err)
	}

	path := cumock.Build(t, mockSource)
	cumock.Open(t, path).SetDeviceCount(0)
	t.Setenv(cu.EnvLibrary, path)
	dev, err = OpenCUDA(0)
	var de *cu.DriverError
	if dev != nil || !errors.Is(err, ErrNoDriver) || !errors.As(err, &de) ||
		de.Name != "CUDA_ERROR_NO_DEVICE" {
		t.Errorf("OpenCUDA without a GPU = %v, want ErrNoDriver wrapping "+
			"CUDA_ERROR_NO_DEVICE", err)
	}
}

func TestCUDAMockOldGPU(t *testing.T) {
	path := cumock.Build(t, mockSource)
	cumock.Open(t, path).SetCapability(7, 5)
	t.Setenv(cu.EnvLibrary, path)
	_, err := OpenCUDA(0)
	if !errors.Is(err, ErrNoDriver) || !strings.Contains(err.Error(), "sm_75") {
		t.Errorf("OpenCUDA on an sm_75 GPU = %v, want ErrNoDriver naming "+
			"sm_75", err)
	}
}

func TestCUDAMockInfo(t *testing.T) {
	path := cumock.Build(t, mockSource)
	t.Setenv(cu.EnvLibrary, path)
	info, err := CUDAInfo()
	if err != nil {
		t.Fatalf("CUDAInfo: %v", err)
	}
	if info.DriverVersion != 12040 || len(info.GPUs) != 1 {
		t.Fatalf("CUDAInfo = %+v, want driver 12040 and one GPU", info)
	}
	g := info.GPUs[0]
	if g.MemoryBytes != 1<<30 || g.ComputeMajor != 8 || g.ComputeMinor != 0 {
		t.Errorf("GPU %+v, want 1 GiB and compute capability 8.0", g)
	}
}

func TestCUDAMockMemory(t *testing.T) {
	d, m := openMock(t)
	const n = 100
	a, b := mustAlloc(t, d, n), mustAlloc(t, d, n)

	got := make([]float32, n)
	if err := d.CopyOut(got, a); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	for i, v := range got {
		if v != 0 { // the mock hands out memory filled with NaNs
			t.Fatalf("Alloc left element %d = %v, want 0", i, v)
		}
	}

	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i) + 0.5
	}
	if err := d.CopyIn(a, x); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	d.Copy(b.Slice(10, 40), a.Slice(60, 90))
	if err := d.CopyOut(got[:40], b); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	if got[9] != 0 || got[10] != x[60] || got[39] != x[89] {
		t.Errorf("copy between views: b[9:11] = %v, b[39] = %v; want 0, %v, "+
			"%v", got[9:11], got[39], x[60], x[89])
	}

	if err := d.CopyIn(a.Slice(1, 3), x[:3]); err == nil {
		t.Errorf("CopyIn of 3 values into a view of 2 gave no error")
	}
	if z := mustAlloc(t, d, 0); z.Len() != 0 {
		t.Errorf("Alloc(0).Len() = %d", z.Len())
	}

	d.Free(a.Slice(0, 5)) // a view: ignored
	d.Free(a)
	d.Free(a) // already freed: ignored
	if m.LiveAllocs() != 1 {
		t.Errorf("%d live allocations after freeing a, want 1", m.LiveAllocs())
	}
	if err := d.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
}

func TestCUDAMockOutOfMemory(t *testing.T) {
	d, m := openMock(t)
	_, err := d.Alloc(1 << 60)
	if !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("Alloc(2⁶⁰) = %v, want ErrOutOfMemory", err)
	}

	m.SetMemLimit(1 << 20) // the GPU still says it has 1 GiB
	_, err = d.Alloc(1 << 20)
	var de *cu.DriverError
	if !errors.Is(err, ErrOutOfMemory) || !errors.As(err, &de) ||
		de.Call != "cuMemAlloc_v2" || de.Code != 2 ||
		de.Name != "CUDA_ERROR_OUT_OF_MEMORY" {
		t.Errorf("Alloc past the driver's memory = %v, want ErrOutOfMemory "+
			"wrapping cuMemAlloc_v2's CUDA_ERROR_OUT_OF_MEMORY (2)", err)
	}
	if err := d.Sync(); err != nil {
		t.Errorf("Sync after a refused Alloc = %v; OOM is not sticky", err)
	}
}

// launchCase is an operation and the launch it must make.
type launchCase struct {
	name   string
	op     func()
	kernel string
	grid   [3]int
	block  [3]int
	params []uint64 // nil when the case checks them itself
}

func f32bits(v float32) uint64 { return uint64(math.Float32bits(v)) }

func TestCUDAMockLaunches(t *testing.T) {
	d, m := openMock(t)
	const n, rows, cols = 1000, 30, 33
	x, y, z, w := mustAlloc(t, d, n), mustAlloc(t, d, n),
		mustAlloc(t, d, n), mustAlloc(t, d, n)
	p := func(b *cudaBuffer) uint64 { return uint64(b.ptr) }
	big := mustAlloc(t, d, 256*cudaMaxBlocks+1)
	mat, vec := mustAlloc(t, d, rows*cols), mustAlloc(t, d, cols)
	col := mustAlloc(t, d, rows)
	ga, gb := mustAlloc(t, d, 130*5), mustAlloc(t, d, 5*70)
	gc := mustAlloc(t, d, 130*70)
	tall := mustAlloc(t, d, 64*70000)

	b1 := [3]int{256, 1, 1}
	cases := []launchCase{
		{"Fill", func() { d.Fill(x, 2.5) }, "fill", [3]int{4, 1, 1}, b1,
			[]uint64{p(x), n, f32bits(2.5)}},
		{"Fill view", func() { d.Fill(x.Slice(3, 260).(*cudaBuffer), 1) },
			"fill", [3]int{2, 1, 1}, b1, []uint64{p(x) + 12, 257, f32bits(1)}},
		{"Fill capped grid", func() { d.Fill(big, 0) }, "fill",
			[3]int{cudaMaxBlocks, 1, 1}, b1,
			[]uint64{p(big), 256*cudaMaxBlocks + 1, 0}},
		{"Scale", func() { d.Scale(-3, x) }, "scale", [3]int{4, 1, 1}, b1,
			[]uint64{p(x), n, f32bits(-3)}},
		{"Axpy", func() { d.Axpy(2, x, y) }, "axpy", [3]int{4, 1, 1}, b1,
			[]uint64{p(y), p(x), n, f32bits(2)}},
		{"Mul", func() { d.Mul(z, x, y) }, "mul", [3]int{4, 1, 1}, b1,
			[]uint64{p(z), p(x), p(y), n}},
		{"ReLU", func() { d.ReLU(y, x) }, "relu", [3]int{4, 1, 1}, b1,
			[]uint64{p(y), p(x), n}},
		{"ReLUBackward", func() { d.ReLUBackward(z, y, x) }, "relu_backward",
			[3]int{4, 1, 1}, b1, []uint64{p(z), p(y), p(x), n}},
		{"SGDStep", func() { d.SGDStep(w, x, y, 0.1, 0.9, 1e-4) }, "sgd_step",
			[3]int{4, 1, 1}, b1, []uint64{p(w), p(x), p(y), n,
				f32bits(0.1), f32bits(0.9), f32bits(1e-4)}},
		{"Gemm NT", func() {
			d.Gemm(false, true, 130, 70, 5, 1.5, ga, gb, -0.5, gc)
		}, "gemm_nt", [3]int{2, 3, 1}, b1, []uint64{130, 70, 5,
			f32bits(1.5), p(ga), p(gb), f32bits(-0.5), p(gc)}},
		{"Gemm TN", func() {
			d.Gemm(true, false, 130, 70, 5, 1, ga, gb, 0, gc)
		}, "gemm_tn", [3]int{2, 3, 1}, b1, []uint64{130, 70, 5,
			f32bits(1), p(ga), p(gb), 0, p(gc)}},
		{"Gemm tall", func() {
			d.Gemm(false, false, 64*70000, 1, 0, 1, x.Slice(0, 0),
				x.Slice(0, 0), 2, tall)
		}, "gemm_nn", [3]int{1, cudaMaxGridY, 1}, b1, []uint64{64 * 70000,
			1, 0, f32bits(1), p(x), p(x), f32bits(2), p(tall)}},
		{"AddRowVector", func() { d.AddRowVector(mat, rows, cols, vec) },
			"add_row_vector", [3]int{4, 1, 1}, b1,
			[]uint64{p(mat), p(vec), rows, cols}},
		{"SumRows", func() { d.SumRows(vec, mat, rows, cols, 0.5) },
			"sum_rows", [3]int{2, 1, 1}, [3]int{32, 32, 1},
			[]uint64{p(vec), p(mat), rows, cols, f32bits(0.5)}},
		{"RowDot", func() { d.RowDot(col, mat, mat, rows, cols) }, "row_dot",
			[3]int{4, 1, 1}, b1, []uint64{p(col), p(mat), p(mat), rows, cols}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m.Reset()
			tc.op()
			checkLaunch(t, d, m, tc)
		})
	}
}

// checkLaunch checks that the operation made exactly the launch tc wants,
// with as many parameters, and of the sizes, that the kernel's PTX
// declares.
func checkLaunch(t *testing.T, d *cudaDevice, m *cumock.Mock,
	tc launchCase) []uint64 {
	t.Helper()
	if err := d.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	ls := m.Launches()
	if len(ls) != 1 {
		t.Fatalf("%d launches, want 1", len(ls))
	}
	l := ls[0]
	if l.Kernel != tc.kernel || l.Grid != tc.grid || l.Block != tc.block {
		t.Errorf("launched %s over %v blocks of %v, want %s over %v of %v",
			l.Kernel, l.Grid, l.Block, tc.kernel, tc.grid, tc.block)
	}
	if tc.params == nil {
		return l.Params
	}
	if len(l.Params) != len(tc.params) {
		t.Fatalf("%d parameters, want %d", len(l.Params), len(tc.params))
	}
	for i, v := range l.Params {
		if v != tc.params[i] {
			t.Errorf("parameter %d (%d bytes) = %#x, want %#x",
				i, l.Sizes[i], v, tc.params[i])
		}
	}
	return l.Params
}

// TestCUDAMockIndexedLaunches checks the operations that take host index
// slices: the launch, and the indices as the kernel will find them.
func TestCUDAMockIndexedLaunches(t *testing.T) {
	d, m := openMock(t)
	const rows, cols = 30, 33
	p := func(b *cudaBuffer) uint64 { return uint64(b.ptr) }
	mat, grad := mustAlloc(t, d, rows*cols), mustAlloc(t, d, rows*cols)
	loss, packed := mustAlloc(t, d, rows), mustAlloc(t, d, 4*cols)
	labels := make([]int32, rows)
	for i := range labels {
		labels[i] = int32((7 * i) % cols)
	}
	idx := []int32{3, 0, 29, 3}
	b1 := [3]int{256, 1, 1}

	cases := []struct {
		launchCase
		idx []int32 // what the index parameter must point at
		at  int     // which parameter that is
	}{
		{launchCase{"SoftmaxCrossEntropy", func() {
			d.SoftmaxCrossEntropy(loss, grad, mat, labels, rows, cols, 0.25)
		}, "softmax_xent", [3]int{4, 1, 1}, b1, nil}, labels, 3},
		{launchCase{"GatherRows", func() {
			d.GatherRows(packed, mat, idx, cols)
		}, "gather_rows", [3]int{1, 1, 1}, b1, nil}, idx, 2},
		{launchCase{"ScatterAddRows", func() {
			d.ScatterAddRows(mat, packed, idx, cols)
		}, "scatter_add_rows", [3]int{1, 1, 1}, b1, nil}, idx, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m.Reset()
			tc.op()
			params := checkLaunch(t, d, m, tc.launchCase)
			raw, ok := m.Peek(params[tc.at], 4*len(tc.idx))
			if !ok {
				t.Fatalf("index parameter %#x is not in device memory",
					params[tc.at])
			}
			for i, want := range tc.idx {
				if got := int32(leUint32(raw[4*i:])); got != want {
					t.Fatalf("index %d on the device = %d, want %d",
						i, got, want)
				}
			}
		})
	}

	m.Reset()
	d.SoftmaxCrossEntropy(loss, nil, mat, labels, rows, cols, 1)
	params := checkLaunch(t, d, m, launchCase{kernel: "softmax_xent",
		grid: [3]int{4, 1, 1}, block: b1})
	if params[0] != p(loss) || params[1] != 0 || params[2] != p(mat) {
		t.Errorf("softmax_xent without grad: parameters %#x, want loss, "+
			"0, z", params[:3])
	}
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func TestCUDAMockCosineTopK(t *testing.T) {
	d, m := openMock(t)
	const nx, dim, k = 50, 7, 5
	x := mustAlloc(t, d, nx*dim)
	q := x.Slice(10*dim, 20*dim).(*cudaBuffer)
	idx, sim := make([]int32, 10*k), make([]float32, 10*k)
	live := m.LiveAllocs()

	if err := d.CosineTopK(idx, sim, q, x, 10, nx, dim, k, 10); err != nil {
		t.Fatalf("CosineTopK: %v", err)
	}
	params := checkLaunch(t, d, m, launchCase{kernel: "cosine_topk",
		grid: [3]int{10, 1, 1}, block: [3]int{256, 1, 1}})
	want := []uint64{uint64(q.ptr), uint64(x.ptr), 10, nx, dim, k, 10}
	for i, v := range want {
		if params[2+i] != v {
			t.Errorf("parameter %d = %#x, want %#x", 2+i, params[2+i], v)
		}
	}
	if params[1] != params[0]+4*10*k {
		t.Errorf("similarities at %#x, want right after the %d indices at "+
			"%#x", params[1], 10*k, params[0])
	}
	if m.LiveAllocs() != live {
		t.Errorf("CosineTopK left %d allocations", m.LiveAllocs()-live)
	}

	defer func() {
		if recover() == nil {
			t.Errorf("CosineTopK with k = 33 did not panic")
		}
	}()
	_ = d.CosineTopK(make([]int32, 330), make([]float32, 330), q, x,
		10, nx, dim, 33, -1)
}

func TestCUDAMockEmptyOpsLaunchNothing(t *testing.T) {
	d, m := openMock(t)
	e := mustAlloc(t, d, 0)
	c := mustAlloc(t, d, 4)
	d.Fill(e, 1)
	d.Axpy(1, e, e)
	d.Gemm(false, false, 0, 4, 3, 1, e.Slice(0, 0), mustAlloc(t, d, 12), 0,
		e)
	d.Gemm(false, false, 4, 0, 3, 1, mustAlloc(t, d, 12), e, 0, e)
	d.RowDot(e, e, e, 0, 5)
	d.SoftmaxCrossEntropy(e, nil, e, nil, 0, 3, 1)
	d.GatherRows(e, c, nil, 2)
	d.Copy(e, e)
	if err := d.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if n := len(m.Launches()); n != 0 {
		t.Errorf("operations on empty buffers made %d launches", n)
	}
}

// TestCUDAMockStickyErrors checks that a failure, when the kernel is
// issued or while it runs, is kept, reported by Sync and CopyOut with the
// driver's call, code and name, and stops later work.
func TestCUDAMockStickyErrors(t *testing.T) {
	for _, tc := range []struct {
		call string
		run  func(d *cudaDevice, x *cudaBuffer) error
	}{
		{"cuLaunchKernel", func(d *cudaDevice, x *cudaBuffer) error {
			d.Fill(x, 1)
			return d.Sync()
		}},
		{"cuCtxSynchronize", func(d *cudaDevice, x *cudaBuffer) error {
			d.Fill(x, 1)
			return d.Sync()
		}},
		{"cuMemcpyDtoH_v2", func(d *cudaDevice, x *cudaBuffer) error {
			d.Fill(x, 1)
			return d.CopyOut(make([]float32, 4), x)
		}},
		{"cuMemcpyDtoD_v2", func(d *cudaDevice, x *cudaBuffer) error {
			d.Copy(x.Slice(0, 2), x.Slice(2, 4))
			return d.Sync()
		}},
	} {
		t.Run(tc.call, func(t *testing.T) {
			d, m := openMock(t)
			x := mustAlloc(t, d, 4)
			m.Fail(tc.call, cu.ErrorLaunchFailed, 0)
			err := tc.run(d, x)
			var de *cu.DriverError
			if !errors.As(err, &de) || de.Call != tc.call ||
				de.Code != 719 || de.Name != "CUDA_ERROR_LAUNCH_FAILED" {
				t.Fatalf("error %v, want %s's CUDA_ERROR_LAUNCH_FAILED (719)",
					err, tc.call)
			}

			before := len(m.Launches())
			d.Scale(2, x)
			if len(m.Launches()) != before {
				t.Errorf("an operation after the error was launched")
			}
			if err2 := d.Sync(); err2 != err {
				t.Errorf("second Sync = %v, want the first error %v", err2, err)
			}
			if err2 := d.CopyOut(make([]float32, 4), x); err2 != err {
				t.Errorf("CopyOut = %v, want the first error %v", err2, err)
			}
		})
	}
}

func TestCUDAMockPanics(t *testing.T) {
	d, _ := openMock(t)
	b3, b4, b12 := mustAlloc(t, d, 3), mustAlloc(t, d, 4), mustAlloc(t, d, 12)
	cpu := NewCPU(1)
	foreign, err := cpu.Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   func()
	}{
		{"Axpy lengths", func() { d.Axpy(1, b3, b4) }},
		{"Gemm lengths", func() {
			d.Gemm(false, false, 3, 4, 2, 1, b3, b4, 0, b12)
		}},
		{"label", func() {
			d.SoftmaxCrossEntropy(b3, nil, b12, []int32{0, 4, 1}, 3, 4, 1)
		}},
		{"labels count", func() {
			d.SoftmaxCrossEntropy(b3, nil, b12, []int32{0}, 3, 4, 1)
		}},
		{"gather index", func() { d.GatherRows(b4, b12, []int32{3}, 4) }},
		{"scatter index", func() { d.ScatterAddRows(b12, b4, []int32{-1}, 4) }},
		{"foreign buffer", func() { d.Fill(foreign, 1) }},
		{"slice", func() { b4.Slice(2, 5) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, ok := r.(string)
				if !ok || !strings.HasPrefix(msg, "device: ") {
					t.Errorf("panic %v, want a message starting "+
						"\"device: \"", r)
				}
			}()
			tc.op()
		})
	}
}

// openEmulated opens the CUDA backend on the mock driver linked with the
// kernel emulator of kernels/testdata/emulate.cc, which runs the kernels'
// CUDA C source on the CPU. It is not a GPU either.
func openEmulated(t *testing.T) *cudaDevice {
	t.Helper()
	path := cumock.BuildEmulator(t, mockSource,
		"../kernels/testdata/emulate.cc", "../kernels")
	t.Setenv(cu.EnvLibrary, path)
	dev, err := OpenCUDA(0)
	if err != nil {
		t.Fatalf("OpenCUDA(0) on the emulating mock driver: %v", err)
	}
	t.Cleanup(func() {
		if err := dev.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return dev.(*cudaDevice)
}

// knnTol bounds the error of a float32 cosine similarity of rows of 13
// values from [−1, 1]: two 13-term dot products, two square roots and a
// division are some 30 roundings of 6e-8, far below 1e-5, while wrong
// neighbours differ by much more.
const knnTol = 1e-5

// refCosine returns the cosine similarity of a and b in float64, 0 when
// either is all zeros.
func refCosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

type neighbour struct {
	j   int
	sim float64
}

// refTopK returns the k rows of x (nx×dim) most similar to q, best first,
// leaving out row self.
func refTopK(q, x []float32, nx, dim, k, self int) []neighbour {
	var all []neighbour
	for j := range nx {
		if j != self {
			all = append(all, neighbour{j, refCosine(q, x[j*dim:(j+1)*dim])})
		}
	}
	slices.SortStableFunc(all, func(a, b neighbour) int {
		if a.sim != b.sim {
			if a.sim > b.sim {
				return -1
			}
			return 1
		}
		return a.j - b.j
	})
	return all[:min(k, len(all))]
}

// TestCUDAEmulatedCosineTopK checks the kNN kernel, run by the emulator,
// against a float64 reference: queries that are rows of x and queries
// that are not, k from 1 to the limit of 32 and past the candidates, an
// all-zero row, and a row that is a multiple of another, whose equal
// similarities must come in index order.
func TestCUDAEmulatedCosineTopK(t *testing.T) {
	if testing.Short() {
		t.Skip("the kernel emulator takes a while; skipped with -short")
	}
	d := openEmulated(t)
	const seed = 7
	rng := rand.New(rand.NewPCG(seed, 0))
	random := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(2*rng.Float64() - 1)
		}
		return v
	}
	const nx, dim = 70, 13
	xs := random(nx * dim)
	clear(xs[5*dim : 6*dim]) // an all-zero row
	for c := range dim {     // row 9 = 2·row 4: the same similarities
		xs[9*dim+c] = 2 * xs[4*dim+c]
	}
	x := mustAlloc(t, d, nx*dim)
	if err := d.CopyIn(x, xs); err != nil {
		t.Fatal(err)
	}
	other := random(9 * dim)
	qo := mustAlloc(t, d, 9*dim)
	if err := d.CopyIn(qo, other); err != nil {
		t.Fatal(err)
	}

	// Queries 0 to 9 are rows 1 to 10 of x, the zero row and the
	// multiple included; the emulator is too slow for all 70 rows.
	const self0, nself = 1, 10
	q := x.Slice(self0*dim, (self0+nself)*dim).(*cudaBuffer)
	for _, k := range []int{1, 7, 32} {
		t.Run(fmt.Sprintf("self/k=%d", k), func(t *testing.T) {
			checkTopK(t, d, xs[self0*dim:(self0+nself)*dim], xs, q, x,
				nself, nx, dim, k, self0)
		})
		t.Run(fmt.Sprintf("other/k=%d", k), func(t *testing.T) {
			checkTopK(t, d, other, xs, qo, x, 9, nx, dim, k, -1)
		})
	}
	t.Run("k past the candidates", func(t *testing.T) {
		few := x.Slice(0, 3*dim).(*cudaBuffer)
		checkTopK(t, d, xs[:3*dim], xs[:3*dim], few, few, 3, 3, dim, 5, 0)
	})
}

// checkTopK runs CosineTopK for the queries qs (nq×dim, on the device as
// q) against xs (nx×dim, as x) and compares it with refTopK.
func checkTopK(t *testing.T, d *cudaDevice, qs, xs []float32,
	q, x *cudaBuffer, nq, nx, dim, k, self0 int) {
	t.Helper()
	idx, sim := make([]int32, nq*k), make([]float32, nq*k)
	if err := d.CosineTopK(idx, sim, q, x, nq, nx, dim, k, self0); err != nil {
		t.Fatalf("CosineTopK: %v", err)
	}
	for i := range nq {
		self := -1
		if self0 >= 0 {
			self = self0 + i
		}
		want := refTopK(qs[i*dim:(i+1)*dim], xs, nx, dim, k, self)
		for p := range k {
			j, s := int(idx[i*k+p]), float64(sim[i*k+p])
			if p >= len(want) {
				if j != -1 || !math.IsInf(s, -1) {
					t.Errorf("query %d, place %d of %d candidates: (%d, %v), "+
						"want (-1, -Inf)", i, p, len(want), j, s)
				}
				continue
			}
			w := want[p]
			if math.Abs(s-w.sim) > knnTol || (j != w.j &&
				math.Abs(refCosine(qs[i*dim:(i+1)*dim],
					xs[j*dim:(j+1)*dim])-w.sim) > knnTol) {
				t.Errorf("query %d, place %d: row %d with %v, want row %d "+
					"with %v", i, p, j, s, w.j, w.sim)
			}
		}
		for p := 1; p < min(k, len(want)); p++ {
			at := i*k + p
			if sim[at] == sim[at-1] && idx[at] < idx[at-1] {
				t.Errorf("query %d: rows %d and %d, equally similar, at "+
					"places %d and %d; want index order", i, idx[at-1],
					idx[at], p-1, p)
			}
		}
	}
}
