package device

// DriverInfo is what the CUDA driver reports about itself and its GPUs.
type DriverInfo struct {
	DriverVersion int // as cuDriverGetVersion reports it, e.g. 12040
	GPUs          []GPUInfo
}

// GPUInfo describes one GPU.
type GPUInfo struct {
	Ordinal      int
	Name         string
	MemoryBytes  int64
	ComputeMajor int
	ComputeMinor int
}
