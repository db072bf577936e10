//go:build cuda

package cu

import (
	"errors"
	"fmt"
)

// Result codes of the driver API (CUresult) that the package and its
// callers act on.
const (
	Success            = 0
	ErrorInvalidValue  = 1
	ErrorOutOfMemory   = 2
	ErrorNotInit       = 3
	ErrorNoDevice      = 100
	ErrorInvalidDevice = 101
	ErrorLaunchFailed  = 719

	// ErrorInsufficientDriver means the driver is older than the
	// runtime that asks for it.
	ErrorInsufficientDriver = 35
)

// DriverError is a failed driver call: the call's name and the CUresult
// code with its name and message as cuGetErrorName and cuGetErrorString
// give them.
type DriverError struct {
	Call    string // such as "cuMemAlloc_v2"
	Code    int    // the CUresult
	Name    string // such as "CUDA_ERROR_OUT_OF_MEMORY"
	Message string // such as "out of memory"
}

func (e *DriverError) Error() string {
	return fmt.Sprintf("cu: %s: %s (%d): %s", e.Call, e.Name, e.Code, e.Message)
}

// NoDevice reports whether the error means that there is no usable GPU
// or driver, rather than that a call on a working GPU failed.
func (e *DriverError) NoDevice() bool {
	switch e.Code {
	case ErrorNoDevice, ErrorInsufficientDriver, ErrorNotInit:
		return true
	}
	return false
}

// LoadError is a failure to load the driver library or one of its
// symbols.
type LoadError struct {
	Path   string // the library
	Symbol string // the missing symbol, or "" when dlopen failed
	Err    error
}

func (e *LoadError) Error() string {
	if e.Symbol != "" {
		return fmt.Sprintf("cu: %s has no symbol %s: %v", e.Path, e.Symbol, e.Err)
	}
	return fmt.Sprintf("cu: cannot load %s: %v", e.Path, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// ErrClosed is returned by the calls of a Context after Close.
var ErrClosed = errors.New("cu: context is closed")

// IsNoDevice reports whether err means that there is no driver library or
// no usable GPU: a *LoadError, or a *DriverError whose NoDevice is true.
func IsNoDevice(err error) bool {
	var le *LoadError
	if errors.As(err, &le) {
		return true
	}
	var de *DriverError
	return errors.As(err, &de) && de.NoDevice()
}

// IsOutOfMemory reports whether err is a *DriverError with
// CUDA_ERROR_OUT_OF_MEMORY.
func IsOutOfMemory(err error) bool {
	var de *DriverError
	return errors.As(err, &de) && de.Code == ErrorOutOfMemory
}
