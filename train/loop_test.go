package train_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// The run most tests record: 60 points of 6 values in 3 classes, batches
// of 8 (the last batch of each epoch has 4 points), 4 epochs of 8 steps,
// momentum, weight decay and a cosine schedule, with checkpoints every 5
// steps and at the end (step 32).
const (
	blobN, blobD, blobClasses = 60, 6, 3
	blobSpread                = 0.8
	blobSeed                  = 21
)

func testConfig() train.Config {
	return train.Config{
		Sizes: []int{blobD, 10, blobClasses}, Epochs: 4, BatchSize: 8,
		LearningRate: 0.1, Schedule: train.Cosine, Momentum: 0.9,
		WeightDecay: 1e-3, Seed: 7, CheckpointEvery: 5,
	}
}

// testCheckpoints are the checkpoints of testConfig's run.
var testCheckpoints = []int{0, 5, 10, 15, 20, 25, 30, 32}

// blobs returns the data of a Blobs set on dev.
func blobs(t *testing.T, dev device.Device, s *dataset.Set) *train.Data {
	t.Helper()
	d, err := train.NewData(dev, s.X, s.Y, s.D, s.Classes)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testData(t *testing.T, dev device.Device) *train.Data {
	t.Helper()
	return blobs(t, dev, dataset.Blobs(blobN, blobD, blobClasses, blobSpread, blobSeed))
}

// mustTrain trains and fails the test on an error; the run is freed when
// the test ends.
func mustTrain(t *testing.T, dev device.Device, data *train.Data, cfg train.Config,
	dir string, progress train.Progress) *train.Run {
	t.Helper()
	run, err := train.Train(context.Background(), dev, data, cfg, dir, progress)
	if err != nil {
		t.Fatalf("Train: %v", err)
	}
	t.Cleanup(run.Free)
	return run
}

// state returns the weights and then the momentum of run.
func state(t *testing.T, run *train.Run) [][]float32 {
	t.Helper()
	w, err := run.Model.Weights()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range run.Opt.Velocity() {
		w = append(w, host(t, v))
	}
	return w
}

// sameBits fails the test unless got and want hold the same float32 bits.
func sameBits(t *testing.T, what string, got, want [][]float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d tensors, want %d", what, len(got), len(want))
	}
	for k := range want {
		if len(got[k]) != len(want[k]) {
			t.Fatalf("%s: tensor %d has %d values, want %d",
				what, k, len(got[k]), len(want[k]))
		}
		for i := range want[k] {
			g, w := math.Float32bits(got[k][i]), math.Float32bits(want[k][i])
			if g != w {
				t.Fatalf("%s: tensor %d value %d is %g (%#08x), want %g (%#08x)",
					what, k, i, got[k][i], g, want[k][i], w)
			}
		}
	}
}

// readFiles returns the contents of every file in dir by name.
func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// ckptName is the file of checkpoint step, as the record format names it.
func ckptName(step int) string { return fmt.Sprintf("ckpt-%08d.bin", step) }

// wantFiles fails the test unless dir holds exactly the record, the
// order and the listed checkpoints: no temporary files, no strays.
func wantFiles(t *testing.T, dir string, checkpoints []int) {
	t.Helper()
	want := []string{"order.bin", "trajectory.json"}
	for _, c := range checkpoints {
		want = append(want, ckptName(c))
	}
	slices.Sort(want)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func TestTrainDeterministic(t *testing.T) {
	cfg := testConfig()
	dirA, dirB := t.TempDir(), t.TempDir()
	devA, devB := device.NewCPU(0), device.NewCPU(1)
	runA := mustTrain(t, devA, testData(t, devA), cfg, dirA, nil)
	runB := mustTrain(t, devB, testData(t, devB), cfg, dirB, nil)

	rec := runA.Record
	ckpts := rec.Checkpoints
	if rec.Steps != 32 || !rec.Complete || !slices.Equal(ckpts, testCheckpoints) {
		t.Errorf("record of %d steps, complete %v, checkpoints %v; "+
			"want 32, true, %v", rec.Steps, rec.Complete, ckpts, testCheckpoints)
	}
	if runA.Resumed != -1 || runA.Step != rec.Steps {
		t.Errorf("fresh run: Resumed %d, Step %d; want -1, %d",
			runA.Resumed, runA.Step, rec.Steps)
	}
	if rec.Dir() != dirA || runB.Record.Dir() != dirB {
		t.Errorf("records in %s and %s, want %s and %s",
			rec.Dir(), runB.Record.Dir(), dirA, dirB)
	}
	jsonA, errA := json.Marshal(runA.Record)
	jsonB, errB := json.Marshal(runB.Record)
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(jsonA, jsonB) {
		t.Errorf("records differ:\n%s\n%s", jsonA, jsonB)
	}

	wantFiles(t, dirA, testCheckpoints)
	filesA, filesB := readFiles(t, dirA), readFiles(t, dirB)
	for name, a := range filesA {
		if !bytes.Equal(a, filesB[name]) {
			t.Errorf("%s differs between the two runs", name)
		}
	}
	if len(filesA) != len(filesB) {
		t.Errorf("the runs wrote %d and %d files", len(filesA), len(filesB))
	}
	sameBits(t, "final state", state(t, runB), state(t, runA))
}

func TestReplay(t *testing.T) {
	cfg := testConfig()
	dev := device.NewCPU(0)
	data := testData(t, dev)
	dir := t.TempDir()
	final := state(t, mustTrain(t, dev, data, cfg, dir, nil))
	rec, err := train.OpenRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := readFiles(t, dir)

	for _, from := range []int{0, 15, 30, 32} {
		t.Run(fmt.Sprintf("from=%d", from), func(t *testing.T) {
			run := replay(t, dev, data, rec, from, rec.Steps)
			sameBits(t, "replayed final state", state(t, run), final)
		})
	}

	t.Run("to a checkpoint", func(t *testing.T) {
		mid := replay(t, dev, data, rec, 0, 20)
		ckpt := replay(t, dev, data, rec, 20, 20)
		sameBits(t, "state at step 20", state(t, mid), state(t, ckpt))
	})

	t.Run("LoadFinal", func(t *testing.T) {
		run, err := train.LoadFinal(dev, rec)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(run.Free)
		sameBits(t, "final checkpoint", state(t, run), final)
	})

	after := readFiles(t, dir)
	if len(after) != len(before) {
		t.Errorf("replay changed the folder from %d files to %d",
			len(before), len(after))
	}
	for name, b := range before {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("replay changed %s", name)
		}
	}
}

// replay replays rec over [from, to) and checks what the hook and the
// progress callback see at each step.
func replay(t *testing.T, dev device.Device, data *train.Data, rec *train.Record,
	from, to int) *train.Run {
	t.Helper()
	next, events := from, 0
	hook := func(s *train.StepInfo) error {
		if s.Step != next || s.LR != rec.LR[s.Step] ||
			!slices.Equal(s.Batch, rec.Batch(s.Step)) {
			return fmt.Errorf("hook at step %d (lr %g, batch %v), want step %d",
				s.Step, s.LR, s.Batch, next)
		}
		next++
		return nil
	}
	progress := func(e train.Event) {
		events++
		if e.Step != from+events || e.Steps != to || math.IsNaN(e.Loss) {
			t.Errorf("progress event %+v after %d steps from %d", e, events, from)
		}
	}
	ctx := context.Background()
	run, err := train.Replay(ctx, dev, data, rec, from, to, hook, progress)
	if err != nil {
		t.Fatalf("Replay(%d, %d): %v", from, to, err)
	}
	t.Cleanup(run.Free)
	if next != to || events != to-from || run.Step != to {
		t.Errorf("Replay(%d, %d): hook reached step %d, %d events, run at %d",
			from, to, next, events, run.Step)
	}
	return run
}

func TestReplayErrors(t *testing.T) {
	dev := device.NewCPU(0)
	data := testData(t, dev)
	dir := t.TempDir()
	mustTrain(t, dev, data, testConfig(), dir, nil)
	rec, err := train.OpenRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := blobs(t, dev, dataset.Blobs(blobN, blobD, blobClasses, blobSpread, 99))
	stop := errors.New("stop")

	tests := []struct {
		name     string
		from, to int
		data     *train.Data
		hook     train.Hook
		want     string
		wantIs   error
	}{
		{"no checkpoint", 7, 10, data, nil, "no checkpoint", nil},
		{"past the end", 30, 33, data, nil, "[30, 33)", nil},
		{"backwards", 15, 10, data, nil, "[15, 10)", nil},
		{"negative", -1, 10, data, nil, "[-1, 10)", nil},
		{"other data", 0, 5, other, nil, "does not match", nil},
		{"hook error", 0, 5, data,
			func(s *train.StepInfo) error { return stop }, "stop", stop},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			run, err := train.Replay(context.Background(), dev, tc.data, rec,
				tc.from, tc.to, tc.hook, nil)
			if err == nil {
				run.Free()
				t.Fatalf("Replay(%d, %d) succeeded", tc.from, tc.to)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %q", err, tc.wantIs)
			}
		})
	}
}

func TestResume(t *testing.T) {
	cfg := testConfig()
	dev := device.NewCPU(0)
	data := testData(t, dev)
	whole := t.TempDir()
	mustTrain(t, dev, data, cfg, whole, nil)
	wholeFiles := readFiles(t, whole)

	// Stop after a checkpoint step, between checkpoints, and one step
	// before the end.
	for _, stop := range []int{10, 12, 31} {
		t.Run(fmt.Sprintf("stop=%d", stop), func(t *testing.T) {
			dir := t.TempDir()
			interrupt(t, dev, data, cfg, dir, stop)

			first := -1
			run := mustTrain(t, dev, data, cfg, dir, func(e train.Event) {
				if first < 0 {
					first = e.Step
				}
			})
			if run.Resumed != stop || first != stop+1 || run.Step != run.Record.Steps {
				t.Errorf("resumed from %d, first step done %d, ended at %d; "+
					"want %d, %d, %d", run.Resumed, first, run.Step,
					stop, stop+1, run.Record.Steps)
			}
			files := readFiles(t, dir)
			for _, c := range testCheckpoints {
				if !bytes.Equal(files[ckptName(c)], wholeFiles[ckptName(c)]) {
					t.Errorf("%s differs from the uninterrupted run's", ckptName(c))
				}
			}
			wantFiles(t, dir, withStep(testCheckpoints, stop))
		})
	}

	t.Run("finished", func(t *testing.T) {
		steps := 0
		run := mustTrain(t, dev, data, cfg, whole, func(train.Event) { steps++ })
		if run.Resumed != run.Record.Steps || steps != 0 {
			t.Errorf("a finished record resumed from %d and ran %d steps; "+
				"want %d and 0", run.Resumed, steps, run.Record.Steps)
		}
		final, err := train.LoadFinal(dev, run.Record)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(final.Free)
		sameBits(t, "loaded final state", state(t, run), state(t, final))
	})
}

// interrupt starts the run of cfg in dir and cancels it from the progress
// callback after step stop, then checks the record it leaves.
func interrupt(t *testing.T, dev device.Device, data *train.Data, cfg train.Config,
	dir string, stop int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	run, err := train.Train(ctx, dev, data, cfg, dir, func(e train.Event) {
		if e.Step == stop {
			cancel()
		}
	})
	if err == nil {
		run.Free()
		t.Fatalf("cancelled run finished")
	}
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(),
		fmt.Sprintf("step %d", stop)) {
		t.Errorf("cancelled run: %v; want context.Canceled at step %d", err, stop)
	}

	rec, err := train.OpenRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := withStep(testCheckpoints[:slices.Index(testCheckpoints, stop/5*5)+1], stop)
	if rec.Complete || !slices.Equal(rec.Checkpoints, want) {
		t.Errorf("interrupted record: complete %v, checkpoints %v; want false, %v",
			rec.Complete, rec.Checkpoints, want)
	}
	if run, err := train.LoadFinal(dev, rec); err == nil {
		run.Free()
		t.Errorf("LoadFinal of an unfinished record succeeded")
	}
}

// withStep returns the sorted checkpoints with step added.
func withStep(checkpoints []int, step int) []int {
	c := slices.Clone(checkpoints)
	if !slices.Contains(c, step) {
		c = append(c, step)
		slices.Sort(c)
	}
	return c
}

var stepRE = regexp.MustCompile(`at step (\d+)`)

func TestNotFinite(t *testing.T) {
	dev := device.NewCPU(0)
	cfg := testConfig()
	clean := testData(t, dev)
	cleanDir := t.TempDir()
	mustTrain(t, dev, clean, cfg, cleanDir, nil)
	rec, err := train.OpenRecord(cleanDir)
	if err != nil {
		t.Fatal(err)
	}

	// The batch order depends only on the seed, the epochs and n, so the
	// clean run says when a NaN input is met: the first epoch visits every
	// point once, and the first point of step 7's batch is met at step 7.
	s := dataset.Blobs(blobN, blobD, blobClasses, blobSpread, blobSeed)
	s.X[int(rec.Batch(7)[0])*blobD+2] = float32(math.NaN())
	fast := cfg
	fast.LearningRate = 1e6

	tests := []struct {
		name     string
		data     *train.Data
		cfg      train.Config
		wantStep int // -1: wherever the loss overflows
	}{
		{"NaN input", blobs(t, dev, s), cfg, 7},
		{"learning rate 1e6", clean, fast, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, ctx := t.TempDir(), context.Background()
			run, err := train.Train(ctx, dev, tc.data, tc.cfg, dir, nil)
			if err == nil {
				run.Free()
				t.Fatal("Train succeeded")
			}
			step := failedStep(t, err)
			if tc.wantStep >= 0 && step != tc.wantStep {
				t.Errorf("error %q names step %d, want %d", err, step, tc.wantStep)
			}
			t.Logf("%s: %v", tc.name, err)
			checkValid(t, dev, tc.data, dir, step)
		})
	}
}

// failedStep checks that err wraps train.ErrNotFinite and returns the step
// it names.
func failedStep(t *testing.T, err error) int {
	t.Helper()
	if !errors.Is(err, train.ErrNotFinite) {
		t.Errorf("error %q does not wrap train.ErrNotFinite", err)
	}
	m := stepRE.FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("error %q names no step", err)
	}
	step, perr := strconv.Atoi(m[1])
	if perr != nil {
		t.Fatal(perr)
	}
	return step
}

// checkValid checks that the record in dir, left by a run that failed at
// step, opens, lists the checkpoints due before step and no others, and
// that each of them loads and holds finite values.
func checkValid(t *testing.T, dev device.Device, data *train.Data,
	dir string, step int) {
	t.Helper()
	rec, err := train.OpenRecord(dir)
	if err != nil {
		t.Fatalf("the record of a failed run does not open: %v", err)
	}
	var want []int
	for c := 0; c <= step; c += testConfig().CheckpointEvery {
		want = append(want, c)
	}
	if rec.Complete || !slices.Equal(rec.Checkpoints, want) {
		t.Errorf("record: complete %v, checkpoints %v; want false, %v",
			rec.Complete, rec.Checkpoints, want)
	}
	wantFiles(t, dir, rec.Checkpoints)
	for _, c := range rec.Checkpoints {
		run, err := train.Replay(context.Background(), dev, data, rec, c, c, nil, nil)
		if err != nil {
			t.Fatalf("checkpoint %d: %v", c, err)
		}
		for k, v := range state(t, run) {
			if i := slices.IndexFunc(v, notFinite); i >= 0 {
				t.Errorf("checkpoint %d: tensor %d value %d is %g", c, k, i, v[i])
			}
		}
		run.Free()
	}
}

func notFinite(v float32) bool {
	return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)
}

// TestConfigErrors checks that Train refuses each unusable setting with
// an error that names it, before it creates the output folder.
func TestConfigErrors(t *testing.T) {
	dev := device.NewCPU(0)
	data := testData(t, dev)
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name   string
		change func(c *train.Config)
		want   string
	}{
		{"no sizes", func(c *train.Config) { c.Sizes = nil }, "sizes []"},
		{"one size", func(c *train.Config) { c.Sizes = []int{blobD} }, "sizes [6]"},
		{"zero width", func(c *train.Config) { c.Sizes = []int{blobD, 0, 3} },
			"layer size 0"},
		{"epochs 0", func(c *train.Config) { c.Epochs = 0 }, "epochs = 0"},
		{"epochs -2", func(c *train.Config) { c.Epochs = -2 }, "epochs = -2"},
		{"batch size 0", func(c *train.Config) { c.BatchSize = 0 }, "batch size = 0"},
		{"learning rate 0", func(c *train.Config) { c.LearningRate = 0 },
			"learning rate = 0"},
		{"learning rate -0.1", func(c *train.Config) { c.LearningRate = -0.1 },
			"learning rate = -0.1"},
		{"learning rate NaN", func(c *train.Config) { c.LearningRate = nan },
			"learning rate = NaN"},
		{"learning rate +Inf", func(c *train.Config) { c.LearningRate = inf },
			"learning rate = +Inf"},
		{"momentum 1", func(c *train.Config) { c.Momentum = 1 }, "momentum = 1"},
		{"momentum -0.5", func(c *train.Config) { c.Momentum = -0.5 },
			"momentum = -0.5"},
		{"momentum NaN", func(c *train.Config) { c.Momentum = nan }, "momentum = NaN"},
		{"weight decay -0.01", func(c *train.Config) { c.WeightDecay = -0.01 },
			"weight decay = -0.01"},
		{"weight decay NaN", func(c *train.Config) { c.WeightDecay = nan },
			"weight decay = NaN"},
		{"weight decay +Inf", func(c *train.Config) { c.WeightDecay = inf },
			"weight decay = +Inf"},
		{"checkpoint every -1", func(c *train.Config) { c.CheckpointEvery = -1 },
			"every -1 steps"},
		{"schedule", func(c *train.Config) { c.Schedule = "linear" }, `"linear"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.change(&cfg)
			verr := cfg.Validate()
			if verr == nil || !strings.Contains(verr.Error(), tc.want) {
				t.Errorf("Validate: %v, want an error saying %q", verr, tc.want)
			}
			dir := filepath.Join(t.TempDir(), "run")
			run, err := train.Train(context.Background(), dev, data, cfg, dir, nil)
			if err == nil {
				run.Free()
				t.Fatal("Train succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Train: %q, want an error saying %q", err, tc.want)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Train refused the config but made its folder (%v)", err)
			}
		})
	}
}

func TestNewDataErrors(t *testing.T) {
	dev := device.NewCPU(0)
	tests := []struct {
		name       string
		x          []float32
		y          []int32
		d, classes int
		want       string
	}{
		{"label -1", make([]float32, 6), []int32{0, 2, -1}, 2, 3,
			"label -1 of point 2 outside [0, 3)"},
		{"label 3", make([]float32, 6), []int32{3, 0, 1}, 2, 3,
			"label 3 of point 0 outside [0, 3)"},
		{"length", make([]float32, 7), []int32{0, 1}, 3, 2,
			"7 input values for 2 labels of width 3"},
		{"width 0", nil, []int32{0}, 0, 2, "width 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := train.NewData(dev, tc.x, tc.y, tc.d, tc.classes)
			if err == nil {
				t.Fatalf("NewData gives %d points, want an error", d.N())
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestTrainErrors checks the errors of data that do not fit the model, of
// an output folder that cannot be made, and of a folder that holds another
// run; a refused run leaves an existing record as it was.
func TestTrainErrors(t *testing.T) {
	dev := device.NewCPU(0)
	data := testData(t, dev)
	cfg := testConfig()

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a folder"), 0o644); err != nil {
		t.Fatal(err)
	}
	recorded := t.TempDir()
	mustTrain(t, dev, data, cfg, recorded, nil)
	files := readFiles(t, recorded)

	s := dataset.Blobs(blobN, blobD, blobClasses+1, blobSpread, blobSeed)
	fourClasses := blobs(t, dev, s)
	label3 := fmt.Sprintf("label 3 of point %d outside [0, 3)", slices.Index(s.Y, 3))
	narrow := blobs(t, dev, dataset.Blobs(blobN, blobD-1, blobClasses, blobSpread, 1))
	other := blobs(t, dev, dataset.Blobs(blobN, blobD, blobClasses, blobSpread, 1))
	seed8 := cfg
	seed8.Seed = 8
	longer := cfg
	longer.Epochs = 5
	huge := cfg
	huge.BatchSize = blobN + 1

	tests := []struct {
		name   string
		data   *train.Data
		cfg    train.Config
		dir    string
		want   string
		wantIs error
	}{
		{"labels outside the classes", fourClasses, cfg, t.TempDir(), label3, nil},
		{"data width", narrow, cfg, t.TempDir(),
			"data points have 5 values, the model takes 6", nil},
		{"batch over N", data, huge, t.TempDir(),
			fmt.Sprintf("batch size %d is larger than the %d", blobN+1, blobN), nil},
		{"folder under a file", data, cfg, filepath.Join(file, "run"), file,
			syscall.ENOTDIR},
		{"another seed", data, seed8, recorded, "another run", nil},
		{"another epoch count", data, longer, recorded, "another run", nil},
		{"other data", other, cfg, recorded, "other data", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			run, err := train.Train(ctx, dev, tc.data, tc.cfg, tc.dir, nil)
			if err == nil {
				run.Free()
				t.Fatal("Train succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tc.wantIs)
			}
		})
	}
	after := readFiles(t, recorded)
	for name, b := range files {
		if !bytes.Equal(b, after[name]) {
			t.Errorf("a refused run changed %s", name)
		}
	}
	if len(after) != len(files) {
		t.Errorf("a refused run changed the record from %d files to %d",
			len(files), len(after))
	}
}

// TestCorruptRecord damages one file of a finished record at a time and
// checks that reading it fails with an error that wraps train.ErrCorrupt
// (or os.ErrNotExist for a missing file) and names the file.
func TestCorruptRecord(t *testing.T) {
	dev := device.NewCPU(0)
	data := testData(t, dev)
	cfg := testConfig()
	src := t.TempDir()
	mustTrain(t, dev, data, cfg, src, nil)

	const mid = 15 // a checkpoint in the middle of the run
	// flip returns a change that flips a bit of the byte at(len(b)).
	flip := func(at func(n int) int) func([]byte) []byte {
		return func(b []byte) []byte {
			b[at(len(b))] ^= 0x10
			return b
		}
	}
	third := func(n int) int { return n / 3 }
	truncate := func(k int) func([]byte) []byte {
		return func(b []byte) []byte { return b[:len(b)-k] }
	}
	tests := []struct {
		name   string
		file   string
		damage func([]byte) []byte // nil: remove the file
		read   string              // replay, train, final or open
		wantIs error
	}{
		{"checkpoint value", ckptName(mid), flip(func(n int) int { return n / 2 }),
			"replay", train.ErrCorrupt},
		{"checkpoint magic", ckptName(mid), flip(func(int) int { return 0 }),
			"replay", train.ErrCorrupt},
		{"checkpoint step", ckptName(mid), flip(func(int) int { return 8 }),
			"replay", train.ErrCorrupt},
		{"checkpoint tensor length", ckptName(mid), flip(func(int) int { return 24 }),
			"replay", train.ErrCorrupt},
		{"checkpoint checksum", ckptName(mid), flip(func(n int) int { return n - 1 }),
			"replay", train.ErrCorrupt},
		{"checkpoint truncated", ckptName(mid), truncate(9), "replay",
			train.ErrCorrupt},
		{"checkpoint extended", ckptName(mid),
			func(b []byte) []byte { return append(b, 0) }, "replay", train.ErrCorrupt},
		{"checkpoint missing", ckptName(mid), nil, "replay", os.ErrNotExist},
		{"final checkpoint, loaded", ckptName(32), flip(third), "final",
			train.ErrCorrupt},
		{"final checkpoint, trained again", ckptName(32), flip(third), "train",
			train.ErrCorrupt},
		{"order truncated", "order.bin", truncate(3), "open", train.ErrCorrupt},
		{"order truncated, trained again", "order.bin", truncate(3), "train",
			train.ErrCorrupt},
		{"order value", "order.bin", flip(func(n int) int { return n / 2 }), "open",
			train.ErrCorrupt},
		{"record truncated", "trajectory.json", truncate(40), "open", train.ErrCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "record")
			if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
				t.Fatal(err)
			}
			damage(t, filepath.Join(dir, tc.file), tc.damage)
			err := readRecord(t, dev, data, cfg, dir, tc.read, mid)
			if err == nil {
				t.Fatalf("%s of a damaged record succeeded", tc.read)
			}
			if !errors.Is(err, tc.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tc.wantIs)
			}
			if !strings.Contains(err.Error(), filepath.Join(dir, tc.file)) {
				t.Errorf("error %q does not name %s", err, filepath.Join(dir, tc.file))
			}
		})
	}
}

// damage rewrites the file at path with change applied, or removes it if
// change is nil.
func damage(t *testing.T, path string, change func([]byte) []byte) {
	t.Helper()
	if change == nil {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, change(b), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readRecord reads the record in dir as how says: "open" opens it,
// "train" trains on it again, "replay" replays it from step from and
// "final" loads its final checkpoint. It returns the error met.
func readRecord(t *testing.T, dev device.Device, data *train.Data,
	cfg train.Config, dir, how string, from int) error {
	t.Helper()
	ctx := context.Background()
	if how == "open" {
		_, err := train.OpenRecord(dir)
		return err
	}
	var run *train.Run
	var err error
	switch how {
	case "train":
		run, err = train.Train(ctx, dev, data, cfg, dir, nil)
	case "replay", "final":
		rec, oerr := train.OpenRecord(dir)
		if oerr != nil {
			t.Fatalf("OpenRecord: %v", oerr)
		}
		if how == "replay" {
			run, err = train.Replay(ctx, dev, data, rec, from, rec.Steps, nil, nil)
		} else {
			run, err = train.LoadFinal(dev, rec)
		}
	default:
		t.Fatalf("unknown way %q to read a record", how)
	}
	if err == nil {
		run.Free()
	}
	return err
}

// evalTol bounds the difference between Evaluate's mean loss and the mean
// of the per-point losses: the same float32 losses summed in float64 in
// another grouping, good to about 1e-16 relative; 1e-12 leaves room.
const evalTol = 1e-12

// TestEvaluate trains on well separated blobs and checks that the model
// classifies its training points and held-out points of the same blobs
// without a mistake, which the untrained model does not.
func TestEvaluate(t *testing.T) {
	const n, held, d, classes = 120, 37, 4, 3
	dev := device.NewCPU(0)
	s := dataset.Blobs(n+held, d, classes, 0.1, 5)
	trainSet, err := train.NewData(dev, s.X[:n*d], s.Y[:n], d, classes)
	if err != nil {
		t.Fatal(err)
	}
	testSet, err := train.NewData(dev, s.X[n*d:], s.Y[n:], d, classes)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{
		Sizes: []int{d, 16, classes}, Epochs: 10, BatchSize: 16,
		LearningRate: 0.1, Schedule: train.Constant, Momentum: 0.9, Seed: 3,
	}
	run := mustTrain(t, dev, trainSet, cfg, t.TempDir(), nil)
	initial := replay(t, dev, trainSet, run.Record, 0, 0)

	for _, tc := range []struct {
		name string
		data *train.Data
	}{{"training set", trainSet}, {"held-out set", testSet}} {
		t.Run(tc.name, func(t *testing.T) {
			loss, acc, err := train.Evaluate(run.Model, tc.data.X, tc.data.Y)
			if err != nil {
				t.Fatal(err)
			}
			if acc != 1 {
				t.Errorf("accuracy %g (loss %g), want 1", acc, loss)
			}
			want := pointLoss(t, run.Model, tc.data)
			if math.Abs(loss-want) > evalTol*want {
				t.Errorf("mean loss %.15g, want %.15g, the mean of the points' losses",
					loss, want)
			}
			_, acc0, err := train.Evaluate(initial.Model, tc.data.X, tc.data.Y)
			if err != nil {
				t.Fatal(err)
			}
			if acc0 > 0.9 {
				t.Errorf("the untrained model already has accuracy %g", acc0)
			}
			t.Logf("accuracy %g before training, %g after; loss %.3g", acc0, acc, loss)
		})
	}
}

// pointLoss returns the mean of model's losses on the points of data, one
// point at a time.
func pointLoss(t *testing.T, model *train.MLP, data *train.Data) float64 {
	t.Helper()
	var sum float64
	for i := range data.N() {
		l, _ := model.Loss(data.X.RowSlice(i, i+1), data.Y[i:i+1], false, 1)
		sum += float64(host(t, l)[0])
	}
	return sum / float64(data.N())
}
