//go:build cuda

package device_test

import (
	"errors"
	"testing"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/device/devicetest"
	"github.com/optraj/optraj/device/internal/cu"
	"github.com/optraj/optraj/device/internal/cu/cumock"
)

// TestCUDA runs the conformance suite on GPU 0. Without a CUDA driver or
// GPU it is skipped, with the reason; cuda_mock_test.go checks the
// backend's driver calls against a mock driver instead, which runs no
// kernel.
func TestCUDA(t *testing.T) {
	dev, err := device.OpenCUDA(0)
	if errors.Is(err, device.ErrNoDriver) {
		t.Skipf("no GPU to run the CUDA conformance suite on: %v", err)
	}
	if err != nil {
		t.Fatalf("OpenCUDA(0): %v", err)
	}
	t.Logf("running on %s", dev.Name())
	if err := dev.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	devicetest.Run(t, func(t *testing.T) device.Device {
		dev, err := device.OpenCUDA(0)
		if err != nil {
			t.Fatalf("OpenCUDA(0): %v", err)
		}
		return dev
	})
}

// Paths of the mock driver and the kernel emulator, from this folder.
const (
	mockDriverSource = "internal/cu/testdata/mockcuda.c"
	emulatorSource   = "../kernels/testdata/emulate.cc"
	kernelFolder     = "../kernels"
)

// TestCUDAEmulated runs the conformance suite on the CUDA backend over
// the mock driver linked with the kernel emulator of
// kernels/testdata/emulate.cc. This is NOT a GPU: the emulator runs the
// kernels' CUDA C source compiled for the CPU, block by block, so the
// test checks the kernels' logic and the backend's Go side end to end,
// but not the PTX that the GPU runs, which only TestCUDA checks.
func TestCUDAEmulated(t *testing.T) {
	if testing.Short() {
		t.Skip("the kernel emulator takes a while; skipped with -short")
	}
	path := cumock.BuildEmulator(t, mockDriverSource, emulatorSource,
		kernelFolder)
	t.Setenv(cu.EnvLibrary, path)
	devicetest.Run(t, func(t *testing.T) device.Device {
		dev, err := device.OpenCUDA(0)
		if err != nil {
			t.Fatalf("OpenCUDA(0) on the emulating mock driver: %v", err)
		}
		return dev
	})
}
