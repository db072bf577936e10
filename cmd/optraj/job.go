package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/optraj/optraj/dataset"
	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/influence"
	"github.com/optraj/optraj/train"
)

// job is the pipeline shared by train and attribute: load MNIST, flip
// labels, train or resume, evaluate.
type job struct {
	flags          *jobFlags
	stdout, stderr io.Writer
	log            *slog.Logger

	dev         device.Device
	devNote     string
	trainSet    *dataset.Set
	testSet     *dataset.Set
	noisy       []int32
	flipped     []int
	data, test  *train.Data
	cfg         train.Config
	run         *train.Run
	stepLog     *influence.StepLog // filled by fit, when set
	testLoss    float64
	testAcc     float64
	phases      []phase
	trajectoryD string
}

// phase is the wall time of one part of a job and the process's peak
// resident memory when it ended.
type phase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	PeakMiB float64 `json:"peak_rss_mib"`
}

// timed runs f as the phase name.
func (j *job) timed(name string, f func() error) error {
	start := time.Now()
	err := f()
	j.phases = append(j.phases, phase{Name: name,
		Seconds: time.Since(start).Seconds(), PeakMiB: peakRSSMiB()})
	return err
}

// peakRSSMiB returns the peak resident memory of the process so far.
func peakRSSMiB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// startProfile starts the CPU profile that -cpuprofile asks for and
// returns the function that stops it.
func (j *job) startProfile() (stop func(), err error) {
	if j.flags.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(j.flags.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// newJob returns the job of the parsed flags f with its CPU profile (if
// asked for) started; done stops the profile and frees the job.
func newJob(f *jobFlags, stdout, stderr io.Writer, log *slog.Logger) (j *job,
	done func(), err error) {
	j = &job{flags: f, stdout: stdout, stderr: stderr, log: log}
	stop, err := j.startProfile()
	if err != nil {
		j.close()
		return nil, nil, err
	}
	return j, func() { stop(); j.close() }, nil
}

// openDevice opens the device of -device, logging where auto fell back.
func (j *job) openDevice() error {
	dev, note, err := device.Open(j.flags.dev)
	if err != nil {
		return err
	}
	j.dev, j.devNote = dev, note
	if note != "" {
		j.log.Info(note)
	}
	return nil
}

// load opens the device, reads MNIST, flips labels and copies the data to
// the device.
func (j *job) load() error {
	if err := j.openDevice(); err != nil {
		return err
	}
	var err error
	j.trainSet, j.testSet, err = dataset.LoadMNIST(j.flags.data)
	if err != nil {
		return err
	}
	j.cfg, err = j.flags.config(j.trainSet.D, j.trainSet.Classes)
	if err != nil {
		return err
	}
	j.noisy, j.flipped, err = dataset.FlipLabels(j.trainSet.Y, j.trainSet.Classes,
		j.flags.noise, j.cfg.Seed)
	if err != nil {
		return err
	}
	j.data, err = train.NewData(j.dev, j.trainSet.X, j.noisy, j.trainSet.D, j.trainSet.Classes)
	if err != nil {
		return err
	}
	j.test, err = train.NewData(j.dev, j.testSet.X, j.testSet.Y, j.testSet.D,
		j.testSet.Classes)
	return err
}

// fit trains, resuming or reusing a trajectory in the output folder, and
// evaluates the final model on the test set.
func (j *job) fit(ctx context.Context) error {
	j.trajectoryD = filepath.Join(j.flags.out, "trajectory")
	steps := j.cfg.Epochs * ((j.data.N() + j.cfg.BatchSize - 1) / j.cfg.BatchSize)
	bar := j.bar(steps, "train")
	progress := func(e train.Event) {
		if bar != nil {
			bar.Describe(fmt.Sprintf("train epoch %d loss %.3f", e.Epoch+1, e.Loss))
			_ = bar.Set(e.Step)
		}
	}
	var hook train.Hook
	if j.stepLog != nil {
		hook = j.stepLog.Hook
	}
	run, err := train.TrainHooked(ctx, j.dev, j.data, j.cfg, j.trajectoryD, hook, progress)
	j.finishBar(bar)
	if err != nil {
		return err
	}
	j.run = run
	if run.Resumed > 0 {
		j.log.Info("resumed the trajectory", "from_step", run.Resumed, "folder", j.trajectoryD)
	}
	j.testLoss, j.testAcc, err = train.Evaluate(run.Model, j.test.X, j.test.Y)
	return err
}

// bar returns a progress bar on stderr, or nil with -quiet.
func (j *job) bar(total int, what string) *progressbar.ProgressBar {
	if j.flags.quiet {
		return nil
	}
	return progressbar.NewOptions(total,
		progressbar.OptionSetWriter(j.stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
}

func (j *job) finishBar(bar *progressbar.ProgressBar) {
	if bar != nil {
		_ = bar.Finish()
	}
}

// close releases the device.
func (j *job) close() {
	if j.run != nil {
		j.run.Free()
	}
	if j.stepLog != nil {
		j.stepLog.Free()
	}
	if j.dev != nil {
		j.dev.Close()
	}
}

// header prints what the job runs on.
func (j *job) header(w io.Writer, cmd string) {
	fmt.Fprintf(w, "optraj %s: MNIST from %s, %d train / %d test, "+
		"%.1f%% of training labels flipped (%d), seed %d\n",
		cmd, j.flags.data, j.trainSet.N, j.testSet.N, 100*j.flags.noise,
		len(j.flipped), j.cfg.Seed)
	fmt.Fprintf(w, "device %s; model %s, %d epochs, batch %d, SGD lr %g (%s) "+
		"momentum %g weight decay %g\n",
		j.dev.Name(), sizesString(j.cfg.Sizes), j.cfg.Epochs, j.cfg.BatchSize,
		j.cfg.LearningRate, j.cfg.Schedule, j.cfg.Momentum, j.cfg.WeightDecay)
}

func sizesString(s []int) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += "→"
		}
		out += fmt.Sprint(v)
	}
	return out
}

// printPhases prints the wall time and peak memory of each phase.
func (j *job) printPhases(w io.Writer) {
	fmt.Fprintf(w, "\n%-10s %9s %12s\n", "phase", "wall", "peak memory")
	for _, p := range j.phases {
		fmt.Fprintf(w, "%-10s %8.2fs %8.0f MiB\n", p.Name, p.Seconds, p.PeakMiB)
	}
}
