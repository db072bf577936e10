package device

import (
	"errors"
	"fmt"
)

// Open returns the device that name selects: "cpu", "cuda", or "auto".
// "auto" takes the GPU when this binary has the cuda build and a driver and
// GPU are present, and the CPU otherwise; note says which it took and why,
// for the caller to show.
func Open(name string) (dev Device, note string, err error) {
	switch name {
	case "cpu":
		return NewCPU(0), "", nil
	case "cuda":
		dev, err := OpenCUDA(0)
		if err != nil {
			return nil, "", err
		}
		return dev, "", nil
	case "auto", "":
		dev, err := OpenCUDA(0)
		if err == nil {
			return dev, "auto: using " + dev.Name(), nil
		}
		if errors.Is(err, ErrNoCUDABuild) || errors.Is(err, ErrNoDriver) {
			cpu := NewCPU(0)
			return cpu, fmt.Sprintf("auto: using %s (%v)", cpu.Name(), err), nil
		}
		return nil, "", err
	}
	return nil, "", fmt.Errorf("device: unknown device %q (want auto, cpu or cuda)", name)
}
