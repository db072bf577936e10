// Package devicetest is the conformance suite for implementations of
// device.Device. Every backend's tests call Run, which checks each method
// on seeded random inputs against the float64 references in reference.go.
//
// Each output is written into a view of a larger buffer whose guard bands
// hold a NaN, and each output that an operation overwrites is filled with
// the same NaN before the operation runs, so an element left unwritten, or
// a write outside the view, fails the test. Because the views start at an
// odd offset, they also exercise backends on unaligned memory.
//
// An element passes when
//
//	|got − want| ≤ atol + rtol·|want|
//
// with atol and rtol set per operation below. Each check logs its worst
// absolute and relative error, and the worst error as a fraction of what
// the tolerance allows, so `go test -v` shows how close a backend comes.
package devicetest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/optraj/optraj/device"
)

// u is the unit roundoff of float32: a correctly rounded float32 addition
// or multiplication has a relative error of at most u.
const u = 0x1p-24

// Tolerances. Inputs are drawn from [−1, 1] unless a test says otherwise;
// the atol values below rely on that bound on the operands.
const (
	// roundRtol is for results of a single correctly rounded operation
	// (Scale, Mul, AddRowVector): at most u·|want|, doubled for slack.
	roundRtol = 2 * u

	// axpyAtol covers α·x + y rounded twice without a fused multiply-add:
	// the product's rounding is up to u·|α·x| ≤ 2u (|α| ≤ 2 in the tests)
	// however small the sum, so it cannot be relative; doubled for slack.
	axpyAtol = 4 * u

	// sgdAtol covers SGDStep's five roundings (μ·v, λ·w, two additions,
	// w − η·v) of terms up to about 3 in magnitude: 15u, rounded up.
	sgdAtol = 16 * u

	// accTol is the absolute tolerance per accumulated term of a sum of
	// products of inputs from [−1, 1] (Gemm, RowDot, SumRows,
	// ScatterAddRows): a k-term float32 sum is allowed accTol·k. A plain
	// sequential sum of such terms errs by about u·k/3 on average (each of
	// the k additions rounds a partial sum of size about √k/3, and the
	// errors add up like a random walk); the worst element over all the
	// Gemm tests measured 1.1·u·k with vek32.MatMul_Into, which sums
	// sequentially. 4u leaves a factor of 3.5 over that, while a wrong
	// element is off by about √k/3, far above 4u·k for any k here.
	accTol = 4 * u

	// softmaxTol is the relative tolerance of SoftmaxCrossEntropy, and its
	// absolute tolerance per unit of the largest |logit|: a float32
	// backend computes z − max z or log Σ exp z with an absolute rounding
	// error of about u·max|z|, which exp turns into a relative error of
	// the probabilities and which stays absolute in the loss. 8u allows
	// a few ulps of error in exp and log on top.
	softmaxTol = 8 * u
)

// maxReported is how many mismatching elements a failed check lists.
const maxReported = 8

// pcgStream is the second PCG seed word, the same for every test.
const pcgStream = 0x6f70747261 // "optra"

// seedSpan separates the seeds of the suite's tests.
const seedSpan = 10000

// guard is the number of poisoned elements on each side of an output. It is
// odd so that outputs start at unaligned addresses.
const guard = 5

// poison is the quiet NaN, with a recognisable payload, that fills outputs
// and their guard bands before an operation.
var poison = math.Float32frombits(0x7fc00bad)

// Run runs the conformance suite against the backend that newDev opens:
// one subtest per method of device.Device. newDev is called once per
// subtest and may call t.Skip, with the reason, when the backend cannot run
// here (no GPU, say). Run closes each device when its subtest ends.
func Run(t *testing.T, newDev func(t *testing.T) device.Device) {
	tests := []struct {
		name string
		run  func(t *testing.T, dev device.Device, seed uint64)
	}{
		{"Name", testName},
		{"Alloc", testAlloc},
		{"CopyInOut", testCopyInOut},
		{"Slice", testSlice},
		{"Sync", testSync},
		{"Copy", testCopy},
		{"Fill", testFill},
		{"Scale", testScale},
		{"Axpy", testAxpy},
		{"Mul", testMul},
		{"Gemm", testGemm},
		{"AddRowVector", testAddRowVector},
		{"SumRows", testSumRows},
		{"RowDot", testRowDot},
		{"ReLU", testReLU},
		{"ReLUBackward", testReLUBackward},
		{"SoftmaxCrossEntropy", testSoftmaxCrossEntropy},
		{"SGDStep", testSGDStep},
		{"GatherRows", testGatherRows},
		{"ScatterAddRows", testScatterAddRows},
	}
	for i, tc := range tests {
		// Each test draws its cases' seeds from [seed, seed+seedSpan).
		seed := uint64(i+1) * seedSpan
		t.Run(tc.name, func(t *testing.T) {
			dev := newDev(t)
			t.Cleanup(func() {
				if err := dev.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.run(t, dev, seed)
		})
	}
}

// env is what one test case works with: the device under test and a seeded
// source of inputs.
type env struct {
	t   *testing.T
	dev device.Device
	rng *rand.Rand
}

// newEnv returns the env of a test case whose inputs come from seed; the
// seed is logged when the case fails.
func newEnv(t *testing.T, dev device.Device, seed uint64) *env {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("inputs from rand.NewPCG(%d, %#x)", seed, pcgStream)
		}
	})
	return &env{t: t, dev: dev, rng: rand.New(rand.NewPCG(seed, pcgStream))}
}

// uniform returns n values drawn uniformly from [lo, hi).
func (e *env) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*e.rng.Float64())
	}
	return x
}

// alloc returns a buffer of n values that is freed when the test ends.
func (e *env) alloc(n int) device.Buffer {
	e.t.Helper()
	b, err := e.dev.Alloc(n)
	if err != nil {
		e.t.Fatalf("Alloc(%d): %v", n, err)
	}
	e.t.Cleanup(func() { e.dev.Free(b) })
	return b
}

// upload returns a new buffer holding x.
func (e *env) upload(x []float32) device.Buffer {
	e.t.Helper()
	b := e.alloc(len(x))
	if err := e.dev.CopyIn(b, x); err != nil {
		e.t.Fatalf("CopyIn of %d values: %v", len(x), err)
	}
	return b
}

// read copies the whole of b to the host and waits for the device.
func (e *env) read(b device.Buffer) []float32 {
	e.t.Helper()
	x := make([]float32, b.Len())
	if err := e.dev.CopyOut(x, b); err != nil {
		e.t.Fatalf("CopyOut of %d values: %v", len(x), err)
	}
	if err := e.dev.Sync(); err != nil {
		e.t.Fatalf("Sync: %v", err)
	}
	return x
}

// output is an operation's output: view is n elements in the middle of
// all, between guard bands that hold poison.
type output struct {
	all, view device.Buffer
	n         int
}

// output returns an output of n elements that start as init, or as poison
// where init is nil.
func (e *env) output(n int, init []float32) output {
	e.t.Helper()
	x := make([]float32, n+2*guard)
	for i := range x {
		x[i] = poison
	}
	if init != nil {
		if len(init) != n {
			panic("devicetest: output of the wrong length")
		}
		copy(x[guard:], init)
	}
	all := e.upload(x)
	return output{all: all, view: all.Slice(guard, guard+n), n: n}
}

// result returns the values of o after checking that its guard bands
// still hold poison.
func (e *env) result(what string, o output) []float32 {
	e.t.Helper()
	x := e.read(o.all)
	for i, v := range x {
		inside := i >= guard && i < guard+o.n
		if !inside && math.Float32bits(v) != math.Float32bits(poison) {
			e.t.Errorf("%s: element %d, outside the %d-element output, "+
				"was overwritten with %v", what, i-guard, o.n, v)
			break
		}
	}
	return x[guard : guard+o.n]
}

// tol is a tolerance: |got − want| ≤ atol + rtol·|want|.
type tol struct{ atol, rtol float64 }

// exact is the tolerance of operations that only move values.
var exact = tol{}

// check compares got with want element by element, fails the test listing
// the first mismatches, and logs the worst errors.
func (e *env) check(what string, got []float32, want []float64, tl tol) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	var (
		bad, nans               int
		list                    strings.Builder
		worstAbs, worstRel, use float64
		absAt, relAt            int
	)
	for i, w := range want {
		g := float64(got[i])
		d := math.Abs(g - w)
		bound := tl.atol + tl.rtol*math.Abs(w)
		if math.IsNaN(d) {
			nans++
		}
		if !(d <= bound) {
			bad++
			if bad <= maxReported {
				fmt.Fprintf(&list, "\n\t[%d] got %v, want %v: |diff| %.3g > %.3g",
					i, got[i], w, d, bound)
			}
		}
		if d > worstAbs {
			worstAbs, absAt = d, i
		}
		if w != 0 && d/math.Abs(w) > worstRel {
			worstRel, relAt = d/math.Abs(w), i
		}
		if bound > 0 && d/bound > use {
			use = d / bound
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d of %d elements differ (atol %.3g, rtol %.3g):%s",
			what, bad, len(want), tl.atol, tl.rtol, list.String())
	}
	e.t.Logf("%s: worst abs error %.3g [%d], worst rel error %.3g [%d], "+
		"%.3g of tolerance, %d NaN", what, worstAbs, absAt, worstRel, relAt,
		use, nans)
}

// panics reports whether f panics.
func panics(f func()) (did bool) {
	defer func() {
		if recover() != nil {
			did = true
		}
	}()
	f()
	return false
}

// f64 returns the float32 scalar x as the references take it.
func f64(x float32) float64 { return float64(x) }

// lengths are the vector lengths of the element-wise tests: one, odd sizes
// around the usual vector widths, and one large enough to be split across
// threads.
var lengths = []int{1, 3, 17, 33, 127, 1 << 17}

// shapes are the m×n shapes of the row-wise tests.
var shapes = []struct{ m, n int }{
	{1, 1}, {1, 17}, {3, 1}, {17, 33}, {65, 130}, {128, 10}, {128, 128},
	{130, 127},
}

func testName(t *testing.T, dev device.Device, _ uint64) {
	if dev.Name() == "" {
		t.Errorf("Name is empty")
	}
	if s := dev.Kind().String(); strings.HasPrefix(s, "Kind(") {
		t.Errorf("Kind = %s, not a known backend", s)
	}
}

func testAlloc(t *testing.T, dev device.Device, seed uint64) {
	t.Run("zeroed", func(t *testing.T) {
		e := newEnv(t, dev, seed)
		for _, n := range append([]int{0}, lengths...) {
			b := e.alloc(n)
			if b.Len() != n {
				t.Fatalf("Alloc(%d).Len() = %d", n, b.Len())
			}
			e.check(fmt.Sprintf("Alloc(%d)", n), e.read(b), make([]float64, n), exact)
		}
	})
	t.Run("reused", func(t *testing.T) {
		// A backend that recycles memory must still hand it out zeroed.
		e := newEnv(t, dev, seed+1)
		const n = 4099
		for range 4 {
			b, err := dev.Alloc(n)
			if err != nil {
				t.Fatalf("Alloc(%d): %v", n, err)
			}
			e.check("Alloc after Free", e.read(b), make([]float64, n), exact)
			if err := dev.CopyIn(b, e.uniform(n, -1, 1)); err != nil {
				t.Fatalf("CopyIn: %v", err)
			}
			dev.Free(b)
		}
	})
	t.Run("out of memory", func(t *testing.T) {
		// 2⁶⁰ values are 4 EiB: no device holds them, and the request is
		// past what a Go slice can be, so a CPU backend must check it
		// rather than ask make.
		const n = 1 << 60
		var err error
		if panics(func() { _, err = dev.Alloc(n) }) {
			t.Fatalf("Alloc(%d) panics; want an error wrapping "+
				"device.ErrOutOfMemory", n)
		}
		if !errors.Is(err, device.ErrOutOfMemory) {
			t.Errorf("Alloc(%d) = %v, want an error wrapping %v",
				n, err, device.ErrOutOfMemory)
		}
	})
}

func testCopyInOut(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			x := e.uniform(n, -1, 1)
			b := e.upload(x)
			e.check("round trip", e.read(b), Float64s(x), exact)

			// A shorter copy in writes only a prefix, and a shorter
			// copy out reads only a prefix.
			head := e.uniform(n/2, 2, 3)
			if err := dev.CopyIn(b, head); err != nil {
				t.Fatalf("CopyIn of %d values: %v", len(head), err)
			}
			want := Float64s(append(head[:n/2:n/2], x[n/2:]...))
			e.check("after a short CopyIn", e.read(b), want, exact)

			got := make([]float32, n-n/2)
			if err := dev.CopyOut(got, b); err != nil {
				t.Fatalf("CopyOut of %d values: %v", len(got), err)
			}
			e.check("short CopyOut", got, want[:len(got)], exact)
		})
	}
}

func testSlice(t *testing.T, dev device.Device, seed uint64) {
	const n = 300
	e := newEnv(t, dev, seed)
	x := e.uniform(n, -1, 1)
	want := Float64s(x)
	b := e.upload(x)

	v := b.Slice(17, 211)
	w := v.Slice(3, 130) // elements [20, 147) of b
	if v.Len() != 194 || w.Len() != 127 || b.Slice(5, 5).Len() != 0 {
		t.Fatalf("view lengths %d, %d, %d; want 194, 127, 0",
			v.Len(), w.Len(), b.Slice(5, 5).Len())
	}
	e.check("read through a view", e.read(w), want[20:147], exact)

	y := e.uniform(w.Len(), 2, 3)
	if err := dev.CopyIn(w, y); err != nil {
		t.Fatalf("CopyIn to a view: %v", err)
	}
	copy(want[20:147], Float64s(y))
	e.check("CopyIn through a view", e.read(b), want, exact)

	dev.Fill(b.Slice(0, 4), -7)
	dev.Scale(2, v.Slice(190, 194)) // elements [207, 211) of b
	for i := range 4 {
		want[i] = -7
		want[207+i] *= 2
	}
	e.check("ops on views", e.read(b), want, exact)

	dev.Free(w) // a no-op for views
	e.check("after freeing a view", e.read(b), want, exact)

	for _, r := range [][2]int{{-1, 2}, {4, 3}, {0, n + 1}, {n + 1, n + 1}} {
		if !panics(func() { b.Slice(r[0], r[1]) }) {
			t.Errorf("Slice(%d, %d) of %d values does not panic", r[0], r[1], n)
		}
	}
}

func testSync(t *testing.T, dev device.Device, seed uint64) {
	if err := dev.Sync(); err != nil {
		t.Fatalf("Sync on an idle device: %v", err)
	}

	// A chain of dependent operations, read back without a Sync: CopyOut
	// must wait for all of them.
	const n, steps = 1 << 16, 64
	e := newEnv(t, dev, seed)
	one := e.upload(e.uniform(n, 1, 1))
	x := e.alloc(n)
	dev.Fill(x, 0.5)
	for range steps {
		dev.Axpy(1, one, x)
	}
	dev.Scale(2, x)
	got := make([]float32, n)
	if err := dev.CopyOut(got, x); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	want := make([]float64, n)
	for i := range want {
		want[i] = 2 * (0.5 + steps)
	}
	e.check("Fill, Axpy×64, Scale", got, want, exact)
	if err := dev.Sync(); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func testCopy(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			x := e.uniform(n, -1, 1)
			dst := e.output(n, nil)
			dev.Copy(dst.view, e.upload(x))
			e.check("Copy", e.result("Copy", dst), Float64s(x), exact)
		})
	}
}

func testFill(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		for _, v := range []float32{0, -1.5, 3e38} {
			t.Run(fmt.Sprintf("n=%d/v=%g", n, v), func(t *testing.T) {
				e := newEnv(t, dev, seed+uint64(i))
				x := e.output(n, nil)
				dev.Fill(x.view, v)
				want := make([]float64, n)
				for j := range want {
					want[j] = f64(v)
				}
				e.check("Fill", e.result("Fill", x), want, exact)
			})
		}
	}
}

func testScale(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		for _, alpha := range []float32{0, 1, -2.5, 0.1} {
			t.Run(fmt.Sprintf("n=%d/alpha=%g", n, alpha), func(t *testing.T) {
				e := newEnv(t, dev, seed+uint64(i))
				x0 := e.uniform(n, -1, 1)
				x := e.output(n, x0)
				dev.Scale(alpha, x.view)
				want := Float64s(x0)
				for j := range want {
					want[j] *= f64(alpha)
				}
				e.check("Scale", e.result("Scale", x), want,
					tol{rtol: roundRtol})
			})
		}
	}
}

func testAxpy(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		for _, alpha := range []float32{0, 1, -0.75, 2} {
			t.Run(fmt.Sprintf("n=%d/alpha=%g", n, alpha), func(t *testing.T) {
				e := newEnv(t, dev, seed+uint64(i))
				x, y0 := e.uniform(n, -1, 1), e.uniform(n, -1, 1)
				y := e.output(n, y0)
				dev.Axpy(alpha, e.upload(x), y.view)
				want := Float64s(y0)
				for j := range want {
					want[j] += f64(alpha) * f64(x[j])
				}
				e.check("Axpy", e.result("Axpy", y), want,
					tol{atol: axpyAtol, rtol: roundRtol})
			})
		}
	}
}

func testMul(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			a, b := e.uniform(n, -1, 1), e.uniform(n, -1, 1)
			dst := e.output(n, nil)
			dev.Mul(dst.view, e.upload(a), e.upload(b))
			want := make([]float64, n)
			for j := range want {
				want[j] = f64(a[j]) * f64(b[j])
			}
			e.check("Mul", e.result("Mul", dst), want, tol{rtol: roundRtol})
		})
	}
}

// gemmSizes are the m, n, k of the Gemm tests: degenerate and odd sizes
// that are not multiples of any vector width or tile, and the products of
// an MLP 784→128→10 trained in batches of 128.
var gemmSizes = []struct{ m, n, k int }{
	{1, 1, 1}, {1, 3, 17}, {3, 1, 17}, {17, 3, 1}, {17, 33, 65},
	{33, 65, 17}, {65, 17, 127}, {127, 130, 33}, {130, 127, 65},
	{128, 128, 784}, // layer 1 forward: X·W₁ᵀ
	{128, 784, 128}, // layer 1 weight gradient: dYᵀ·X
	{128, 10, 128},  // layer 2 forward
	{10, 128, 128},  // layer 2 weight gradient
	{128, 128, 10},  // layer 2 input gradient: dY·W₂
	{40, 1100, 300}, // op(B) large enough that the CPU computes Cᵀ
}

// gemmScalars are the α and β of the Gemm tests. With β = 0, C starts as
// NaN, which must not reach the result.
var gemmScalars = []struct{ alpha, beta float32 }{
	{1, 0}, {-0.5, 0}, {0, 0}, {1, 1}, {1.5, -0.25}, {0, 0.5},
}

func testGemm(t *testing.T, dev device.Device, seed uint64) {
	name := map[bool]string{false: "N", true: "T"}
	for ti, trans := range []struct{ a, b bool }{
		{false, false}, {false, true}, {true, false}, {true, true},
	} {
		t.Run(name[trans.a]+name[trans.b], func(t *testing.T) {
			for si, sz := range gemmSizes {
				for ci, sc := range gemmScalars {
					t.Run(fmt.Sprintf("m=%d,n=%d,k=%d/alpha=%g,beta=%g",
						sz.m, sz.n, sz.k, sc.alpha, sc.beta), func(t *testing.T) {
						s := seed + uint64(1000*ti+10*si+ci)
						gemmCase(newEnv(t, dev, s), trans.a, trans.b,
							sz.m, sz.n, sz.k, sc.alpha, sc.beta)
					})
				}
			}
		})
	}
}

func gemmCase(e *env, transA, transB bool, m, n, k int, alpha, beta float32) {
	a, b := e.uniform(m*k, -1, 1), e.uniform(k*n, -1, 1)
	var c0 []float32
	if beta != 0 {
		c0 = e.uniform(m*n, -1, 1)
	}
	c := e.output(m*n, c0)
	e.dev.Gemm(transA, transB, m, n, k, alpha,
		e.upload(a), e.upload(b), beta, c.view)

	want := make([]float64, m*n)
	if c0 != nil {
		want = Float64s(c0)
	}
	RefGemm(transA, transB, m, n, k, f64(alpha),
		Float64s(a), Float64s(b), f64(beta), want)
	terms := math.Abs(f64(alpha))*float64(k) + math.Abs(f64(beta))
	e.check("Gemm", e.result("Gemm", c), want,
		tol{atol: accTol * terms, rtol: roundRtol})
}

func testAddRowVector(t *testing.T, dev device.Device, seed uint64) {
	for i, sh := range shapes {
		t.Run(fmt.Sprintf("m=%d,n=%d", sh.m, sh.n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			x0, v := e.uniform(sh.m*sh.n, -1, 1), e.uniform(sh.n, -1, 1)
			x := e.output(sh.m*sh.n, x0)
			dev.AddRowVector(x.view, sh.m, sh.n, e.upload(v))
			want := Float64s(x0)
			RefAddRowVector(want, sh.m, sh.n, Float64s(v))
			e.check("AddRowVector", e.result("AddRowVector", x), want,
				tol{rtol: roundRtol})
		})
	}
}

func testSumRows(t *testing.T, dev device.Device, seed uint64) {
	for i, sh := range shapes {
		for _, beta := range []float32{0, 1, 0.5} {
			name := fmt.Sprintf("m=%d,n=%d/beta=%g", sh.m, sh.n, beta)
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, dev, seed+uint64(i))
				x := e.uniform(sh.m*sh.n, -1, 1)
				var d0 []float32
				if beta != 0 {
					d0 = e.uniform(sh.n, -1, 1)
				}
				dst := e.output(sh.n, d0)
				dev.SumRows(dst.view, e.upload(x), sh.m, sh.n, beta)

				want := make([]float64, sh.n)
				if d0 != nil {
					want = Float64s(d0)
				}
				RefSumRows(want, Float64s(x), sh.m, sh.n, f64(beta))
				terms := float64(sh.m) + math.Abs(f64(beta))
				e.check("SumRows", e.result("SumRows", dst), want,
					tol{atol: accTol * terms, rtol: roundRtol})
			})
		}
	}
}

func testRowDot(t *testing.T, dev device.Device, seed uint64) {
	for i, sh := range shapes {
		t.Run(fmt.Sprintf("m=%d,n=%d", sh.m, sh.n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			a, b := e.uniform(sh.m*sh.n, -1, 1), e.uniform(sh.m*sh.n, -1, 1)
			dst := e.output(sh.m, nil)
			dev.RowDot(dst.view, e.upload(a), e.upload(b), sh.m, sh.n)

			want := make([]float64, sh.m)
			RefRowDot(want, Float64s(a), Float64s(b), sh.m, sh.n)
			e.check("RowDot", e.result("RowDot", dst), want,
				tol{atol: accTol * float64(sh.n), rtol: roundRtol})
		})
	}
}

// reluInput returns n values from [−1, 1) of which about one in four is
// zero or negative zero, the values where ReLU's branches meet.
func (e *env) reluInput(n int) []float32 {
	x := e.uniform(n, -1, 1)
	for i := range x {
		switch e.rng.IntN(8) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		}
	}
	return x
}

func testReLU(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			x := e.reluInput(n)
			dst := e.output(n, nil)
			dev.ReLU(dst.view, e.upload(x))
			want := make([]float64, n)
			RefReLU(want, Float64s(x))
			e.check("ReLU", e.result("ReLU", dst), want, exact)
		})
	}
}

func testReLUBackward(t *testing.T, dev device.Device, seed uint64) {
	for i, n := range lengths {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			g, x := e.uniform(n, -1, 1), e.reluInput(n)
			dst := e.output(n, nil)
			dev.ReLUBackward(dst.view, e.upload(g), e.upload(x))
			want := make([]float64, n)
			RefReLUBackward(want, Float64s(g), Float64s(x))
			e.check("ReLUBackward", e.result("ReLUBackward", dst), want, exact)
		})
	}
}

// softmaxCases are the SoftmaxCrossEntropy tests. Logits come from
// [−zmax, zmax]; with extreme set, half of them are exactly ±zmax, so
// that some rows have a single dominant logit, some a label at the
// bottom, and some ties at the top. Logits of ±80 are within a factor e⁹
// of float32's largest exponential, and those of ±1000 overflow it unless
// the backend shifts each row by its maximum.
var softmaxCases = []struct {
	name    string
	m, n    int
	zmax    float64
	extreme bool
	s       float32
	grad    bool
}{
	{"1x1", 1, 1, 1, false, 1, true},
	{"3x17", 3, 17, 4, false, 1, true},
	{"128x10", 128, 10, 8, false, 1.0 / 128, true},
	{"17x130", 17, 130, 8, false, -2, true},
	{"128x10 nil grad", 128, 10, 8, false, 1, false},
	{"large ±80", 65, 10, 80, true, 1, true},
	{"large ±80 nil grad", 65, 10, 80, true, 1, false},
	{"huge ±1000", 33, 17, 1000, true, 0.5, true},
}

func testSoftmaxCrossEntropy(t *testing.T, dev device.Device, seed uint64) {
	for i, tc := range softmaxCases {
		t.Run(tc.name, func(t *testing.T) {
			softmaxCase(newEnv(t, dev, seed+uint64(i)),
				tc.m, tc.n, tc.zmax, tc.extreme, tc.s, tc.grad)
		})
	}
	t.Run("labels", func(t *testing.T) {
		e := newEnv(t, dev, seed+99)
		const m, n = 3, 4
		z := e.upload(e.uniform(m*n, -1, 1))
		loss := e.alloc(m)
		for _, bad := range []int32{-1, n, 1 << 30} {
			y := []int32{0, bad, n - 1}
			if !panics(func() {
				dev.SoftmaxCrossEntropy(loss, nil, z, y, m, n, 1)
			}) {
				t.Errorf("label %d of %d classes does not panic", bad, n)
			}
		}
	})
}

func softmaxCase(e *env, m, n int, zmax float64, extreme bool,
	s float32, withGrad bool) {
	z := e.uniform(m*n, -zmax, zmax)
	if extreme {
		for i := range z {
			if e.rng.IntN(2) == 0 {
				z[i] = float32(zmax * float64(2*e.rng.IntN(2)-1))
			}
		}
	}
	y := make([]int32, m)
	for i := range y {
		y[i] = int32(e.rng.IntN(n))
	}

	loss := e.output(m, nil)
	var grad output
	var gradView device.Buffer
	if withGrad {
		grad = e.output(m*n, nil)
		gradView = grad.view
	}
	e.dev.SoftmaxCrossEntropy(loss.view, gradView, e.upload(z), y, m, n, s)

	wantLoss := make([]float64, m)
	var wantGrad []float64
	if withGrad {
		wantGrad = make([]float64, m*n)
	}
	RefSoftmaxCrossEntropy(wantLoss, wantGrad, Float64s(z), y, m, n, f64(s))
	scale := 1 + zmax
	e.check("loss", e.result("loss", loss), wantLoss,
		tol{atol: softmaxTol * scale, rtol: softmaxTol})
	if withGrad {
		as := math.Abs(f64(s))
		e.check("grad", e.result("grad", grad), wantGrad,
			tol{atol: softmaxTol * scale * as, rtol: softmaxTol * scale})
	}
}

func testSGDStep(t *testing.T, dev device.Device, seed uint64) {
	hypers := []struct{ eta, mu, lambda float32 }{
		{0.1, 0, 0}, {0.05, 0.9, 5e-4}, {1, 0.5, 0.1},
	}
	for i, n := range lengths {
		for _, h := range hypers {
			name := fmt.Sprintf("n=%d/eta=%g,mu=%g,lambda=%g",
				n, h.eta, h.mu, h.lambda)
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, dev, seed+uint64(i))
				w0, g, v0 := e.uniform(n, -1, 1), e.uniform(n, -1, 1),
					e.uniform(n, -1, 1)
				w, v := e.output(n, w0), e.output(n, v0)
				dev.SGDStep(w.view, e.upload(g), v.view, h.eta, h.mu, h.lambda)

				ww, wv := Float64s(w0), Float64s(v0)
				RefSGDStep(ww, Float64s(g), wv, f64(h.eta), f64(h.mu),
					f64(h.lambda))
				tl := tol{atol: sgdAtol, rtol: roundRtol}
				e.check("w", e.result("w", w), ww, tl)
				e.check("v", e.result("v", v), wv, tl)
			})
		}
	}
}

// rowCases are the GatherRows and ScatterAddRows tests: a matrix of rows×n
// and the indices of the rows taken or added to, with repeats.
var rowCases = []struct {
	name    string
	rows, n int
	idx     func(r *rand.Rand, rows int) []int32
}{
	{"one row", 1, 17, func(*rand.Rand, int) []int32 { return []int32{0} }},
	{"reversed", 7, 3, func(_ *rand.Rand, rows int) []int32 {
		idx := make([]int32, rows)
		for i := range idx {
			idx[i] = int32(rows - 1 - i)
		}
		return idx
	}},
	{"random 1 column", 50, 1, randomRows(120)},
	{"random 33 columns", 50, 33, randomRows(120)},
	{"random 130 columns", 300, 130, randomRows(128)},
	{"same row 64 times", 5, 130, func(*rand.Rand, int) []int32 {
		idx := make([]int32, 64)
		for i := range idx {
			idx[i] = 3
		}
		return idx
	}},
}

// randomRows returns a generator of count row indices drawn with
// replacement.
func randomRows(count int) func(r *rand.Rand, rows int) []int32 {
	return func(r *rand.Rand, rows int) []int32 {
		idx := make([]int32, count)
		for i := range idx {
			idx[i] = int32(r.IntN(rows))
		}
		return idx
	}
}

func testGatherRows(t *testing.T, dev device.Device, seed uint64) {
	for i, tc := range rowCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			src := e.uniform(tc.rows*tc.n, -1, 1)
			idx := tc.idx(e.rng, tc.rows)
			dst := e.output(len(idx)*tc.n, nil)
			dev.GatherRows(dst.view, e.upload(src), idx, tc.n)

			want := make([]float64, len(idx)*tc.n)
			RefGatherRows(want, Float64s(src), idx, tc.n)
			e.check("GatherRows", e.result("GatherRows", dst), want, exact)
		})
	}
}

func testScatterAddRows(t *testing.T, dev device.Device, seed uint64) {
	for i, tc := range rowCases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, dev, seed+uint64(i))
			idx := tc.idx(e.rng, tc.rows)
			src := e.uniform(len(idx)*tc.n, -1, 1)
			d0 := e.uniform(tc.rows*tc.n, -1, 1)
			dst := e.output(tc.rows*tc.n, d0)
			dev.ScatterAddRows(dst.view, e.upload(src), idx, tc.n)

			want := Float64s(d0)
			RefScatterAddRows(want, Float64s(src), idx, tc.n)
			terms := 1 + float64(maxRepeat(idx))
			e.check("ScatterAddRows", e.result("ScatterAddRows", dst), want,
				tol{atol: accTol * terms, rtol: roundRtol})
		})
	}
}

// maxRepeat returns how many times the most frequent index occurs.
func maxRepeat(idx []int32) int {
	count := make(map[int32]int)
	most := 0
	for _, i := range idx {
		count[i]++
		most = max(most, count[i])
	}
	return most
}
