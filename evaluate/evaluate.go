package evaluate

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/optraj/optraj/influence"
)

// The protocols, by the names that Options.Protocols takes.
const (
	ProtocolLOO      = "loo"
	ProtocolLDS      = "lds"
	ProtocolMislabel = "mislabel"
	ProtocolCost     = "cost"
)

// Protocols lists every protocol.
var Protocols = []string{ProtocolLOO, ProtocolLDS, ProtocolMislabel, ProtocolCost}

// The results files of the retrainings, in Options.Dir.
const (
	LOOFile = "loo-retrains.jsonl"
	LDSFile = "lds-retrains.jsonl"
)

// Progress reports the progress of a stage of an evaluation: "score
// hydra", "loo", "lds" and so on, done out of total.
type Progress func(stage string, done, total int)

// Options configures Evaluate.
type Options struct {
	Methods   []string // of Methods
	Protocols []string // of Protocols

	LOO LOOOptions
	LDS LDSOptions
	IF  influence.IFOptions

	Seed    uint64 // the random method and the power iteration
	Flipped []int  // the training points whose labels were flipped
	Pool    Pool   // where the retrainings run
	Dir     string // the folder of the results files
}

// has reports whether protocol p is asked for.
func (o *Options) has(p string) bool { return slices.Contains(o.Protocols, p) }

// check reports the first option that cannot be used.
func (o *Options) check(n int) error {
	for _, m := range o.Methods {
		if !slices.Contains(Methods, m) {
			return fmt.Errorf("evaluate: unknown method %q (want one of %v)", m, Methods)
		}
	}
	for _, p := range o.Protocols {
		if !slices.Contains(Protocols, p) {
			return fmt.Errorf("evaluate: unknown protocol %q (want one of %v)",
				p, Protocols)
		}
	}
	if o.needsLOOPoints() && (o.LOO.Top < 0 || o.LOO.Random < 0 ||
		o.LOO.Top+o.LOO.Random > n || o.LOO.Top+o.LOO.Random == 0) {
		return fmt.Errorf("evaluate: %d top and %d random LOO points of %d",
			o.LOO.Top, o.LOO.Random, n)
	}
	if o.has(ProtocolMislabel) && len(o.Flipped) == 0 {
		return fmt.Errorf("evaluate: mislabel detection needs flipped labels")
	}
	return nil
}

// needsLOOPoints reports whether the LOO points must be chosen: for the
// LOO protocol, and as the points that Hessian-aware HyDRA tracks.
func (o *Options) needsLOOPoints() bool {
	return o.has(ProtocolLOO) || slices.Contains(o.Methods, HyDRAHessian)
}

// LOOReport is the leave-one-out protocol's result.
type LOOReport struct {
	Actual  *LOOActual  `json:"actual"`
	Methods []LOOMethod `json:"methods"`
}

// LDSReport is the linear datamodeling protocol's result.
type LDSReport struct {
	Subsets  int         `json:"subsets"`
	Fraction float64     `json:"fraction"`
	Scale    string      `json:"batch_scale"`
	Actual   *LDSActual  `json:"actual"`
	Methods  []LDSMethod `json:"methods"`
}

// MethodCost is the cost of one method.
type MethodCost struct {
	Method string `json:"method"`
	Cost
	Err string `json:"error,omitempty"`
}

// Report is everything an evaluation measured.
type Report struct {
	Methods    []string        `json:"methods"`
	Observed   []int           `json:"observed_test_points"`
	LOOPoints  []int           `json:"loo_points,omitempty"`
	LOO        *LOOReport      `json:"loo,omitempty"`
	LDS        *LDSReport      `json:"lds,omitempty"`
	Mislabel   *MislabelResult `json:"mislabel,omitempty"`
	Costs      []MethodCost    `json:"costs"`
	Attributed []*Attribution  `json:"-"` // every method's scores
}

// Evaluate scores the training points of tr with each method of opt and
// runs the protocols of opt on the scores. The retrainings resume from,
// and append to, the results files in opt.Dir.
func Evaluate(ctx context.Context, tr *Trained, opt Options,
	progress Progress) (*Report, error) {
	if err := tr.check(); err != nil {
		return nil, err
	}
	if err := opt.check(tr.N()); err != nil {
		return nil, err
	}
	rep := &Report{Methods: canonical(opt.Methods),
		Observed: observed(opt.LDS.TestPoints, opt.LOO.TestPoint)}
	if err := rep.score(ctx, tr, &opt, progress); err != nil {
		return nil, err
	}
	if err := rep.protocols(ctx, tr, &opt, progress); err != nil {
		return nil, err
	}
	for _, a := range rep.Attributed {
		mc := MethodCost{Method: a.Method, Cost: a.Cost}
		if a.Err != nil {
			mc.Err = a.Err.Error()
		}
		rep.Costs = append(rep.Costs, mc)
	}
	return rep, nil
}

// canonical returns methods in the order of Methods, without repeats:
// first-order HyDRA, whose scores choose the LOO points, comes first.
func canonical(methods []string) []string {
	var out []string
	for _, m := range Methods {
		if slices.Contains(methods, m) {
			out = append(out, m)
		}
	}
	return out
}

// score runs every method, choosing the LOO points from first-order HyDRA
// before Hessian-aware HyDRA needs them as its tracked points.
func (rep *Report) score(ctx context.Context, tr *Trained, opt *Options,
	progress Progress) error {
	sopt := ScoreOptions{TestPoints: rep.Observed, IF: opt.IF, Seed: opt.Seed}
	for _, m := range rep.Methods {
		if m == HyDRAHessian {
			if err := rep.chooseLOO(ctx, tr, opt, sopt, progress); err != nil {
				return err
			}
			sopt.Tracked = rep.LOOPoints
		}
		report := stage(progress, "score "+m)
		if report != nil {
			report(0, 1)
		}
		a, err := Score(ctx, tr, m, sopt, report)
		if err != nil {
			return err
		}
		rep.Attributed = append(rep.Attributed, a)
	}
	if rep.LOOPoints == nil {
		return rep.chooseLOO(ctx, tr, opt, sopt, progress)
	}
	return nil
}

// chooseLOO chooses the LOO points by first-order HyDRA, scoring it for
// that alone when it is not among the methods.
func (rep *Report) chooseLOO(ctx context.Context, tr *Trained, opt *Options,
	sopt ScoreOptions, progress Progress) error {
	if rep.LOOPoints != nil || !opt.needsLOOPoints() {
		return nil
	}
	var hydra *Attribution
	for _, a := range rep.Attributed {
		if a.Method == HyDRA {
			hydra = a
		}
	}
	if hydra == nil {
		var err error
		hydra, err = Score(ctx, tr, HyDRA, sopt, stage(progress, "choose LOO points"))
		if err != nil {
			return err
		}
	}
	if hydra.Err != nil {
		return fmt.Errorf("evaluate: choosing the LOO points: %w", hydra.Err)
	}
	col := slices.Index(rep.Observed, opt.LOO.TestPoint)
	rep.LOOPoints = LOOPoints(objectiveScores(hydra, col),
		opt.LOO.Top, opt.LOO.Random, opt.LOO.Seed)
	return nil
}

// objectiveScores returns a's scores of every point against the
// objective of column col, −1 for the mean test loss.
func objectiveScores(a *Attribution, col int) []float64 {
	if col < 0 {
		return a.TestLoss
	}
	j := len(a.TestPoints)
	out := make([]float64, len(a.TestLoss))
	for i := range out {
		out[i] = a.Points[i*j+col]
	}
	return out
}

// stage adapts progress to an influence.Progress for one stage.
func stage(progress Progress, name string) func(done, total int) {
	if progress == nil {
		return nil
	}
	return func(done, total int) { progress(name, done, total) }
}

// protocols runs the protocols other than cost, which Evaluate fills in
// from the attributions.
func (rep *Report) protocols(ctx context.Context, tr *Trained, opt *Options,
	progress Progress) error {
	if opt.has(ProtocolLOO) {
		if err := rep.loo(ctx, tr, opt, progress); err != nil {
			return err
		}
	}
	if opt.has(ProtocolLDS) {
		if err := rep.lds(ctx, tr, opt, progress); err != nil {
			return err
		}
	}
	if opt.has(ProtocolMislabel) {
		var err error
		if rep.Mislabel, err = Mislabel(opt.Flipped, rep.Attributed); err != nil {
			return err
		}
	}
	return nil
}

func (rep *Report) loo(ctx context.Context, tr *Trained, opt *Options,
	progress Progress) error {
	act, err := RetrainLOO(ctx, tr, rep.LOOPoints, opt.LOO.Top, rep.Observed,
		opt.LOO, opt.Pool, filepath.Join(opt.Dir, LOOFile), stage(progress, "loo"))
	if err != nil {
		return err
	}
	col := slices.Index(rep.Observed, opt.LOO.TestPoint)
	rep.LOO = &LOOReport{Actual: act, Methods: CompareLOO(act, rep.Attributed, col)}
	return nil
}

func (rep *Report) lds(ctx context.Context, tr *Trained, opt *Options,
	progress Progress) error {
	act, err := RetrainLDS(ctx, tr, rep.Observed, opt.LDS, opt.Pool,
		filepath.Join(opt.Dir, LDSFile), stage(progress, "lds"))
	if err != nil {
		return err
	}
	rep.LDS = &LDSReport{Subsets: opt.LDS.Subsets, Fraction: opt.LDS.Fraction,
		Scale: opt.LDS.Scale.String(), Actual: act,
		Methods: CompareLDS(act, rep.Attributed)}
	return nil
}
