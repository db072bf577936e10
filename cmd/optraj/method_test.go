package main

import (
	"encoding/json"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/optraj/optraj/influence"
)

// lossAgreement is the largest relative difference allowed between the
// final training loss of the default report and that of -method loss: both
// are one pass at the final weights, written with 8 significant digits.
const lossAgreement = 1e-6

// column returns the named column of a CSV table with a header, as floats.
func column(t *testing.T, rows [][]string, name string) []float64 {
	t.Helper()
	k := slices.Index(rows[0], name)
	if k < 0 {
		t.Fatalf("no column %q in header %q", name, rows[0])
	}
	out := make([]float64, len(rows)-1)
	for r, row := range rows[1:] {
		v, err := strconv.ParseFloat(row[k], 64)
		if err != nil {
			t.Fatalf("row %d, column %s: %v", r+1, name, err)
		}
		out[r] = v
	}
	return out
}

// TestAttributeMethodLoss scores by -method loss and checks its column
// against the final training loss of the default report on the same
// trajectory, row by row.
func TestAttributeMethodLoss(t *testing.T) {
	data := writeTinyMNIST(t)
	def := filepath.Join(t.TempDir(), "default")
	byLoss := filepath.Join(t.TempDir(), "loss")
	mustRun(t, append([]string{"attribute"}, jobArgs(data, def)...)...)
	stdout, _ := mustRun(t, append([]string{"attribute"},
		jobArgs(data, byLoss, "-method", "loss")...)...)

	if !strings.Contains(stdout, "loss, training loss") {
		t.Errorf("no detection row for the training loss in stdout:\n%s", stdout)
	}
	rows := readCSV(t, filepath.Join(byLoss, "scores.csv"))
	wantHead := "index,label,given_label,flipped,loss_test_loss,loss_training_loss"
	if got := strings.Join(rows[0], ","); got != wantHead {
		t.Fatalf("scores.csv header %q, want %q", got, wantHead)
	}
	got := column(t, rows, "loss_training_loss")
	want := column(t, readCSV(t, filepath.Join(def, "scores.csv")), "final_loss")
	if len(got) != tinyTrain || len(want) != tinyTrain {
		t.Fatalf("%d and %d rows, want %d", len(got), len(want), tinyTrain)
	}
	for i := range got {
		if d := math.Abs(got[i] - want[i]); d > lossAgreement*math.Abs(want[i]) {
			t.Fatalf("training point %d: loss %v by -method loss, %v by default",
				i, got[i], want[i])
		}
	}
}

// TestAttributeMethodHessian tracks a few points with Hessian-aware
// HyDRA: scores.csv has a row for each, in order, and summary.json records
// the method, the tracked points and the cost.
func TestAttributeMethodHessian(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	tracked := []int{3, 17, 40, 599}
	stdout, _ := mustRun(t, append([]string{"attribute"}, jobArgs(data, out,
		"-method", "hydra-hessian", "-tracked", "3,17,40,599", "-top", "2")...)...)

	if !strings.Contains(stdout, "hydra-hessian tracks 4 training points") {
		t.Errorf("stdout does not say what is tracked:\n%s", stdout)
	}
	rows := readCSV(t, filepath.Join(out, "scores.csv"))
	if len(rows) != len(tracked)+1 {
		t.Fatalf("scores.csv has %d rows, want a header and %d", len(rows), len(tracked))
	}
	for r, i := range tracked {
		if rows[r+1][0] != strconv.Itoa(i) {
			t.Errorf("scores.csv row %d is point %s, want %d", r+1, rows[r+1][0], i)
		}
	}
	scores := column(t, rows, "hydra_hessian_test_loss")
	if slices.ContainsFunc(scores, func(v float64) bool { return !finite(v) }) ||
		!slices.ContainsFunc(scores, func(v float64) bool { return v != 0 }) {
		t.Errorf("hydra-hessian scores %v, want finite and not all zero", scores)
	}

	var s struct {
		Attribution struct {
			Method  string `json:"method"`
			Options struct {
				Tracked []int `json:"tracked"`
			} `json:"options"`
			Cost *struct {
				Seconds float64 `json:"seconds"`
			} `json:"cost"`
			TestPoints []testPointResult `json:"test_points"`
		} `json:"attribution"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(out, "summary.json")), &s); err != nil {
		t.Fatal(err)
	}
	a := s.Attribution
	if a.Method != "hydra-hessian" || !slices.Equal(a.Options.Tracked, tracked) ||
		a.Cost == nil || len(a.TestPoints) != 3 {
		t.Errorf("summary.json records %+v", a)
	}
	for _, tp := range a.TestPoints {
		for _, i := range append(tp.Helpful, tp.Harmful...) {
			if !slices.Contains(tracked, i) {
				t.Errorf("test point %d lists training point %d, which is not tracked",
					tp.Index, i)
			}
		}
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func TestAttributeMethodBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
		is   error
	}{
		{name: "unknown method",
			args: []string{"-method", "bogus"},
			want: []string{`-method "bogus"`, "hydra-hessian"}},
		{name: "tracked without hydra-hessian",
			args: []string{"-method", "tracin", "-tracked", "1,2"},
			want: []string{`-tracked "1,2"`, "hydra-hessian", "tracin"}},
		{name: "tracked outside the training set",
			args: []string{"-method", "hydra-hessian", "-tracked", "1,600"},
			want: []string{`-tracked "1,600"`, "600", "[0, 600)"}},
		{name: "tracked twice",
			args: []string{"-method", "hydra-hessian", "-tracked", "4,4"},
			want: []string{`-tracked "4,4"`, "twice"}},
		{name: "test point outside the test set",
			args: []string{"-test-points", "0,200"},
			want: []string{`-test-points "0,200"`, "[0, 200)"}},
		{name: "LiSSA diverges",
			args: []string{"-method", "if-lissa", "-lissa-scale", "1e-3",
				"-lissa-depth", "20", "-lissa-batch", "64"},
			want: []string{"if-lissa", "diverged", "raise the scale"},
			is:   influence.ErrDiverged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeTinyMNIST(t)
			out := filepath.Join(t.TempDir(), "out")
			_, _, err := runCmd(t, append([]string{"attribute"},
				jobArgs(data, out, tt.args...)...)...)
			checkError(t, err, tt.is, tt.want...)
			checkNoResults(t, out)
		})
	}
}
