//go:build cuda

package cu

import "unsafe"

// funcs holds the driver entry points, bound by purego to the C functions
// of the same names. The Go types follow cuda.h for 64-bit Linux: CUresult
// and enums are int32, CUdevice is int32, CUdeviceptr is uint64, size_t is
// uint64, and the opaque handles (CUcontext, CUmodule, CUfunction,
// CUstream) are uintptr.
type funcs struct {
	cuInit             func(flags uint32) int32
	cuDriverGetVersion func(version *int32) int32
	cuGetErrorName     func(r int32, s **byte) int32
	cuGetErrorString   func(r int32, s **byte) int32

	cuDeviceGetCount     func(count *int32) int32
	cuDeviceGet          func(dev *int32, ordinal int32) int32
	cuDeviceGetName      func(name *byte, n int32, dev int32) int32
	cuDeviceTotalMem     func(bytes *uint64, dev int32) int32
	cuDeviceGetAttribute func(v *int32, attr int32, dev int32) int32

	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxPushCurrent          func(ctx uintptr) int32
	cuCtxPopCurrent           func(ctx *uintptr) int32
	cuCtxSynchronize          func() int32

	cuMemAlloc   func(p *uint64, bytes uint64) int32
	cuMemFree    func(p uint64) int32
	cuMemGetInfo func(free, total *uint64) int32
	cuMemsetD32  func(p uint64, v uint32, n uint64) int32
	cuMemcpyHtoD func(dst uint64, src unsafe.Pointer, bytes uint64) int32
	cuMemcpyDtoH func(dst unsafe.Pointer, src uint64, bytes uint64) int32
	cuMemcpyDtoD func(dst, src uint64, bytes uint64) int32

	cuModuleLoadData    func(mod *uintptr, image unsafe.Pointer) int32
	cuModuleGetFunction func(f *uintptr, mod uintptr, name string) int32
	cuModuleUnload      func(mod uintptr) int32

	cuStreamCreate      func(s *uintptr, flags uint32) int32
	cuStreamDestroy     func(s uintptr) int32
	cuStreamSynchronize func(s uintptr) int32
	cuLaunchKernel      func(f uintptr, gx, gy, gz, bx, by, bz, shared uint32,
		stream uintptr, params *unsafe.Pointer, extra uintptr) int32

	// cuFuncGetParamInfo (CUDA 12.4 and newer) is optional: nil when the
	// driver lacks it.
	cuFuncGetParamInfo func(f uintptr, i uint64, offset, size *uint64) int32
}

// symbol pairs a driver symbol with the field of funcs it binds.
type symbol struct {
	name string
	fptr any // pointer to a func field of funcs
}

// optionalSymbols lists the driver symbols that the package binds when
// the driver has them.
func (l *Lib) optionalSymbols() []symbol {
	return []symbol{{"cuFuncGetParamInfo", &l.fn.cuFuncGetParamInfo}}
}

// symbols lists every driver symbol the package binds, with the versioned
// names (_v2) that current drivers export for the calls that have them.
func (l *Lib) symbols() []symbol {
	f := &l.fn
	return []symbol{
		{"cuInit", &f.cuInit},
		{"cuDriverGetVersion", &f.cuDriverGetVersion},
		{"cuGetErrorName", &f.cuGetErrorName},
		{"cuGetErrorString", &f.cuGetErrorString},
		{"cuDeviceGetCount", &f.cuDeviceGetCount},
		{"cuDeviceGet", &f.cuDeviceGet},
		{"cuDeviceGetName", &f.cuDeviceGetName},
		{"cuDeviceTotalMem_v2", &f.cuDeviceTotalMem},
		{"cuDeviceGetAttribute", &f.cuDeviceGetAttribute},
		{"cuDevicePrimaryCtxRetain", &f.cuDevicePrimaryCtxRetain},
		{"cuDevicePrimaryCtxRelease_v2", &f.cuDevicePrimaryCtxRelease},
		{"cuCtxPushCurrent_v2", &f.cuCtxPushCurrent},
		{"cuCtxPopCurrent_v2", &f.cuCtxPopCurrent},
		{"cuCtxSynchronize", &f.cuCtxSynchronize},
		{"cuMemAlloc_v2", &f.cuMemAlloc},
		{"cuMemFree_v2", &f.cuMemFree},
		{"cuMemGetInfo_v2", &f.cuMemGetInfo},
		{"cuMemsetD32_v2", &f.cuMemsetD32},
		{"cuMemcpyHtoD_v2", &f.cuMemcpyHtoD},
		{"cuMemcpyDtoH_v2", &f.cuMemcpyDtoH},
		{"cuMemcpyDtoD_v2", &f.cuMemcpyDtoD},
		{"cuModuleLoadData", &f.cuModuleLoadData},
		{"cuModuleGetFunction", &f.cuModuleGetFunction},
		{"cuModuleUnload", &f.cuModuleUnload},
		{"cuStreamCreate", &f.cuStreamCreate},
		{"cuStreamDestroy_v2", &f.cuStreamDestroy},
		{"cuStreamSynchronize", &f.cuStreamSynchronize},
		{"cuLaunchKernel", &f.cuLaunchKernel},
	}
}
