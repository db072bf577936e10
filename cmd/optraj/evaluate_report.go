package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"

	"github.com/optraj/optraj/evaluate"
	"github.com/optraj/optraj/internal/atomicfile"
	"github.com/optraj/optraj/train"
)

// printReport prints a table per protocol that ran.
func printReport(w io.Writer, rep *evaluate.Report) {
	if rep.LOO != nil {
		printLOO(w, rep.LOO)
	}
	if rep.LDS != nil {
		printLDS(w, rep.LDS)
	}
	if rep.Mislabel != nil {
		printMislabel(w, rep.Mislabel)
	}
	printCosts(w, rep)
}

// num formats a correlation, "—" when it is undefined.
func num(v evaluate.Number) string {
	if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
		return "—"
	}
	return fmt.Sprintf("%.4f", float64(v))
}

func printLOO(w io.Writer, r *evaluate.LOOReport) {
	a := r.Actual
	top := 0
	for _, p := range a.Points {
		if p.Top {
			top++
		}
	}
	fmt.Fprintf(w, "\nleave-one-out: %d points (%d by |HyDRA score|, %d at random), "+
		"objective %s, batch scale %s; %.3g s a retraining\n",
		len(a.Points), top, len(a.Points)-top, a.Objective, a.Scale, a.Retrain)
	fmt.Fprintf(w, "%-14s %8s %8s %8s %8s  (the last two: random points only)\n",
		"method", "Pearson", "Spearman", "Pearson", "Spearman")
	for _, m := range r.Methods {
		if m.Err != "" {
			fmt.Fprintf(w, "%-14s n/a: %s\n", m.Method, short(m.Err))
			continue
		}
		fmt.Fprintf(w, "%-14s %8s %8s %8s %8s\n", m.Method, num(m.Pearson),
			num(m.Spearman), num(m.PearsonRandom), num(m.SpearmanRandom))
	}
}

func printLDS(w io.Writer, r *evaluate.LDSReport) {
	fmt.Fprintf(w, "\nlinear datamodeling score: %d subsets of %.0f%%, %d test points, "+
		"batch scale %s; %.3g s a retraining\n", r.Subsets, 100*r.Fraction,
		len(r.Actual.TestPoints), r.Scale, r.Actual.Retrain)
	fmt.Fprintf(w, "%-14s %8s %8s\n", "method", "loss", "margin")
	for _, m := range r.Methods {
		if m.Err != "" {
			fmt.Fprintf(w, "%-14s n/a: %s\n", m.Method, short(m.Err))
			continue
		}
		fmt.Fprintf(w, "%-14s %8s %8s\n", m.Method, num(m.Loss), num(m.Margin))
	}
}

// printMislabel prints the detection table in the form of optraj
// attribute's.
func printMislabel(w io.Writer, r *evaluate.MislabelResult) {
	fmt.Fprintf(w, "\nmislabel detection: share of the %d flipped labels found "+
		"when inspecting a share of the training set in score order\n", r.Flipped)
	fmt.Fprintf(w, "%-38s", "method, detector")
	for _, f := range r.Inspected {
		fmt.Fprintf(w, " %6.0f%%", 100*f)
	}
	fmt.Fprintf(w, " %7s %7s\n", "AUC", "ROC AUC")
	for _, m := range r.Methods {
		if m.Err != "" {
			fmt.Fprintf(w, "%-38s n/a: %s\n", m.Method, short(m.Err))
			continue
		}
		fmt.Fprintf(w, "%-38s", m.Method+", "+m.Detector)
		for _, v := range m.Found {
			fmt.Fprintf(w, " %6.1f%%", 100*v)
		}
		fmt.Fprintf(w, " %7.4f %7.4f\n", m.AUC, m.ROC)
	}
}

func printCosts(w io.Writer, rep *evaluate.Report) {
	fmt.Fprintf(w, "\ncost of scoring every training point%s\n", ownNote(rep))
	fmt.Fprintf(w, "%-14s %9s %12s\n", "method", "wall", "peak memory")
	for _, c := range rep.Costs {
		fmt.Fprintf(w, "%-14s %8.2fs %8.0f MiB", c.Method, c.Seconds, c.PeakMiB)
		if c.Err != "" {
			fmt.Fprintf(w, "  (failed: %s)", short(c.Err))
		}
		fmt.Fprintln(w)
	}
	if rep.LOO != nil {
		fmt.Fprintf(w, "%-14s %8.3gs  per retraining, one core\n", "retraining",
			rep.LOO.Actual.Retrain)
	}
}

// ownNote says what the peak memory covers.
func ownNote(rep *evaluate.Report) string {
	for _, c := range rep.Costs {
		if !c.PeakOwn {
			return " (peak memory: since the process started)"
		}
	}
	return " (peak memory: the process's, reset before each method)"
}

// short cuts an error message to one line of a table.
func short(s string) string {
	const most = 90
	if len(s) > most {
		return s[:most] + "…"
	}
	return s
}

// writeEvaluation writes the CSV tables.
func (j *job) writeEvaluation(rep *evaluate.Report) error {
	out := j.flags.out
	tables := map[string][][]string{"cost.csv": costRows(rep)}
	if rep.LOO != nil {
		tables["loo.csv"] = looRows(rep.LOO)
		tables["loo-points.csv"] = looPointRows(rep.LOO)
	}
	if rep.LDS != nil {
		tables["lds.csv"] = ldsRows(rep.LDS)
	}
	if rep.Mislabel != nil {
		tables["mislabel.csv"] = mislabelRows(rep.Mislabel)
		tables["mislabel-curves.csv"] = curveRows(rep.Mislabel)
	}
	for name, rows := range tables {
		if err := writeCSV(filepath.Join(out, name), rows); err != nil {
			return err
		}
	}
	return nil
}

func nstr(v evaluate.Number) string { return ftoa(float64(v)) }

func looRows(r *evaluate.LOOReport) [][]string {
	rows := [][]string{{"method", "compared", "pearson", "spearman",
		"pearson_random", "spearman_random", "error"}}
	for _, m := range r.Methods {
		rows = append(rows, []string{m.Method, strconv.Itoa(m.Compared),
			nstr(m.Pearson), nstr(m.Spearman), nstr(m.PearsonRandom),
			nstr(m.SpearmanRandom), m.Err})
	}
	return rows
}

// looPointRows lists each left-out point with the actual change and every
// method's prediction.
func looPointRows(r *evaluate.LOOReport) [][]string {
	head := []string{"index", "top", "actual"}
	for _, m := range r.Methods {
		head = append(head, "predicted_"+m.Method)
	}
	rows := [][]string{head}
	for k, p := range r.Actual.Points {
		row := []string{strconv.Itoa(p.Index), strconv.FormatBool(p.Top), ftoa(p.Actual)}
		for _, m := range r.Methods {
			v := math.NaN()
			if k < len(m.Predicted) {
				v = m.Predicted[k]
			}
			row = append(row, ftoa(v))
		}
		rows = append(rows, row)
	}
	return rows
}

func ldsRows(r *evaluate.LDSReport) [][]string {
	head := []string{"method", "lds_loss", "lds_margin", "error"}
	for _, p := range r.Actual.TestPoints {
		head = append(head, fmt.Sprintf("test_%d", p))
	}
	rows := [][]string{head}
	for _, m := range r.Methods {
		row := []string{m.Method, nstr(m.Loss), nstr(m.Margin), m.Err}
		for _, v := range m.PerPoint {
			row = append(row, ftoa(v))
		}
		rows = append(rows, row)
	}
	return rows
}

func mislabelRows(r *evaluate.MislabelResult) [][]string {
	head := []string{"method", "detector"}
	for _, f := range r.Inspected {
		head = append(head, fmt.Sprintf("found_at_%g", f))
	}
	rows := [][]string{append(head, "auc", "roc_auc", "error")}
	for _, m := range r.Methods {
		row := []string{m.Method, m.Detector}
		for k := range r.Inspected {
			v := math.NaN()
			if k < len(m.Found) {
				v = m.Found[k]
			}
			row = append(row, ftoa(v))
		}
		rows = append(rows, append(row, ftoa(m.AUC), ftoa(m.ROC), m.Err))
	}
	return rows
}

// curveRows lists the detection curves, one column per detector.
func curveRows(r *evaluate.MislabelResult) [][]string {
	head := []string{"inspected"}
	var curves [][]float64
	for _, m := range r.Methods {
		if m.Err == "" {
			head = append(head, m.Method+"/"+m.Detector)
			curves = append(curves, m.Curve)
		}
	}
	rows := [][]string{head}
	for k, s := range r.CurveShares {
		row := []string{ftoa(s)}
		for _, c := range curves {
			row = append(row, ftoa(c[k]))
		}
		rows = append(rows, row)
	}
	return rows
}

func costRows(rep *evaluate.Report) [][]string {
	rows := [][]string{{"method", "seconds", "peak_rss_mib", "peak_own", "error"}}
	for _, c := range rep.Costs {
		rows = append(rows, []string{c.Method, ftoa(c.Seconds), ftoa(c.PeakMiB),
			strconv.FormatBool(c.PeakOwn), c.Err})
	}
	if rep.LOO != nil {
		rows = append(rows, []string{"retraining", ftoa(rep.LOO.Actual.Retrain),
			"", "", ""})
	}
	return rows
}

// evalSummary is summary.json of an evaluation: every setting, the seed,
// the run and what the protocols measured.
type evalSummary struct {
	Command      string            `json:"command"`
	Seed         uint64            `json:"seed"`
	DataSet      string            `json:"data_set"`
	Model        string            `json:"model"`
	Device       string            `json:"device"`
	Noise        float64           `json:"noise"`
	Flipped      int               `json:"flipped"`
	TrainPoints  int               `json:"train_points"`
	TestPoints   int               `json:"test_points"`
	Config       train.Config      `json:"config"`
	Flags        map[string]string `json:"flags"`
	Options      evaluate.Options  `json:"options"`
	Trajectory   string            `json:"trajectory"`
	TestAccuracy float64           `json:"test_accuracy"`
	TestLoss     float64           `json:"test_loss"`
	Phases       []phase           `json:"phases"`
	Report       *evaluate.Report  `json:"report"`
}

func (j *job) writeEvalSummary(e *evalFlags, fs *flag.FlagSet, opt evaluate.Options,
	rep *evaluate.Report) error {
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	opt.Flipped = nil // listed in flipped.csv
	s := evalSummary{
		Command: "evaluate", Seed: j.cfg.Seed, DataSet: e.dataSet, Model: e.model,
		Device: j.dev.Name(), Noise: j.flags.noise, Flipped: len(j.flipped),
		TrainPoints: j.trainSet.N, TestPoints: j.testSet.N, Config: j.cfg,
		Flags: flags, Options: opt, Trajectory: j.trajectoryD,
		TestAccuracy: j.testAcc, TestLoss: j.testLoss, Phases: j.phases, Report: rep,
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	if err := j.writeFlipped(); err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(j.flags.out, "summary.json"),
		append(data, '\n'))
}
