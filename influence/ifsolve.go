package influence

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
)

// solveCG runs conjugate gradients on (H + δ·I)·s = v, one independent
// recursion per vector, all sharing each Hessian-vector product:
//
//	α = rᵀr / pᵀAp,  s ← s + α·p,  r ← r − α·Ap,  p ← r + (r'ᵀr'/rᵀr)·p
//
// A vector whose residual falls to opt.Tol·‖v‖ stops moving. Curvature
// pᵀAp ≤ 0 means H + δ·I is not positive definite (ErrIndefinite).
func (c *Curvature) solveCG(ctx context.Context, v *Vecs, damping float64,
	opt CGOptions, progress Progress) (*Vecs, error) {
	tol, maxIter := opt.Tol, opt.MaxIter
	if tol == 0 {
		tol = 1e-5
	}
	if maxIter == 0 {
		maxIter = 1000
	}
	w, err := newCGState(c, v)
	if err != nil {
		return nil, err
	}
	defer w.free()
	bb, err := RowDots(v, v)
	if err != nil {
		return nil, err
	}
	for it := 0; ; it++ {
		worst, done := w.residual(bb, tol)
		if done {
			s := w.x
			w.x = nil
			return s, nil
		}
		if it == maxIter {
			return nil, fmt.Errorf("%w: CG after %d iterations, relative residual "+
				"%.3g > %g", ErrNotConverged, it, worst, tol)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("influence: CG: %w", err)
		}
		if err := w.iterate(c, damping, it, bb, tol); err != nil {
			return nil, err
		}
		if progress != nil {
			progress(it+1, maxIter)
		}
	}
}

// cgState holds the CG vectors and rᵀr per vector.
type cgState struct {
	x, r, p, ap *Vecs
	rr          []float64
}

func newCGState(c *Curvature, v *Vecs) (*cgState, error) {
	w := &cgState{}
	for _, dst := range []**Vecs{&w.x, &w.r, &w.p, &w.ap} {
		var err error
		if *dst, err = NewVecs(c.model, v.K); err != nil {
			w.free()
			return nil, err
		}
	}
	w.r.Copy(v)
	w.p.Copy(v)
	var err error
	w.rr, err = RowDots(v, v)
	return w, err
}

func (w *cgState) free() {
	for _, v := range []*Vecs{w.x, w.r, w.p, w.ap} {
		if v != nil {
			v.Free()
		}
	}
}

// residual returns the worst relative residual and whether every vector
// is within tol.
func (w *cgState) residual(bb []float64, tol float64) (float64, bool) {
	worst := 0.0
	for k, rr := range w.rr {
		if bb[k] > 0 {
			worst = math.Max(worst, math.Sqrt(rr/bb[k]))
		}
	}
	return worst, worst <= tol
}

// iterate makes one CG step for the vectors not yet converged.
func (w *cgState) iterate(c *Curvature, damping float64, it int,
	bb []float64, tol float64) error {
	if err := c.Apply(w.ap, w.p, damping); err != nil {
		return err
	}
	pap, err := RowDots(w.p, w.ap)
	if err != nil {
		return err
	}
	alpha := make([]float64, len(pap))
	for k := range pap {
		if w.rr[k] <= tol*tol*bb[k] {
			continue // converged: leave it
		}
		if !(pap[k] > 0) {
			return fmt.Errorf("%w: CG iteration %d, vector %d: pᵀ(H + %g·I)p = %g; "+
				"raise the damping", ErrIndefinite, it, k, damping, pap[k])
		}
		alpha[k] = w.rr[k] / pap[k]
	}
	w.x.AxpyRows(alpha, w.p)
	for k := range alpha {
		alpha[k] = -alpha[k]
	}
	w.r.AxpyRows(alpha, w.ap)
	rr, err := RowDots(w.r, w.r)
	if err != nil {
		return err
	}
	beta, ones := make([]float64, len(rr)), make([]float64, len(rr))
	for k := range rr {
		beta[k], ones[k] = rr[k]/w.rr[k], 1
		if w.rr[k] == 0 || !finite(rr[k]) {
			beta[k] = 0
		}
	}
	w.p.ScaleRows(beta)
	w.p.AxpyRows(ones, w.r)
	w.rr = rr
	return nil
}

// solveLiSSA runs the LiSSA recursion of LiSSAOptions for every vector of
// v at once, sharing each minibatch's Hessian-vector product.
func (c *Curvature) solveLiSSA(ctx context.Context, v *Vecs, damping float64,
	opt LiSSAOptions, progress Progress) (*Vecs, error) {
	n := c.data.N()
	if opt.BatchSize == 0 {
		opt.BatchSize = min(n, probeRows)
	}
	if opt.Repeats == 0 {
		opt.Repeats = 1
	}
	switch {
	case !(opt.Scale > 0) || math.IsInf(opt.Scale, 0):
		return nil, fmt.Errorf("influence: LiSSA scale %g, want > 0", opt.Scale)
	case opt.Depth < 1 || opt.Repeats < 1:
		return nil, fmt.Errorf("influence: LiSSA depth %d, repeats %d, want ≥ 1",
			opt.Depth, opt.Repeats)
	case opt.BatchSize < 1 || opt.BatchSize > min(n, c.model.MaxRows):
		return nil, fmt.Errorf("influence: LiSSA batch of %d rows, want 1 to %d",
			opt.BatchSize, min(n, c.model.MaxRows))
	}
	ls, err := newLiSSA(c, v, opt)
	if err != nil {
		return nil, err
	}
	defer ls.free()
	for rep := range opt.Repeats {
		if err := ls.run(ctx, c, damping, rep, progress); err != nil {
			return nil, err
		}
	}
	est := ls.est
	ls.est = nil
	est.Scale(float32(1 / (opt.Scale * float64(opt.Repeats))))
	return est, nil
}

// lissa holds the LiSSA state.
type lissa struct {
	opt       LiSSAOptions
	v, h, hv  *Vecs
	est       *Vecs // Σ over runs of h_Depth
	vnorm     []float64
	rng       *rand.Rand
	perm, idx []int32
}

func newLiSSA(c *Curvature, v *Vecs, opt LiSSAOptions) (*lissa, error) {
	ls := &lissa{opt: opt, v: v,
		rng:  rand.New(rand.NewPCG(opt.Seed, lissaStream)),
		perm: make([]int32, c.data.N()), idx: make([]int32, opt.BatchSize)}
	for i := range ls.perm {
		ls.perm[i] = int32(i)
	}
	for _, dst := range []**Vecs{&ls.h, &ls.hv, &ls.est} {
		var err error
		if *dst, err = NewVecs(c.model, v.K); err != nil {
			ls.free()
			return nil, err
		}
	}
	vv, err := RowDots(v, v)
	for _, x := range vv {
		ls.vnorm = append(ls.vnorm, math.Sqrt(x))
	}
	return ls, err
}

func (ls *lissa) free() {
	for _, v := range []*Vecs{ls.h, ls.hv, ls.est} {
		if v != nil {
			v.Free()
		}
	}
}

// batch draws the next minibatch, without replacement, by a partial
// Fisher–Yates shuffle of the running permutation.
func (ls *lissa) batch() []int32 {
	n := len(ls.perm)
	for i := range ls.idx {
		j := i + ls.rng.IntN(n-i)
		ls.perm[i], ls.perm[j] = ls.perm[j], ls.perm[i]
		ls.idx[i] = ls.perm[i]
	}
	return ls.idx
}

// run makes run rep of Depth iterations from h = v and adds h to est,
// telling progress, when not nil, the iterations done over all runs.
func (ls *lissa) run(ctx context.Context, c *Curvature, damping float64, rep int,
	progress Progress) error {
	depth := ls.opt.Depth
	ls.h.Copy(ls.v)
	for j := 1; j <= depth; j++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("influence: LiSSA: %w", err)
		}
		if err := c.applyBatch(ls.hv, ls.h, ls.batch(), damping); err != nil {
			return err
		}
		ls.h.Axpy(float32(-1/ls.opt.Scale), ls.hv)
		ls.h.Axpy(1, ls.v)
		if err := ls.check(j, rep); err != nil {
			return err
		}
		if progress != nil {
			progress(rep*depth+j, ls.opt.Repeats*depth)
		}
	}
	ls.est.Axpy(1, ls.h)
	return nil
}

// check returns an error wrapping ErrDiverged when an iterate is not
// finite or exceeds lissaBlowup·(j+1)·‖v‖.
func (ls *lissa) check(j, rep int) error {
	hh, err := RowDots(ls.h, ls.h)
	if err != nil {
		return err
	}
	for k, x := range hh {
		norm, bound := math.Sqrt(x), lissaBlowup*float64(j+1)*ls.vnorm[k]
		if finite(norm) && norm <= bound {
			continue
		}
		return fmt.Errorf("%w at iteration %d of run %d: ‖h‖ = %.3g for vector "+
			"%d, bound %.3g; raise the scale (now %g) or the damping",
			ErrDiverged, j, rep, norm, k, bound, ls.opt.Scale)
	}
	return nil
}
