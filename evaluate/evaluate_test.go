package evaluate

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/influence"
	"github.com/optraj/optraj/train"
)

// The tiny runs of the tests: blobs of 8 values in 3 overlapping classes,
// 200 points to train on and 100 to test, multinomial logistic regression
// (or one hidden layer) over 6 epochs of batches of 20, with momentum,
// weight decay and a cosine schedule.
const (
	tinyTrain, tinyTest = 200, 100
	tinyD, tinyClasses  = 8, 3
	tinySpread          = 1.0
	tinySeed            = 5
	tinyNoise           = 0.1
)

func tinyConfig(sizes ...int) train.Config {
	return train.Config{Sizes: sizes, Epochs: 6, BatchSize: 20,
		LearningRate: 0.1, Schedule: train.Cosine, Momentum: 0.9,
		WeightDecay: 1e-3, Seed: 3}
}

// tinyRun trains cfg on the tiny blobs, with tinyNoise of the training
// labels flipped when noisy, and returns the run and the flipped points.
func tinyRun(t *testing.T, cfg train.Config, noisy bool) (*Trained, []int) {
	t.Helper()
	all := dataset.Blobs(tinyTrain+tinyTest, tinyD, tinyClasses, tinySpread, tinySeed)
	trainSet, testSet := all.Subset(span(0, tinyTrain)), all.Subset(span(tinyTrain,
		tinyTrain+tinyTest))
	var flipped []int
	if noisy {
		var err error
		trainSet.Y, flipped, err = dataset.FlipLabels(trainSet.Y, tinyClasses,
			tinyNoise, tinySeed)
		if err != nil {
			t.Fatal(err)
		}
	}
	dev := device.NewCPU(1)
	tr := &Trained{Train: trainSet, Test: testSet, Dev: dev}
	var err error
	if tr.TrainData, tr.TestData, err = tr.onDevice(dev); err != nil {
		t.Fatal(err)
	}
	run, err := train.Train(context.Background(), dev, tr.TrainData, cfg,
		t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Free()
	tr.Record = run.Record
	return tr, flipped
}

// span returns lo, …, hi−1.
func span(lo, hi int) []int {
	out := make([]int, 0, hi-lo)
	for i := lo; i < hi; i++ {
		out = append(out, i)
	}
	return out
}

// looMinPearson is what Hessian-aware HyDRA must reach against leave-one-
// out retraining of the tiny logistic regression: it is exact to first
// order in the removal, and the measured 0.99+ leaves room for float32.
const looMinPearson = 0.9

// TestLOOHessianAware checks that Hessian-aware HyDRA predicts the change
// of the mean test loss when single points are left out, and that the
// first-order scores of the points it tracks agree in sign with it.
func TestLOOHessianAware(t *testing.T) {
	tr, _ := tinyRun(t, tinyConfig(tinyD, tinyClasses), false)
	opt := Options{
		Methods:   []string{HyDRAHessian, HyDRA, Random},
		Protocols: []string{ProtocolLOO},
		LOO:       LOOOptions{Top: 10, Random: 10, Seed: 1, TestPoint: -1},
		Seed:      1, Dir: t.TempDir(),
	}
	rep, err := Evaluate(context.Background(), tr, opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]LOOMethod{}
	for _, m := range rep.LOO.Methods {
		got[m.Method] = m
		t.Logf("%-14s Pearson %.4f Spearman %.4f (random points %.4f, %.4f)",
			m.Method, m.Pearson, m.Spearman, m.PearsonRandom, m.SpearmanRandom)
	}
	h := got[HyDRAHessian]
	if h.Compared != 20 || !(h.Pearson > looMinPearson) {
		t.Errorf("Hessian-aware HyDRA: Pearson %v over %d points, want > %v over 20",
			h.Pearson, h.Compared, looMinPearson)
	}
	if r := got[Random]; !(math.Abs(float64(r.Pearson)) < float64(h.Pearson)) {
		t.Errorf("random scores correlate %v, as well as Hessian-aware HyDRA", r.Pearson)
	}
	if !slices.Equal(rep.Attributed[1].Tracked, rep.LOOPoints) {
		t.Errorf("tracked %v, want the LOO points %v",
			rep.Attributed[1].Tracked, rep.LOOPoints)
	}
}

// TestLOOPoints checks the choice of the top and random points.
func TestLOOPoints(t *testing.T) {
	scores := []float64{0.1, -5, 3, 0, -0.2, 4, 0.3, 1}
	got := LOOPoints(scores, 3, 2, 9)
	if !slices.Equal(got[:3], []int{1, 5, 2}) {
		t.Errorf("top points %v, want [1 5 2]", got[:3])
	}
	rest := got[3:]
	if len(rest) != 2 || !slices.IsSorted(rest) || slices.ContainsFunc(rest,
		func(i int) bool { return i == 1 || i == 5 || i == 2 }) {
		t.Errorf("random points %v: want 2 others, sorted", rest)
	}
	if again := LOOPoints(scores, 3, 2, 9); !slices.Equal(again, got) {
		t.Errorf("the same seed chose %v, then %v", got, again)
	}
}

// TestRetrainResumes interrupts leave-one-out retraining after a few
// outcomes and checks that a second call retrains only the rest, that a
// torn last line is cut off, and that a results file of another setup is
// refused.
func TestRetrainResumes(t *testing.T) {
	tr, _ := tinyRun(t, tinyConfig(tinyD, tinyClasses), false)
	points, dir := []int{3, 14, 15, 92, 65, 35}, t.TempDir()
	path := filepath.Join(dir, LOOFile)
	opt := LOOOptions{TestPoint: -1}
	pool := Pool{Workers: 2}

	ctx, cancel := context.WithCancel(context.Background())
	stopAt := 3
	_, err := RetrainLOO(ctx, tr, points, 0, nil, opt, pool, path,
		func(done, total int) {
			if done >= stopAt {
				cancel()
			}
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted retraining: error %v, want context.Canceled", err)
	}
	kept := outcomeLines(t, path)
	if kept < stopAt || kept >= len(points)+1 {
		t.Fatalf("%d outcomes kept after the interruption, want %d to %d",
			kept, stopAt, len(points))
	}

	tear(t, path)
	var first []int
	act, err := RetrainLOO(context.Background(), tr, points, 0, nil, opt, pool, path,
		func(done, total int) { first = append(first, done) })
	if err != nil {
		t.Fatal(err)
	}
	if first[0] != kept {
		t.Errorf("resumed with %d done, want the %d kept", first[0], kept)
	}
	if n := outcomeLines(t, path); n != len(points)+1 {
		t.Errorf("%d outcomes in the file, want %d", n, len(points)+1)
	}
	checkFresh(t, tr, points, act)

	other := retrainSpec{tr: tr, scale: train.Renormalize}
	if _, err := openJournal(path, other.header()); !errors.Is(err, ErrJournal) {
		t.Errorf("another setup: error %v, want ErrJournal", err)
	}
}

// outcomeLines returns the number of outcome lines of the results file.
func outcomeLines(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "\n") - 1
}

// tear appends half a line, as a run killed while appending leaves.
func tear(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"key":"loo/99","test_lo`); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// checkFresh checks the resumed results against retraining from scratch:
// the retrainings are deterministic, so they must agree exactly.
func checkFresh(t *testing.T, tr *Trained, points []int, act *LOOActual) {
	t.Helper()
	fresh, err := RetrainLOO(context.Background(), tr, points, 0, nil,
		LOOOptions{TestPoint: -1}, Pool{Workers: 1},
		filepath.Join(t.TempDir(), LOOFile), nil)
	if err != nil {
		t.Fatal(err)
	}
	if act.Base != fresh.Base {
		t.Errorf("base %v resumed, %v fresh", act.Base, fresh.Base)
	}
	for k, p := range act.Points {
		if p != fresh.Points[k] {
			t.Errorf("point %d: %+v resumed, %+v fresh", k, p, fresh.Points[k])
		}
	}
}

// TestEvaluateAll runs every method and protocol on a tiny noisy MLP run
// and checks that every method scores, that the mislabel detectors of
// HyDRA beat the random order, and that the LDS of first-order HyDRA is
// positive.
func TestEvaluateAll(t *testing.T) {
	tr, flipped := tinyRun(t, tinyConfig(tinyD, 6, tinyClasses), true)
	opt := Options{
		Methods: Methods, Protocols: Protocols,
		LOO: LOOOptions{Top: 4, Random: 4, Seed: 1, TestPoint: -1},
		LDS: LDSOptions{Subsets: 8, Fraction: 0.5, Seed: 2,
			TestPoints: []int{0, 1, 2, 3, 4}},
		IF: influence.IFOptions{Damping: 0.1,
			LiSSA: influence.LiSSAOptions{Depth: 200, BatchSize: 50, Seed: 4}},
		Seed: 1, Flipped: flipped, Dir: t.TempDir(),
	}
	var stages []string
	rep, err := Evaluate(context.Background(), tr, opt, func(s string, done, total int) {
		if len(stages) == 0 || stages[len(stages)-1] != s {
			stages = append(stages, s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stages %v", stages)
	for _, c := range rep.Costs {
		if c.Err != "" {
			t.Errorf("%s failed: %s", c.Method, c.Err)
		}
	}
	checkMislabel(t, rep.Mislabel)
	for _, m := range rep.LDS.Methods {
		t.Logf("LDS %-14s loss %.3f margin %.3f %s", m.Method, m.Loss, m.Margin, m.Err)
		if m.Method == HyDRA && !(m.Loss > 0) {
			t.Errorf("LDS of HyDRA %v, want > 0", m.Loss)
		}
	}
	if len(rep.LOO.Methods) != len(Methods) || len(rep.LOO.Actual.Points) != 8 {
		t.Errorf("LOO of %d methods over %d points, want %d over 8",
			len(rep.LOO.Methods), len(rep.LOO.Actual.Points), len(Methods))
	}
}

// checkMislabel checks that HyDRA's self-relevance finds the flipped
// labels sooner than the random order.
func checkMislabel(t *testing.T, res *MislabelResult) {
	t.Helper()
	auc := map[string]float64{}
	for _, m := range res.Methods {
		t.Logf("mislabel %-14s %-22s AUC %.3f %s", m.Method, m.Detector, m.AUC, m.Err)
		if m.Err == "" {
			auc[m.Method+"/"+m.Detector] = m.AUC
		}
	}
	if h, r := auc[HyDRA+"/self-relevance"], auc[Random+"/random order"]; !(h > r) {
		t.Errorf("mislabel AUC of HyDRA %v, of the random order %v", h, r)
	}
}
