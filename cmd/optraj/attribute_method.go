package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/evaluate"
	"github.com/optraj/optraj/influence"
)

// trackedStream is the stream of the PCG generator that draws the default
// tracked points of hydra-hessian from the seed, apart from the streams
// of evaluate and of the library packages.
const trackedStream = 0x74726b // "trk"

// defaultTracked is how many flipped and how many clean training points
// hydra-hessian tracks when -tracked is empty: enough to compare the two
// groups, few enough that the Hessian-vector products of each step stay
// cheap (influence.HessianAware costs a product per point per step).
const defaultTracked = 100

// ifSolvers are the methods that the influence-function flags configure,
// with their solvers.
var ifSolvers = map[string]influence.Solver{evaluate.IFExplicit: influence.Explicit,
	evaluate.IFCG: influence.CG, evaluate.IFLiSSA: influence.LiSSA}

// scoreSettings are the options of evaluate.Score that the summary
// records, those that the method does not use left out.
type scoreSettings struct {
	TestPoints []int                `json:"test_points"`
	Tracked    []int                `json:"tracked,omitempty"`
	IF         *influence.IFOptions `json:"influence_functions,omitempty"`
	Seed       uint64               `json:"seed"`
}

// isMethod reports whether name is one of evaluate.Methods.
func isMethod(name string) bool { return slices.Contains(evaluate.Methods, name) }

// checkAttrFlags checks the test and tracked points of a against the
// loaded sets, so that a bad index fails before the training.
func (j *job) checkAttrFlags(a *attrFlags) error {
	for _, p := range a.pts {
		if p >= j.testSet.N {
			return fmt.Errorf("-test-points %q: test image %d outside [0, %d)",
				a.points, p, j.testSet.N)
		}
	}
	seen := map[int]bool{}
	for _, i := range a.track {
		if i >= j.trainSet.N {
			return fmt.Errorf("-tracked %q: training image %d outside [0, %d)",
				a.tracked, i, j.trainSet.N)
		}
		if seen[i] {
			return fmt.Errorf("-tracked %q: training image %d listed twice", a.tracked, i)
		}
		seen[i] = true
	}
	return nil
}

// attributeMethod scores the training points by -method through
// evaluate.Score, prints the method's detection table and test-point
// explanations, and writes the results.
func (j *job) attributeMethod(ctx context.Context, a *attrFlags) error {
	opt := j.scoreOptions(a)
	if a.method == evaluate.HyDRAHessian {
		fmt.Fprintf(j.stdout, "%s tracks %d training points, %d of them flipped\n",
			a.method, len(opt.Tracked), j.countFlipped(opt.Tracked))
	}
	var at *evaluate.Attribution
	err := j.timed("attribute", func() error {
		var err error
		at, err = j.score(ctx, a.method, opt)
		return err
	})
	if err != nil {
		return err
	}

	res, cols, err := j.methodReport(j.stdout, at, opt, a.top)
	if err != nil {
		return err
	}
	rows := at.Tracked
	if rows == nil {
		rows = allPoints(j.data.N())
	}
	return j.writeAttribution(rows, cols, at.Points, res, opt.TestPoints)
}

// scoreOptions returns the options of evaluate.Score for -method: the
// test points, the tracked points of hydra-hessian (drawn when -tracked
// is empty), the influence-function settings and the seed.
func (j *job) scoreOptions(a *attrFlags) *evaluate.ScoreOptions {
	opt := &evaluate.ScoreOptions{TestPoints: a.pts, Seed: j.cfg.Seed,
		IF: a.e.ifOptions(j.cfg.Seed)}
	if a.method == evaluate.HyDRAHessian {
		opt.Tracked = a.track
		if opt.Tracked == nil {
			opt.Tracked = j.defaultTracked()
		}
	}
	return opt
}

// settings returns the options opt of method as the summary records them.
func settings(method string, opt *evaluate.ScoreOptions) *scoreSettings {
	s := &scoreSettings{TestPoints: opt.TestPoints, Tracked: opt.Tracked,
		Seed: opt.Seed}
	if solver, ok := ifSolvers[method]; ok {
		o := opt.IF
		o.Solver = solver
		s.IF = &o
	}
	return s
}

// defaultTracked draws up to defaultTracked flipped and as many clean
// training points from the seed and returns them in increasing order.
func (j *job) defaultTracked() []int {
	rng := rand.New(rand.NewPCG(j.cfg.Seed, trackedStream))
	isFlipped := j.flippedMask()
	clean := make([]int, 0, j.trainSet.N-len(j.flipped))
	for i, f := range isFlipped {
		if !f {
			clean = append(clean, i)
		}
	}
	out := append(drawFrom(rng, j.flipped, defaultTracked),
		drawFrom(rng, clean, defaultTracked)...)
	slices.Sort(out)
	return out
}

// drawFrom returns k of from, or all of them if there are fewer, drawn by rng
// without replacement.
func drawFrom(rng *rand.Rand, from []int, k int) []int {
	return pick(from, rng.Perm(len(from))[:min(k, len(from))])
}

// flippedMask reports for each training point whether its label was
// flipped.
func (j *job) flippedMask() []bool {
	mask := make([]bool, j.trainSet.N)
	for _, i := range j.flipped {
		mask[i] = true
	}
	return mask
}

// countFlipped returns how many of the training points idx were flipped.
func (j *job) countFlipped(idx []int) int {
	mask, n := j.flippedMask(), 0
	for _, i := range idx {
		if mask[i] {
			n++
		}
	}
	return n
}

// trained returns the job's run as package evaluate takes it: the record,
// the sets in host memory with the training labels as trained (the
// flipped ones included), and their copies on the device.
func (j *job) trained() *evaluate.Trained {
	s := j.trainSet
	return &evaluate.Trained{Record: j.run.Record, Dev: j.dev,
		Train: &dataset.Set{X: s.X, Y: j.noisy, N: s.N, D: s.D,
			Classes: s.Classes, Shape: s.Shape},
		Test: j.testSet, TrainData: j.data, TestData: j.test}
}

// score runs evaluate.Score with a progress bar. A method that fails
// returns an error that names it.
func (j *job) score(ctx context.Context, method string,
	opt *evaluate.ScoreOptions) (*evaluate.Attribution, error) {
	bars := &stageBars{j: j}
	progress := func(done, total int) { bars.update(method, done, total) }
	at, err := evaluate.Score(ctx, j.trained(), method, *opt, progress)
	bars.finish()
	if err != nil {
		return nil, err
	}
	if at.Err != nil {
		return nil, fmt.Errorf("-method %s failed: %w", method, at.Err)
	}
	return at, nil
}

// methodReport prints the detection table of the detectors of at and the
// test-point explanations by at.Points. It returns the summary's result
// and the columns of scores.csv: the score against the mean test loss,
// then the detectors.
func (j *job) methodReport(w io.Writer, at *evaluate.Attribution,
	opt *evaluate.ScoreOptions, top int) (*attributionResult, []*method, error) {
	dets := detectors(at)
	if len(dets) == 0 {
		fmt.Fprintf(w, "\nmislabel detection: %s has no detector over every "+
			"training point (it scores %d tracked ones)\n", at.Method, len(at.Tracked))
	} else if err := j.printDetection(w, dets); err != nil {
		return nil, nil, err
	}

	rows := at.Tracked
	if rows == nil {
		rows = allPoints(j.data.N())
	}
	res := &attributionResult{Method: at.Method, Options: settings(at.Method, opt),
		Cost: &at.Cost, Inspected: inspected, Methods: dets}
	res.TestPoints = j.explain(w, opt.TestPoints, rows, at.Points, top)

	loss := &method{Name: at.Method + ", test loss",
		Key: columnKey(at.Method) + "_test_loss", scores: at.TestLoss}
	return res, append([]*method{loss}, dets...), nil
}

// detectors returns the detectors of at as rankings, most suspect first.
func detectors(at *evaluate.Attribution) []*method {
	out := []*method{}
	for _, d := range at.Detectors {
		out = append(out, &method{Name: at.Method + ", " + d.Name,
			Key:   columnKey(at.Method) + "_" + columnKey(d.Name),
			Order: influence.Descending, scores: d.Scores})
	}
	return out
}

// columnKey turns a method or detector name into a column name of
// scores.csv: its lower-case letters and digits, the runs of anything
// else turned into one underscore ("gradient norm²" → "gradient_norm2").
func columnKey(name string) string {
	name = strings.ReplaceAll(strings.ToLower(name), "²", "2")
	words := strings.FieldsFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	return strings.Join(words, "_")
}
