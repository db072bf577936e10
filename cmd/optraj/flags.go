package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/optraj/optraj/train"
)

// jobFlags are the settings shared by train and attribute.
type jobFlags struct {
	data, out, dev string
	noise          float64
	hidden         string
	cfg            train.Config
	schedule       string
	quiet          bool
	cpuProfile     string
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: optraj %s [flags]\n\n%s\n\nFlags:\n", name, synopsis[name])
		fs.PrintDefaults()
	}
	return fs
}

// synopsis says what each command does, for its -h.
var synopsis = map[string]string{
	"train": "Trains a model on MNIST with seeded label noise and records the\n" +
		"trajectory in -out; an interrupted run resumes.",
	"attribute": "Trains (or resumes) like train, then scores every training point\n" +
		"by first-order HyDRA, or by -method, and ranks them for mislabel\n" +
		"detection and for the -test-points.",
	"evaluate": "Trains a model, scores the training points with each of -methods\n" +
		"and judges them by retraining: leave-one-out, linear datamodeling,\n" +
		"mislabel detection and cost.",
	"devices": "Lists the compute devices this binary can use.",
}

// register adds the shared flags to fs, with the main job's defaults.
func (j *jobFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&j.data, "data", "data/mnist", "folder with the MNIST IDX files (make data)")
	fs.StringVar(&j.out, "out", "out/mnist", "output folder for the trajectory and results")
	fs.StringVar(&j.dev, "device", "auto", "compute device: auto, cpu or cuda")
	fs.Float64Var(&j.noise, "noise", 0.1, "fraction of training labels to flip, in [0,1)")
	fs.StringVar(&j.hidden, "hidden", "128", "hidden layer widths, comma-separated; empty for none")
	fs.IntVar(&j.cfg.Epochs, "epochs", 5, "passes over the training data")
	fs.IntVar(&j.cfg.BatchSize, "batch", 128, "minibatch size")
	fs.Float64Var(&j.cfg.LearningRate, "lr", 0.1, "learning rate η₀")
	fs.StringVar(&j.schedule, "schedule", "cosine",
		"learning-rate schedule: constant, cosine or step")
	fs.Float64Var(&j.cfg.Momentum, "momentum", 0.9, "SGD momentum μ")
	fs.Float64Var(&j.cfg.WeightDecay, "weight-decay", 5e-4, "L2 weight decay λ")
	fs.Uint64Var(&j.cfg.Seed, "seed", 1, "seed of every random choice")
	fs.IntVar(&j.cfg.CheckpointEvery, "checkpoint-every", 0,
		"steps between weight checkpoints (0: one per epoch)")
	fs.BoolVar(&j.quiet, "quiet", false, "no progress bar")
	fs.StringVar(&j.cpuProfile, "cpuprofile", "", "write a CPU profile to this file")
}

// config completes the training config for inputs of width in and the
// given number of classes.
func (j *jobFlags) config(in, classes int) (train.Config, error) {
	cfg := j.cfg
	cfg.Schedule = train.Schedule(j.schedule)
	cfg.Sizes = []int{in}
	if strings.TrimSpace(j.hidden) != "" {
		for _, f := range strings.Split(j.hidden, ",") {
			h, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || h <= 0 {
				return cfg, fmt.Errorf("-hidden %q: %q is not a positive width", j.hidden, f)
			}
			cfg.Sizes = append(cfg.Sizes, h)
		}
	}
	cfg.Sizes = append(cfg.Sizes, classes)
	if !(j.noise >= 0 && j.noise < 1) {
		return cfg, fmt.Errorf("-noise %v: want a fraction in [0, 1)", j.noise)
	}
	return cfg, cfg.Validate()
}

// parseInts reads a comma-separated list of non-negative integers.
func parseInts(name, s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("-%s %q: %q is not a non-negative integer", name, s, f)
		}
		out = append(out, v)
	}
	return out, nil
}
