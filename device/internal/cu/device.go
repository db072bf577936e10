//go:build cuda

package cu

// Device is a GPU's handle (CUdevice), as cuDeviceGet returns it.
type Device int32

// Attribute is a CUdevice_attribute.
type Attribute int32

// Device attributes that optraj reads.
const (
	AttrMaxGridDimY            Attribute = 6
	AttrMultiprocessorCount    Attribute = 16
	AttrComputeCapabilityMajor Attribute = 75
	AttrComputeCapabilityMinor Attribute = 76
)

// DriverVersion returns the driver's CUDA version as 1000·major +
// 10·minor, such as 12040 for CUDA 12.4.
func (l *Lib) DriverVersion() (int, error) {
	var v int32
	err := l.check("cuDriverGetVersion", l.fn.cuDriverGetVersion(&v))
	return int(v), err
}

// DeviceCount returns the number of GPUs the driver sees.
func (l *Lib) DeviceCount() (int, error) {
	var n int32
	err := l.check("cuDeviceGetCount", l.fn.cuDeviceGetCount(&n))
	return int(n), err
}

// Device returns the handle of the GPU with the given ordinal.
func (l *Lib) Device(ordinal int) (Device, error) {
	var d int32
	err := l.check("cuDeviceGet", l.fn.cuDeviceGet(&d, int32(ordinal)))
	return Device(d), err
}

// DeviceName returns the GPU's name, such as "NVIDIA H100 80GB HBM3".
func (l *Lib) DeviceName(d Device) (string, error) {
	var buf [256]byte
	r := l.fn.cuDeviceGetName(&buf[0], int32(len(buf)), int32(d))
	if err := l.check("cuDeviceGetName", r); err != nil {
		return "", err
	}
	n := 0
	for n < len(buf) && buf[n] != 0 {
		n++
	}
	return string(buf[:n]), nil
}

// TotalMem returns the GPU's memory in bytes.
func (l *Lib) TotalMem(d Device) (int64, error) {
	var b uint64
	err := l.check("cuDeviceTotalMem_v2", l.fn.cuDeviceTotalMem(&b, int32(d)))
	return int64(b), err
}

// Attribute returns the value of a device attribute.
func (l *Lib) Attribute(d Device, a Attribute) (int, error) {
	var v int32
	r := l.fn.cuDeviceGetAttribute(&v, int32(a), int32(d))
	return int(v), l.check("cuDeviceGetAttribute", r)
}
