package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/optraj/optraj/influence"
)

// inspected are the fractions of the training set inspected in the
// mislabel-detection table.
var inspected = []float64{0.05, 0.10, 0.20, 0.30}

// method is one ranking of the training points.
type method struct {
	Name   string          `json:"name"`
	Key    string          `json:"key"`
	Order  influence.Order `json:"-"`
	scores []float64
	Found  []float64 `json:"found_at_inspected"`
	AUC    float64   `json:"auc"`     // under found against inspected
	ROC    float64   `json:"roc_auc"` // under the ROC curve
}

// attributionResult is what attribute adds to the summary.
type attributionResult struct {
	Inspected  []float64         `json:"inspected"`
	Methods    []*method         `json:"methods"`
	TestPoints []testPointResult `json:"test_points"`
}

type testPointResult struct {
	Index   int   `json:"index"`
	Label   int   `json:"label"`
	Helpful []int `json:"most_helpful"`
	Harmful []int `json:"most_harmful"`
}

// cmdAttribute trains (or resumes) and scores every training point.
func cmdAttribute(ctx context.Context, args []string, stdout, stderr io.Writer,
	log *slog.Logger) error {
	fs := newFlagSet("attribute", stderr)
	var f jobFlags
	f.register(fs)
	points := fs.String("test-points", "0,1,2", "test images to explain, comma-separated")
	top := fs.Int("top", 5, "helpful and harmful training images to list per test image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pts, err := parseInts("test-points", *points)
	if err != nil {
		return err
	}
	j, done, err := newJob(&f, stdout, stderr, log)
	if err != nil {
		return err
	}
	defer done()
	if err := j.timed("load", j.load); err != nil {
		return err
	}
	j.header(stdout, "attribute")
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := j.timed("train", func() error { return j.fit(ctx) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%%, test loss %.4f\n", 100*j.testAcc, j.testLoss)

	var sc *influence.Scores
	err = j.timed("attribute", func() error {
		sc, err = j.attribute(ctx, pts)
		return err
	})
	if err != nil {
		return err
	}
	res, err := j.report(stdout, sc, pts, *top)
	if err != nil {
		return err
	}
	if err := j.writeResults(sc, res, pts); err != nil {
		return err
	}
	j.printPhases(stdout)
	fmt.Fprintf(stdout, "results in %s: scores.csv, test-points.csv, flipped.csv, "+
		"summary.json\n", f.out)
	return nil
}

// attribute runs first-order HyDRA with a progress bar.
func (j *job) attribute(ctx context.Context, pts []int) (*influence.Scores, error) {
	obj := influence.Objectives{Test: j.test, TestLoss: true, TestPoints: pts, Self: true}
	bar := j.bar(j.run.Record.Steps, "hydra replay")
	progress := func(done, total int) {
		if bar != nil {
			_ = bar.Set(done)
		}
	}
	sc, err := influence.FirstOrder(ctx, j.dev, j.run.Record, j.data, obj, progress)
	j.finishBar(bar)
	return sc, err
}

// report prints the detection table and the test-point explanations.
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
	fmt.Fprintf(w, "\nmislabel detection: share of the %d flipped labels found "+
		"when inspecting a share of the training set in score order\n", len(j.flipped))
	fmt.Fprintf(w, "%-24s", "method")
	for _, f := range inspected {
		fmt.Fprintf(w, " %6.0f%%", 100*f)
	}
	fmt.Fprintf(w, " %7s %7s\n", "AUC", "ROC AUC")
	for _, m := range methods {
		rank := influence.Rank(m.scores, m.Order)
		found, err := influence.Detection(rank, j.flipped, inspected)
		if err != nil {
			return nil, err
		}
		m.Found, m.AUC = found, influence.DetectionAUC(rank, j.flipped)
		m.ROC = influence.DetectionROC(rank, j.flipped)
		fmt.Fprintf(w, "%-24s", m.Name)
		for _, v := range found {
			fmt.Fprintf(w, " %6.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %7.4f %7.4f\n", m.AUC, m.ROC)
	}

	res := &attributionResult{Inspected: inspected, Methods: methods}
	for k, p := range pts {
		col := make([]float64, j.data.N())
		for i := range col {
			col[i] = sc.Points[i*len(pts)+k]
		}
		tp := testPointResult{Index: p, Label: int(j.testSet.Y[p]),
			Helpful: influence.Rank(col, influence.Descending)[:top],
			Harmful: influence.Rank(col, influence.Ascending)[:top]}
		res.TestPoints = append(res.TestPoints, tp)
		fmt.Fprintf(w, "\ntest image %d (label %d)\n", p, tp.Label)
		fmt.Fprintf(w, "  most helpful: %s\n", j.describe(tp.Helpful))
		fmt.Fprintf(w, "  most harmful: %s\n", j.describe(tp.Harmful))
	}
	return res, nil
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
// summary.json.
func (j *job) writeResults(sc *influence.Scores, res *attributionResult, pts []int) error {
	isFlipped := make([]bool, j.data.N())
	for _, i := range j.flipped {
		isFlipped[i] = true
	}
	head := []string{"index", "label", "given_label", "flipped"}
	for _, m := range res.Methods {
		head = append(head, m.Key)
	}
	rows := [][]string{head}
	for i := range j.data.N() {
		row := []string{strconv.Itoa(i), strconv.Itoa(int(j.trainSet.Y[i])),
			strconv.Itoa(int(j.noisy[i])), strconv.FormatBool(isFlipped[i])}
		for _, m := range res.Methods {
			row = append(row, ftoa(m.scores[i]))
		}
		rows = append(rows, row)
	}
	if err := writeCSV(filepath.Join(j.flags.out, "scores.csv"), rows); err != nil {
		return err
	}

	head = []string{"index"}
	for _, p := range pts {
		head = append(head, fmt.Sprintf("test_%d", p))
	}
	rows = [][]string{head}
	for i := range j.data.N() {
		row := []string{strconv.Itoa(i)}
		for k := range pts {
			row = append(row, ftoa(sc.Points[i*len(pts)+k]))
		}
		rows = append(rows, row)
	}
	if err := writeCSV(filepath.Join(j.flags.out, "test-points.csv"), rows); err != nil {
		return err
	}
	if err := j.writeFlipped(); err != nil {
		return err
	}
	return j.writeSummary("summary.json", res)
}
