package influence

import (
	"context"
	"fmt"
	"math"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// The baselines that HyDRA is compared with. Each scores all N training
// points against the objectives of an Objectives where it can, with the
// package's sign convention: higher means more helpful to the objective
// (upweighting the point, or a step on it, lowers that loss). For
// mislabel detection, which looks for points that help only themselves,
// rank by Self, or by TrainingLoss, in Descending order. The random
// baseline is RandomScores.

// TracInCP returns the TracIn scores of Pruthi et al. (2020) over the
// saved checkpoints c of the run in rec:
//
//	TestLossᵢ = Σ_c η_c·∇L_test(w_c)ᵀ·∇ℓᵢ(w_c)
//	Pointsᵢⱼ  = Σ_c η_c·∇ℓⱼ(w_c)ᵀ·∇ℓᵢ(w_c)
//	Selfᵢ     = Σ_c η_c·‖∇ℓᵢ(w_c)‖²
//
// where η_c is the learning rate of step c (of the last step for the
// final checkpoint). checkpoints nil means every checkpoint of rec.
// Positive TestLoss and Points mark proponents (helpful points), negative
// ones opponents; Self is the self-influence, high for mislabeled and
// atypical points.
func TracInCP(ctx context.Context, dev device.Device, rec *train.Record,
	data *train.Data, obj Objectives, checkpoints []int) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	if checkpoints == nil {
		checkpoints = rec.Checkpoints
	}
	var sum *Scores
	for _, c := range checkpoints {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("influence: TracIn: %w", err)
		}
		run, err := train.Replay(ctx, dev, data, rec, c, c, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("influence: TracIn checkpoint %d: %w", c, err)
		}
		g, err := gradDotsAt(run.Model, data, obj)
		run.Free()
		if err != nil {
			return nil, err
		}
		sum = addScores(sum, g.Scores, rec.LR[min(c, rec.Steps-1)])
	}
	if sum == nil {
		return nil, fmt.Errorf("influence: TracIn over no checkpoints")
	}
	return sum, nil
}

// addScores returns sum + f·s, field by field; sum nil counts as zero.
func addScores(sum, s *Scores, f float64) *Scores {
	if sum == nil {
		sum = &Scores{}
	}
	add := func(dst *[]float64, src []float64) {
		if src == nil {
			return
		}
		if *dst == nil {
			*dst = make([]float64, len(src))
		}
		for i, x := range src {
			(*dst)[i] += f * x
		}
	}
	add(&sum.TestLoss, s.TestLoss)
	add(&sum.Points, s.Points)
	add(&sum.Self, s.Self)
	return sum
}

// GradDot returns the gradient dot products at the final weights of the
// run in rec:
//
//	TestLossᵢ = ∇L_test(w_T)ᵀ·∇ℓᵢ(w_T)
//	Pointsᵢⱼ  = ∇ℓⱼ(w_T)ᵀ·∇ℓᵢ(w_T)
//	Selfᵢ     = ‖∇ℓᵢ(w_T)‖²
//
// A positive dot product means a gradient step on point i lowers the
// objective: higher is more helpful. Self is high for points the model
// has not fit, such as mislabeled ones.
func GradDot(dev device.Device, rec *train.Record, data *train.Data,
	obj Objectives) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	final, err := train.LoadFinal(dev, rec)
	if err != nil {
		return nil, err
	}
	defer final.Free()
	g, err := gradDotsAt(final.Model, data, obj)
	if err != nil {
		return nil, err
	}
	return g.Scores, nil
}

// GradCosine returns GradDot's test-loss and test-point scores divided by
// the norms of both gradients: the cosine similarity, in [−1, 1], higher
// more helpful. A zero gradient gives a score of 0. Self, which would be
// 1, is left nil.
func GradCosine(dev device.Device, rec *train.Record, data *train.Data,
	obj Objectives) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	final, err := train.LoadFinal(dev, rec)
	if err != nil {
		return nil, err
	}
	defer final.Free()
	obj.Self = true // the training gradients' norms
	g, err := gradDotsAt(final.Model, data, obj)
	if err != nil {
		return nil, err
	}
	return g.cosine(), nil
}

// TrainingLoss returns ℓᵢ(w_T), the loss of every training point at the
// final weights of the run in rec. It is a detector, not a relevance:
// rank it in descending order to find mislabeled points.
func TrainingLoss(dev device.Device, rec *train.Record, data *train.Data) ([]float64, error) {
	final, err := train.LoadFinal(dev, rec)
	if err != nil {
		return nil, err
	}
	defer final.Free()
	probe, err := newProbe(final.Model, min(probeRows, data.N()))
	if err != nil {
		return nil, err
	}
	defer probe.Free()
	out := make([]float64, 0, data.N())
	err = rowChunks(data.N(), probe.MaxRows, func(lo, hi int) error {
		loss, _ := probe.Loss(data.X.RowSlice(lo, hi), data.Y[lo:hi], false, 1)
		h, err := loss.Host()
		for _, x := range h {
			out = append(out, float64(x))
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("influence: training loss: %w", err)
	}
	return out, nil
}

// gradDots holds the gradient dot products at some weights and the
// squared norms of the objectives' gradients.
type gradDots struct {
	*Scores
	testSq  float64   // ‖∇L_test‖²
	pointSq []float64 // ‖∇ℓⱼ‖² of the test points
	j       int
}

// gradDotsAt computes the scores of GradDot at m's weights.
func gradDotsAt(m *train.MLP, data *train.Data, obj Objectives) (*gradDots, error) {
	ev, err := newEvaluator(m, max(len(obj.TestPoints), 1))
	if err != nil {
		return nil, err
	}
	defer ev.free()
	g := &gradDots{Scores: &Scores{}, j: len(obj.TestPoints)}
	var pts *factors
	if g.j > 0 {
		if pts, err = pointFactors(ev.probe, obj.Test.X, obj.Test.Y, obj.TestPoints); err != nil {
			return nil, err
		}
		defer pts.free()
		if g.pointSq, err = ev.dt.norms(pts); err != nil {
			return nil, err
		}
	}
	if obj.TestLoss {
		if err := meanGrad(ev.probe, obj.Test.X, obj.Test.Y, ev.vt); err != nil {
			return nil, err
		}
		tt, err := RowDots(ev.vt, ev.vt)
		if err != nil {
			return nil, err
		}
		g.testSq = tt[0]
	}
	return g, g.overTraining(ev, data, obj, pts)
}

// overTraining fills g's scores in chunks of training points.
func (g *gradDots) overTraining(ev *evaluator, data *train.Data, obj Objectives,
	pts *factors) error {
	p := ev.probe
	return rowChunks(data.N(), p.MaxRows, func(lo, hi int) error {
		p.Loss(data.X.RowSlice(lo, hi), data.Y[lo:hi], true, 1)
		p.BackwardOutputs(hi - lo)
		f := batchFactors(p)
		if obj.TestLoss {
			dots, err := ev.dt.vecs(f, ev.vt)
			if err != nil {
				return err
			}
			g.TestLoss = append(g.TestLoss, dots...)
		}
		if pts != nil {
			dots, err := ev.dt.points(f, pts)
			if err != nil {
				return err
			}
			g.Points = append(g.Points, dots...)
		}
		if obj.Self {
			dots, err := ev.dt.norms(f)
			if err != nil {
				return err
			}
			g.Self = append(g.Self, dots...)
		}
		return nil
	})
}

// cosine returns the dot products divided by the gradients' norms.
func (g *gradDots) cosine() *Scores {
	div := func(dot, aa, bb float64) float64 {
		if aa <= 0 || bb <= 0 {
			return 0
		}
		return dot / math.Sqrt(aa*bb)
	}
	out := &Scores{}
	if g.TestLoss != nil {
		out.TestLoss = make([]float64, len(g.TestLoss))
		for i, d := range g.TestLoss {
			out.TestLoss[i] = div(d, g.Self[i], g.testSq)
		}
	}
	if g.Points != nil {
		out.Points = make([]float64, len(g.Points))
		for k, d := range g.Points {
			i, j := k/g.j, k%g.j
			out.Points[k] = div(d, g.Self[i], g.pointSq[j])
		}
	}
	return out
}
