package influence

import (
	"context"
	"errors"
	"fmt"

	"gonum.org/v1/gonum/mat"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
	"github.com/optraj/optraj/train"
)

// Influence functions (Koh & Liang 2017) score training point i at the
// final weights alone:
//
//	Rᵢ = (1/N)·∇L_testᵀ·(H + δ·I)⁻¹·∇ℓᵢ
//	H  = (1/N)·Σⱼ ∇²ℓⱼ(w_T) + λ·I
//
// with H the Hessian of the training objective (mean loss plus the weight
// decay's (λ/2)·‖w‖²) and δ a damping. Rᵢ is −1/N times Koh and Liang's
// I_up,loss, the same sign and scale as HyDRA's relevance, to which it is
// equal when training has converged to a minimum: higher means more
// helpful. The code solves (H + δ·I)·s = ∇L_test once per objective, then
// scores every point with ⟨∇ℓᵢ, s⟩ by the rank-one form, never forming
// per-sample gradients.

// Solver says how the influence functions solve (H + δ·I)·s = v.
type Solver int

// The solvers.
const (
	// Explicit forms H, P×P, by P Hessian-vector products and solves by
	// Cholesky factorisation, or by LU when H + δ·I is not positive
	// definite. For models of up to ExplicitMaxParams parameters.
	Explicit Solver = iota

	// CG runs conjugate gradients on Hessian-vector products over the
	// whole training set. It needs H + δ·I positive definite.
	CG

	// LiSSA runs the stochastic Neumann-series recursion of Agarwal,
	// Bullins and Hazan (2017) on minibatch Hessian-vector products.
	LiSSA
)

func (s Solver) String() string {
	switch s {
	case Explicit:
		return "explicit"
	case CG:
		return "cg"
	case LiSSA:
		return "lissa"
	}
	return fmt.Sprintf("Solver(%d)", int(s))
}

// ExplicitMaxParams is the largest model that the Explicit solver takes: a
// dense Hessian of 4096² float64 values is 128 MiB, and its factor as
// much again.
const ExplicitMaxParams = 4096

// Errors that the solvers return wrapped, for errors.Is.
var (
	// ErrDiverged marks a LiSSA recursion whose iterate stopped being
	// finite or grew past what a convergent recursion allows.
	ErrDiverged = errors.New("influence: LiSSA diverged")

	// ErrIndefinite marks a Hessian that is not positive definite where
	// the solver needs it to be.
	ErrIndefinite = errors.New("influence: Hessian is not positive definite")

	// ErrNotConverged marks an iterative solve that ran out of
	// iterations.
	ErrNotConverged = errors.New("influence: solver did not converge")
)

// IFOptions configures InfluenceFunctions.
type IFOptions struct {
	Solver  Solver
	Damping float64 // δ ≥ 0, added to the Hessian's diagonal

	CG    CGOptions
	LiSSA LiSSAOptions

	// Progress, when not nil, is told how far the solver has come: CG
	// iterations out of MaxIter (it stops early on converging), LiSSA
	// iterations out of Depth·Repeats, explicit Hessian columns out of P.
	Progress Progress `json:"-"`
}

// CGOptions configures the conjugate-gradient solver.
type CGOptions struct {
	// Tol is the relative residual ‖r‖/‖v‖ to stop at; zero means 1e-5,
	// near what float32 Hessian-vector products can reach.
	Tol float64

	// MaxIter bounds the iterations; zero means 1000.
	MaxIter int
}

// LiSSAOptions configures the LiSSA solver, which iterates
//
//	h₀ = v
//	hⱼ = v + hⱼ₋₁ − (H_Bⱼ + δ·I)·hⱼ₋₁/Scale
//
// with H_Bⱼ the Hessian of the training objective over minibatch Bⱼ, and
// returns h_Depth/Scale averaged over Repeats runs. Its fixed point is
// (H + δ·I)⁻¹·v, which it reaches when the spectrum of (H + δ·I)/Scale
// lies in (0, 2). Koh and Liang's code writes the same recursion with a
// damping that is δ/Scale here.
type LiSSAOptions struct {
	Scale     float64 // above half the largest eigenvalue of H + δ·I
	Depth     int     // iterations per run, ≥ 1
	Repeats   int     // runs averaged; zero means 1
	BatchSize int     // minibatch rows; zero means min(N, 256)
	Seed      uint64  // minibatch draws
}

// lissaStream is the second word of the PCG seed of LiSSA's minibatches.
const lissaStream = 0x6c69737361 // "lissa"

// lissaBlowup bounds the LiSSA iterate: when ‖I − (H + δ·I)/Scale‖ ≤ 1,
// hⱼ is a sum of j + 1 terms no longer than v, so ‖hⱼ‖ ≤ (j+1)·‖v‖. The
// factor leaves room for minibatch Hessians that stray past the full one;
// a recursion that exceeds it is growing geometrically.
const lissaBlowup = 100

// InfluenceFunctions scores every training point with influence functions
// at the final weights of the run in rec, for the objectives of obj (the
// mean test loss and listed test points; Self is not supported, as it
// needs a solve per training point). H includes the run's weight decay.
// Scores.TracIn and FinalLoss are left nil.
func InfluenceFunctions(ctx context.Context, dev device.Device, rec *train.Record,
	data *train.Data, obj Objectives, opt IFOptions) (*Scores, error) {
	final, err := train.LoadFinal(dev, rec)
	if err != nil {
		return nil, err
	}
	defer final.Free()
	return InfluenceAt(ctx, final.Model, data, obj, rec.Config.WeightDecay, opt)
}

// InfluenceAt is InfluenceFunctions at the current weights of model, with
// weight decay lambda in H.
func InfluenceAt(ctx context.Context, model *train.MLP, data *train.Data,
	obj Objectives, lambda float64, opt IFOptions) (*Scores, error) {
	if err := checkObjectives(obj); err != nil {
		return nil, err
	}
	if obj.Self {
		return nil, fmt.Errorf("influence: influence functions do not score self-influence")
	}
	k := len(obj.TestPoints)
	if obj.TestLoss {
		k++
	}
	if k == 0 {
		return &Scores{}, nil
	}
	rows := min(probeRows, data.N())
	if opt.Solver == LiSSA {
		rows = max(rows, opt.LiSSA.BatchSize)
	}
	probe, err := newProbe(model, rows)
	if err != nil {
		return nil, err
	}
	defer probe.Free()
	return influence(ctx, probe, data, obj, lambda, opt, k)
}

// influence solves for the k right-hand sides of obj and scores the
// training points, with probe at the weights.
func influence(ctx context.Context, probe *train.MLP, data *train.Data,
	obj Objectives, lambda float64, opt IFOptions, k int) (*Scores, error) {
	rhs, err := objectiveGrads(probe, obj, k)
	if err != nil {
		return nil, err
	}
	defer rhs.Free()
	c, err := NewCurvature(probe, data, lambda, min(k, hvpBatch))
	if err != nil {
		return nil, err
	}
	defer c.Free()
	s, err := c.Solve(ctx, rhs, opt)
	if err != nil {
		return nil, err
	}
	defer s.Free()
	dots, err := trainingDots(probe, data, s)
	if err != nil {
		return nil, err
	}
	return splitScores(dots, data.N(), obj, 1/float64(data.N())), nil
}

// objectiveGrads returns the gradients of the objectives at probe's
// weights: the mean test loss first, when asked for, then each test point.
func objectiveGrads(probe *train.MLP, obj Objectives, k int) (*Vecs, error) {
	v, err := NewVecs(probe, k)
	if err != nil {
		return nil, err
	}
	off := 0
	if obj.TestLoss {
		if err := meanGrad(probe, obj.Test.X, obj.Test.Y, v.Rows(0, 1)); err != nil {
			v.Free()
			return nil, err
		}
		off = 1
	}
	if len(obj.TestPoints) == 0 {
		return v, nil
	}
	f, err := pointFactors(probe, obj.Test.X, obj.Test.Y, obj.TestPoints)
	if err != nil {
		v.Free()
		return nil, err
	}
	defer f.free()
	f.setVecs(v.Rows(off, k))
	return v, nil
}

// trainingDots returns the N×K matrix of ⟨∇ℓᵢ, s_k⟩ at probe's weights.
func trainingDots(probe *train.MLP, data *train.Data, s *Vecs) ([]float64, error) {
	dt, err := newDotter(probe, probe.MaxRows, min(s.K, hvpBatch))
	if err != nil {
		return nil, err
	}
	defer dt.free()
	out := make([]float64, 0, data.N()*s.K)
	err = rowChunks(data.N(), probe.MaxRows, func(lo, hi int) error {
		probe.Loss(data.X.RowSlice(lo, hi), data.Y[lo:hi], true, 1)
		probe.BackwardOutputs(hi - lo)
		dots, err := dt.vecs(batchFactors(probe), s)
		out = append(out, dots...)
		return err
	})
	return out, err
}

// splitScores scales the N×K dot products by f and splits their columns
// into the test-loss and test-point scores of obj.
func splitScores(dots []float64, n int, obj Objectives, f float64) *Scores {
	j := len(obj.TestPoints)
	k := len(dots) / n
	sc := &Scores{}
	off := 0
	if obj.TestLoss {
		sc.TestLoss = make([]float64, n)
		for i := range n {
			sc.TestLoss[i] = f * dots[i*k]
		}
		off = 1
	}
	if j > 0 {
		sc.Points = make([]float64, n*j)
		for i := range n {
			for c := range j {
				sc.Points[i*j+c] = f * dots[i*k+off+c]
			}
		}
	}
	return sc
}

// Curvature is the Hessian of the training objective at a model's
// current weights,
//
//	H = (1/N)·Σᵢ ∇²ℓᵢ(w) + λ·I,
//
// applied by exact Hessian-vector products (HVP) over the training set in
// batches of the model's MaxRows. It runs the model, so the model's
// layers and gradients change under it.
type Curvature struct {
	model  *train.MLP
	data   *train.Data
	lambda float64
	hvp    *HVP
	xb     *tensor.Tensor // minibatch rows, MaxRows×D
	yb     []int32
}

// NewCurvature returns the curvature of model's training objective over
// data with weight decay lambda, applying up to maxK vectors per pass.
func NewCurvature(model *train.MLP, data *train.Data, lambda float64,
	maxK int) (*Curvature, error) {
	h, err := NewHVP(model, maxK)
	if err != nil {
		return nil, err
	}
	xb, err := tensor.New(model.Device(), model.MaxRows, data.X.Cols())
	if err != nil {
		h.Free()
		return nil, fmt.Errorf("influence: curvature workspace: %w", err)
	}
	return &Curvature{model: model, data: data, lambda: lambda, hvp: h,
		xb: xb, yb: make([]int32, model.MaxRows)}, nil
}

// Free releases the workspaces.
func (c *Curvature) Free() {
	c.hvp.Free()
	c.xb.Free()
}

// Apply sets dst = (H + shift·I)·v. dst must not share memory with v.
func (c *Curvature) Apply(dst, v *Vecs, shift float64) error {
	n := c.data.N()
	var beta float32
	err := rowChunks(n, c.model.MaxRows, func(lo, hi int) error {
		x, y := c.data.X.RowSlice(lo, hi), c.data.Y[lo:hi]
		if err := c.hvp.Prepare(x, y); err != nil {
			return err
		}
		c.hvp.Apply(dst, v, float32(hi-lo)/float32(n), beta)
		beta = 1
		return nil
	})
	if err != nil {
		return err
	}
	dst.Axpy(float32(c.lambda+shift), v)
	return c.model.Device().Sync()
}

// applyBatch sets dst = (H_B + shift·I)·v for the minibatch of rows idx.
func (c *Curvature) applyBatch(dst, v *Vecs, idx []int32, shift float64) error {
	x, y := c.xb.RowSlice(0, len(idx)), c.yb[:len(idx)]
	x.GatherRows(c.data.X, idx)
	for r, i := range idx {
		y[r] = c.data.Y[i]
	}
	if err := c.hvp.Prepare(x, y); err != nil {
		return err
	}
	c.hvp.Apply(dst, v, 1, 0)
	dst.Axpy(float32(c.lambda+shift), v)
	return c.model.Device().Sync()
}

// Solve returns s = (H + δ·I)⁻¹·v for every vector of v, by the solver
// that opt names, with δ = opt.Damping.
func (c *Curvature) Solve(ctx context.Context, v *Vecs, opt IFOptions) (*Vecs, error) {
	if !(opt.Damping >= 0) {
		return nil, fmt.Errorf("influence: damping %g, want ≥ 0", opt.Damping)
	}
	switch opt.Solver {
	case Explicit:
		return c.solveExplicit(ctx, v, opt.Damping, opt.Progress)
	case CG:
		return c.solveCG(ctx, v, opt.Damping, opt.CG, opt.Progress)
	case LiSSA:
		return c.solveLiSSA(ctx, v, opt.Damping, opt.LiSSA, opt.Progress)
	}
	return nil, fmt.Errorf("influence: unknown solver %v", opt.Solver)
}

// Dense returns H + shift·I as a P×P matrix, symmetrised, by Hessian-
// vector products with the unit vectors. It returns an error for models
// of more than ExplicitMaxParams parameters.
func (c *Curvature) Dense(ctx context.Context, shift float64) (*mat.SymDense, error) {
	return c.dense(ctx, shift, nil)
}

// dense is Dense, telling progress, when not nil, how many columns are
// done.
func (c *Curvature) dense(ctx context.Context, shift float64,
	progress Progress) (*mat.SymDense, error) {
	e, err := NewVecs(c.model, min(c.model.NumParams(), hvpBatch))
	if err != nil {
		return nil, err
	}
	defer e.Free()
	p := e.Dim()
	if p > ExplicitMaxParams {
		return nil, fmt.Errorf("influence: explicit Hessian of %d parameters, "+
			"over %d; use CG or LiSSA", p, ExplicitMaxParams)
	}
	he, err := NewVecs(c.model, e.K)
	if err != nil {
		return nil, err
	}
	defer he.Free()
	h := mat.NewDense(p, p, nil)
	for j0 := 0; j0 < p; j0 += e.K {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("influence: explicit Hessian: %w", err)
		}
		j1 := min(j0+e.K, p)
		if err := c.columns(h, e.Rows(0, j1-j0), he.Rows(0, j1-j0), j0, shift); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(j1, p)
		}
	}
	sym := mat.NewSymDense(p, nil)
	for i := range p {
		for j := i; j < p; j++ {
			sym.SetSym(i, j, (h.At(i, j)+h.At(j, i))/2)
		}
	}
	return sym, nil
}

// columns sets columns j0, … of h to (H + shift·I)·e_j, with e and he
// workspaces of as many vectors.
func (c *Curvature) columns(h *mat.Dense, e, he *Vecs, j0 int, shift float64) error {
	p := e.Dim()
	unit := make([]float64, e.K*p)
	for k := range e.K {
		unit[k*p+j0+k] = 1
	}
	if err := e.SetHost(unit); err != nil {
		return err
	}
	if err := c.Apply(he, e, shift); err != nil {
		return err
	}
	cols, err := he.Host()
	if err != nil {
		return err
	}
	for k := range e.K {
		for i, x := range cols[k*p : (k+1)*p] {
			h.Set(i, j0+k, x)
		}
	}
	return nil
}

// solveExplicit forms H + δ·I and solves by Cholesky, or by LU when the
// matrix is not positive definite.
func (c *Curvature) solveExplicit(ctx context.Context, v *Vecs,
	damping float64, progress Progress) (*Vecs, error) {
	h, err := c.dense(ctx, damping, progress)
	if err != nil {
		return nil, err
	}
	hv, err := v.Host()
	if err != nil {
		return nil, err
	}
	p := v.Dim()
	b := mat.NewDense(v.K, p, hv)
	var x mat.Dense
	var chol mat.Cholesky
	if chol.Factorize(h) {
		err = chol.SolveTo(&x, b.T())
	} else {
		var lu mat.LU
		lu.Factorize(h)
		err = lu.SolveTo(&x, false, b.T())
	}
	if err != nil {
		return nil, fmt.Errorf("influence: explicit solve of a %d×%d Hessian "+
			"with damping %g: %w; raise the damping", p, p, damping, err)
	}
	return c.fromHost(mat.DenseCopyOf(x.T()).RawMatrix().Data, v.K)
}

// fromHost returns k new vectors holding the host values x (k×P).
func (c *Curvature) fromHost(x []float64, k int) (*Vecs, error) {
	s, err := NewVecs(c.model, k)
	if err != nil {
		return nil, err
	}
	if err := s.SetHost(x); err != nil {
		s.Free()
		return nil, err
	}
	return s, nil
}
