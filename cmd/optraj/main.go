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
	"syscall"
)

func main() {
	// SIGTERM too, so that a scheduler stopping a run leaves the
	// checkpoint that Ctrl-C leaves.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
		syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && err != errUsage {
			fmt.Fprintln(os.Stderr, "optraj:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 0 for -h, which asked for the help it got, 2 for a command
// line that makes no sense, and 1 for every other failure.
func exitCode(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	return 1
}

// errUsage follows the usage text that run prints for a command line
// without a known command.
var errUsage = errors.New("see the usage above")

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
	return fmt.Errorf("unknown command %q; %w", args[0], errUsage)
}
