// Package cu binds the CUDA driver API for optraj's CUDA backend. It loads
// libcuda.so.1 at run time with github.com/ebitengine/purego, without cgo,
// so the cuda build compiles on machines that have no CUDA toolkit and
// fails at run time, with an error, where there is no driver or GPU.
//
// Every driver call goes through one checking helper that turns a non-zero
// CUresult into a *DriverError carrying the call's name and the driver's
// code, name and message. Calls bound to a context run on one locked OS
// thread per Context, since a CUDA context is current per thread.
//
// The environment variable OPTRAJ_LIBCUDA names another library to load in
// place of libcuda.so.1; the tests use it to load a mock driver that keeps
// "device" memory in host memory and records launches without running
// them.
//
// The package is empty in builds without the cuda tag.
package cu
