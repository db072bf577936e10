package evaluate

import (
	"context"
	"fmt"
	"slices"

	"github.com/optraj/optraj/influence"
)

// The attribution methods, by the names that Score takes.
const (
	HyDRA        = "hydra"         // first-order HyDRA, influence.FirstOrder
	HyDRAHessian = "hydra-hessian" // influence.HessianAware on tracked points
	HyDRAPerStep = "hydra-perstep" // influence.FirstOrderPerStep
	IFExplicit   = "if-explicit"   // influence functions, explicit Hessian
	IFCG         = "if-cg"         // influence functions, conjugate gradients
	IFLiSSA      = "if-lissa"      // influence functions, LiSSA
	TracIn       = "tracin"        // influence.TracInCP over the checkpoints
	GradDot      = "grad-dot"      // influence.GradDot at the final weights
	GradCos      = "grad-cos"      // influence.GradCosine at the final weights
	Loss         = "loss"          // the final training loss
	Random       = "random"        // influence.RandomScores
)

// Methods lists every method, in the order the tables show them.
var Methods = []string{HyDRA, HyDRAHessian, HyDRAPerStep, IFExplicit, IFCG,
	IFLiSSA, TracIn, GradDot, GradCos, Loss, Random}

// Detector is a score for mislabel detection: higher is more suspect.
type Detector struct {
	Name   string
	Scores []float64 // one per training point
}

// Attribution is one method's scores of the training points, with the
// sign of package influence: higher means more helpful to the objective.
type Attribution struct {
	Method string

	// Tracked lists the training points scored when the method scores
	// only some (HyDRAHessian); nil means every point, in order.
	Tracked []int

	TestLoss   []float64 // against the mean test loss, one per point
	TestPoints []int     // the J test points of Points
	Points     []float64 // against each test point's loss, rows of J

	// Detectors are the method's mislabel detectors, the first the one
	// that the tables show.
	Detectors []Detector

	Cost Cost
	Err  error // why the method failed; its scores are then nil
}

// row returns the row of training point i in the scores, or false if the
// method did not score it.
func (a *Attribution) row(i int) (int, bool) {
	if a.Err != nil {
		return 0, false
	}
	if a.Tracked == nil {
		return i, true
	}
	k := slices.Index(a.Tracked, i)
	return k, k >= 0
}

// ScoreOptions configures Score.
type ScoreOptions struct {
	// TestPoints are the test points to score against, besides the mean
	// test loss.
	TestPoints []int

	// Tracked are the training points that HyDRAHessian follows.
	Tracked []int

	// IF configures the influence functions; the method names the
	// solver. A LiSSA scale of zero is found by power iteration.
	IF influence.IFOptions

	// Seed seeds the random method.
	Seed uint64
}

// Score scores the training points of tr with method, measuring the cost.
// An error of the method itself is returned in Attribution.Err, so that an
// evaluation can go on without it; Score returns an error only for an
// unknown method or a cancelled ctx.
func Score(ctx context.Context, tr *Trained, method string, opt ScoreOptions,
	progress influence.Progress) (*Attribution, error) {
	scorer, ok := scorers[method]
	if !ok {
		return nil, fmt.Errorf("evaluate: unknown method %q (want one of %v)",
			method, Methods)
	}
	a := &Attribution{Method: method, TestPoints: opt.TestPoints}
	cost, err := Measure(func() error {
		return scorer(ctx, tr, opt, progress, a)
	})
	a.Cost = cost
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("evaluate: %s: %w", method, ctx.Err())
		}
		*a = Attribution{Method: method, Cost: cost,
			Err: fmt.Errorf("evaluate: %s: %w", method, err)}
	}
	return a, nil
}

// A scorer fills in the scores of an Attribution.
type scorer func(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error

var scorers = map[string]scorer{
	HyDRA:        scoreHyDRA,
	HyDRAHessian: scoreHessian,
	HyDRAPerStep: scorePerStep,
	IFExplicit:   scoreIF(influence.Explicit),
	IFCG:         scoreIF(influence.CG),
	IFLiSSA:      scoreIF(influence.LiSSA),
	TracIn:       scoreTracIn,
	GradDot:      scoreGradDot,
	GradCos:      scoreGradCos,
	Loss:         scoreLoss,
	Random:       scoreRandom,
}

// objectives returns the mean test loss, the test points and, with self,
// each point's own loss as the objectives.
func objectives(tr *Trained, opt ScoreOptions, self bool) influence.Objectives {
	return influence.Objectives{Test: tr.TestData, TestLoss: true,
		TestPoints: opt.TestPoints, Self: self}
}

// fill copies the test-loss and test-point scores of sc into a.
func (a *Attribution) fill(sc *influence.Scores) {
	a.TestLoss, a.Points = sc.TestLoss, sc.Points
}

// negated returns −x.
func negated(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = -v
	}
	return out
}

// harm is the detector of methods without a self score: the harm to the
// mean test loss, −Rᵢ.
func (a *Attribution) harm() Detector {
	return Detector{Name: "harm to the test loss", Scores: negated(a.TestLoss)}
}

func scoreHyDRA(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	sc, err := influence.FirstOrder(ctx, tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, true), progress)
	if err != nil {
		return err
	}
	a.fill(sc)
	a.Detectors = []Detector{{Name: "self-relevance", Scores: sc.Self}, a.harm()}
	return nil
}

func scoreHessian(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	ts, err := influence.HessianAware(ctx, tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, false), opt.Tracked, progress)
	if err != nil {
		return err
	}
	a.Tracked, a.TestLoss, a.Points = ts.Tracked, ts.TestLoss, ts.Points
	return nil
}

func scorePerStep(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	sc, err := influence.FirstOrderPerStep(ctx, tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, true), progress)
	if err != nil {
		return err
	}
	a.fill(sc)
	a.Detectors = []Detector{{Name: "self-relevance", Scores: sc.Self}, a.harm()}
	return nil
}

func scoreTracIn(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	sc, err := influence.TracInCP(ctx, tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, true), nil)
	if err != nil {
		return err
	}
	a.fill(sc)
	a.Detectors = []Detector{{Name: "self-influence", Scores: sc.Self}}
	return nil
}

func scoreGradDot(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	sc, err := influence.GradDot(tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, true))
	if err != nil {
		return err
	}
	a.fill(sc)
	a.Detectors = []Detector{{Name: "gradient norm²", Scores: sc.Self}}
	return nil
}

func scoreGradCos(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	sc, err := influence.GradCosine(tr.Dev, tr.Record, tr.TrainData,
		objectives(tr, opt, false))
	if err != nil {
		return err
	}
	a.fill(sc)
	a.Detectors = []Detector{a.harm()}
	return nil
}

// scoreLoss scores each point by −ℓᵢ(w_T), the same against every
// objective, and detects by ℓᵢ(w_T).
func scoreLoss(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	loss, err := influence.TrainingLoss(tr.Dev, tr.Record, tr.TrainData)
	if err != nil {
		return err
	}
	a.TestLoss = negated(loss)
	j := len(opt.TestPoints)
	a.Points = make([]float64, 0, len(loss)*j)
	for _, v := range a.TestLoss {
		for range j {
			a.Points = append(a.Points, v)
		}
	}
	a.Detectors = []Detector{{Name: "training loss", Scores: loss}}
	return nil
}

// randomStreams separate the random method's draws for its three uses.
const (
	randomTestLoss = iota
	randomPoints
	randomDetector
)

func scoreRandom(ctx context.Context, tr *Trained, opt ScoreOptions,
	progress influence.Progress, a *Attribution) error {
	n := tr.N()
	a.TestLoss = influence.RandomScores(n, opt.Seed+randomTestLoss)
	a.Points = influence.RandomScores(n*len(opt.TestPoints), opt.Seed+randomPoints)
	a.Detectors = []Detector{{Name: "random order",
		Scores: influence.RandomScores(n, opt.Seed+randomDetector)}}
	return nil
}
