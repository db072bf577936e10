package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/optraj/optraj/device"
)

// cmdDevices lists the CPU and what the CUDA driver reports.
func cmdDevices(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("devices", stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cpu: %s\n", device.NewCPU(0).Name())
	info, err := device.CUDAInfo()
	switch {
	case errors.Is(err, device.ErrNoCUDABuild), errors.Is(err, device.ErrNoDriver):
		fmt.Fprintf(stdout, "cuda: none (%v)\n", err)
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "cuda: driver %d.%d, %d GPU(s)\n",
		info.DriverVersion/1000, info.DriverVersion%1000/10, len(info.GPUs))
	for _, g := range info.GPUs {
		fmt.Fprintf(stdout, "  gpu %d: %s, %.1f GiB, compute capability %d.%d\n",
			g.Ordinal, g.Name, float64(g.MemoryBytes)/(1<<30), g.ComputeMajor, g.ComputeMinor)
	}
	return nil
}
