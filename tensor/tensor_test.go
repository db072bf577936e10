package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	gt "gorgonia.org/tensor"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// u is the unit roundoff of float32: a correctly rounded float32 addition
// or multiplication is off by at most u times its exact result.
const u = 0x1p-24

// Tolerances. An element passes when |got − want| ≤ atol + rtol·|want|,
// where want is computed in float64 from the same float32 inputs. Inputs
// are drawn from [−1, 1] unless a case says otherwise.
const (
	// roundRtol is for one correctly rounded operation per element
	// (Scale, Mul, AddRowVector, the loss of SoftmaxCrossEntropy, which
	// the CPU backend computes in float64 and rounds once).
	roundRtol = u

	// axpyAtol covers the rounding of α·x in Axpy, up to u·|α·x| ≤ 2u for
	// |α| ≤ 2, which stays absolute however small the sum is; the sum's
	// own rounding is roundRtol.
	axpyAtol = 2 * u

	// sgdAtol covers SGDStep's five roundings (μ·v, λ·w, two additions,
	// w − η·v) of terms below 2 in magnitude: 10u, doubled for slack, as
	// in the device conformance suite (device/devicetest).
	sgdAtol = 16 * u

	// accTol is the absolute tolerance per term of a float32 sum of
	// products of inputs from [−1, 1] (MatMul, SumRows, RowDot,
	// ScatterAddRows): a k-term sum may be off by accTol·k. It is the
	// allowance of the device conformance suite, where the worst element
	// of every Gemm case measured 1.1·u·k with vek32.MatMul_Into; a wrong
	// element is off by about √k/3, far above 4u·k for the k used here.
	accTol = 4 * u

	// softmaxTol is the relative tolerance of the softmax probabilities in
	// the gradient of SoftmaxCrossEntropy: exp(z − lse) is rounded to
	// float32 and multiplied by s, two roundings, and the label's entry
	// subtracts s, a third; 4u leaves slack over 3u.
	softmaxTol = 4 * u
)

// pcgStream is the second word of every PCG seed in this file.
const pcgStream = 0x74656e736f72 // "tensor"

// maxReported is how many mismatching elements a failed check lists.
const maxReported = 8

// tol is an absolute and a relative tolerance.
type tol struct{ atol, rtol float64 }

// exact is the tolerance of operations that only move, select or
// compare values (Copy, Fill, ReLU, ReLUBackward, GatherRows, views).
var exact = tol{}

// poison fills outputs and guard bands before an operation, so that an
// element left unwritten, or a write outside the output, fails a check.
var poison = float32(math.NaN())

// env is what one test works with: a CPU device and seeded inputs.
type env struct {
	t   *testing.T
	dev device.Device
	rng *rand.Rand
}

func newEnv(t *testing.T, seed uint64) *env {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("inputs from rand.NewPCG(%d, %#x)", seed, pcgStream)
		}
	})
	return &env{t: t, dev: device.NewCPU(0),
		rng: rand.New(rand.NewPCG(seed, pcgStream))}
}

// on returns e reporting to t, for use in a subtest of e's test.
func (e *env) on(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// uniform returns n values drawn uniformly from [lo, hi).
func (e *env) uniform(n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*e.rng.Float64())
	}
	return x
}

// tensor returns a tensor of the given shape holding data.
func (e *env) tensor(data []float32, shape ...int) *tensor.Tensor {
	e.t.Helper()
	x, err := tensor.FromHost(e.dev, data, shape...)
	if err != nil {
		e.t.Fatalf("FromHost %v: %v", shape, err)
	}
	return x
}

// random returns a tensor of the given shape with values from [−1, 1).
func (e *env) random(shape ...int) *tensor.Tensor {
	e.t.Helper()
	n := 1
	for _, d := range shape {
		n *= d
	}
	return e.tensor(e.uniform(n, -1, 1), shape...)
}

// host copies x to the host.
func (e *env) host(x *tensor.Tensor) []float32 {
	e.t.Helper()
	h, err := x.Host()
	if err != nil {
		e.t.Fatalf("Host of %v: %v", x, err)
	}
	return h
}

// guarded is an output tensor: the rows [1, rows+1) of a tensor whose
// first and last rows are guard bands. Every element starts as poison.
type guarded struct {
	all, view *tensor.Tensor
	rows      int
}

// output returns a poisoned output of the given shape inside guard rows.
func (e *env) output(shape ...int) *guarded {
	e.t.Helper()
	outer := slices.Clone(shape)
	outer[0] += 2
	all, err := tensor.New(e.dev, outer...)
	if err != nil {
		e.t.Fatalf("New %v: %v", outer, err)
	}
	all.Fill(poison)
	return &guarded{all: all, view: all.RowSlice(1, shape[0]+1), rows: shape[0]}
}

// read returns the output's values and fails the test if a guard band
// was written.
func (e *env) read(g *guarded) []float32 {
	e.t.Helper()
	all := e.host(g.all)
	c := g.all.Cols()
	for _, band := range [][]float32{all[:c], all[(g.rows+1)*c:]} {
		for i, v := range band {
			if !math.IsNaN(float64(v)) {
				e.t.Fatalf("guard band element %d overwritten with %g", i, v)
			}
		}
	}
	return all[c : (g.rows+1)*c]
}

// check compares got with the float64 reference want and reports the
// first mismatches and, with -v, the worst error.
func check(t *testing.T, name string, got []float32, want []float64, tl tol) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	bad, worst := 0, 0.0
	for i, w := range want {
		g := float64(got[i])
		err := math.Abs(g - w)
		if math.IsNaN(g) != math.IsNaN(w) || err > tl.atol+tl.rtol*math.Abs(w) {
			if bad < maxReported {
				t.Errorf("%s[%d] = %g, want %g (error %.3g)", name, i, g, w, err)
			}
			bad++
			continue
		}
		if lim := tl.atol + tl.rtol*math.Abs(w); lim > 0 {
			worst = max(worst, err/lim)
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values out of tolerance", name, bad, len(want))
	}
	t.Logf("%s: worst error %.2f of the tolerance", name, worst)
}

// f64 widens x to float64.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

func TestElementwise(t *testing.T) {
	const n = 37 // odd, so no vector width divides it
	tests := []struct {
		name string
		tol  tol
		// op writes into out from the inputs a and b; ref is the same in
		// float64.
		op  func(out, a, b *tensor.Tensor)
		ref func(a, b float64) float64
	}{
		{"Copy", exact, func(o, a, _ *tensor.Tensor) { o.Copy(a) },
			func(a, _ float64) float64 { return a }},
		{"Mul", tol{rtol: roundRtol}, func(o, a, b *tensor.Tensor) { o.Mul(a, b) },
			func(a, b float64) float64 { return a * b }},
		{"ReLU", exact, func(o, a, _ *tensor.Tensor) { o.ReLU(a) },
			func(a, _ float64) float64 { return max(a, 0) }},
		{"ReLUBackward", exact,
			func(o, a, b *tensor.Tensor) { o.ReLUBackward(a, b) },
			func(g, x float64) float64 {
				if x > 0 {
					return g
				}
				return 0
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, uint64(100+i))
			a, b := e.uniform(n, -1, 1), e.uniform(n, -1, 1)
			b[0], b[1] = 0, float32(math.Copysign(0, -1)) // ReLU at ±0
			out := e.output(n)
			tc.op(out.view, e.tensor(a, n), e.tensor(b, n))
			want := make([]float64, n)
			for j := range want {
				want[j] = tc.ref(float64(a[j]), float64(b[j]))
			}
			check(t, tc.name, e.read(out), want, tc.tol)
		})
	}
}

func TestInPlace(t *testing.T) {
	const n = 37
	tests := []struct {
		name string
		tol  tol
		op   func(y, x *tensor.Tensor)
		ref  func(y, x float64) float64
	}{
		{"Fill", exact, func(y, _ *tensor.Tensor) { y.Fill(-2.5) },
			func(_, _ float64) float64 { return -2.5 }},
		{"Scale", tol{rtol: roundRtol}, func(y, _ *tensor.Tensor) { y.Scale(-1.75) },
			func(y, _ float64) float64 { return -1.75 * y }},
		{"Scale by 0", exact, func(y, _ *tensor.Tensor) { y.Scale(0) },
			func(y, _ float64) float64 { return 0 * y }},
		{"Axpy", tol{atol: axpyAtol, rtol: roundRtol},
			func(y, x *tensor.Tensor) { y.Axpy(1.5, x) },
			func(y, x float64) float64 { return y + 1.5*x }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, uint64(200+i))
			x, y := e.uniform(n, -1, 1), e.uniform(n, -1, 1)
			out := e.output(n)
			if err := out.view.CopyFrom(y); err != nil {
				t.Fatal(err)
			}
			tc.op(out.view, e.tensor(x, n))
			want := make([]float64, n)
			for j := range want {
				want[j] = tc.ref(float64(y[j]), float64(x[j]))
			}
			check(t, tc.name, e.read(out), want, tc.tol)
		})
	}
}

// matmulRef returns α·op(a)·op(b) + β·c in float64, where a is stored
// m×k (k×m if transA), b is stored k×n (n×k if transB), and c is m×n.
func matmulRef(transA, transB bool, m, n, k int, alpha float64,
	a, b []float32, beta float64, c []float32) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for l := range k {
				ai, bj := a[i*k+l], b[l*n+j]
				if transA {
					ai = a[l*m+i]
				}
				if transB {
					bj = b[j*k+l]
				}
				s += float64(ai) * float64(bj)
			}
			out[i*n+j] = alpha * s
			if beta != 0 {
				out[i*n+j] += beta * float64(c[i*n+j])
			}
		}
	}
	return out
}

func TestMatMul(t *testing.T) {
	type mmCase struct {
		m, n, k        int
		transA, transB bool
		alpha, beta    float32
	}
	var cases []mmCase
	for _, s := range [][3]int{{5, 7, 9}, {1, 3, 70}, {33, 17, 40}} {
		for _, tr := range [][2]bool{{false, false}, {false, true},
			{true, false}, {true, true}} {
			for _, ab := range [][2]float32{{1, 0}, {0.5, -1.5}, {-2, 1}} {
				cases = append(cases,
					mmCase{s[0], s[1], s[2], tr[0], tr[1], ab[0], ab[1]})
			}
		}
	}
	for i, c := range cases {
		name := fmt.Sprintf("%dx%dx%d/transA=%v/transB=%v/α=%g/β=%g",
			c.m, c.n, c.k, c.transA, c.transB, c.alpha, c.beta)
		t.Run(name, func(t *testing.T) {
			testMatMul(t, uint64(300+i), c.m, c.n, c.k,
				c.transA, c.transB, c.alpha, c.beta)
		})
	}
}

func testMatMul(t *testing.T, seed uint64, m, n, k int, transA, transB bool,
	alpha, beta float32) {
	e := newEnv(t, seed)
	ashape, bshape := []int{m, k}, []int{k, n}
	if transA {
		ashape = []int{k, m}
	}
	if transB {
		bshape = []int{n, k}
	}
	a, b, c := e.uniform(m*k, -1, 1), e.uniform(k*n, -1, 1), e.uniform(m*n, -1, 1)
	out := e.output(m, n)
	if beta != 0 {
		if err := out.view.CopyFrom(c); err != nil {
			t.Fatal(err)
		}
	}
	at, bt := e.tensor(a, ashape...), e.tensor(b, bshape...)
	if alpha == 1 && beta == 0 {
		out.view.MatMul(at, transA, bt, transB)
	} else {
		out.view.MatMulAdd(alpha, at, transA, bt, transB, beta)
	}
	want := matmulRef(transA, transB, m, n, k, float64(alpha), a, b, float64(beta), c)

	// The product errs by accTol·k scaled by |α|; combining it with β·c
	// rounds β·c, α·p (|p| ≤ k) and the sum once each.
	fa, fb := math.Abs(float64(alpha)), math.Abs(float64(beta))
	tl := tol{atol: fa*accTol*float64(k) + u*(fb+fa*float64(k)), rtol: u}
	check(t, "C", e.read(out), want, tl)
}

// TestMatMulMatrixView checks that a tensor of more than two dimensions
// multiplies as the matrix Rows() × Cols().
func TestMatMulMatrixView(t *testing.T) {
	e := newEnv(t, 350)
	a, b := e.uniform(2*3*4, -1, 1), e.uniform(5*12, -1, 1)
	out := e.output(2, 5)
	out.view.MatMul(e.tensor(a, 2, 3, 4), false, e.tensor(b, 5, 12), true)
	want := matmulRef(false, true, 2, 5, 12, 1, a, b, 0, nil)
	check(t, "C", e.read(out), want, tol{atol: accTol * 12})
}

func TestAddRowVector(t *testing.T) {
	e := newEnv(t, 400)
	const m, n = 6, 11
	x, v := e.uniform(m*n, -1, 1), e.uniform(n, -1, 1)
	out := e.output(m, n)
	if err := out.view.CopyFrom(x); err != nil {
		t.Fatal(err)
	}
	out.view.AddRowVector(e.tensor(v, n))
	want := make([]float64, m*n)
	for i := range want {
		want[i] = float64(x[i]) + float64(v[i%n])
	}
	check(t, "x", e.read(out), want, tol{rtol: roundRtol})
}

func TestSumRows(t *testing.T) {
	const m, n = 45, 9
	for i, beta := range []float32{0, 1, -0.5} {
		t.Run(fmt.Sprintf("β=%g", beta), func(t *testing.T) {
			e := newEnv(t, uint64(500+i))
			x, d := e.uniform(m*n, -1, 1), e.uniform(n, -1, 1)
			out := e.output(n)
			if beta != 0 {
				if err := out.view.CopyFrom(d); err != nil {
					t.Fatal(err)
				}
			}
			out.view.SumRows(e.tensor(x, m, n), beta)
			want := make([]float64, n)
			for j := range want {
				if beta != 0 {
					want[j] = float64(beta) * float64(d[j])
				}
				for r := range m {
					want[j] += float64(x[r*n+j])
				}
			}
			tl := tol{atol: accTol*m + u*math.Abs(float64(beta))}
			check(t, "dst", e.read(out), want, tl)
		})
	}
}

func TestRowDot(t *testing.T) {
	for i, s := range [][2]int{{7, 13}, {3, 130}} {
		m, n := s[0], s[1]
		t.Run(fmt.Sprintf("%dx%d", m, n), func(t *testing.T) {
			e := newEnv(t, uint64(600+i))
			a, b := e.uniform(m*n, -1, 1), e.uniform(m*n, -1, 1)
			out := e.output(m)
			out.view.RowDot(e.tensor(a, m, n), e.tensor(b, m, n))
			want := make([]float64, m)
			for r := range m {
				for j := range n {
					want[r] += float64(a[r*n+j]) * float64(b[r*n+j])
				}
			}
			check(t, "dst", e.read(out), want, tol{atol: accTol * float64(n)})
		})
	}
}

// softmaxRef returns the float64 loss and s·gradient of softmax
// cross-entropy of the m×n logits z against y.
func softmaxRef(z []float32, y []int32, m, n int, s float64) (loss, grad []float64) {
	loss, grad = make([]float64, m), make([]float64, m*n)
	for i := range m {
		row := f64(z[i*n : (i+1)*n])
		zmax := slices.Max(row)
		var sum float64
		for _, v := range row {
			sum += math.Exp(v - zmax)
		}
		lse := zmax + math.Log(sum)
		loss[i] = lse - row[y[i]]
		for j, v := range row {
			grad[i*n+j] = s * math.Exp(v-lse)
		}
		grad[i*n+int(y[i])] -= s
	}
	return loss, grad
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	const m, n = 9, 6
	tests := []struct {
		name  string
		scale float64 // logits from [−scale, scale)
		s     float32
		grad  bool
	}{
		{"small logits", 1, 1, true},
		{"large logits", 40, 1.0 / m, true},
		{"negative s", 4, -0.25, true},
		{"loss only", 4, 1, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, uint64(700+i))
			z := e.uniform(m*n, -tc.scale, tc.scale)
			y := make([]int32, m)
			for r := range y {
				y[r] = int32(e.rng.IntN(n))
			}
			loss, grad := e.output(m), e.output(m, n)
			var g *tensor.Tensor
			if tc.grad {
				g = grad.view
			}
			tensor.SoftmaxCrossEntropy(loss.view, g, e.tensor(z, m, n), y, tc.s)
			wl, wg := softmaxRef(z, y, m, n, float64(tc.s))
			check(t, "loss", e.read(loss), wl, tol{rtol: roundRtol, atol: u})
			if !tc.grad {
				return
			}
			tl := tol{atol: softmaxTol * math.Abs(float64(tc.s)), rtol: softmaxTol}
			check(t, "grad", e.read(grad), wg, tl)
		})
	}
}

func TestSGDStep(t *testing.T) {
	const n = 29
	tests := []struct{ eta, mu, lambda float32 }{
		{0.1, 0, 0},
		{0.1, 0.9, 0},
		{0.05, 0.9, 0.01},
		{1, 0.5, 0.1},
	}
	for i, tc := range tests {
		name := fmt.Sprintf("η=%g/μ=%g/λ=%g", tc.eta, tc.mu, tc.lambda)
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, uint64(800+i))
			w, g, v := e.uniform(n, -1, 1), e.uniform(n, -1, 1), e.uniform(n, -1, 1)
			wt, vt := e.tensor(w, n), e.tensor(v, n)
			wt.SGDStep(e.tensor(g, n), vt, tc.eta, tc.mu, tc.lambda)
			wantW, wantV := make([]float64, n), make([]float64, n)
			for j := range n {
				wantV[j] = float64(tc.mu)*float64(v[j]) + float64(g[j]) +
					float64(tc.lambda)*float64(w[j])
				wantW[j] = float64(w[j]) - float64(tc.eta)*wantV[j]
			}
			check(t, "v", e.host(vt), wantV, tol{atol: sgdAtol})
			check(t, "w", e.host(wt), wantW, tol{atol: sgdAtol})
		})
	}
}

func TestGatherScatterRows(t *testing.T) {
	const rows, n = 8, 5
	idx := []int32{3, 0, 7, 3, 3, 5}
	e0 := newEnv(t, 900)
	src := e0.uniform(rows*n, -1, 1)

	t.Run("GatherRows", func(t *testing.T) {
		e := e0.on(t)
		out := e.output(len(idx), n)
		out.view.GatherRows(e.tensor(src, rows, n), idx)
		want := make([]float64, 0, len(idx)*n)
		for _, r := range idx {
			want = append(want, f64(src[int(r)*n:int(r+1)*n])...)
		}
		check(t, "dst", e.read(out), want, exact)
	})

	t.Run("ScatterAddRows", func(t *testing.T) {
		e := e0.on(t)
		add, dst := e.uniform(len(idx)*n, -1, 1), e.uniform(rows*n, -1, 1)
		out := e.output(rows, n)
		if err := out.view.CopyFrom(dst); err != nil {
			t.Fatal(err)
		}
		out.view.ScatterAddRows(e.tensor(add, len(idx), n), idx)
		want := f64(dst)
		for r, i := range idx {
			for j := range n {
				want[int(i)*n+j] += float64(add[r*n+j])
			}
		}
		// Row 3 receives three rows on top of its own value.
		check(t, "dst", e.read(out), want, tol{atol: accTol * 4})
	})
}

func TestViews(t *testing.T) {
	e0 := newEnv(t, 1000)
	data := e0.uniform(4*3*2, -1, 1)
	x := e0.tensor(data, 4, 3, 2)
	if x.Rows() != 4 || x.Cols() != 6 || x.Len() != 24 {
		t.Fatalf("shape %v: Rows %d, Cols %d, Len %d; want 4, 6, 24",
			x.Shape(), x.Rows(), x.Cols(), x.Len())
	}

	t.Run("RowSlice", func(t *testing.T) {
		e := e0.on(t)
		v := x.RowSlice(1, 3)
		if got, want := v.Shape(), []int{2, 3, 2}; !slices.Equal(got, want) {
			t.Fatalf("RowSlice(1, 3) has shape %v, want %v", got, want)
		}
		check(t, "view", e.host(v), f64(data[6:18]), exact)
		v.Fill(7)
		v.Free() // a view frees nothing
		want := f64(data)
		for i := 6; i < 18; i++ {
			want[i] = 7
		}
		check(t, "parent", e.host(x), want, exact)
		if empty := x.RowSlice(4, 4); empty.Len() != 0 {
			t.Errorf("RowSlice(4, 4) has %d elements, want 0", empty.Len())
		}
	})

	t.Run("Reshape", func(t *testing.T) {
		e := e0.on(t)
		before := e.host(x)
		r := x.Reshape(8, 3)
		if r.Rows() != 8 || r.Cols() != 3 {
			t.Fatalf("Reshape(8, 3) gives %d×%d", r.Rows(), r.Cols())
		}
		if !tensor.EqualShape(r, e.random(8, 3)) || tensor.EqualShape(r, x) {
			t.Errorf("EqualShape of %v disagrees with its shape", r)
		}
		r.RowSlice(7, 8).Scale(2)
		want := f64(before)
		for i := 21; i < 24; i++ {
			want[i] *= 2
		}
		check(t, "parent", e.host(x), want, tol{rtol: roundRtol})
	})

	t.Run("scalar", func(t *testing.T) {
		s := e0.on(t).tensor([]float32{3})
		if s.Rows() != 1 || s.Cols() != 1 || s.Len() != 1 {
			t.Errorf("scalar: Rows %d, Cols %d, Len %d; want 1, 1, 1",
				s.Rows(), s.Cols(), s.Len())
		}
	})
}

// TestPanics checks that programmer errors panic, before any work is
// issued, with a message that names the package.
func TestPanics(t *testing.T) {
	e := newEnv(t, 1100)
	v3, v4 := e.random(3), e.random(4)
	m23, m34, m32 := e.random(2, 3), e.random(3, 4), e.random(3, 2)
	other, err := tensor.New(device.NewCPU(1), 4)
	if err != nil {
		t.Fatal(err)
	}
	noErr := func(err error) {
		if err != nil {
			t.Errorf("error %v instead of a panic", err)
		}
	}
	tests := []struct {
		name string
		op   func()
	}{
		{"Copy", func() { v3.Copy(v4) }},
		{"Copy other device", func() { v4.Copy(other) }},
		{"Axpy", func() { v3.Axpy(1, v4) }},
		{"Mul", func() { v4.Mul(v4, v3) }},
		{"MatMul inner", func() { m23.MatMul(m23, false, m34, true) }},
		{"MatMul output", func() { m23.MatMul(m23, false, m34, false) }},
		{"MatMul transposed", func() { m34.MatMulAdd(1, m23, true, m32, true, 1) }},
		{"MatMul other device", func() { m23.MatMul(m23, false, other, false) }},
		{"AddRowVector", func() { m23.AddRowVector(v4) }},
		{"SumRows", func() { v4.SumRows(m23, 0) }},
		{"RowDot operands", func() { v3.RowDot(m23, m32.Reshape(3, 2)) }},
		{"RowDot output", func() { v3.RowDot(m23, m23) }},
		{"ReLU", func() { v3.ReLU(v4) }},
		{"ReLUBackward", func() { v3.ReLUBackward(v3, v4) }},
		{"SoftmaxCrossEntropy loss", func() {
			tensor.SoftmaxCrossEntropy(v3, nil, m23, []int32{0, 1}, 1)
		}},
		{"SoftmaxCrossEntropy labels", func() {
			tensor.SoftmaxCrossEntropy(v3, nil, m32, []int32{0, 1}, 1)
		}},
		{"SoftmaxCrossEntropy grad", func() {
			tensor.SoftmaxCrossEntropy(v3, v4, m32, []int32{0, 1, 0}, 1)
		}},
		{"SGDStep", func() { v4.SGDStep(v4, v3, 0.1, 0, 0) }},
		{"GatherRows count", func() { m23.GatherRows(m32, []int32{0, 1, 2}) }},
		{"GatherRows width", func() { m32.GatherRows(m34, []int32{0, 1, 2}) }},
		{"ScatterAddRows", func() { m34.ScatterAddRows(m23, []int32{0}) }},
		{"RowSlice past the end", func() { m23.RowSlice(1, 3) }},
		{"RowSlice reversed", func() { m23.RowSlice(2, 1) }},
		{"RowSlice negative", func() { m23.RowSlice(-1, 1) }},
		{"Reshape", func() { m23.Reshape(4, 2) }},
		{"FromHost", func() { e.tensor(make([]float32, 5), 2, 3) }},
		{"CopyFrom", func() { noErr(v3.CopyFrom(make([]float32, 4))) }},
		{"New negative", func() {
			x, err := tensor.New(e.dev, 2, -1)
			noErr(err)
			x.Free()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg := recovered(tc.op)
			if msg == "" {
				t.Fatal("does not panic")
			}
			if !strings.HasPrefix(msg, "tensor: ") {
				t.Errorf("panics with %q, want the prefix \"tensor: \"", msg)
			}
		})
	}
}

// recovered runs f and returns what it panicked with, as text, or "" if
// it did not panic.
func recovered(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// iota32 returns 0.5, 1.5, …: n distinct exact float32 values.
func iota32(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i) + 0.5
	}
	return x
}

func TestDenseRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		dense func(t *testing.T) *gt.Dense
		shape []int
		want  []float32 // row-major values of the tensor
	}{
		{"matrix", func(*testing.T) *gt.Dense {
			return gt.New(gt.WithShape(3, 4), gt.WithBacking(iota32(12)))
		}, []int{3, 4}, iota32(12)},
		{"3-d", func(*testing.T) *gt.Dense {
			return gt.New(gt.WithShape(2, 3, 2), gt.WithBacking(iota32(12)))
		}, []int{2, 3, 2}, iota32(12)},
		{"vector", func(*testing.T) *gt.Dense {
			return gt.New(gt.WithShape(5), gt.WithBacking(iota32(5)))
		}, []int{5}, iota32(5)},
		{"scalar", func(*testing.T) *gt.Dense {
			return gt.New(gt.FromScalar(float32(2.5)))
		}, []int{}, []float32{2.5}},
		{"transposed", func(t *testing.T) *gt.Dense {
			d := gt.New(gt.WithShape(3, 4), gt.WithBacking(iota32(12)))
			if err := d.T(); err != nil {
				t.Fatal(err)
			}
			return d
		}, []int{4, 3}, transposed(iota32(12), 3, 4)},
		// AsFortran takes its argument in row-major order and stores the
		// matrix column by column: the values are those of "matrix".
		{"column-major", func(*testing.T) *gt.Dense {
			return gt.New(gt.WithShape(3, 4), gt.AsFortran(iota32(12)))
		}, []int{3, 4}, iota32(12)},
		{"row slice", func(t *testing.T) *gt.Dense {
			d := gt.New(gt.WithShape(4, 3), gt.WithBacking(iota32(12)))
			return slice(t, d, gt.S(1, 3))
		}, []int{2, 3}, iota32(12)[3:9]},
		{"column slice", func(t *testing.T) *gt.Dense {
			d := gt.New(gt.WithShape(3, 4), gt.WithBacking(iota32(12)))
			return slice(t, d, nil, gt.S(1, 3))
		}, []int{3, 2}, []float32{1.5, 2.5, 5.5, 6.5, 9.5, 10.5}},
	}
	e0 := newEnv(t, 1200)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e0.on(t)
			d := tc.dense(t)
			x, err := tensor.FromDense(e.dev, d)
			if err != nil {
				t.Fatalf("FromDense: %v", err)
			}
			if !slices.Equal(x.Shape(), tc.shape) {
				t.Errorf("FromDense has shape %v, want %v", x.Shape(), tc.shape)
			}
			check(t, "FromDense", e.host(x), f64(tc.want), exact)

			back, err := x.Dense()
			if err != nil {
				t.Fatalf("Dense: %v", err)
			}
			if got := []int(back.Shape()); !slices.Equal(got, tc.shape) {
				t.Errorf("Dense has shape %v, want %v", got, tc.shape)
			}
			check(t, "Dense", back.Float32s(), f64(tc.want), exact)

			back.Float32s()[0] = -1 // the Dense must own its values
			check(t, "after writing the Dense", e.host(x), f64(tc.want), exact)
		})
	}
}

// transposed returns the row-major values of the transpose of the r×c
// row-major matrix x.
func transposed(x []float32, r, c int) []float32 {
	y := make([]float32, len(x))
	for i := range r {
		for j := range c {
			y[j*r+i] = x[i*c+j]
		}
	}
	return y
}

// slice returns the view of d that s selects.
func slice(t *testing.T, d *gt.Dense, s ...gt.Slice) *gt.Dense {
	t.Helper()
	v, err := d.Slice(s...)
	if err != nil {
		t.Fatalf("Slice: %v", err)
	}
	return v.(*gt.Dense)
}

func TestFromDenseNotFloat32(t *testing.T) {
	tests := []struct {
		name  string
		dense *gt.Dense
	}{
		{"float64", gt.New(gt.WithShape(2), gt.WithBacking([]float64{1, 2}))},
		{"int", gt.New(gt.WithShape(2), gt.WithBacking([]int{1, 2}))},
		{"bool", gt.New(gt.WithShape(1), gt.WithBacking([]bool{true}))},
	}
	dev := device.NewCPU(1)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, err := tensor.FromDense(dev, tc.dense)
			if err == nil {
				t.Fatalf("FromDense of %v values gives %v, want an error",
					tc.dense.Dtype(), x)
			}
			if !strings.HasPrefix(err.Error(), "tensor: ") ||
				!strings.Contains(err.Error(), tc.dense.Dtype().String()) {
				t.Errorf("error %q does not name the package and the type %v",
					err, tc.dense.Dtype())
			}
		})
	}
}
