package influence

import (
	"context"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// Objectives says what FirstOrder scores the training points against.
type Objectives struct {
	// Test is the test set: its mean loss is the objective of
	// Scores.TestLoss, and TestPoints index into it.
	Test *train.Data

	// TestLoss asks for relevance to the mean loss over Test.
	TestLoss bool

	// TestPoints asks for relevance to the loss of each listed test
	// point: a train × len(TestPoints) matrix.
	TestPoints []int

	// Self asks for each training point's relevance to its own loss at
	// the final weights, the trajectory-aware self-influence.
	Self bool
}

// Scores holds first-order HyDRA relevance and the baselines that the same
// replay yields, one value per training point. A field is nil when it was
// not asked for.
type Scores struct {
	TestLoss []float64 // Rᵢ against the mean test loss
	Points   []float64 // N×len(TestPoints), row-major: Rᵢⱼ against test point j
	Self     []float64 // Rᵢ against ℓᵢ(w_T)

	TracIn    []float64 // Σ_{t: i∈B_t} η_t·‖∇ℓᵢ(w_t)‖²
	FinalLoss []float64 // ℓᵢ(w_T)
}

// passRows is the batch size of the passes over whole data sets at the
// final weights: large enough that the matrix products, not the per-call
// overheads, dominate (BenchmarkFirstOrder).
const passRows = 1024

// Progress receives the steps replayed so far and their number.
type Progress func(done, total int)

// FirstOrder computes first-order HyDRA scores of every training point by
// one replay of the trajectory in rec (see the package documentation).
// data must be the training data the run was recorded on.
func FirstOrder(ctx context.Context, dev device.Device, rec *train.Record,
	data *train.Data, obj Objectives, progress Progress) (*Scores, error) {
	return firstOrder(dev, rec, data, obj, func(p *prepared, coef []float64) error {
		hook := func(s *train.StepInfo) error {
			return p.accumulate(s.Batch, s.LR, coef[s.Step], modelActs(s.Model))
		}
		run, err := train.Replay(ctx, dev, data, rec, 0, rec.Steps, hook,
			replayProgress(progress))
		if err != nil {
			return err
		}
		run.Free()
		return nil
	})
}

// firstOrder prepares the objectives of obj at the final weights of rec
// and has walk add every step's terms, with the coefficients c_t of the
// run, to the scores it returns.
func firstOrder(dev device.Device, rec *train.Record, data *train.Data, obj Objectives,
	walk func(p *prepared, coef []float64) error) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	final, err := train.LoadFinalModel(dev, rec, passRows)
	if err != nil {
		return nil, err
	}
	defer final.Free()
	p, err := prepare(final, rec.Config.BatchSize, data, obj)
	defer p.free()
	if err != nil {
		return nil, err
	}
	coef := Coefficients(rec.LR, rec.Config.Momentum, rec.Config.WeightDecay)
	if err := walk(p, coef); err != nil {
		return nil, err
	}
	return p.scores, nil
}
