package influence

import (
	"context"
	"math"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// hessianTol bounds the relative error of HessianAware against the same
// recursion in float64 with dense Hessians from finite differences: the
// float32 recursion measures 6e-8 to 1e-7 on tinyRun's 12 steps.
const hessianTol = 1e-4

// upweightTol bounds the relative error of HessianAware against the
// derivative of the final objectives with respect to upweighting a point,
// by central differences of float64 retraining. Both are exact in exact
// arithmetic; what separates them is the float32 trajectory that
// HessianAware replays: 1e-7 to 2e-7 measured on tinyRun.
const upweightTol = 1e-5

// allPoints returns 0, …, n−1.
func allPoints(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// hostData returns the inputs of d in float64.
func hostData(t *testing.T, d *train.Data) []float64 {
	t.Helper()
	return hostRows(t, d.X)
}

// refObjectives returns, at the weights w, the gradients of the mean test
// loss, of each test point's loss and of each training point's loss.
func refObjectives(ref refMLP, w, xs []float64, data *train.Data, xt []float64,
	test *train.Data) (mean []float64, points, self [][]float64) {
	d := ref.sizes[0]
	_, mean = ref.grad(w, xt, test.Y, nil)
	for j := range test.N() {
		_, g := ref.grad(w, xt[j*d:(j+1)*d], test.Y[j:j+1], nil)
		points = append(points, g)
	}
	for i := range data.N() {
		_, g := ref.grad(w, xs[i*d:(i+1)*d], data.Y[i:i+1], nil)
		self = append(self, g)
	}
	return mean, points, self
}

// bruteHessian runs the Hessian-aware recursion for every training point
// in float64 with a dense Hessian per step, and returns the relevance to
// the mean test loss, to each test point (N×J) and to the point's own
// loss.
func bruteHessian(t *testing.T, dev device.Device, data, test *train.Data,
	rec *train.Record) (testLoss, points, self []float64) {
	cfg, n := rec.Config, data.N()
	ref := refMLP{cfg.Sizes}
	p, d := ref.dim(), cfg.Sizes[0]
	xs, xt := hostData(t, data), hostData(t, test)
	dv, mv := make([][]float64, n), make([][]float64, n)
	for i := range n {
		dv[i], mv[i] = make([]float64, p), make([]float64, p)
	}
	hook := func(s *train.StepInfo) error {
		w := flatWeights(t, s.Model)
		var xb []float64
		var yb []int32
		for _, i := range s.Batch {
			xb = append(xb, xs[int(i)*d:(int(i)+1)*d]...)
			yb = append(yb, data.Y[i])
		}
		h := ref.hessian(w, xb, yb)
		scale := float64(n) / float64(len(s.Batch))
		for i := range n {
			g := make([]float64, p)
			for r := range p {
				g[r] = cfg.WeightDecay*dv[i][r] + dot(h[r*p:(r+1)*p], dv[i])
			}
			for r, j := range s.Batch {
				if int(j) == i {
					_, gi := ref.grad(w, xb[r*d:(r+1)*d], yb[r:r+1], nil)
					for k := range g {
						g[k] += scale * gi[k]
					}
				}
			}
			for k := range g {
				mv[i][k] = cfg.Momentum*mv[i][k] + g[k]
				dv[i][k] -= s.LR * mv[i][k]
			}
		}
		return nil
	}
	run, err := train.Replay(context.Background(), dev, data, rec, 0, rec.Steps, hook, nil)
	if err != nil {
		t.Fatal(err)
	}
	wT := flatWeights(t, run.Model)
	run.Free()
	mean, pts, selfG := refObjectives(ref, wT, xs, data, xt, test)
	for i := range n {
		testLoss = append(testLoss, -dot(mean, dv[i])/float64(n))
		for _, g := range pts {
			points = append(points, -dot(g, dv[i])/float64(n))
		}
		self = append(self, -dot(selfG[i], dv[i])/float64(n))
	}
	return testLoss, points, self
}

// allObjectives asks for every objective over every test point.
func allObjectives(test *train.Data) Objectives {
	return Objectives{Test: test, TestLoss: true,
		TestPoints: allPoints(test.N()), Self: true}
}

func TestHessianAwareMatchesBruteForce(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := allObjectives(test)
	tracked := []int{12, 0, 5, 7, 3, 9, 1}
	got, err := HessianAware(context.Background(), dev, rec, data, obj, tracked, nil)
	if err != nil {
		t.Fatal(err)
	}
	testLoss, points, self := bruteHessian(t, dev, data, test, rec)
	j := test.N()
	var wantT, wantP, wantS []float64
	for _, i := range tracked {
		wantT = append(wantT, testLoss[i])
		wantP = append(wantP, points[i*j:(i+1)*j]...)
		wantS = append(wantS, self[i])
	}
	checkScores(t, hessianTol, []scoreCase{
		{"test loss", got.TestLoss, wantT},
		{"test points", got.Points, wantP},
		{"self", got.Self, wantS},
	})
}

type scoreCase struct {
	name      string
	got, want []float64
}

// checkScores logs the relative error of each case and fails those over
// tol; it returns the errors.
func checkScores(t *testing.T, tol float64, cases []scoreCase) []float64 {
	t.Helper()
	var errs []float64
	for _, c := range cases {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %d scores, want %d", c.name, len(c.got), len(c.want))
		}
		e := relErr(c.got, c.want)
		errs = append(errs, e)
		t.Logf("%s: relative error %.2e", c.name, e)
		if !(e < tol) {
			t.Errorf("%s: relative error %.3g > %g\n got %v\nwant %v",
				c.name, e, tol, c.got, c.want)
		}
	}
	return errs
}

// upweightEps is the step of the central difference in ε of float64
// retraining: the final objectives are smooth in ε away from ReLU kinks,
// so the truncation error is O(ε²) ≈ 1e-8 and the rounding O(1e-16/ε).
const upweightEps = 1e-4

// retrain runs the recorded SGD in float64 from the recorded initial
// weights, with point i weighted 1 + eps wherever its batch's mean loss
// counts it, and returns the final weights.
func retrain(t *testing.T, ref refMLP, w0, xs []float64, data *train.Data,
	rec *train.Record, i int, eps float64) []float64 {
	cfg, d := rec.Config, ref.sizes[0]
	w := append([]float64(nil), w0...)
	v := make([]float64, len(w))
	for step := range rec.Steps {
		var xb, c []float64
		var yb []int32
		for _, j := range rec.Batch(step) {
			xb = append(xb, xs[int(j)*d:(int(j)+1)*d]...)
			yb = append(yb, data.Y[j])
			c = append(c, 1+eps*b2f(int(j) == i))
		}
		_, g := ref.grad(w, xb, yb, c)
		for k := range w {
			v[k] = cfg.Momentum*v[k] + g[k] + cfg.WeightDecay*w[k]
			w[k] -= rec.LR[step] * v[k]
		}
	}
	return w
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// upweightDerivatives returns, for every training point i, −dL/dεᵢ of the
// mean test loss, of each test point's loss (N×J) and of ℓᵢ itself, by
// central differences of retrain: the relevance that HyDRA estimates.
func upweightDerivatives(t *testing.T, dev device.Device, data, test *train.Data,
	rec *train.Record) (testLoss, points, self []float64) {
	ref := refMLP{rec.Config.Sizes}
	d := ref.sizes[0]
	start, err := train.Replay(context.Background(), dev, data, rec, 0, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w0 := flatWeights(t, start.Model)
	start.Free()
	xs, xt := hostData(t, data), hostData(t, test)
	losses := func(w []float64, i int) []float64 {
		mean, _ := ref.grad(w, xt, test.Y, nil)
		out := []float64{mean}
		for j := range test.N() {
			l, _ := ref.grad(w, xt[j*d:(j+1)*d], test.Y[j:j+1], nil)
			out = append(out, l)
		}
		l, _ := ref.grad(w, xs[i*d:(i+1)*d], data.Y[i:i+1], nil)
		return append(out, l)
	}
	for i := range data.N() {
		up := losses(retrain(t, ref, w0, xs, data, rec, i, upweightEps), i)
		down := losses(retrain(t, ref, w0, xs, data, rec, i, -upweightEps), i)
		der := make([]float64, len(up))
		for k := range up {
			der[k] = -(up[k] - down[k]) / (2 * upweightEps)
		}
		testLoss = append(testLoss, der[0])
		points = append(points, der[1:len(der)-1]...)
		self = append(self, der[len(der)-1])
	}
	return testLoss, points, self
}

func TestHessianAwareMatchesUpweighting(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := allObjectives(test)
	all := allPoints(data.N())
	ctx := context.Background()
	hess, err := HessianAware(ctx, dev, rec, data, obj, all, nil)
	if err != nil {
		t.Fatal(err)
	}
	first, err := FirstOrder(ctx, dev, rec, data, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	testLoss, points, self := upweightDerivatives(t, dev, data, test, rec)

	he := checkScores(t, upweightTol, []scoreCase{
		{"Hessian-aware, test loss", hess.TestLoss, testLoss},
		{"Hessian-aware, test points", hess.Points, points},
		{"Hessian-aware, self", hess.Self, self},
	})
	fe := checkScores(t, math.Inf(1), []scoreCase{
		{"first order, test loss", first.TestLoss, testLoss},
		{"first order, test points", first.Points, points},
		{"first order, self", first.Self, self},
	})
	for k := range he {
		if !(he[k] < fe[k]/10) {
			t.Errorf("objective %d: Hessian-aware error %.3g is not a tenth "+
				"of first order's %.3g", k, he[k], fe[k])
		}
	}
}

// TestFirstOrderPerStepMatchesBruteForce checks FirstOrderPerStep against
// its sum taken with float64 gradients, to bruteTol: both sum the same
// per-sample gradient products.
func TestFirstOrderPerStepMatchesBruteForce(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := allObjectives(test)
	got, err := FirstOrderPerStep(context.Background(), dev, rec, data, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.TracIn != nil || got.FinalLoss != nil {
		t.Errorf("TracIn and FinalLoss set")
	}
	cfg, n, j := rec.Config, data.N(), test.N()
	ref := refMLP{cfg.Sizes}
	coef := Coefficients(rec.LR, cfg.Momentum, cfg.WeightDecay)
	xs, xt := hostData(t, data), hostData(t, test)
	testLoss, points := make([]float64, n), make([]float64, n*j)
	self := make([]float64, n)
	hook := func(s *train.StepInfo) error {
		w := flatWeights(t, s.Model)
		mean, pts, selfG := refObjectives(ref, w, xs, data, xt, test)
		f := coef[s.Step] / float64(len(s.Batch))
		for _, i := range s.Batch {
			g := selfG[i]
			testLoss[i] -= f * dot(mean, g)
			self[i] -= f * dot(g, g)
			for k := range j {
				points[int(i)*j+k] -= f * dot(pts[k], g)
			}
		}
		return nil
	}
	run, err := train.Replay(context.Background(), dev, data, rec, 0, rec.Steps, hook, nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Free()
	checkScores(t, bruteTol, []scoreCase{
		{"test loss", got.TestLoss, testLoss},
		{"test points", got.Points, points},
		{"self", got.Self, self},
	})
}

func TestHessianAwareRejectsBadTracking(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	obj := Objectives{Test: test, TestLoss: true}
	for _, tracked := range [][]int{nil, {0, 0}, {-1}, {data.N()}} {
		_, err := HessianAware(context.Background(), dev, rec, data, obj, tracked, nil)
		if err == nil {
			t.Errorf("tracked %v: no error", tracked)
		}
	}
}
