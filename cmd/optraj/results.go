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

func (j *job) writeSummary(name string, attr *attributionResult) error {
	s := summary{
		Command: name, Seed: j.cfg.Seed, Data: j.flags.data, Device: j.dev.Name(),
		Noise: j.flags.noise, Flipped: len(j.flipped),
		TrainPoints: j.trainSet.N, TestPoints: j.testSet.N, Config: j.cfg,
		Trajectory: j.trajectoryD, TestAccuracy: j.testAcc, TestLoss: j.testLoss,
		Phases: j.phases, Attribution: attr,
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(j.flags.out, name), append(data, '\n'))
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

func ftoa(v float64) string { return strconv.FormatFloat(v, 'g', 8, 64) }
