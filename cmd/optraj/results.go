package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"

	"github.com/optraj/optraj/internal/atomicfile"
)

// summary is the JSON record of a job: every setting, the seed, and what
// it measured.
type summary struct {
	Command      string             `json:"command"`
	Seed         uint64             `json:"seed"`
	Data         string             `json:"data"`
	Device       string             `json:"device"`
	Noise        float64            `json:"noise"`
	Flipped      int                `json:"flipped"`
	TrainPoints  int                `json:"train_points"`
	TestPoints   int                `json:"test_points"`
	Config       any                `json:"config"`
	Trajectory   string             `json:"trajectory"`
	TestAccuracy float64            `json:"test_accuracy"`
	TestLoss     float64            `json:"test_loss"`
	Phases       []phase            `json:"phases"`
	Attribution  *attributionResult `json:"attribution,omitempty"`
}

// writeSummary writes the summary of the job run by command, with attr if
// it scored the training points, to the file name in the output folder.
func (j *job) writeSummary(command, name string, attr *attributionResult) error {
	s := summary{
		Command: command, Seed: j.cfg.Seed, Data: j.flags.data, Device: j.dev.Name(),
		Noise: j.flags.noise, Flipped: len(j.flipped),
		TrainPoints: j.trainSet.N, TestPoints: j.testSet.N, Config: j.cfg,
		Trajectory: j.trajectoryD, TestAccuracy: j.testAcc, TestLoss: j.testLoss,
		Phases: j.phases, Attribution: attr,
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return atomicfile.WriteBytes(filepath.Join(j.flags.out, name), append(data, '\n'))
}

// writeAttribution writes scores.csv, test-points.csv, flipped.csv and
// summary.json of an attribution. rows are the training points scored,
// cols the score columns (each with one score per row) and points the
// len(rows)×len(pts) scores against the test points pts.
func (j *job) writeAttribution(rows []int, cols []*method, points []float64,
	res *attributionResult, pts []int) error {
	if err := j.writeScores(rows, cols); err != nil {
		return err
	}
	if err := j.writeTestPoints(rows, points, pts); err != nil {
		return err
	}
	if err := j.writeFlipped(); err != nil {
		return err
	}
	return j.writeSummary("attribute", "summary.json", res)
}

// writeScores writes scores.csv: a row per scored training point with its
// true and given labels, whether it was flipped, and its score in each of
// cols.
func (j *job) writeScores(rows []int, cols []*method) error {
	isFlipped := j.flippedMask()
	head := []string{"index", "label", "given_label", "flipped"}
	for _, m := range cols {
		head = append(head, m.Key)
	}
	out := [][]string{head}
	for r, i := range rows {
		row := []string{strconv.Itoa(i), strconv.Itoa(int(j.trainSet.Y[i])),
			strconv.Itoa(int(j.noisy[i])), strconv.FormatBool(isFlipped[i])}
		for _, m := range cols {
			row = append(row, ftoa(m.scores[r]))
		}
		out = append(out, row)
	}
	return writeCSV(filepath.Join(j.flags.out, "scores.csv"), out)
}

// writeTestPoints writes test-points.csv: a row per scored training point
// rows[r] with its scores points[r·J : (r+1)·J] against the J test points
// pts.
func (j *job) writeTestPoints(rows []int, points []float64, pts []int) error {
	head := []string{"index"}
	for _, p := range pts {
		head = append(head, fmt.Sprintf("test_%d", p))
	}
	out := [][]string{head}
	for r, i := range rows {
		row := []string{strconv.Itoa(i)}
		for k := range pts {
			row = append(row, ftoa(points[r*len(pts)+k]))
		}
		out = append(out, row)
	}
	return writeCSV(filepath.Join(j.flags.out, "test-points.csv"), out)
}

// writeFlipped writes the flipped indices with their true and given labels.
func (j *job) writeFlipped() error {
	rows := [][]string{{"index", "label", "given_label"}}
	for _, i := range j.flipped {
		rows = append(rows, []string{strconv.Itoa(i),
			strconv.Itoa(int(j.trainSet.Y[i])), strconv.Itoa(int(j.noisy[i]))})
	}
	return writeCSV(filepath.Join(j.flags.out, "flipped.csv"), rows)
}

// writeCSV writes rows to path atomically.
func writeCSV(path string, rows [][]string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		if err := cw.WriteAll(rows); err != nil {
			return fmt.Errorf("csv: %w", err)
		}
		return nil
	})
}

// ftoa formats v for the CSV files, to 8 significant digits.
func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
