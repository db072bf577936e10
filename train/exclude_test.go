package train_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// recorded trains testConfig's run on testData and returns the record.
func recorded(t *testing.T, dev device.Device) (*train.Data, *train.Record) {
	t.Helper()
	data := testData(t, dev)
	run := mustTrain(t, dev, data, testConfig(), t.TempDir(), nil)
	return data, run.Record
}

// retrain runs plan with a new Retrainer and returns the final weights.
func retrain(t *testing.T, dev device.Device, data *train.Data, cfg train.Config,
	plan *train.Plan) [][]float32 {
	t.Helper()
	r, err := train.NewRetrainer(dev, data, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	if err := r.Run(context.Background(), plan); err != nil {
		t.Fatal(err)
	}
	w, err := r.Model().Weights()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// finalWeights returns the weights of the last checkpoint of rec.
func finalWeights(t *testing.T, dev device.Device, rec *train.Record) [][]float32 {
	t.Helper()
	m, err := train.LoadFinalModel(dev, rec, rec.Config.BatchSize)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	w, err := m.Weights()
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestRetrainRepeatsRecord checks that the plan of a record without
// exclusions retrains to the recorded final weights bit for bit, with
// either batch scale, and again on a second run of the same Retrainer.
func TestRetrainRepeatsRecord(t *testing.T) {
	dev := device.NewCPU(1)
	data, rec := recorded(t, dev)
	want := finalWeights(t, dev, rec)
	r, err := train.NewRetrainer(dev, data, rec.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	for _, scale := range []train.BatchScale{train.KeepScale, train.Renormalize} {
		plan, err := train.RecordPlan(rec, nil, scale)
		if err != nil {
			t.Fatal(err)
		}
		for run := range 2 {
			if err := r.Run(context.Background(), plan); err != nil {
				t.Fatal(err)
			}
			got, err := r.Model().Weights()
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, fmt.Sprintf("%v, run %d", scale, run+1), got, want)
		}
	}
}

// reducedPlan builds by hand the plan of rec on the data without the
// points of exclude, renumbered: each recorded batch less those points,
// weighed by 1/B_t of the recorded batch (keep) or of what remains.
func reducedPlan(rec *train.Record, exclude []int, keep bool) *train.Plan {
	newIndex := make([]int32, rec.N)
	k := int32(0)
	for i := range rec.N {
		newIndex[i] = -1
		if !slices.Contains(exclude, i) {
			newIndex[i] = k
			k++
		}
	}
	p := &train.Plan{LR: rec.LR}
	for step := range rec.Steps {
		var b []int32
		for _, i := range rec.Batch(step) {
			if newIndex[i] >= 0 {
				b = append(b, newIndex[i])
			}
		}
		size := len(b)
		if keep {
			size = len(rec.Batch(step))
		}
		p.Batches = append(p.Batches, b)
		p.Scales = append(p.Scales, 1/float32(size))
	}
	return p
}

// TestRetrainExcludedIsReducedData checks that excluding points from the
// recorded order trains exactly as the reduced data set does along the
// same batches less those points.
func TestRetrainExcludedIsReducedData(t *testing.T) {
	dev := device.NewCPU(1)
	data, rec := recorded(t, dev)
	exclude := []int{3, int(rec.Batch(0)[0]), 59}
	s := dataset.Blobs(blobN, blobD, blobClasses, blobSpread, blobSeed)
	var keep []int
	for i := range s.N {
		if !slices.Contains(exclude, i) {
			keep = append(keep, i)
		}
	}
	reduced := blobs(t, dev, s.Subset(keep))

	var prev [][]float32
	for _, scale := range []train.BatchScale{train.KeepScale, train.Renormalize} {
		t.Run(scale.String(), func(t *testing.T) {
			plan, err := train.RecordPlan(rec, exclude, scale)
			if err != nil {
				t.Fatal(err)
			}
			got := retrain(t, dev, data, rec.Config, plan)
			want := retrain(t, dev, reduced, rec.Config,
				reducedPlan(rec, exclude, scale == train.KeepScale))
			sameBits(t, "excluded vs reduced", got, want)
			if prev != nil && slices.EqualFunc(got, prev, slices.Equal) {
				t.Error("keep and renormalize trained the same weights")
			}
			prev = got
		})
	}
}

// TestRetrainEmptyBatches excludes every point, so that each step applies
// only momentum and weight decay; the weights then follow
//
//	v ← μ·v + λ·w,  w ← w − η_t·v
//
// from the initial weights, which the test runs in float64.
func TestRetrainEmptyBatches(t *testing.T) {
	// emptyTol bounds the relative error of the float32 recursion over
	// 32 steps; measured 5e-7.
	const emptyTol = 1e-5
	dev := device.NewCPU(1)
	data, rec := recorded(t, dev)
	all := make([]int, rec.N)
	for i := range all {
		all[i] = i
	}
	plan, err := train.RecordPlan(rec, all, train.KeepScale)
	if err != nil {
		t.Fatal(err)
	}
	got := retrain(t, dev, data, rec.Config, plan)
	init := retrain(t, dev, data, rec.Config, &train.Plan{})

	cfg := rec.Config
	for l := range init {
		for k, w0 := range init[l] {
			w, v := float64(w0), 0.0
			for _, eta := range rec.LR {
				v = cfg.Momentum*v + cfg.WeightDecay*w
				w -= eta * v
			}
			if d := math.Abs(float64(got[l][k]) - w); d > emptyTol*math.Abs(w) {
				t.Fatalf("tensor %d value %d: %g, want %g", l, k, got[l][k], w)
			}
		}
	}
}

// TestRetrainExcludesNaN puts a NaN in one point: retraining with it
// fails with ErrNotFinite, and without it succeeds, as the point is never
// read.
func TestRetrainExcludesNaN(t *testing.T) {
	dev := device.NewCPU(1)
	_, rec := recorded(t, dev)
	s := dataset.Blobs(blobN, blobD, blobClasses, blobSpread, blobSeed)
	bad := 11
	s.X[bad*blobD] = float32(math.NaN())
	data := blobs(t, dev, s)
	r, err := train.NewRetrainer(dev, data, rec.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()

	with, err := train.RecordPlan(rec, nil, train.KeepScale)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), with); !errors.Is(err, train.ErrNotFinite) {
		t.Errorf("with the NaN point: error %v, want ErrNotFinite", err)
	}
	without, err := train.RecordPlan(rec, []int{bad}, train.KeepScale)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(context.Background(), without); err != nil {
		t.Errorf("without the NaN point: %v", err)
	}
}

// TestRetrainErrors checks the plans and settings that Run and RecordPlan
// refuse, and cancellation.
func TestRetrainErrors(t *testing.T) {
	dev := device.NewCPU(1)
	data, rec := recorded(t, dev)
	if _, err := train.RecordPlan(rec, []int{rec.N}, train.KeepScale); err == nil {
		t.Error("RecordPlan accepted a point outside the data")
	}
	bad := testConfig()
	bad.Sizes = []int{blobD + 1, blobClasses}
	if _, err := train.NewRetrainer(dev, data, bad); err == nil {
		t.Error("NewRetrainer accepted a model of another input width")
	}

	r, err := train.NewRetrainer(dev, data, rec.Config)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Free()
	big := make([]int32, rec.Config.BatchSize+1)
	plans := []struct {
		name string
		plan *train.Plan
		want string
	}{
		{"lengths", &train.Plan{Batches: [][]int32{{0}}}, "1 batches, 0 scales"},
		{"point", &train.Plan{Batches: [][]int32{{int32(rec.N)}},
			Scales: []float32{1}, LR: []float64{0.1}}, "outside"},
		{"batch size", &train.Plan{Batches: [][]int32{big},
			Scales: []float32{1}, LR: []float64{0.1}}, "the model takes"},
	}
	for _, tc := range plans {
		err := r.Run(context.Background(), tc.plan)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	plan, err := train.RecordPlan(rec, nil, train.KeepScale)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx, plan); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v, want context.Canceled", err)
	}
}
