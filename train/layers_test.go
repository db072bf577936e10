package train_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// pcgStream is the second word of the PCG seeds of this package's tests.
const pcgStream = 0x747261696e // "train"

// u is the unit roundoff of float32.
const u = 0x1p-24

// Finite differences. The layers compute in float32; the tests perturb one
// float32 input or parameter p at a time to p ± h (the step actually taken
// is read back, since p ± h is rounded to float32), evaluate the objective
// in float64 from the float32 outputs, and compare the central difference
//
//	(f(p + h₊) − f(p − h₋)) / (h₊ + h₋)
//
// with the gradient of the backward pass: |fd − grad| ≤ atol + rtol·|grad|.
const (
	// linearStep is h for objectives that are linear in the perturbed
	// value (Linear in W, b and x; ReLU away from 0): central differences
	// then have no truncation error, and a large step divides the rounding
	// noise of the float32 forward pass, about u·Σ|c·y| ≈ 1e-6 here, by
	// 2h. The ReLU inputs are kept at least 2h away from the kink.
	linearStep = 0.25

	// linearTol bounds the error of those differences: the noise above
	// divided by 2h is about 2e-6; measured worst 2.6e-7 (Linear) and 0
	// (ReLU, whose output is exact).
	linearTol = 1e-5

	// lossStep is h for the MLP's mean cross-entropy, which is smooth
	// away from the ReLU kinks (a step that crosses one is not checked).
	// The truncation error h²·|f‴|/6 and the rounding error ε/h, with
	// ε ≈ 1e-7 the float32 noise of the mean loss, balance near
	// h = (3ε/|f‴|)^⅓ ≈ 7e-3 for |f‴| ≈ 1; 2⁻⁷ ≈ 7.8e-3.
	lossStep = 0x1p-7

	// lossAtol and lossRtol bound the error of the MLP's differences:
	// about 1e-5 from each source above; measured worst 3.3e-6
	// absolute. A wrong gradient (a missing factor, a transposed
	// weight) is off by the size of the gradient, 1e-2 to 1e-1 here.
	lossAtol = 2e-5
	lossRtol = 1e-3
)

// fdCheck compares finite differences with gradients and logs the worst
// absolute error.
type fdCheck struct {
	t          *testing.T
	name       string
	atol, rtol float64
	worst      float64
	bad        int
}

func (c *fdCheck) add(i int, fd, grad float64) {
	c.t.Helper()
	err := math.Abs(fd - grad)
	c.worst = max(c.worst, err)
	if !(err <= c.atol+c.rtol*math.Abs(grad)) {
		if c.bad < 8 {
			c.t.Errorf("%s[%d]: backward %.7g, finite difference %.7g (error %.2g)",
				c.name, i, grad, fd, err)
		}
		c.bad++
	}
}

func (c *fdCheck) done() {
	c.t.Logf("%s: worst finite-difference error %.3g", c.name, c.worst)
}

// central returns the central difference of f at x[i] with step h, on the
// step actually taken in float32. f reads x.
func central(x []float32, i int, h float64, f func() float64) float64 {
	x0 := x[i]
	x[i] = float32(float64(x0) + h)
	hp := float64(x[i]) - float64(x0)
	fp := f()
	x[i] = float32(float64(x0) - h)
	hm := float64(x0) - float64(x[i])
	fm := f()
	x[i] = x0
	return (fp - fm) / (hp + hm)
}

// dot returns Σ c·y in float64.
func dot(c, y []float32) float64 {
	var s float64
	for i := range c {
		s += float64(c[i]) * float64(y[i])
	}
	return s
}

// uniform returns n values drawn uniformly from [lo, hi).
func uniform(rng *rand.Rand, n int, lo, hi float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return x
}

func newRNG(t *testing.T, seed uint64) *rand.Rand {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("inputs from rand.NewPCG(%d, %#x)", seed, pcgStream)
		}
	})
	return rand.New(rand.NewPCG(seed, pcgStream))
}

func fromHost(t *testing.T, dev device.Device, x []float32,
	shape ...int) *tensor.Tensor {
	t.Helper()
	xt, err := tensor.FromHost(dev, x, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return xt
}

func host(t *testing.T, x *tensor.Tensor) []float32 {
	t.Helper()
	h, err := x.Host()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func upload(t *testing.T, x *tensor.Tensor, v []float32) {
	t.Helper()
	if err := x.CopyFrom(v); err != nil {
		t.Fatal(err)
	}
}

// TestLinearBackward checks Linear's gradients of f(y) = Σ c⊙y with
// respect to W, b and x, for batches smaller than the layer's maximum.
func TestLinearBackward(t *testing.T) {
	const in, out, maxRows = 5, 4, 6
	for _, rows := range []int{1, 3, maxRows} {
		t.Run(fmt.Sprintf("rows=%d", rows), func(t *testing.T) {
			rng := newRNG(t, uint64(10+rows))
			dev := device.NewCPU(1)
			l, err := train.NewLinear(dev, in, out, maxRows, rng)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(l.Free)
			x := uniform(rng, rows*in, -1, 1)
			c := uniform(rng, rows*out, -1, 1)
			xt := fromHost(t, dev, x, rows, in)

			l.Forward(xt)
			if got := l.Backward(fromHost(t, dev, c, rows, out), false); got != nil {
				t.Errorf("Backward(dy, false) returned %v, want nil", got)
			}
			dx := host(t, l.Backward(fromHost(t, dev, c, rows, out), true))
			dw, db := host(t, l.W.Grad), host(t, l.B.Grad)

			f := func() float64 { return dot(c, host(t, l.Forward(xt))) }
			wantFD(t, "W", l.W.Value, dw, f)
			wantFD(t, "b", l.B.Value, db, f)
			wantFD(t, "x", xt, dx, f)
		})
	}
}

// wantFD checks grad, the gradient of f with respect to the values of
// p, against central differences with linearStep.
func wantFD(t *testing.T, name string, p *tensor.Tensor, grad []float32,
	f func() float64) {
	t.Helper()
	v := host(t, p)
	c := &fdCheck{t: t, name: name, atol: linearTol}
	for i := range v {
		fd := central(v, i, linearStep, func() float64 {
			upload(t, p, v)
			return f()
		})
		c.add(i, fd, float64(grad[i]))
	}
	upload(t, p, v)
	c.done()
}

// TestReLUBackward checks ReLU's input gradient of f(y) = Σ c⊙y.
func TestReLUBackward(t *testing.T) {
	const n, maxRows, rows = 7, 5, 4
	rng := newRNG(t, 20)
	dev := device.NewCPU(1)
	r, err := train.NewReLU(dev, n, maxRows)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Free)
	if p := r.Params(); p != nil {
		t.Errorf("ReLU has parameters %v", p)
	}

	// Inputs at least 2h from the kink, of either sign.
	x := uniform(rng, rows*n, 2*linearStep, 1)
	for i := range x {
		if rng.IntN(2) == 0 {
			x[i] = -x[i]
		}
	}
	c := uniform(rng, rows*n, -1, 1)
	xt := fromHost(t, dev, x, rows, n)
	r.Forward(xt)
	if got := r.Backward(fromHost(t, dev, c, rows, n), false); got != nil {
		t.Errorf("Backward(dy, false) returned %v, want nil", got)
	}
	dx := host(t, r.Backward(fromHost(t, dev, c, rows, n), true))
	wantFD(t, "x", xt, dx, func() float64 { return dot(c, host(t, r.Forward(xt))) })
}

// mlpCase is a small network and a batch for gradient checks.
type mlpCase struct {
	sizes         []int
	rows, maxRows int
	seed          uint64
}

// TestMLPBackward checks the gradient of the mean loss with respect to
// every parameter of MLPs of one to three layers.
func TestMLPBackward(t *testing.T) {
	for _, tc := range []mlpCase{
		{[]int{6, 3}, 5, 5, 1},
		{[]int{6, 8, 3}, 5, 7, 2},
		{[]int{6, 8, 5, 4}, 4, 9, 3},
	} {
		t.Run(fmt.Sprint(tc.sizes), func(t *testing.T) { testMLPBackward(t, tc) })
	}
}

func testMLPBackward(t *testing.T, tc mlpCase) {
	rng := newRNG(t, 30+tc.seed)
	dev := device.NewCPU(1)
	m, err := train.NewMLP(dev, tc.sizes, tc.maxRows, tc.seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	in := tc.sizes[0]
	x := fromHost(t, dev, uniform(rng, tc.rows*in, -2, 2), tc.rows, in)
	y := make([]int32, tc.rows)
	for i := range y {
		y[i] = int32(rng.IntN(m.Classes()))
	}

	m.Loss(x, y, true, 1/float32(tc.rows))
	m.Backward(tc.rows)
	w, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	signs := kinkPattern(t, m, x)
	crossed := false
	meanLoss := func() float64 {
		if err := m.SetWeights(w); err != nil {
			t.Fatal(err)
		}
		crossed = crossed || kinkPattern(t, m, x) != signs
		loss, _ := m.Loss(x, y, false, 1)
		var sum float64
		for _, v := range host(t, loss) {
			sum += float64(v)
		}
		return sum / float64(tc.rows)
	}

	for k, p := range m.Params() {
		grad := host(t, p.Grad)
		c := &fdCheck{t: t, name: p.Name, atol: lossAtol, rtol: lossRtol}
		skipped := 0
		for i := range w[k] {
			crossed = false
			fd := central(w[k], i, lossStep, meanLoss)
			if crossed {
				skipped++ // the difference spans a kink: no derivative there
				continue
			}
			c.add(i, fd, float64(grad[i]))
		}
		c.done()
		t.Logf("%s: %d of %d steps cross a ReLU kink and are not checked",
			p.Name, skipped, len(w[k]))
		if float64(skipped) > maxKinkShare*float64(len(w[k])) {
			t.Errorf("%s: %d of %d steps cross a ReLU kink; choose another seed",
				p.Name, skipped, len(w[k]))
		}
	}
}

// maxKinkShare is the largest share of a parameter tensor's steps that
// may cross a ReLU kink, where a central difference says nothing about
// the derivative and the test passes over the step; the limit keeps most
// of every gradient checked.
const maxKinkShare = 0.2

// kinkPattern returns the signs of every ReLU input of m on x, as text.
func kinkPattern(t *testing.T, m *train.MLP, x *tensor.Tensor) string {
	t.Helper()
	var b strings.Builder
	h := x
	for i, l := range m.Layers {
		if _, ok := l.(*train.ReLU); ok {
			for _, v := range host(t, h) {
				b.WriteByte("-+"[btoi(v > 0)])
			}
		}
		h = m.Layers[i].Forward(h)
	}
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestSGDStep(t *testing.T) {
	tests := []struct{ eta, mu, lambda float64 }{
		{0.5, 0, 0},
		{0.1, 0.9, 0},
		{0.05, 0.9, 1e-2},
	}
	for i, tc := range tests {
		name := fmt.Sprintf("η=%g/μ=%g/λ=%g", tc.eta, tc.mu, tc.lambda)
		t.Run(name, func(t *testing.T) {
			testSGDSteps(t, uint64(40+i), tc.eta, tc.mu, tc.lambda)
		})
	}
}

// sgdAtol bounds the error of one SGD step on values below 2 in
// magnitude: five float32 roundings (μ·v, λ·w, two additions, w − η·v),
// each at most u·2, doubled for slack.
const sgdAtol = 20 * u

// testSGDSteps runs three steps with random gradients and checks each
// against v ← μ·v + g + λ·w, w ← w − η·v from the state before it.
func testSGDSteps(t *testing.T, seed uint64, eta, mu, lambda float64) {
	rng := newRNG(t, seed)
	dev := device.NewCPU(1)
	m, err := train.NewMLP(dev, []int{4, 3, 2}, 1, seed)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Free)
	opt, err := train.NewSGD(m.Params(), mu, lambda)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(opt.Free)

	for step := range 3 {
		wantW, wantV := sgdWant(t, rng, m.Params(), opt, eta, mu, lambda, step)
		opt.Step(m.Params(), eta)
		for k, p := range m.Params() {
			name := fmt.Sprintf("step %d: %s", step, p.Name)
			within(t, name, host(t, p.Value), wantW[k], sgdAtol)
			within(t, name+" velocity", host(t, opt.Velocity()[k]), wantV[k], sgdAtol)
		}
	}
}

// sgdWant draws the gradients of a step into params and returns the
// weights and velocities that the step should reach.
func sgdWant(t *testing.T, rng *rand.Rand, params []*train.Param, opt *train.SGD,
	eta, mu, lambda float64, step int) (wantW, wantV [][]float64) {
	t.Helper()
	for k, p := range params {
		w, v := host(t, p.Value), host(t, opt.Velocity()[k])
		if step == 0 && slices.ContainsFunc(v, func(x float32) bool { return x != 0 }) {
			t.Fatalf("%s: initial velocity %v, want zeros", p.Name, v)
		}
		g := uniform(rng, len(w), -1, 1)
		upload(t, p.Grad, g)
		ww, wv := make([]float64, len(w)), make([]float64, len(w))
		for i := range w {
			wv[i] = mu*float64(v[i]) + float64(g[i]) + lambda*float64(w[i])
			ww[i] = float64(w[i]) - eta*wv[i]
		}
		wantW, wantV = append(wantW, ww), append(wantV, wv)
	}
	return wantW, wantV
}

// within checks |got − want| ≤ atol element by element.
func within(t *testing.T, name string, got []float32, want []float64, atol float64) {
	t.Helper()
	for i, w := range want {
		if err := math.Abs(float64(got[i]) - w); !(err <= atol) {
			t.Errorf("%s[%d] = %.9g, want %.9g (error %.2g)", name, i, got[i], w, err)
		}
	}
}

// rateRtol is the relative tolerance of the cosine rates: the test's
// cos(π/4) = √2/2 and cos(3π/4) = −√2/2 differ from math.Cos's in the
// last bit or two of a float64.
const rateRtol = 1e-15

func TestScheduleRates(t *testing.T) {
	r := math.Sqrt2 / 2
	tests := []struct {
		s     train.Schedule
		base  float64
		steps int
		want  []float64
	}{
		{train.Constant, 0.3, 3, []float64{0.3, 0.3, 0.3}},
		{train.Constant, 0.3, 0, []float64{}},
		{train.Cosine, 2, 4, []float64{2, 1 + r, 1, 1 - r}},
		{train.Cosine, 1, 1, []float64{1}},
		{train.Step, 1, 8, []float64{1, 1, 1, 1, 0.1, 0.1, 0.01, 0.01}},
		{train.Step, 1, 10,
			[]float64{1, 1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01}},
		{train.Step, 0.5, 3, []float64{0.5, 0.5, 0.05}},
		{train.Step, 0.5, 1, []float64{0.5}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.s, tc.steps), func(t *testing.T) {
			got, err := tc.s.Rates(tc.base, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Rates(%g, %d) = %v, want %v", tc.base, tc.steps, got, tc.want)
			}
			for i, w := range tc.want {
				if math.Abs(got[i]-w) > rateRtol*w {
					t.Errorf("η_%d = %.17g, want %.17g", i, got[i], w)
				}
			}
		})
	}
}

func TestScheduleUnknown(t *testing.T) {
	for _, s := range []train.Schedule{"linear", "Cosine", ""} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			got, err := s.Rates(0.1, 5)
			if err == nil {
				t.Fatalf("Rates of schedule %q = %v, want an error", s, got)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Errorf("error %q does not name the schedule %q", err, s)
			}
		})
	}
}
