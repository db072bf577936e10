//go:build !cuda

package device

// OpenCUDA returns ErrNoCUDABuild: this binary was built without the cuda
// tag and has no GPU code.
func OpenCUDA(ordinal int) (Device, error) {
	return nil, ErrNoCUDABuild
}

// CUDAInfo describes the CUDA driver and GPUs; without the cuda build it
// returns ErrNoCUDABuild.
func CUDAInfo() (DriverInfo, error) {
	return DriverInfo{}, ErrNoCUDABuild
}
