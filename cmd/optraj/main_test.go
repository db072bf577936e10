package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/evaluate"
)

// The tiny data set: side×side images of classes that light up a block of
// their own, with noise everywhere. A small MLP learns it in two epochs.
const (
	tinySide  = 28
	tinyTrain = 600
	tinyTest  = 200
	tinyBlock = 7   // the block of class c is the c-th of a 4×4 grid
	tinyNoise = 80  // background pixels are uniform in [0, tinyNoise)
	tinyLight = 200 // block pixels are tinyLight plus noise
	tinySeed  = 7
)

// minAccuracy is the test accuracy below which the tiny data was not
// learnt: chance is 10%, and the blocks leave no doubt about the class.
const minAccuracy = 0.8

// Detection AUCs on the tiny data. Self-relevance ranks a flipped point
// first for being hard to fit, and measured 0.95 on it; random order has
// AUC 0.5 in expectation, and 0.51 on the tiny data's 60 flipped labels.
const (
	minSelfAUC     = 0.8
	randomAUCSlack = 0.2
)

// Names of the IDX files, as dataset.LoadMNIST looks for them. The
// training images are plain, so that a test can cut them short; the
// others are gzip-compressed.
const (
	trainImages = "train-images-idx3-ubyte"
	trainLabels = "train-labels-idx1-ubyte.gz"
	testImages  = "t10k-images-idx3-ubyte.gz"
	testLabels  = "t10k-labels-idx1-ubyte.gz"
)

// writeTinyMNIST writes the tiny data set into a new folder and returns
// its path.
func writeTinyMNIST(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(tinySeed, 0))
	writeTinyPair(t, dir, trainImages, trainLabels, tinyTrain, tinyTrain, rng)
	writeTinyPair(t, dir, testImages, testLabels, tinyTest, tinyTest, rng)
	return dir
}

// writeTinyPair writes n images and m labels, the first min(n, m) of them
// matching.
func writeTinyPair(t *testing.T, dir, images, labels string, n, m int,
	rng *rand.Rand) {
	t.Helper()
	d := tinySide * tinySide
	x := make([]byte, max(n, m)*d)
	y := make([]byte, max(n, m))
	for i := range y {
		y[i] = byte(rng.IntN(dataset.IDXClasses))
		tinyImage(x[i*d:(i+1)*d], int(y[i]), rng)
	}
	err := dataset.WriteIDXFile(filepath.Join(dir, images),
		&dataset.IDX{Dims: []int{n, tinySide, tinySide}, Data: x[:n*d]})
	if err != nil {
		t.Fatal(err)
	}
	err = dataset.WriteIDXFile(filepath.Join(dir, labels),
		&dataset.IDX{Dims: []int{m}, Data: y[:m]})
	if err != nil {
		t.Fatal(err)
	}
}

// tinyImage draws an image of class c into img.
func tinyImage(img []byte, c int, rng *rand.Rand) {
	r0, c0 := tinyBlock*(c/4), tinyBlock*(c%4)
	for r := range tinySide {
		for col := range tinySide {
			v := rng.IntN(tinyNoise)
			if r >= r0 && r < r0+tinyBlock && col >= c0 && col < c0+tinyBlock {
				v = min(255, v+tinyLight)
			}
			img[r*tinySide+col] = byte(v)
		}
	}
}

// jobArgs are the flags of a small, quick job on data into out.
func jobArgs(data, out string, extra ...string) []string {
	args := []string{"-data", data, "-out", out, "-device", "cpu",
		"-epochs", "2", "-batch", "32", "-hidden", "16", "-noise", "0.1",
		"-seed", strconv.Itoa(tinySeed), "-quiet"}
	return append(args, extra...)
}

// runCmd runs the command line args and returns its stdout and stderr.
func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

// mustRun runs args and fails the test if it returns an error.
func mustRun(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, err := runCmd(t, args...)
	if err != nil {
		t.Fatalf("optraj %s: %v\nstdout:\n%s\nstderr:\n%s",
			strings.Join(args, " "), err, stdout, stderr)
	}
	return stdout, stderr
}

// readCSV reads the rows of a CSV file.
func readCSV(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return rows
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var (
	accuracyLine = regexp.MustCompile(`(?m)^test accuracy ([0-9.]+)%, test loss [0-9.]+$`)
	flippedCount = regexp.MustCompile(`labels flipped \((\d+)\)`)
)

// parseAccuracy returns the test accuracy that stdout reports, in [0, 1].
func parseAccuracy(t *testing.T, stdout string) float64 {
	t.Helper()
	m := accuracyLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no test accuracy line in stdout:\n%s", stdout)
	}
	acc, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return acc / 100
}

// parseFlipped returns the number of flipped labels that stdout reports.
func parseFlipped(t *testing.T, stdout string) int {
	t.Helper()
	m := flippedCount.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no flipped count in stdout:\n%s", stdout)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAttribute(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	stdout, _ := mustRun(t, append([]string{"attribute"}, jobArgs(data, out)...)...)

	if acc := parseAccuracy(t, stdout); acc < minAccuracy {
		t.Errorf("test accuracy %.3f, want at least %.2f", acc, minAccuracy)
	}
	for _, row := range []string{"HyDRA, test loss", "HyDRA, self-relevance",
		"training loss (final)", "TracIn self-influence", "random order"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(row) +
			`( +[0-9.]+%){4}( +[0-9.]+)+$`).MatchString(stdout) {
			t.Errorf("no detection row %q in stdout:\n%s", row, stdout)
		}
	}
	flipped := parseFlipped(t, stdout)
	if want := tinyTrain / 10; flipped != want {
		t.Errorf("%d labels flipped, want %d", flipped, want)
	}

	scores := readCSV(t, filepath.Join(out, "scores.csv"))
	if len(scores) != tinyTrain+1 {
		t.Errorf("scores.csv has %d rows, want %d and a header", len(scores), tinyTrain)
	}
	wantHead := "index,label,given_label,flipped,hydra_test_loss,hydra_self," +
		"final_loss,tracin_self,random"
	if got := strings.Join(scores[0], ","); got != wantHead {
		t.Errorf("scores.csv header %q, want %q", got, wantHead)
	}
	if got := len(readCSV(t, filepath.Join(out, "flipped.csv"))); got != flipped+1 {
		t.Errorf("flipped.csv has %d rows, want %d and a header", got, flipped)
	}
	if got := len(readCSV(t, filepath.Join(out, "test-points.csv"))); got != tinyTrain+1 {
		t.Errorf("test-points.csv has %d rows, want %d and a header", got, tinyTrain)
	}
	checkAttributeSummary(t, filepath.Join(out, "summary.json"), flipped)
}

// checkAttributeSummary checks that summary.json records the seed and
// the settings of jobArgs.
func checkAttributeSummary(t *testing.T, path string, flipped int) {
	t.Helper()
	var s struct {
		Command      string  `json:"command"`
		Seed         uint64  `json:"seed"`
		Noise        float64 `json:"noise"`
		Flipped      int     `json:"flipped"`
		TrainPoints  int     `json:"train_points"`
		TestPoints   int     `json:"test_points"`
		TestAccuracy float64 `json:"test_accuracy"`
		Config       struct {
			Sizes     []int  `json:"sizes"`
			Epochs    int    `json:"epochs"`
			BatchSize int    `json:"batch_size"`
			Seed      uint64 `json:"seed"`
		} `json:"config"`
		Attribution struct {
			Methods []struct {
				Key string  `json:"key"`
				AUC float64 `json:"auc"`
			} `json:"methods"`
		} `json:"attribution"`
	}
	if err := json.Unmarshal(readFile(t, path), &s); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	c := s.Config
	if s.Command != "attribute" || s.Seed != tinySeed || c.Seed != tinySeed || s.Noise != 0.1 ||
		s.Flipped != flipped || s.TrainPoints != tinyTrain || s.TestPoints != tinyTest ||
		c.Epochs != 2 || c.BatchSize != 32 ||
		!slices.Equal(c.Sizes, []int{tinySide * tinySide, 16, 10}) {
		t.Errorf("summary.json records %+v", s)
	}
	if s.TestAccuracy < minAccuracy {
		t.Errorf("summary.json: test accuracy %v", s.TestAccuracy)
	}
	auc := map[string]float64{}
	for _, m := range s.Attribution.Methods {
		auc[m.Key] = m.AUC
	}
	if len(auc) != 5 {
		t.Errorf("summary.json: %d methods, want 5", len(s.Attribution.Methods))
	}
	if auc["hydra_self"] < minSelfAUC {
		t.Errorf("HyDRA self-relevance finds flipped labels with AUC %.3f, "+
			"want at least %.2f", auc["hydra_self"], minSelfAUC)
	}
	if r := auc["random"]; r < 0.5-randomAUCSlack || r > 0.5+randomAUCSlack {
		t.Errorf("random order has AUC %.3f, want 0.5 ± %.2f", r, randomAUCSlack)
	}
}

func TestAttributeDeterministic(t *testing.T) {
	data := writeTinyMNIST(t)
	a := filepath.Join(t.TempDir(), "a")
	b := filepath.Join(t.TempDir(), "b")
	mustRun(t, append([]string{"attribute"}, jobArgs(data, a)...)...)
	mustRun(t, append([]string{"attribute"}, jobArgs(data, b)...)...)

	for _, name := range []string{"scores.csv", "test-points.csv", "flipped.csv"} {
		if !bytes.Equal(readFile(t, filepath.Join(a, name)),
			readFile(t, filepath.Join(b, name))) {
			t.Errorf("%s differs between two runs with seed %d", name, tinySeed)
		}
	}
}

// TestAttributeReusesTrajectory trains with train, then attributes into
// the same folder: attribute must load the finished trajectory rather
// than train again, and give the scores of a fresh run. The fresh run
// scores from the step log of its training, the other by a replay.
func TestAttributeReusesTrajectory(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	stdout, _ := mustRun(t, append([]string{"train"}, jobArgs(data, out)...)...)
	trainAcc := parseAccuracy(t, stdout)
	if _, err := os.Stat(filepath.Join(out, "train-summary.json")); err != nil {
		t.Errorf("train wrote no summary: %v", err)
	}
	before := trajectoryFiles(t, out)

	stdout, stderr := mustRun(t, append([]string{"attribute"}, jobArgs(data, out)...)...)
	if !strings.Contains(stderr, "resumed the trajectory") ||
		!strings.Contains(stderr, "scoring by a replay") {
		t.Errorf("attribute did not report reusing the trajectory and replaying it; "+
			"stderr:\n%s", stderr)
	}
	if acc := parseAccuracy(t, stdout); acc != trainAcc {
		t.Errorf("test accuracy %v after reuse, %v after training", acc, trainAcc)
	}
	after := trajectoryFiles(t, out)
	for name, info := range before {
		if a, ok := after[name]; !ok || !a.ModTime().Equal(info.ModTime()) {
			t.Errorf("trajectory file %s was rewritten", name)
		}
	}

	fresh := filepath.Join(t.TempDir(), "fresh")
	_, stderr = mustRun(t, append([]string{"attribute"}, jobArgs(data, fresh)...)...)
	if strings.Contains(stderr, "replay") {
		t.Errorf("a fresh attribute replayed its run; stderr:\n%s", stderr)
	}
	for dir, want := range map[string]string{out: "replay", fresh: "step log"} {
		var s struct {
			Attribution struct {
				Scoring string `json:"scoring"`
			} `json:"attribution"`
		}
		if err := json.Unmarshal(readFile(t, filepath.Join(dir, "summary.json")), &s); err != nil {
			t.Fatal(err)
		}
		if s.Attribution.Scoring != want {
			t.Errorf("%s: summary.json says scoring by %q, want %q", dir,
				s.Attribution.Scoring, want)
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(out, "scores.csv")),
		readFile(t, filepath.Join(fresh, "scores.csv"))) {
		t.Error("scores.csv from the reused trajectory differs from a fresh run's")
	}

	// Another config into the same folder must not reuse it.
	_, _, err := runCmd(t, append([]string{"attribute"},
		jobArgs(data, out, "-epochs", "3")...)...)
	if err == nil || !strings.Contains(err.Error(), "another run") {
		t.Errorf("attribute -epochs 3 into a 2-epoch folder: error %v, "+
			"want one about another run", err)
	}
}

// trajectoryFiles returns the files of the trajectory folder in out.
func trajectoryFiles(t *testing.T, out string) map[string]os.FileInfo {
	t.Helper()
	dir := filepath.Join(out, "trajectory")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]os.FileInfo{}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = info
	}
	if _, ok := files["trajectory.json"]; !ok || len(files) < 3 {
		t.Fatalf("trajectory folder %s holds %d files, no trajectory.json", dir, len(files))
	}
	return files
}

// TestAttributeTopAboveN asks for more helpful and harmful images than
// there are training images: every one is listed, once.
func TestAttributeTopAboveN(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, append([]string{"attribute"},
		jobArgs(data, out, "-top", "1000", "-test-points", "4")...)...)

	var s struct {
		Attribution struct {
			TestPoints []testPointResult `json:"test_points"`
		} `json:"attribution"`
	}
	if err := json.Unmarshal(readFile(t, filepath.Join(out, "summary.json")), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Attribution.TestPoints) != 1 {
		t.Fatalf("summary.json lists %d test points, want 1", len(s.Attribution.TestPoints))
	}
	tp := s.Attribution.TestPoints[0]
	for _, list := range [][]int{tp.Helpful, tp.Harmful} {
		sorted := slices.Sorted(slices.Values(list))
		if len(list) != tinyTrain || sorted[0] != 0 || sorted[tinyTrain-1] != tinyTrain-1 ||
			len(slices.Compact(sorted)) != tinyTrain {
			t.Errorf("test point %d lists %d training images, want each of %d once",
				tp.Index, len(list), tinyTrain)
		}
	}
}

// resultFiles are the files that a failed job must not leave behind.
var resultFiles = []string{"scores.csv", "summary.json", "flipped.csv", "test-points.csv"}

func TestAttributeBadInput(t *testing.T) {
	tests := []struct {
		name string
		// setup changes the data folder and returns the flags to add.
		setup func(t *testing.T, data, out string) []string
		want  []string // substrings of the error
		is    error    // if not nil, errors.Is must hold
	}{
		{name: "noise above one",
			setup: flags("-noise", "1.5"),
			want:  []string{"-noise 1.5", "[0, 1)"}},
		{name: "negative noise",
			setup: flags("-noise", "-0.1"),
			want:  []string{"-noise -0.1", "[0, 1)"}},
		{name: "bad hidden width",
			setup: flags("-hidden", "16,x"),
			want:  []string{"-hidden", `"x"`}},
		{name: "negative top",
			setup: flags("-top", "-1"),
			want:  []string{"-top -1"}},
		{name: "unknown device",
			setup: flags("-device", "bogus"),
			want:  []string{`"bogus"`, "device"}},
		{name: "truncated images",
			setup: func(t *testing.T, data, _ string) []string {
				path := filepath.Join(data, trainImages)
				info, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(path, info.Size()-100); err != nil {
					t.Fatal(err)
				}
				return nil
			},
			want: []string{trainImages},
			is:   dataset.ErrTruncated},
		{name: "count mismatch",
			setup: func(t *testing.T, data, _ string) []string {
				rng := rand.New(rand.NewPCG(tinySeed, 1))
				writeTinyPair(t, data, trainImages, trainLabels, tinyTrain,
					tinyTrain-1, rng)
				return nil
			},
			want: []string{trainImages, trainLabels, "600 images", "599 labels"},
			is:   dataset.ErrCountMismatch},
		{name: "missing data folder",
			setup: func(t *testing.T, data, _ string) []string {
				return []string{"-data", filepath.Join(data, "absent")}
			},
			want: []string{"absent", "not found"},
			is:   os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := writeTinyMNIST(t)
			out := filepath.Join(t.TempDir(), "out")
			extra := tt.setup(t, data, out)
			_, _, err := runCmd(t, append([]string{"attribute"},
				jobArgs(data, out, extra...)...)...)
			checkError(t, err, tt.is, tt.want...)
			checkNoResults(t, out)
		})
	}
}

// flags returns a setup that adds args.
func flags(args ...string) func(*testing.T, string, string) []string {
	return func(*testing.T, string, string) []string { return args }
}

// checkError fails the test unless err is an error that wraps is (when
// not nil) and whose message holds each of want.
func checkError(t *testing.T, err, is error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", want)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %q does not wrap %q", err, is)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// checkNoResults fails the test if out holds a results file.
func checkNoResults(t *testing.T, out string) {
	t.Helper()
	for _, name := range resultFiles {
		if _, err := os.Stat(filepath.Join(out, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind (stat: %v)", name, err)
		}
	}
}

// TestAttributeUnwritableOutput points -out where no folder can be made:
// under a regular file (which stops root too), and under a read-only
// folder (which does not stop root).
func TestAttributeUnwritableOutput(t *testing.T) {
	t.Run("file in the way", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		content := []byte("not a folder\n")
		if err := os.WriteFile(file, content, 0o600); err != nil {
			t.Fatal(err)
		}
		err := attributeInto(t, filepath.Join(file, "out"))
		checkError(t, err, nil, "output folder", file, "not a directory")
		if got := readFile(t, file); !bytes.Equal(got, content) {
			t.Errorf("%s now holds %q, want %q", file, got, content)
		}
	})
	t.Run("read-only folder", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root, which writes into read-only folders")
		}
		parent := t.TempDir()
		if err := os.Chmod(parent, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(parent, 0o700) })
		out := filepath.Join(parent, "out")
		checkError(t, attributeInto(t, out), os.ErrPermission, "output folder", out)
		checkNoResults(t, out)
	})
}

// attributeInto runs a quick attribute job on the tiny data into out and
// returns its error.
func attributeInto(t *testing.T, out string) error {
	t.Helper()
	_, _, err := runCmd(t, append([]string{"attribute"},
		jobArgs(writeTinyMNIST(t), out)...)...)
	return err
}

func TestUnknownCommand(t *testing.T) {
	_, stderr, err := runCmd(t, "frobnicate")
	checkError(t, err, errUsage, `"frobnicate"`)
	if !strings.Contains(stderr, "optraj attribute") {
		t.Errorf("no usage on stderr:\n%s", stderr)
	}
	if got := exitCode(err); got != 2 {
		t.Errorf("exit code %d, want 2", got)
	}
}

func TestDevices(t *testing.T) {
	stdout, _ := mustRun(t, "devices")
	if !regexp.MustCompile(`(?m)^cpu: \S`).MatchString(stdout) {
		t.Errorf("devices lists no CPU:\n%s", stdout)
	}
	if !regexp.MustCompile(`(?m)^cuda: `).MatchString(stdout) {
		t.Errorf("devices says nothing about CUDA:\n%s", stdout)
	}
}

// The files of an evaluation with every protocol.
var evalTables = []string{"loo.csv", "loo-points.csv", "lds.csv", "mislabel.csv",
	"mislabel-curves.csv", "cost.csv", "flipped.csv", "summary.json"}

var evalPictures = []string{"loo", "lds", "mislabel", "cost"}

func TestEvaluate(t *testing.T) {
	data := writeTinyMNIST(t)
	out := filepath.Join(t.TempDir(), "out")
	args := append([]string{"evaluate"}, jobArgs(data, out,
		"-model", "logreg", "-loo-points", "5", "-lds-subsets", "4",
		"-lds-test-points", "5", "-workers", "2",
		"-methods", "hydra,hydra-hessian,loss,random")...)
	stdout, _ := mustRun(t, args...)

	if acc := parseAccuracy(t, stdout); acc < minAccuracy {
		t.Errorf("test accuracy %.3f, want at least %.2f", acc, minAccuracy)
	}
	for _, s := range []string{"leave-one-out: 10 points", "linear datamodeling score: 4",
		"mislabel detection", "cost of scoring"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("no %q in stdout:\n%s", s, stdout)
		}
	}
	for _, name := range evalTables {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("no %s: %v", name, err)
		}
	}
	for _, p := range evalPictures {
		checkPicture(t, filepath.Join(out, p))
	}
	loo := readCSV(t, filepath.Join(out, "loo.csv"))
	if len(loo) != 1+4 {
		t.Errorf("loo.csv has %d rows, want a header and 4 methods", len(loo))
	}
	if got := len(readCSV(t, filepath.Join(out, "loo-points.csv"))); got != 1+10 {
		t.Errorf("loo-points.csv has %d rows, want a header and 10 points", got)
	}

	journals := map[string][]byte{}
	for _, name := range []string{evaluate.LOOFile, evaluate.LDSFile} {
		journals[name] = readFile(t, filepath.Join(out, name))
		if n := bytes.Count(journals[name], []byte("\n")); n < 2 {
			t.Errorf("%s holds %d lines, want a header and outcomes", name, n)
		}
	}
	looTable := readFile(t, filepath.Join(out, "loo-points.csv"))

	_, stderr := mustRun(t, args...)
	if !strings.Contains(stderr, "resumed the trajectory") {
		t.Errorf("the second evaluate did not reuse the trajectory; stderr:\n%s", stderr)
	}
	for name, before := range journals {
		if after := readFile(t, filepath.Join(out, name)); !bytes.Equal(after, before) {
			t.Errorf("%s changed on the second run: %d lines, then %d", name,
				bytes.Count(before, []byte("\n")), bytes.Count(after, []byte("\n")))
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(out, "loo-points.csv")), looTable) {
		t.Error("loo-points.csv differs on the second run")
	}
}

// checkPicture fails the test unless base.png is a PNG and base.svg an
// SVG.
func checkPicture(t *testing.T, base string) {
	t.Helper()
	png, err := os.ReadFile(base + ".png")
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s.png is not a PNG (read: %v)", base, err)
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil || !bytes.Contains(svg, []byte("<svg")) {
		t.Errorf("%s.svg is not an SVG (read: %v)", base, err)
	}
}
