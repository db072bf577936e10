package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/evaluate"
	"github.com/optraj/optraj/influence"
	"github.com/optraj/optraj/train"
)

// Streams of the PCG generators that evaluate draws from the seed, apart
// from those of the library packages.
const (
	splitStream   = 0x73706c6974 // "split": the digits test set
	subsetStream  = 0x737562     // "sub": the -train-points subset
	testPtsStream = 0x747074     // "tpt": the LDS test points
)

// evalFlags are evaluate's settings besides the job's.
type evalFlags struct {
	dataSet, digits, model string
	testFraction           float64
	trainPoints            int
	methods, protocols     string
	looPoints, looTestPt   int
	ldsSubsets, ldsPoints  int
	ldsFraction            float64
	scale                  string
	damping, cgTol         float64
	cgMaxIter              int
	lissaDepth, lissaBatch int
	lissaRepeats           int
	lissaScale             float64
	workers                int
}

func (e *evalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&e.dataSet, "data-set", "mnist", "data set: mnist (from -data) or digits")
	fs.StringVar(&e.digits, "digits", dataset.DigitsPath, "scikit-learn's digits CSV")
	fs.Float64Var(&e.testFraction, "test-fraction", 0.2,
		"share of the digits held out as the test set (seeded)")
	fs.IntVar(&e.trainPoints, "train-points", 0,
		"train on this many training points drawn at random (0: all)")
	fs.StringVar(&e.model, "model", "mlp",
		"logreg (sizes [in, classes]) or mlp ([in, -hidden…, classes])")
	fs.StringVar(&e.methods, "methods", strings.Join(evaluate.Methods, ","),
		"attribution methods, comma-separated")
	fs.StringVar(&e.protocols, "protocols", strings.Join(evaluate.Protocols, ","),
		"protocols, comma-separated: loo, lds, mislabel, cost")
	e.registerProtocols(fs)
	e.registerIF(fs)
	fs.IntVar(&e.workers, "workers", 0, "retrainings at a time (0: GOMAXPROCS)")
}

func (e *evalFlags) registerProtocols(fs *flag.FlagSet) {
	fs.IntVar(&e.looPoints, "loo-points", 100,
		"leave-one-out: this many points by |HyDRA score| and as many at random")
	fs.IntVar(&e.looTestPt, "loo-test-point", -1,
		"leave-one-out objective: this test point's loss (-1: the mean test loss)")
	fs.IntVar(&e.ldsSubsets, "lds-subsets", 50, "LDS: random subsets to retrain on")
	fs.Float64Var(&e.ldsFraction, "lds-fraction", 0.5, "LDS: share of the points per subset")
	fs.IntVar(&e.ldsPoints, "lds-test-points", 20, "LDS: test points drawn at random")
	fs.StringVar(&e.scale, "batch-scale", "keep",
		"loss factor of a batch that lost points: keep (1/B, exact removal) or renormalize")
}

func (e *evalFlags) registerIF(fs *flag.FlagSet) {
	fs.Float64Var(&e.damping, "damping", 0.01, "influence functions: damping δ")
	fs.Float64Var(&e.cgTol, "cg-tol", 1e-4, "influence functions: CG relative residual")
	fs.IntVar(&e.cgMaxIter, "cg-max-iter", 1000, "influence functions: CG iterations")
	fs.IntVar(&e.lissaDepth, "lissa-depth", 1000, "influence functions: LiSSA iterations")
	fs.IntVar(&e.lissaBatch, "lissa-batch", 256, "influence functions: LiSSA batch size")
	fs.IntVar(&e.lissaRepeats, "lissa-repeats", 1, "influence functions: LiSSA runs averaged")
	fs.Float64Var(&e.lissaScale, "lissa-scale", 0,
		"influence functions: LiSSA scale (0: the top Hessian eigenvalue)")
}

// cmdEvaluate trains (or resumes), scores every training point with each
// method and judges the methods by the protocols.
func cmdEvaluate(ctx context.Context, args []string, stdout, stderr io.Writer,
	log *slog.Logger) error {
	fs := newFlagSet("evaluate", stderr)
	var f jobFlags
	var e evalFlags
	f.register(fs)
	e.register(fs)
	out := fs.Lookup("out") // defaults sets it, from -data-set and -model
	out.Usage, out.DefValue = "output folder for the trajectory and results "+
		"(default out/evaluate-DATA-SET-MODEL)", ""
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := e.defaults(fs, &f); err != nil {
		return err
	}
	j, done, err := newJob(&f, stdout, stderr, log)
	if err != nil {
		return err
	}
	defer done()
	return j.evaluate(ctx, &e, fs)
}

// defaults checks the choices and gives -out a default of its own, so that
// evaluate does not meet the trajectory of another model.
func (e *evalFlags) defaults(fs *flag.FlagSet, f *jobFlags) error {
	if e.dataSet != "mnist" && e.dataSet != "digits" {
		return fmt.Errorf("-data-set %q: want mnist or digits", e.dataSet)
	}
	switch e.model {
	case "logreg":
		f.hidden = ""
	case "mlp":
		if strings.TrimSpace(f.hidden) == "" {
			return fmt.Errorf("-model mlp needs -hidden widths")
		}
	default:
		return fmt.Errorf("-model %q: want logreg or mlp", e.model)
	}
	set := false
	fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == "out" })
	if !set {
		f.out = filepath.Join("out", "evaluate-"+e.dataSet+"-"+e.model)
	}
	_, err := e.batchScale()
	return err
}

func (e *evalFlags) batchScale() (train.BatchScale, error) {
	switch e.scale {
	case "keep":
		return train.KeepScale, nil
	case "renormalize":
		return train.Renormalize, nil
	}
	return 0, fmt.Errorf("-batch-scale %q: want keep or renormalize", e.scale)
}

// evaluate is the pipeline: load, train, evaluate, write, print.
func (j *job) evaluate(ctx context.Context, e *evalFlags, fs *flag.FlagSet) error {
	if err := j.timed("load", func() error { return j.loadEval(e) }); err != nil {
		return err
	}
	j.evalHeader(e)
	if err := os.MkdirAll(j.flags.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := j.timed("train", func() error { return j.fit(ctx) }); err != nil {
		return err
	}
	fmt.Fprintf(j.stdout, "test accuracy %.2f%%, test loss %.4f\n",
		100*j.testAcc, j.testLoss)

	opt, err := j.evalOptions(e)
	if err != nil {
		return err
	}
	var rep *evaluate.Report
	err = j.timed("evaluate", func() error {
		rep, err = j.runEvaluation(ctx, opt)
		return err
	})
	if err != nil {
		return err
	}
	return j.finishEvaluation(e, fs, opt, rep)
}

// finishEvaluation prints the tables and writes the results.
func (j *job) finishEvaluation(e *evalFlags, fs *flag.FlagSet, opt evaluate.Options,
	rep *evaluate.Report) error {
	printReport(j.stdout, rep)
	if err := j.writeEvaluation(rep); err != nil {
		return err
	}
	if err := writeEvalPlots(j.flags.out, rep); err != nil {
		return err
	}
	if err := j.writeEvalSummary(e, fs, opt, rep); err != nil {
		return err
	}
	j.printPhases(j.stdout)
	fmt.Fprintf(j.stdout, "results in %s: loo*.csv, lds*.csv, mislabel*.csv, cost.csv, "+
		"pictures (PNG, SVG), summary.json\n", j.flags.out)
	return nil
}

// loadEval opens the device, reads the data set, flips labels and copies
// the data to the device.
func (j *job) loadEval(e *evalFlags) error {
	if err := j.openDevice(); err != nil {
		return err
	}
	var err error
	if j.trainSet, j.testSet, err = e.loadSets(j.flags.data, j.flags.cfg.Seed); err != nil {
		return err
	}
	if j.cfg, err = j.flags.config(j.trainSet.D, j.trainSet.Classes); err != nil {
		return err
	}
	j.noisy, j.flipped, err = dataset.FlipLabels(j.trainSet.Y, j.trainSet.Classes,
		j.flags.noise, j.cfg.Seed)
	if err != nil {
		return err
	}
	s := j.trainSet
	if j.data, err = train.NewData(j.dev, s.X, j.noisy, s.D, s.Classes); err != nil {
		return err
	}
	t := j.testSet
	j.test, err = train.NewData(j.dev, t.X, t.Y, t.D, t.Classes)
	return err
}

// loadSets reads the training and test sets and keeps -train-points of
// the training set.
func (e *evalFlags) loadSets(mnistDir string, seed uint64) (trainSet,
	testSet *dataset.Set, err error) {
	if e.dataSet == "digits" {
		trainSet, testSet, err = e.loadDigits(seed)
	} else {
		trainSet, testSet, err = dataset.LoadMNIST(mnistDir)
	}
	if err != nil {
		return nil, nil, err
	}
	if e.trainPoints > 0 && e.trainPoints < trainSet.N {
		rng := rand.New(rand.NewPCG(seed, subsetStream))
		trainSet = trainSet.Subset(sortedHead(rng.Perm(trainSet.N), e.trainPoints))
	}
	return trainSet, testSet, nil
}

// loadDigits reads the digits and splits off -test-fraction of them, drawn
// from seed, as the test set.
func (e *evalFlags) loadDigits(seed uint64) (trainSet, testSet *dataset.Set, err error) {
	if !(e.testFraction > 0 && e.testFraction < 1) {
		return nil, nil, fmt.Errorf("-test-fraction %v: want one in (0, 1)", e.testFraction)
	}
	all, err := dataset.LoadDigits(e.digits)
	if err != nil {
		return nil, nil, err
	}
	perm := rand.New(rand.NewPCG(seed, splitStream)).Perm(all.N)
	k := int(math.Round(e.testFraction * float64(all.N)))
	testSet = all.Subset(sortedHead(perm, k))
	trainSet = all.Subset(sortedHead(perm[k:], len(perm)-k))
	return trainSet, testSet, nil
}

// sortedHead returns the first k of p, sorted.
func sortedHead(p []int, k int) []int {
	return slices.Sorted(slices.Values(p[:k]))
}

// evalHeader prints what the evaluation runs on.
func (j *job) evalHeader(e *evalFlags) {
	src := j.flags.data
	if e.dataSet == "digits" {
		src = e.digits
	}
	fmt.Fprintf(j.stdout, "optraj evaluate: %s from %s, %d train / %d test, "+
		"%.1f%% of training labels flipped (%d), seed %d\n",
		e.dataSet, src, j.trainSet.N, j.testSet.N, 100*j.flags.noise,
		len(j.flipped), j.cfg.Seed)
	fmt.Fprintf(j.stdout, "device %s; %s %s, %d epochs, batch %d, SGD lr %g (%s) "+
		"momentum %g weight decay %g\n",
		j.dev.Name(), e.model, sizesString(j.cfg.Sizes), j.cfg.Epochs,
		j.cfg.BatchSize, j.cfg.LearningRate, j.cfg.Schedule, j.cfg.Momentum,
		j.cfg.WeightDecay)
}

// evalOptions turns the flags into the evaluation's options.
func (j *job) evalOptions(e *evalFlags) (evaluate.Options, error) {
	scale, err := e.batchScale()
	if err != nil {
		return evaluate.Options{}, err
	}
	if e.looTestPt >= j.testSet.N {
		return evaluate.Options{}, fmt.Errorf("-loo-test-point %d: the test set has %d",
			e.looTestPt, j.testSet.N)
	}
	seed := j.cfg.Seed
	rng := rand.New(rand.NewPCG(seed, testPtsStream))
	return evaluate.Options{
		Methods:   splitList(e.methods),
		Protocols: splitList(e.protocols),
		LOO: evaluate.LOOOptions{Top: e.looPoints, Random: e.looPoints, Seed: seed,
			TestPoint: e.looTestPt, Scale: scale},
		LDS: evaluate.LDSOptions{Subsets: e.ldsSubsets, Fraction: e.ldsFraction,
			Seed: seed, Scale: scale,
			TestPoints: sortedHead(rng.Perm(j.testSet.N), min(e.ldsPoints, j.testSet.N))},
		IF:      e.ifOptions(seed),
		Seed:    seed,
		Flipped: j.flipped,
		Pool:    evaluate.Pool{Workers: e.workers},
		Dir:     j.flags.out,
	}, nil
}

func (e *evalFlags) ifOptions(seed uint64) influence.IFOptions {
	return influence.IFOptions{
		Damping: e.damping,
		CG:      influence.CGOptions{Tol: e.cgTol, MaxIter: e.cgMaxIter},
		LiSSA: influence.LiSSAOptions{Scale: e.lissaScale, Depth: e.lissaDepth,
			Repeats: e.lissaRepeats, BatchSize: e.lissaBatch, Seed: seed},
	}
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// runEvaluation runs the evaluation of the trained run with a progress bar
// per stage.
func (j *job) runEvaluation(ctx context.Context,
	opt evaluate.Options) (*evaluate.Report, error) {
	s := j.testSet
	tr := &evaluate.Trained{Record: j.run.Record, Dev: j.dev,
		Train: &dataset.Set{X: j.trainSet.X, Y: j.noisy, N: j.trainSet.N,
			D: j.trainSet.D, Classes: j.trainSet.Classes, Shape: j.trainSet.Shape},
		Test: s, TrainData: j.data, TestData: j.test}
	bars := &stageBars{j: j}
	rep, err := evaluate.Evaluate(ctx, tr, opt, bars.update)
	bars.finish()
	return rep, err
}

// stageBars shows one progress bar per stage of an evaluation and logs
// how long each took.
type stageBars struct {
	j     *job
	stage string
	bar   *progressbar.ProgressBar
	start time.Time
}

func (b *stageBars) update(stage string, done, total int) {
	if stage != b.stage {
		b.finish()
		b.stage, b.start = stage, time.Now()
		b.bar = b.j.bar(total, stage)
	}
	if b.bar != nil {
		if int64(total) != b.bar.GetMax64() {
			b.bar.ChangeMax(total)
		}
		_ = b.bar.Set(done)
	}
}

func (b *stageBars) finish() {
	if b.stage == "" {
		return
	}
	b.j.finishBar(b.bar)
	b.j.log.Info("stage done", "stage", b.stage,
		"seconds", fmt.Sprintf("%.1f", time.Since(b.start).Seconds()))
	b.stage, b.bar = "", nil
}
