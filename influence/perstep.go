package influence

import (
	"context"
	"fmt"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// FirstOrderPerStep computes first-order HyDRA with the test gradient
// taken at every step rather than only at the end:
//
//	Rᵢ = −Σ_{t: i ∈ B_t} (c_t/B_t)·∇L(w_t)ᵀ·∇ℓᵢ(w_t)
//
// with the coefficients c_t of Coefficients. FirstOrder's form, which
// pairs every step's ∇ℓᵢ(w_t) with ∇L(w_T), is the derivative of the
// final objective; this one is a TracIn-like path integral that weighs
// each step by how the hypergradient recursion carries it forward, and is
// the natural first-order form when the objective moves much along the
// path. It replays the trajectory once, scoring all N points, and at each
// step takes the gradients of the objectives at w_t with a model of its
// own: one pass over the test set for TestLoss, one over the listed test
// points for TestPoints. Self pairs ∇ℓᵢ(w_t) with itself:
//
//	Selfᵢ = −Σ_{t: i ∈ B_t} (c_t/B_t)·‖∇ℓᵢ(w_t)‖².
//
// Scores.TracIn and Scores.FinalLoss are left nil.
func FirstOrderPerStep(ctx context.Context, dev device.Device, rec *train.Record,
	data *train.Data, obj Objectives, progress Progress) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	ps := &perStep{obj: obj, data: data,
		coef: Coefficients(rec.LR, rec.Config.Momentum, rec.Config.WeightDecay)}
	defer ps.free()
	n, j := data.N(), len(obj.TestPoints)
	if obj.TestLoss {
		ps.sc.TestLoss = make([]float64, n)
	}
	if j > 0 {
		ps.sc.Points = make([]float64, n*j)
	}
	if obj.Self {
		ps.sc.Self = make([]float64, n)
	}
	run, err := train.Replay(ctx, dev, data, rec, 0, rec.Steps, ps.step,
		replayProgress(progress))
	if err != nil {
		return nil, err
	}
	run.Free()
	return &ps.sc, nil
}

// perStep accumulates FirstOrderPerStep's sums during a replay.
type perStep struct {
	obj   Objectives
	data  *train.Data
	coef  []float64
	sc    Scores
	probe *train.MLP // the model at w_t, for the objectives' gradients
	dt    *dotter
	vt    *Vecs
	pts   *factors // the test points' factors at w_t
}

// init allocates the state for the replay's model.
func (ps *perStep) init(m *train.MLP) error {
	rows := 1
	if ps.obj.Test != nil {
		rows = min(probeRows, ps.obj.Test.N())
	}
	var err error
	if ps.probe, err = newProbe(m, rows); err != nil {
		return err
	}
	j := len(ps.obj.TestPoints)
	if ps.dt, err = newDotter(m, m.MaxRows, min(max(j, 1), hvpBatch)); err != nil {
		return err
	}
	if ps.vt, err = NewVecs(m, 1); err != nil {
		return err
	}
	if j > 0 {
		ps.pts, err = pointFactors(ps.probe, ps.obj.Test.X, ps.obj.Test.Y,
			ps.obj.TestPoints)
	}
	return err
}

func (ps *perStep) free() {
	if ps.probe != nil {
		ps.probe.Free()
	}
	if ps.dt != nil {
		ps.dt.free()
	}
	if ps.vt != nil {
		ps.vt.Free()
	}
	if ps.pts != nil {
		ps.pts.free()
	}
}

// step adds step s's terms. The batch rows' output gradients are 1/B_t
// times the per-sample δᵢ, which cancels the 1/B_t of the sum against a
// per-sample or mean gradient, and leaves a factor B_t in Self.
func (ps *perStep) step(s *train.StepInfo) error {
	if ps.probe == nil {
		if err := ps.init(s.Model); err != nil {
			return err
		}
	}
	copyWeights(ps.probe, s.Model)
	f := batchFactors(s.Model)
	c := ps.coef[s.Step]
	steps := []func(*factors, []int32, float64) error{}
	if ps.obj.TestLoss {
		steps = append(steps, ps.testLoss)
	}
	if len(ps.obj.TestPoints) > 0 {
		steps = append(steps, ps.points)
	}
	if ps.obj.Self {
		steps = append(steps, ps.self)
	}
	for _, f1 := range steps {
		if err := f1(f, s.Batch, c); err != nil {
			return fmt.Errorf("influence: step %d: %w", s.Step, err)
		}
	}
	return nil
}

func (ps *perStep) testLoss(f *factors, batch []int32, c float64) error {
	test := ps.obj.Test
	if err := meanGrad(ps.probe, test.X, test.Y, ps.vt); err != nil {
		return err
	}
	dots, err := ps.dt.vecs(f, ps.vt)
	if err != nil {
		return err
	}
	for r, i := range batch {
		ps.sc.TestLoss[i] -= c * dots[r]
	}
	return nil
}

func (ps *perStep) points(f *factors, batch []int32, c float64) error {
	test, j := ps.obj.Test, len(ps.obj.TestPoints)
	if err := ps.pts.fill(ps.probe, test.X, test.Y, ps.obj.TestPoints); err != nil {
		return err
	}
	dots, err := ps.dt.points(f, ps.pts)
	if err != nil {
		return err
	}
	for r, i := range batch {
		for k := range j {
			ps.sc.Points[int(i)*j+k] -= c * dots[r*j+k]
		}
	}
	return nil
}

func (ps *perStep) self(f *factors, batch []int32, c float64) error {
	dots, err := ps.dt.norms(f)
	if err != nil {
		return err
	}
	b := float64(len(batch))
	for r, i := range batch {
		ps.sc.Self[i] -= c * b * dots[r]
	}
	return nil
}
