// Command optraj trains neural networks, records the path that gradient
// descent takes, and uses that path to explain the model's predictions.
//
// Usage:
//
//	optraj train     [flags]   train on MNIST with label noise and record the trajectory
//	optraj attribute [flags]   train (or resume), then score every training point
//	optraj evaluate  [flags]   judge the attribution methods by retraining
//	optraj devices             list the compute devices this binary can use
//
// Run "optraj COMMAND -h" for a command's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "optraj:", err)
		}
		os.Exit(exitCode(err))
	}
}

func exitCode(err error) int {
	if errors.Is(err, flag.ErrHelp) || errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

var errUsage = errors.New("usage")

const usage = `optraj trains neural networks, records the trajectory of gradient
descent, and uses it to explain predictions.

Usage:

	optraj train     [flags]   train on MNIST with label noise; record the trajectory
	optraj attribute [flags]   train (or resume), then rank every training point
	optraj evaluate  [flags]   judge the attribution methods: leave-one-out,
	                           datamodels, mislabel detection, cost
	optraj devices             list the compute devices this binary can use

Run "optraj COMMAND -h" for a command's flags.
`

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{}))
	switch args[0] {
	case "train":
		return cmdTrain(ctx, args[1:], stdout, stderr, log)
	case "attribute":
		return cmdAttribute(ctx, args[1:], stdout, stderr, log)
	case "evaluate":
		return cmdEvaluate(ctx, args[1:], stdout, stderr, log)
	case "devices":
		return cmdDevices(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q: %w", args[0], errUsage)
}
