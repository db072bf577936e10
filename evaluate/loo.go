package evaluate

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/optraj/optraj/train"
)

// looStream is the second word of the PCG seed of the random LOO points.
const looStream = 0x6c6f6f // "loo"

// LOOPoints returns the training points that leave-one-out retrains
// without: the top of them by |scores|, ties to the lower index, then
// random more drawn from seed among the rest, in increasing order. It
// panics if top + random exceeds the number of points.
func LOOPoints(scores []float64, top, random int, seed uint64) []int {
	n := len(scores)
	if top < 0 || random < 0 || top+random > n {
		panic(fmt.Sprintf("evaluate: %d top and %d random points of %d",
			top, random, n))
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(math.Abs(scores[b]), math.Abs(scores[a]))
	})
	rest := slices.Clone(idx[top:])
	slices.Sort(rest)
	rng := rand.New(rand.NewPCG(seed, looStream))
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	chosen := slices.Clone(idx[:top])
	chosen = append(chosen, slices.Sorted(slices.Values(rest[:random]))...)
	return chosen
}

// LOOOptions configures leave-one-out retraining.
type LOOOptions struct {
	Top    int    // points with the largest |score| of first-order HyDRA
	Random int    // points drawn at random from the rest
	Seed   uint64 // the random draw

	// TestPoint is the test point whose loss is the objective; −1 means
	// the mean test loss.
	TestPoint int

	// Scale weighs the batches that lost a point; see the package
	// documentation for why KeepScale is the default.
	Scale train.BatchScale
}

// LOOPoint is one left-out training point and what leaving it out did.
type LOOPoint struct {
	Index  int     `json:"index"`
	Top    bool    `json:"top"`    // chosen by |score|, not at random
	Actual float64 `json:"actual"` // the change of the objective
}

// LOOActual is what leave-one-out retraining measured.
type LOOActual struct {
	Objective string     `json:"objective"`
	Scale     string     `json:"batch_scale"`
	Base      float64    `json:"base"` // the objective with nothing left out
	Points    []LOOPoint `json:"points"`
	Retrain   float64    `json:"mean_retrain_seconds"`
}

// looBase is the key of the retraining with nothing left out.
const looBase = "base"

// RetrainLOO retrains the run of tr once with nothing left out and once
// without each of points, resuming from and appending to the results file
// at path, and returns the change of the objective that each point's
// removal caused. top says which points were chosen by score. observe are
// the test points whose outputs the outcomes keep; it must hold
// opt.TestPoint.
func RetrainLOO(ctx context.Context, tr *Trained, points []int, top int,
	observe []int, opt LOOOptions, pool Pool, path string,
	progress func(done, total int)) (*LOOActual, error) {
	col := slices.Index(observe, opt.TestPoint)
	if opt.TestPoint >= 0 && col < 0 {
		return nil, fmt.Errorf("evaluate: LOO test point %d is not observed", opt.TestPoint)
	}
	jobs := []retraining{{key: looBase}}
	for _, i := range points {
		jobs = append(jobs, retraining{key: looKey(i), exclude: []int{i}})
	}
	spec := retrainSpec{tr: tr, scale: opt.Scale, observe: observe}
	out, err := retrainAll(ctx, spec, jobs, pool, path, progress)
	if err != nil {
		return nil, err
	}
	return looActual(out, points, top, col, opt), nil
}

func looKey(i int) string { return "loo/" + strconv.Itoa(i) }

// looActual turns the outcomes into the changes of the objective.
func looActual(out map[string]Outcome, points []int, top, col int,
	opt LOOOptions) *LOOActual {
	objective := func(o Outcome) float64 {
		if col < 0 {
			return o.TestLoss
		}
		return o.Losses[col]
	}
	a := &LOOActual{Objective: "mean test loss", Scale: opt.Scale.String(),
		Base: objective(out[looBase])}
	if col >= 0 {
		a.Objective = fmt.Sprintf("loss of test point %d", opt.TestPoint)
	}
	total := out[looBase].Seconds
	for k, i := range points {
		o := out[looKey(i)]
		a.Points = append(a.Points, LOOPoint{Index: i, Top: k < top,
			Actual: objective(o) - a.Base})
		total += o.Seconds
	}
	a.Retrain = total / float64(len(points)+1)
	return a
}

// retrainAll opens the results file at path for spec and runs jobs.
func retrainAll(ctx context.Context, spec retrainSpec, jobs []retraining,
	pool Pool, path string, progress func(done, total int)) (map[string]Outcome, error) {
	j, err := openJournal(path, spec.header())
	if err != nil {
		return nil, err
	}
	err = pool.run(ctx, spec, jobs, j, progress)
	if cerr := j.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return j.done, nil
}

// header is what a retraining's outcome depends on, which a results file
// names in its first line.
func (s retrainSpec) header() any {
	return struct {
		Config    train.Config `json:"config"`
		TrainData string       `json:"train_data"`
		TestData  string       `json:"test_data"`
		Scale     string       `json:"batch_scale"`
		Observe   []int        `json:"observed_test_points"`
	}{s.tr.Record.Config, s.tr.TrainData.Fingerprint, s.tr.TestData.Fingerprint,
		s.scale.String(), s.observe}
}

// LOOMethod is how well one method predicted leave-one-out retraining.
type LOOMethod struct {
	Method   string `json:"method"`
	Compared int    `json:"compared"` // points with a score

	Pearson  Number `json:"pearson"`
	Spearman Number `json:"spearman"`

	// On the random points alone, where the scores are not all large.
	PearsonRandom  Number `json:"pearson_random"`
	SpearmanRandom Number `json:"spearman_random"`

	// Predicted is the method's predicted change per point of
	// LOOActual.Points, NaN where it has no score.
	Predicted []float64 `json:"-"`
	Err       string    `json:"error,omitempty"`
}

// CompareLOO correlates each method's predicted change of the objective,
// its relevance score (see the package documentation), with the actual
// change. col is the objective's column in Points, −1 for the mean test
// loss.
func CompareLOO(actual *LOOActual, methods []*Attribution, col int) []LOOMethod {
	var out []LOOMethod
	for _, a := range methods {
		out = append(out, compareLOO(actual, a, col))
	}
	return out
}

func compareLOO(actual *LOOActual, a *Attribution, col int) LOOMethod {
	m := LOOMethod{Method: a.Method}
	if a.Err != nil {
		m.Err = a.Err.Error()
		return m
	}
	var pred, act, predR, actR []float64
	for _, p := range actual.Points {
		v, ok := predicted(a, p.Index, col)
		m.Predicted = append(m.Predicted, v)
		if !ok {
			continue
		}
		pred, act = append(pred, v), append(act, p.Actual)
		if !p.Top {
			predR, actR = append(predR, v), append(actR, p.Actual)
		}
	}
	m.Compared = len(pred)
	if m.Compared < 2 {
		m.Err = "scores for fewer than two of the points"
		return m
	}
	m.Pearson, m.Spearman = Number(Pearson(pred, act)), Number(Spearman(pred, act))
	m.PearsonRandom = Number(Pearson(predR, actR))
	m.SpearmanRandom = Number(Spearman(predR, actR))
	return m
}

// predicted returns a's relevance of training point i to the objective of
// column col (−1 for the mean test loss): its predicted change of the
// objective when i is left out.
func predicted(a *Attribution, i, col int) (float64, bool) {
	r, ok := a.row(i)
	switch {
	case !ok:
		return math.NaN(), false
	case col < 0:
		return a.TestLoss[r], true
	}
	return a.Points[r*len(a.TestPoints)+col], true
}
