package influence

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// bruteTol bounds the relative error between FirstOrder and the explicit
// recursion: both sum the same float32 per-sample gradients, in another
// order and with the dot products in float32 rather than float64, which
// leaves errors near 1e-6 on this model.
const bruteTol = 1e-4

// tinyRun trains a 5→4→3 MLP on 13 points with batches of 4 (the last
// batch of each epoch has 1 point), momentum, weight decay and a step
// schedule, and returns the device, data, test set and record.
func tinyRun(t *testing.T) (device.Device, *train.Data, *train.Data, *train.Record) {
	t.Helper()
	dev := device.NewCPU(1)
	data := toData(t, dev, dataset.Blobs(13, 5, 3, 0.8, 11))
	test := toData(t, dev, dataset.Blobs(7, 5, 3, 0.8, 12))
	cfg := train.Config{
		Sizes: []int{5, 4, 3}, Epochs: 3, BatchSize: 4,
		LearningRate: 0.2, Schedule: train.Step, Momentum: 0.9,
		WeightDecay: 0.01, Seed: 5, CheckpointEvery: 2,
	}
	run, err := train.Train(context.Background(), dev, data, cfg, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Free()
	return dev, data, test, run.Record
}

func toData(t *testing.T, dev device.Device, s *dataset.Set) *train.Data {
	t.Helper()
	d, err := train.NewData(dev, s.X, s.Y, s.D, s.Classes)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// gradOf returns the gradient of the loss of the single point (x, y) at
// the weights w, flattened in Params order.
func gradOf(t *testing.T, pm *train.MLP, w [][]float32, x []float32, y int32) []float64 {
	t.Helper()
	if err := pm.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	xt := toTensor(t, pm.Device(), x)
	pm.Loss(xt, []int32{y}, true, 1)
	pm.Backward(1)
	var g []float64
	for _, p := range pm.Params() {
		h, err := p.Grad.Host()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range h {
			g = append(g, float64(v))
		}
	}
	return g
}

// bruteForce runs the first-order recursion of the package documentation
// with an explicit hypergradient vector per training point, and returns
// the relevance of each point to the mean test loss, to its own final
// loss and to each test point, and the summed TracIn self-influence.
func bruteForce(t *testing.T, dev device.Device, data, test *train.Data,
	rec *train.Record) (testLoss, self, points, tracin []float64) {
	cfg := rec.Config
	pm, err := train.NewMLP(dev, cfg.Sizes, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pm.Free()
	xs, err := data.X.Host()
	if err != nil {
		t.Fatal(err)
	}
	n, d := data.N(), data.X.Cols()
	row := func(x []float32, i int) []float32 { return x[i*d : (i+1)*d] }

	dvec := make([][]float64, n)
	mvec := make([][]float64, n)
	tracin = make([]float64, n)
	hook := func(s *train.StepInfo) error {
		w, err := s.Model.Weights()
		if err != nil {
			return err
		}
		scale := float64(n) / float64(len(s.Batch))
		for i := range n {
			var g []float64
			in := slices.Contains(s.Batch, int32(i))
			if in {
				g = gradOf(t, pm, w, row(xs, i), data.Y[i])
				tracin[i] += s.LR * dot(g, g)
			}
			if dvec[i] == nil {
				dvec[i] = make([]float64, pm.NumParams())
				mvec[i] = make([]float64, pm.NumParams())
			}
			for k := range dvec[i] {
				gk := cfg.WeightDecay * dvec[i][k]
				if in {
					gk += scale * g[k]
				}
				mvec[i][k] = cfg.Momentum*mvec[i][k] + gk
				dvec[i][k] -= s.LR * mvec[i][k]
			}
		}
		return nil
	}
	run, err := train.Replay(context.Background(), dev, data, rec, 0, rec.Steps, hook, nil)
	if err != nil {
		t.Fatal(err)
	}
	wT, err := run.Model.Weights()
	run.Free()
	if err != nil {
		t.Fatal(err)
	}

	xt, err := test.X.Host()
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, pm.NumParams())
	var tgrads [][]float64
	for j := range test.N() {
		g := gradOf(t, pm, wT, row(xt, j), test.Y[j])
		tgrads = append(tgrads, g)
		for k := range v {
			v[k] += g[k] / float64(test.N())
		}
	}
	for i := range n {
		testLoss = append(testLoss, -dot(v, dvec[i])/float64(n))
		gi := gradOf(t, pm, wT, row(xs, i), data.Y[i])
		self = append(self, -dot(gi, dvec[i])/float64(n))
		for _, g := range tgrads {
			points = append(points, -dot(g, dvec[i])/float64(n))
		}
	}
	return testLoss, self, points, tracin
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// relErr returns ‖got − want‖/‖want‖.
func relErr(got, want []float64) float64 {
	var num, den float64
	for i := range want {
		num += (got[i] - want[i]) * (got[i] - want[i])
		den += want[i] * want[i]
	}
	return math.Sqrt(num / den)
}

func TestFirstOrderMatchesBruteForce(t *testing.T) {
	dev, data, test, rec := tinyRun(t)
	allTest := make([]int, test.N())
	for j := range allTest {
		allTest[j] = j
	}
	obj := Objectives{Test: test, TestLoss: true, TestPoints: allTest, Self: true}
	got, err := FirstOrder(context.Background(), dev, rec, data, obj, nil)
	if err != nil {
		t.Fatal(err)
	}
	testLoss, self, points, tracin := bruteForce(t, dev, data, test, rec)

	for _, c := range []struct {
		name      string
		got, want []float64
	}{
		{"test loss", got.TestLoss, testLoss},
		{"self", got.Self, self},
		{"test points", got.Points, points},
		{"tracin", got.TracIn, tracin},
	} {
		if len(c.got) != len(c.want) {
			t.Fatalf("%s: %d scores, want %d", c.name, len(c.got), len(c.want))
		}
		e := relErr(c.got, c.want)
		t.Logf("%s: relative error %.2e", c.name, e)
		if !(e < bruteTol) {
			t.Errorf("%s: relative error %.3g > %g\n got %v\nwant %v",
				c.name, e, bruteTol, c.got, c.want)
		}
	}
}
