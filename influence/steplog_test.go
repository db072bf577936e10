package influence

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/train"
)

// logConfig is a run of 13 points in batches of 4, so that each epoch
// ends on a batch of one, with the layer sizes given.
func logConfig(sizes ...int) train.Config {
	return train.Config{
		Sizes: sizes, Epochs: 3, BatchSize: 4,
		LearningRate: 0.2, Schedule: train.Step, Momentum: 0.9,
		WeightDecay: 0.01, Seed: 5, CheckpointEvery: 2,
	}
}

// TestFirstOrderLoggedMatchesReplay checks that scoring from a step log
// filled during training gives the replay's scores bit for bit, for
// logistic regression and for one and two hidden layers.
func TestFirstOrderLoggedMatchesReplay(t *testing.T) {
	for _, sizes := range [][]int{{5, 3}, {5, 4, 3}, {5, 6, 4, 3}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			dev := device.NewCPU(1)
			data := toData(t, dev, dataset.Blobs(13, 5, 3, 0.8, 11))
			test := toData(t, dev, dataset.Blobs(7, 5, 3, 0.8, 12))
			cfg := logConfig(sizes...)
			log := NewStepLog(dev, cfg.Epochs, data.N())
			defer log.Free()
			run, err := train.TrainHooked(context.Background(), dev, data, cfg,
				t.TempDir(), log.Hook, nil)
			if err != nil {
				t.Fatal(err)
			}
			run.Free()
			rec := run.Record
			if !log.Complete(rec) {
				t.Fatalf("log incomplete after a whole run: %v", log.Err())
			}

			obj := Objectives{Test: test, TestLoss: true, TestPoints: []int{0, 4}, Self: true}
			want, err := FirstOrder(context.Background(), dev, rec, data, obj, nil)
			if err != nil {
				t.Fatal(err)
			}
			var steps []int
			got, err := FirstOrderLogged(context.Background(), dev, rec, data, obj, log,
				func(done, total int) { steps = append(steps, done) })
			if err != nil {
				t.Fatal(err)
			}
			if len(steps) != rec.Steps || steps[len(steps)-1] != rec.Steps {
				t.Errorf("progress %v, want 1 … %d", steps, rec.Steps)
			}
			for _, c := range []struct {
				name      string
				got, want []float64
			}{
				{"test loss", got.TestLoss, want.TestLoss},
				{"test points", got.Points, want.Points},
				{"self", got.Self, want.Self},
				{"TracIn", got.TracIn, want.TracIn},
				{"final loss", got.FinalLoss, want.FinalLoss},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s from the log differs from the replay:\n got %v\nwant %v",
						c.name, c.got, c.want)
				}
				if len(c.got) == 0 || slices.ContainsFunc(c.got, func(v float64) bool {
					return math.IsNaN(v) || v == 0
				}) {
					t.Errorf("%s: scores %v are empty, NaN or zero", c.name, c.got)
				}
			}
		})
	}
}

// TestStepLogOfResumedRun checks that a log that missed the steps before
// a resumption says so, and that FirstOrderLogged refuses it, as it does a
// log of a run that was already finished.
func TestStepLogOfResumedRun(t *testing.T) {
	dev := device.NewCPU(1)
	data := toData(t, dev, dataset.Blobs(13, 5, 3, 0.8, 11))
	test := toData(t, dev, dataset.Blobs(7, 5, 3, 0.8, 12))
	cfg := logConfig(5, 4, 3)
	dir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	stop := func(e train.Event) {
		if e.Step == 4 {
			cancel()
		}
	}
	if _, err := train.Train(ctx, dev, data, cfg, dir, stop); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted training: got %v, want context.Canceled", err)
	}

	obj := Objectives{Test: test, TestLoss: true}
	for _, what := range []string{"resumed", "finished"} {
		log := NewStepLog(dev, cfg.Epochs, data.N())
		run, err := train.TrainHooked(context.Background(), dev, data, cfg, dir, log.Hook, nil)
		if err != nil {
			t.Fatal(err)
		}
		run.Free()
		if log.Complete(run.Record) {
			t.Errorf("%s run: log complete", what)
		}
		if what == "resumed" && !errors.Is(log.Err(), errResumed) {
			t.Errorf("resumed run: log error %v, want %v", log.Err(), errResumed)
		}
		sc, err := FirstOrderLogged(context.Background(), dev, run.Record, data, obj, log, nil)
		if err == nil || sc != nil {
			t.Errorf("%s run: FirstOrderLogged gave %v, %v; want an error", what, sc, err)
		}
		t.Logf("%s run: %v", what, err)
	}
}

func TestStepLogBytes(t *testing.T) {
	// 784→128→10: output gradients 128 + 10, hidden input 128.
	if got, want := StepLogBytes([]int{784, 128, 10}, 5, 60000), int64(4*266*5*60000); got != want {
		t.Errorf("StepLogBytes = %d, want %d", got, want)
	}
	if got, want := StepLogBytes([]int{784, 10}, 1, 10), int64(4*10*10); got != want {
		t.Errorf("StepLogBytes of logistic regression = %d, want %d", got, want)
	}
}

// TestFirstOrderLoggedRefusesMismatch checks that a log is read only as
// the run that filled it: not against the record of a run in another
// order, nor with other data, nor on another device.
func TestFirstOrderLoggedRefusesMismatch(t *testing.T) {
	dev := device.NewCPU(1)
	blobs := dataset.Blobs(13, 5, 3, 0.8, 11)
	data := toData(t, dev, blobs)
	test := toData(t, dev, dataset.Blobs(7, 5, 3, 0.8, 12))
	cfg := logConfig(5, 4, 3)
	log := NewStepLog(dev, cfg.Epochs, data.N())
	defer log.Free()
	run, err := train.TrainHooked(context.Background(), dev, data, cfg, t.TempDir(),
		log.Hook, nil)
	if err != nil {
		t.Fatal(err)
	}
	run.Free()

	reseeded := cfg
	reseeded.Seed++
	other, err := train.Train(context.Background(), dev, data, reseeded, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	other.Free()

	relabelled := slices.Clone(blobs.Y)
	relabelled[0] = (relabelled[0] + 1) % 3
	otherData, err := train.NewData(dev, blobs.X, relabelled, blobs.D, blobs.Classes)
	if err != nil {
		t.Fatal(err)
	}
	otherDev := device.NewCPU(1)
	otherDevData := toData(t, otherDev, blobs)

	obj := Objectives{Test: test, TestLoss: true}
	for _, c := range []struct {
		name string
		dev  device.Device
		rec  *train.Record
		data *train.Data
	}{
		{"another run's record", dev, other.Record, data},
		{"other labels", dev, run.Record, otherData},
		{"another device", otherDev, run.Record, otherDevData},
	} {
		sc, err := FirstOrderLogged(context.Background(), c.dev, c.rec, c.data, obj, log, nil)
		if err == nil || sc != nil {
			t.Errorf("%s: got %v, %v; want an error", c.name, sc, err)
			continue
		}
		t.Logf("%s: %v", c.name, err)
	}
	if _, err := FirstOrderLogged(context.Background(), dev, run.Record, data, obj, log,
		nil); err != nil {
		t.Errorf("the log's own run: %v", err)
	}
}
