package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/optraj/optraj/influence"
	"github.com/optraj/optraj/train"
)

// LiSSA needs a scale above half the largest eigenvalue of H + δ·I. When
// the options leave it at zero, the evaluation estimates the top of the
// spectrum by power iteration on the full-data Hessian.
const (
	// powerIters is the number of power iterations. The estimate rises
	// towards |λ|max from below; on the digits and MNIST runs it settles
	// to three digits within 20 iterations.
	powerIters = 30

	// lissaScaleFactor multiplies the estimate of |λ|max to give the
	// scale: minibatch Hessians stray above the full one, and a scale of
	// |λ|max keeps them in LiSSA's (0, 2) window unless one more than
	// doubles it.
	lissaScaleFactor = 1.0

	// powerStream is the second word of the PCG seed of the start vector.
	powerStream = 0x706f776572 // "power"

	// powerRows is the batch size of the Hessian-vector products over the
	// training set.
	powerRows = 1024
)

// scoreIF returns the scorer of the influence functions with solver.
func scoreIF(solver influence.Solver) scorer {
	return func(ctx context.Context, tr *Trained, opt ScoreOptions,
		progress influence.Progress, a *Attribution) error {
		o := opt.IF
		o.Solver, o.Progress = solver, progress
		if solver == influence.LiSSA && o.LiSSA.Scale == 0 {
			top, err := TopEigenvalue(ctx, tr, opt.Seed)
			if err != nil {
				return err
			}
			o.LiSSA.Scale = lissaScaleFactor * (top + o.Damping)
		}
		sc, err := influence.InfluenceFunctions(ctx, tr.Dev, tr.Record, tr.TrainData,
			objectives(tr, opt, false), o)
		if err != nil {
			return err
		}
		a.fill(sc)
		a.Detectors = []Detector{a.harm()}
		return nil
	}
}

// TopEigenvalue estimates the largest magnitude of an eigenvalue of the
// Hessian of the training objective at the final weights of tr, weight
// decay included, by powerIters power iterations from a random start drawn
// from seed.
func TopEigenvalue(ctx context.Context, tr *Trained, seed uint64) (float64, error) {
	model, err := train.LoadFinalModel(tr.Dev, tr.Record, min(powerRows, tr.N()))
	if err != nil {
		return 0, err
	}
	defer model.Free()
	c, err := influence.NewCurvature(model, tr.TrainData,
		tr.Record.Config.WeightDecay, 1)
	if err != nil {
		return 0, err
	}
	defer c.Free()
	v, hv, err := powerVecs(model, seed)
	if err != nil {
		return 0, err
	}
	defer v.Free()
	defer hv.Free()
	return powerIterate(ctx, c, v, hv)
}

// powerVecs returns a random unit vector and a workspace in the parameter
// space of model.
func powerVecs(model *train.MLP, seed uint64) (v, hv *influence.Vecs, err error) {
	if v, err = influence.NewVecs(model, 1); err != nil {
		return nil, nil, err
	}
	if hv, err = influence.NewVecs(model, 1); err != nil {
		v.Free()
		return nil, nil, err
	}
	rng := rand.New(rand.NewPCG(seed, powerStream))
	x := make([]float64, v.Dim())
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	if err := v.SetHost(unit(x)); err != nil {
		v.Free()
		hv.Free()
		return nil, nil, err
	}
	return v, hv, nil
}

// powerIterate runs v ← H·v/‖H·v‖ and returns the last ‖H·v‖.
func powerIterate(ctx context.Context, c *influence.Curvature,
	v, hv *influence.Vecs) (float64, error) {
	var norm float64
	for it := range powerIters {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("evaluate: power iteration: %w", err)
		}
		if err := c.Apply(hv, v, 0); err != nil {
			return 0, fmt.Errorf("evaluate: power iteration %d: %w", it, err)
		}
		x, err := hv.Host()
		if err != nil {
			return 0, err
		}
		norm = math.Sqrt(dot(x, x))
		if !(norm > 0) || math.IsInf(norm, 0) {
			return 0, fmt.Errorf("evaluate: power iteration %d: ‖H·v‖ = %g", it, norm)
		}
		if err := v.SetHost(unit(x)); err != nil {
			return 0, err
		}
	}
	return norm, nil
}

func dot(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// unit scales x to unit length in place and returns it.
func unit(x []float64) []float64 {
	n := math.Sqrt(dot(x, x))
	for i := range x {
		x[i] /= n
	}
	return x
}
