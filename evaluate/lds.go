package evaluate

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/optraj/optraj/train"
)

// ldsStream is the second word of the PCG seeds of the LDS subsets; the
// first is the seed plus the subset's number, so that subset k is the same
// whatever the number of subsets.
const ldsStream = 0x6c6473 // "lds"

// LDSOptions configures the linear datamodeling score.
type LDSOptions struct {
	Subsets  int     // the number of random subsets, each retrained
	Fraction float64 // the share of the training points in a subset
	Seed     uint64  // the subsets' draws

	// TestPoints are the test points whose outputs the subsets predict.
	TestPoints []int

	// Scale weighs the batches that lost points.
	Scale train.BatchScale
}

// Subset returns subset k of n points: round(fraction·n) of them, drawn
// without replacement from (seed + k, ldsStream), in increasing order.
func Subset(n int, fraction float64, seed uint64, k int) []int {
	rng := rand.New(rand.NewPCG(seed+uint64(k), ldsStream))
	perm := rng.Perm(n)
	m := int(math.Round(fraction * float64(n)))
	return slices.Sorted(slices.Values(perm[:m]))
}

// complement returns the points of [0, n) not in the sorted subset s.
func complement(n int, s []int) []int {
	out := make([]int, 0, n-len(s))
	k := 0
	for i := range n {
		if k < len(s) && s[k] == i {
			k++
			continue
		}
		out = append(out, i)
	}
	return out
}

// LDSActual holds what each subset's retraining measured at the test
// points: Loss[k][j] and Margin[k][j] for subset k and test point j.
type LDSActual struct {
	Subsets    [][]int     `json:"-"`
	TestPoints []int       `json:"test_points"`
	Loss       [][]float64 `json:"-"`
	Margin     [][]float64 `json:"-"`
	Retrain    float64     `json:"mean_retrain_seconds"`
}

// RetrainLDS retrains the run of tr on each subset of opt, resuming from
// and appending to the results file at path. observe must begin with
// opt.TestPoints.
func RetrainLDS(ctx context.Context, tr *Trained, observe []int, opt LDSOptions,
	pool Pool, path string, progress func(done, total int)) (*LDSActual, error) {
	if err := checkLDS(opt, observe); err != nil {
		return nil, err
	}
	act := &LDSActual{TestPoints: opt.TestPoints}
	var jobs []retraining
	for k := range opt.Subsets {
		s := Subset(tr.N(), opt.Fraction, opt.Seed, k)
		act.Subsets = append(act.Subsets, s)
		jobs = append(jobs, retraining{key: ldsKey(opt, k),
			exclude: complement(tr.N(), s)})
	}
	spec := retrainSpec{tr: tr, scale: opt.Scale, observe: observe}
	out, err := retrainAll(ctx, spec, jobs, pool, path, progress)
	if err != nil {
		return nil, err
	}
	j := len(opt.TestPoints)
	total := 0.0
	for _, r := range jobs {
		o := out[r.key]
		act.Loss = append(act.Loss, o.Losses[:j])
		act.Margin = append(act.Margin, o.Margins[:j])
		total += o.Seconds
	}
	act.Retrain = total / float64(len(jobs))
	return act, nil
}

// checkLDS reports settings that cannot give a score.
func checkLDS(opt LDSOptions, observe []int) error {
	switch {
	case opt.Subsets < 3:
		return fmt.Errorf("evaluate: LDS over %d subsets, want at least 3", opt.Subsets)
	case !(opt.Fraction > 0 && opt.Fraction < 1):
		return fmt.Errorf("evaluate: LDS subsets of a share %v, want one in (0, 1)",
			opt.Fraction)
	case len(opt.TestPoints) == 0:
		return fmt.Errorf("evaluate: LDS without test points")
	case len(observe) < len(opt.TestPoints) ||
		!slices.Equal(observe[:len(opt.TestPoints)], opt.TestPoints):
		return fmt.Errorf("evaluate: LDS test points %v are not observed first",
			opt.TestPoints)
	}
	return nil
}

// ldsKey names subset k by its draw, so that a results file serves any
// number of subsets of the same seed and share.
func ldsKey(opt LDSOptions, k int) string {
	return "lds/" + strconv.FormatFloat(opt.Fraction, 'g', -1, 64) + "/" +
		strconv.FormatUint(opt.Seed, 10) + "/" + strconv.Itoa(k)
}

// LDSMethod is one method's linear datamodeling score.
type LDSMethod struct {
	Method string `json:"method"`
	Loss   Number `json:"lds_loss"`   // mean Spearman over the test points
	Margin Number `json:"lds_margin"` // the same for the margins

	// PerPoint is the Spearman correlation of each test point's loss.
	PerPoint []float64 `json:"per_test_point"`
	Err      string    `json:"error,omitempty"`
}

// CompareLDS returns each method's LDS: per test point j, the Spearman
// correlation over the subsets S between the prediction −Σ_{i ∈ S} Rᵢⱼ and
// the loss (+Σ for the margin), averaged over the test points.
func CompareLDS(act *LDSActual, methods []*Attribution) []LDSMethod {
	var out []LDSMethod
	for _, a := range methods {
		out = append(out, compareLDS(act, a))
	}
	return out
}

func compareLDS(act *LDSActual, a *Attribution) LDSMethod {
	m := LDSMethod{Method: a.Method}
	switch {
	case a.Err != nil:
		m.Err = a.Err.Error()
		return m
	case a.Tracked != nil:
		m.Err = "scores only the tracked points, not every subset"
		return m
	}
	sums := subsetSums(act, a)
	var loss, margin float64
	for j := range act.TestPoints {
		pred, l, g := column(sums, j), column(act.Loss, j), column(act.Margin, j)
		r := Spearman(pred, l)
		m.PerPoint = append(m.PerPoint, -r) // the prediction is −Σ
		loss -= r
		margin += Spearman(pred, g)
	}
	n := float64(len(act.TestPoints))
	m.Loss, m.Margin = Number(loss/n), Number(margin/n)
	return m
}

// subsetSums returns Σ_{i ∈ S} Rᵢⱼ for each subset S and test point j.
func subsetSums(act *LDSActual, a *Attribution) [][]float64 {
	j := len(a.TestPoints)
	sums := make([][]float64, len(act.Subsets))
	for k, s := range act.Subsets {
		sums[k] = make([]float64, len(act.TestPoints))
		for _, i := range s {
			row := a.Points[i*j : i*j+j]
			for c := range act.TestPoints {
				sums[k][c] += row[c]
			}
		}
	}
	return sums
}

// column returns x[k][j] for every k.
func column(x [][]float64, j int) []float64 {
	out := make([]float64, len(x))
	for k, r := range x {
		out[k] = r[j]
	}
	return out
}
