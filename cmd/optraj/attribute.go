package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/optraj/optraj/evaluate"
	"github.com/optraj/optraj/influence"
)

// inspected are the fractions of the training set inspected in the
// mislabel-detection table.
var inspected = []float64{0.05, 0.10, 0.20, 0.30}

// nameWidth is the least width of the first column of the detection
// table; wider names widen it.
const nameWidth = 24

// method is one ranking of the training points: a column of scores.csv
// and, when it is in attributionResult.Methods, a row of the detection
// table. scores holds one score per scored training point, in the order
// of the rows of scores.csv.
type method struct {
	Name   string          `json:"name"`
	Key    string          `json:"key"`
	Order  influence.Order `json:"-"`
	scores []float64
	Found  []float64 `json:"found_at_inspected"`
	AUC    float64   `json:"auc"`     // under found against inspected
	ROC    float64   `json:"roc_auc"` // under the ROC curve
}

// attributionResult is what attribute adds to the summary. Options and
// Cost are those of evaluate.Score, absent for the default method.
type attributionResult struct {
	Method     string            `json:"method"`
	Scoring    string            `json:"scoring,omitempty"` // hydra: step log or replay
	Options    *scoreSettings    `json:"options,omitempty"`
	Cost       *evaluate.Cost    `json:"cost,omitempty"`
	Inspected  []float64         `json:"inspected"`
	Methods    []*method         `json:"methods"`
	TestPoints []testPointResult `json:"test_points"`
}

// testPointResult is the explanation of one test image: the training
// images that helped its loss most and those that hurt it most.
type testPointResult struct {
	Index   int   `json:"index"`
	Label   int   `json:"label"`
	Helpful []int `json:"most_helpful"`
	Harmful []int `json:"most_harmful"`
}

// attrFlags are attribute's settings besides the job's.
type attrFlags struct {
	points, tracked string
	top             int
	method          string
	e               evalFlags // the influence-function settings only

	pts, track []int // points and tracked, parsed
}

// register adds attribute's own flags to fs, the influence-function
// flags of evaluate among them.
func (a *attrFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.points, "test-points", "0,1,2", "test images to explain, comma-separated")
	fs.IntVar(&a.top, "top", 5, "helpful and harmful training images to list per test image")
	fs.StringVar(&a.method, "method", evaluate.HyDRA,
		"attribution method: "+strings.Join(evaluate.Methods, ", ")+
			"; hydra adds the baseline rankings to its table")
	fs.StringVar(&a.tracked, "tracked", "",
		"hydra-hessian: training points to track, comma-separated (empty: "+
			"up to 100 flipped and 100 clean ones drawn with -seed)")
	a.e.registerIF(fs)
}

// parse checks the method and reads the lists, before any work.
func (a *attrFlags) parse() error {
	if !isMethod(a.method) {
		return fmt.Errorf("-method %q: want one of %s", a.method,
			strings.Join(evaluate.Methods, ", "))
	}
	if a.top < 0 {
		return fmt.Errorf("-top %d: want a count of at least 0", a.top)
	}
	var err error
	if a.pts, err = parseInts("test-points", a.points); err != nil {
		return err
	}
	if a.track, err = parseInts("tracked", a.tracked); err != nil {
		return err
	}
	if a.track != nil && a.method != evaluate.HyDRAHessian {
		return fmt.Errorf("-tracked %q: only -method %s tracks points, not %s",
			a.tracked, evaluate.HyDRAHessian, a.method)
	}
	return nil
}

// cmdAttribute trains (or resumes) and scores every training point.
func cmdAttribute(ctx context.Context, args []string, stdout, stderr io.Writer,
	log *slog.Logger) error {
	fs := newFlagSet("attribute", stderr)
	var f jobFlags
	var a attrFlags
	f.register(fs)
	a.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := a.parse(); err != nil {
		return err
	}
	j, done, err := newJob(&f, stdout, stderr, log)
	if err != nil {
		return err
	}
	defer done()
	return j.attributeJob(ctx, &a)
}

// attributeJob is the pipeline: load, train, score, print, write.
func (j *job) attributeJob(ctx context.Context, a *attrFlags) error {
	if err := j.timed("load", j.load); err != nil {
		return err
	}
	if err := j.checkAttrFlags(a); err != nil {
		return err
	}
	j.header(j.stdout, "attribute")
	if err := os.MkdirAll(j.flags.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if a.method == evaluate.HyDRA {
		// Only the other methods retrain from the host copy of the
		// images; the device holds its own.
		j.trainSet.X = nil
		if influence.StepLogBytes(j.cfg.Sizes, j.cfg.Epochs, j.data.N()) <= maxStepLog {
			j.stepLog = influence.NewStepLog(j.dev, j.cfg.Epochs, j.data.N())
		}
	}
	if err := j.timed("train", func() error { return j.fit(ctx) }); err != nil {
		return err
	}
	fmt.Fprintf(j.stdout, "test accuracy %.2f%%, test loss %.4f\n",
		100*j.testAcc, j.testLoss)

	var err error
	if a.method == evaluate.HyDRA {
		err = j.attributeHyDRA(ctx, a.pts, a.top)
	} else {
		err = j.attributeMethod(ctx, a)
	}
	if err != nil {
		return err
	}
	j.printPhases(j.stdout)
	fmt.Fprintf(j.stdout, "results in %s: scores.csv, test-points.csv, flipped.csv, "+
		"summary.json\n", j.flags.out)
	return nil
}

// attributeHyDRA scores by first-order HyDRA beside the baselines, prints
// the report and writes the results.
func (j *job) attributeHyDRA(ctx context.Context, pts []int, top int) error {
	var sc *influence.Scores
	var scoring string
	err := j.timed("attribute", func() error {
		var err error
		sc, scoring, err = j.attribute(ctx, pts)
		return err
	})
	if err != nil {
		return err
	}
	res, err := j.report(j.stdout, sc, pts, top)
	if err != nil {
		return err
	}
	res.Scoring = scoring
	return j.writeResults(sc, res, pts)
}

// maxStepLog bounds the memory of the step log that lets attribute score
// a run it trains without replaying it; a larger run is replayed. The
// main job's log takes 319 MB (influence.StepLogBytes).
const maxStepLog = 1 << 30

// attribute runs first-order HyDRA with a progress bar: from the step log
// when fit filled it, by a replay of the recorded run otherwise. It
// returns the scores and which of the two, "step log" or "replay".
func (j *job) attribute(ctx context.Context, pts []int) (*influence.Scores, string, error) {
	obj := influence.Objectives{Test: j.test, TestLoss: true, TestPoints: pts, Self: true}
	rec := j.run.Record
	logged := j.stepLog != nil && j.stepLog.Complete(rec)
	what, scoring := "hydra replay", "replay"
	switch {
	case logged:
		what, scoring = "hydra scoring", "step log"
	case j.run.Resumed == rec.Steps:
		j.log.Info("scoring by a replay of the run trained before", "folder", j.trajectoryD)
	default:
		j.log.Info("scoring by a replay of the run", "why", j.stepLogReason())
	}
	bar := j.bar(rec.Steps, what)
	progress := func(done, total int) {
		if bar != nil {
			_ = bar.Set(done)
		}
	}
	var sc *influence.Scores
	var err error
	if logged {
		sc, err = influence.FirstOrderLogged(ctx, j.dev, rec, j.data, obj, j.stepLog, progress)
		j.stepLog.Free() // before the results are written
	} else {
		sc, err = influence.FirstOrder(ctx, j.dev, rec, j.data, obj, progress)
	}
	j.finishBar(bar)
	return sc, scoring, err
}

// stepLogReason says why fit left no complete step log.
func (j *job) stepLogReason() string {
	if j.stepLog == nil {
		return fmt.Sprintf("a step log would take %d MiB, over %d",
			influence.StepLogBytes(j.cfg.Sizes, j.cfg.Epochs, j.data.N())>>20, maxStepLog>>20)
	}
	if err := j.stepLog.Err(); err != nil {
		return err.Error()
	}
	return "the run was not trained by this command"
}

// report prints the detection table of HyDRA and the baselines and the
// test-point explanations.
func (j *job) report(w io.Writer, sc *influence.Scores, pts []int,
	top int) (*attributionResult, error) {
	methods := []*method{
		{Name: "HyDRA, test loss", Key: "hydra_test_loss", Order: influence.Ascending,
			scores: sc.TestLoss},
		{Name: "HyDRA, self-relevance", Key: "hydra_self", Order: influence.Descending,
			scores: sc.Self},
		{Name: "training loss (final)", Key: "final_loss", Order: influence.Descending,
			scores: sc.FinalLoss},
		{Name: "TracIn self-influence", Key: "tracin_self", Order: influence.Descending,
			scores: sc.TracIn},
		{Name: "random order", Key: "random", Order: influence.Descending,
			scores: influence.RandomScores(j.data.N(), j.cfg.Seed)},
	}
	if err := j.printDetection(w, methods); err != nil {
		return nil, err
	}
	res := &attributionResult{Method: evaluate.HyDRA, Inspected: inspected,
		Methods: methods}
	res.TestPoints = j.explain(w, pts, allPoints(j.data.N()), sc.Points, top)
	return res, nil
}

// printDetection prints how soon each ranking of every training point
// finds the flipped labels and records it in the methods.
func (j *job) printDetection(w io.Writer, methods []*method) error {
	width := nameWidth
	for _, m := range methods {
		width = max(width, len(m.Name))
	}
	fmt.Fprintf(w, "\nmislabel detection: share of the %d flipped labels found "+
		"when inspecting a share of the training set in score order\n", len(j.flipped))
	fmt.Fprintf(w, "%-*s", width, "method")
	for _, f := range inspected {
		fmt.Fprintf(w, " %6.0f%%", 100*f)
	}
	fmt.Fprintf(w, " %7s %7s\n", "AUC", "ROC AUC")
	for _, m := range methods {
		rank := influence.Rank(m.scores, m.Order)
		found, err := influence.Detection(rank, j.flipped, inspected)
		if err != nil {
			return fmt.Errorf("mislabel detection by %s: %w", m.Name, err)
		}
		m.Found, m.AUC = found, influence.DetectionAUC(rank, j.flipped)
		m.ROC = influence.DetectionROC(rank, j.flipped)
		fmt.Fprintf(w, "%-*s", width, m.Name)
		for _, v := range found {
			fmt.Fprintf(w, " %6.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %7.4f %7.4f\n", m.AUC, m.ROC)
	}
	return nil
}

// explain prints and returns, for each test image pts[k], the top most
// helpful and most harmful training images by column k of points, a
// len(rows)×len(pts) matrix whose row r scores training image rows[r].
func (j *job) explain(w io.Writer, pts, rows []int, points []float64,
	top int) []testPointResult {
	var out []testPointResult
	for k, p := range pts {
		col := make([]float64, len(rows))
		for r := range col {
			col[r] = points[r*len(pts)+k]
		}
		n := min(top, len(col))
		tp := testPointResult{Index: p, Label: int(j.testSet.Y[p]),
			Helpful: pick(rows, influence.Rank(col, influence.Descending)[:n]),
			Harmful: pick(rows, influence.Rank(col, influence.Ascending)[:n])}
		out = append(out, tp)
		fmt.Fprintf(w, "\ntest image %d (label %d)\n", p, tp.Label)
		fmt.Fprintf(w, "  most helpful: %s\n", j.describe(tp.Helpful))
		fmt.Fprintf(w, "  most harmful: %s\n", j.describe(tp.Harmful))
	}
	return out
}

// pick returns rows[r] for each r of idx.
func pick(rows, idx []int) []int {
	out := make([]int, len(idx))
	for k, r := range idx {
		out[k] = rows[r]
	}
	return out
}

// allPoints returns 0, 1, …, n−1: the rows of a method that scores every
// training point.
func allPoints(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// describe lists training images as "#index label", marking flipped ones
// with their true label.
func (j *job) describe(idx []int) string {
	s := ""
	for k, i := range idx {
		if k > 0 {
			s += ", "
		}
		s += fmt.Sprintf("#%d %d", i, j.noisy[i])
		if j.noisy[i] != j.trainSet.Y[i] {
			s += fmt.Sprintf(" (flipped, true %d)", j.trainSet.Y[i])
		}
	}
	return s
}

// writeResults writes scores.csv, test-points.csv, flipped.csv and
// summary.json of the HyDRA report res.
func (j *job) writeResults(sc *influence.Scores, res *attributionResult, pts []int) error {
	rows := allPoints(j.data.N())
	return j.writeAttribution(rows, res.Methods, sc.Points, res, pts)
}
