package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// cmdTrain trains on MNIST with label noise and records the trajectory.
func cmdTrain(ctx context.Context, args []string, stdout, stderr io.Writer,
	log *slog.Logger) error {
	fs := newFlagSet("train", stderr)
	var f jobFlags
	f.register(fs)
	if err := fs.Parse(args); err != nil {
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
	j.header(stdout, "train")
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	if err := j.timed("train", func() error { return j.fit(ctx) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "test accuracy %.2f%%, test loss %.4f\n", 100*j.testAcc, j.testLoss)
	if err := j.writeFlipped(); err != nil {
		return err
	}
	if err := j.writeSummary("train", "train-summary.json", nil); err != nil {
		return err
	}
	j.printPhases(stdout)
	fmt.Fprintf(stdout, "trajectory in %s; summary in %s\n", j.trajectoryD, f.out)
	return nil
}
