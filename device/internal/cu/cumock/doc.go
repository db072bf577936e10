// Package cumock builds and drives the mock CUDA driver of
// device/internal/cu/testdata/mockcuda.c for tests. The mock keeps
// "device" memory in host memory and records kernel launches without
// running them: it is not a GPU, and what it checks is the binding
// (argument marshalling, copies, error translation), not the kernels.
//
// The package is empty in builds without the cuda tag.
package cumock
