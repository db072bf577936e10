package influence

import (
	"context"
	"fmt"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// hvpBatch is the number of hypergradients that share one pass of the
// HVP. Its workspaces grow as 6·B·hvpBatch·width floats: 77 MB for
// batches of 128 at MNIST's width of 784, which both backends hold
// comfortably; more tracked points take several passes per step.
const hvpBatch = 32

// TrackedScores holds the relevance of a tracked set of K training points.
// A field is nil when it was not asked for.
type TrackedScores struct {
	Tracked  []int     // the tracked training points, K
	TestLoss []float64 // K: Rᵢ against the mean test loss
	Points   []float64 // K×len(TestPoints), row-major: Rᵢⱼ
	Self     []float64 // K: Rᵢ against ℓᵢ(w_T)
}

// HessianAware computes Hessian-aware HyDRA relevance for the training
// points tracked by one replay of the trajectory in rec: the recursion of
// the package documentation, H_t·d included,
//
//	g_t = λ·d + H_t·d + (N/B_t)·[i ∈ B_t]·∇ℓᵢ(w_t)
//	m  ← μ·m + g_t
//	d  ← d − η_t·m
//
// for every tracked i at once, with d and m held as K vectors (Vecs) and
// H_t·d as K exact Hessian-vector products of the step's minibatch loss
// per step (HVP, hvpBatch vectors per pass). Each tracked point costs two
// parameter-sized vectors and a Hessian-vector product per step, so the
// tracked set is for tens to hundreds of points; FirstOrder scores all N.
//
// The relevance is Rᵢ = −(1/N)·∇L(w_T)ᵀ·dᵢ(T) for each objective of obj:
// the mean test loss, each listed test point's loss, and, with Self, the
// point's own loss. Higher means more helpful.
func HessianAware(ctx context.Context, dev device.Device, rec *train.Record,
	data *train.Data, obj Objectives, tracked []int,
	progress Progress) (*TrackedScores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	if err := checkTracked(tracked, data.N()); err != nil {
		return nil, err
	}
	tr := &tracker{rec: rec, data: data, index: map[int32]int{}}
	for k, i := range tracked {
		tr.index[int32(i)] = k
	}
	defer tr.free()

	run, err := train.Replay(ctx, dev, data, rec, 0, rec.Steps,
		tr.step, replayProgress(progress))
	if err != nil {
		return nil, err
	}
	defer run.Free()
	if tr.d == nil {
		return nil, fmt.Errorf("influence: a run of %d steps", rec.Steps)
	}
	return tr.scores(run.Model, obj, tracked)
}

// checkObjectives reports objectives that name a missing test set or
// points outside it.
func checkObjectives(obj Objectives) error {
	if (obj.TestLoss || len(obj.TestPoints) > 0) && obj.Test == nil {
		return fmt.Errorf("influence: test objectives without a test set")
	}
	for _, j := range obj.TestPoints {
		if j < 0 || j >= obj.Test.N() {
			return fmt.Errorf("influence: test point %d outside [0, %d)",
				j, obj.Test.N())
		}
	}
	return nil
}

// checkTracked reports a tracked point outside [0, n) or listed twice.
func checkTracked(tracked []int, n int) error {
	if len(tracked) == 0 {
		return fmt.Errorf("influence: no training points to track")
	}
	seen := map[int]bool{}
	for _, i := range tracked {
		if i < 0 || i >= n {
			return fmt.Errorf("influence: tracked point %d outside [0, %d)", i, n)
		}
		if seen[i] {
			return fmt.Errorf("influence: training point %d tracked twice", i)
		}
		seen[i] = true
	}
	return nil
}

// replayProgress adapts a Progress to the replay's.
func replayProgress(progress Progress) train.Progress {
	if progress == nil {
		return nil
	}
	return func(e train.Event) { progress(e.Step, e.Steps) }
}

// tracker runs the Hessian-aware recursion during a replay.
type tracker struct {
	rec     *train.Record
	data    *train.Data
	index   map[int32]int // training point → its row in d
	d, m, g *Vecs
	hvp     *HVP
	labels  []int32
}

// init allocates the recursion's state for the model of the replay.
func (tr *tracker) init(m *train.MLP) error {
	k := len(tr.index)
	var err error
	if tr.hvp, err = NewHVP(m, min(k, hvpBatch)); err != nil {
		return err
	}
	for _, v := range []**Vecs{&tr.d, &tr.m, &tr.g} {
		if *v, err = NewVecs(m, k); err != nil {
			return err
		}
	}
	tr.labels = make([]int32, m.MaxRows)
	return nil
}

func (tr *tracker) free() {
	if tr.hvp != nil {
		tr.hvp.Free()
	}
	for _, v := range []*Vecs{tr.d, tr.m, tr.g} {
		if v != nil {
			v.Free()
		}
	}
}

// step advances the recursion over step s.
func (tr *tracker) step(s *train.StepInfo) error {
	if tr.d == nil {
		if err := tr.init(s.Model); err != nil {
			return err
		}
	}
	y := tr.labels[:len(s.Batch)]
	for r, i := range s.Batch {
		y[r] = tr.data.Y[i]
	}
	if err := tr.hvp.Use(y); err != nil {
		return err
	}
	cfg := tr.rec.Config
	tr.hvp.Apply(tr.g, tr.d, 1, 0)
	tr.g.Axpy(float32(cfg.WeightDecay), tr.d)
	tr.inject(s)
	tr.m.Scale(float32(cfg.Momentum))
	tr.m.Axpy(1, tr.g)
	tr.d.Axpy(float32(-s.LR), tr.m)
	if err := s.Model.Device().Sync(); err != nil {
		return fmt.Errorf("influence: step %d: %w", s.Step, err)
	}
	return nil
}

// inject adds (N/B)·∇ℓᵢ(w_t) to g for the tracked points of the batch.
// The layers' output gradients are those of the batch's mean loss, 1/B
// times the per-sample δᵢ, so the term is N·δᵣᵀ·aᵣ for batch row r.
func (tr *tracker) inject(s *train.StepInfo) {
	n := float32(tr.data.N())
	for r, i := range s.Batch {
		k, ok := tr.index[i]
		if !ok {
			continue
		}
		for l, lin := range s.Model.Linears() {
			d := lin.OutputGrad().RowSlice(r, r+1)
			a := lin.Input().RowSlice(r, r+1)
			w := tr.g.T[2*l].RowSlice(k, k+1).Reshape(lin.Out, lin.In)
			w.MatMulAdd(n, d, true, a, false, 1)
			tr.g.T[2*l+1].RowSlice(k, k+1).Axpy(n, d)
		}
	}
}

// scores returns −(1/N)·∇L(w_T)ᵀ·dᵢ(T) for the objectives, with final
// the model at w_T.
func (tr *tracker) scores(final *train.MLP, obj Objectives,
	tracked []int) (*TrackedScores, error) {
	k, n := len(tracked), float64(tr.data.N())
	out := &TrackedScores{Tracked: tracked}
	ev, err := newEvaluator(final, k)
	if err != nil {
		return nil, err
	}
	defer ev.free()

	scale := func(x []float64) []float64 {
		for i := range x {
			x[i] *= -1 / n
		}
		return x
	}
	if obj.TestLoss {
		dots, err := ev.testLossDots(obj.Test, tr.d)
		if err != nil {
			return nil, err
		}
		out.TestLoss = scale(dots)
	}
	if len(obj.TestPoints) > 0 {
		dots, err := ev.pointDots(obj.Test, obj.TestPoints, tr.d)
		if err != nil {
			return nil, err
		}
		out.Points = scale(transpose(dots, len(obj.TestPoints), k))
	}
	if obj.Self {
		dots, err := ev.pointDots(tr.data, tracked, tr.d)
		if err != nil {
			return nil, err
		}
		out.Self = make([]float64, k)
		for i := range k {
			out.Self[i] = dots[i*k+i]
		}
		scale(out.Self)
	}
	return out, nil
}

// transpose returns the n×m transpose of the m×n row-major matrix x.
func transpose(x []float64, m, n int) []float64 {
	t := make([]float64, len(x))
	for i := range m {
		for j := range n {
			t[j*m+i] = x[i*n+j]
		}
	}
	return t
}

// evaluator takes gradients of objectives at fixed weights, with a model
// of its own.
type evaluator struct {
	probe *train.MLP
	dt    *dotter
	vt    *Vecs
}

// newEvaluator returns an evaluator at m's weights for dot products with
// up to maxK vectors per pass.
func newEvaluator(m *train.MLP, maxK int) (*evaluator, error) {
	probe, err := newProbe(m, probeRows)
	if err != nil {
		return nil, err
	}
	ev := &evaluator{probe: probe}
	if ev.dt, err = newDotter(probe, probe.MaxRows, min(maxK, hvpBatch)); err != nil {
		ev.free()
		return nil, err
	}
	if ev.vt, err = NewVecs(probe, 1); err != nil {
		ev.free()
		return nil, err
	}
	return ev, nil
}

func (ev *evaluator) free() {
	ev.probe.Free()
	if ev.dt != nil {
		ev.dt.free()
	}
	if ev.vt != nil {
		ev.vt.Free()
	}
}

// testLossDots returns ⟨∇L_test, v_k⟩ for every vector of v, with
// L_test the mean loss over the test set.
func (ev *evaluator) testLossDots(test *train.Data, v *Vecs) ([]float64, error) {
	if err := meanGrad(ev.probe, test.X, test.Y, ev.vt); err != nil {
		return nil, err
	}
	return Dots(v, ev.vt)
}

// pointDots returns the J×K matrix of ⟨∇ℓⱼ, v_k⟩ for the points idx of
// set, in chunks of the probe's rows.
func (ev *evaluator) pointDots(set *train.Data, idx []int, v *Vecs) ([]float64, error) {
	out := make([]float64, 0, len(idx)*v.K)
	err := rowChunks(len(idx), ev.probe.MaxRows, func(lo, hi int) error {
		f, err := pointFactors(ev.probe, set.X, set.Y, idx[lo:hi])
		if err != nil {
			return err
		}
		defer f.free()
		dots, err := ev.dt.vecs(f, v)
		out = append(out, dots...)
		return err
	})
	return out, err
}
