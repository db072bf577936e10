//go:build cuda

package cu

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// Module is a loaded module (CUmodule).
type Module uintptr

// Function is a kernel of a loaded module (CUfunction).
type Function uintptr

// Dim3 is a grid or block size in threads or blocks along x, y and z.
type Dim3 struct{ X, Y, Z int }

// LoadModule loads a module from a NUL-terminated PTX image; the driver
// compiles the PTX for the GPU. The Context unloads it in Close.
func (c *Context) LoadModule(image []byte) (Module, error) {
	if len(image) == 0 || image[len(image)-1] != 0 {
		return 0, fmt.Errorf("cu: module image is not NUL-terminated")
	}
	var m uintptr
	err := c.do(func() error {
		r := c.lib.fn.cuModuleLoadData(&m, unsafe.Pointer(&image[0]))
		runtime.KeepAlive(image)
		return c.lib.check("cuModuleLoadData", r)
	})
	if err != nil {
		return 0, err
	}
	c.mods = append(c.mods, Module(m))
	return Module(m), nil
}

// Function returns the kernel of module m with the given name. Where the
// driver has cuFuncGetParamInfo (CUDA 12.4 and newer), it also learns the
// sizes of the kernel's parameters, against which Launch checks its
// arguments.
func (c *Context) Function(m Module, name string) (Function, error) {
	var f uintptr
	var sizes []int
	err := c.do(func() error {
		r := c.lib.fn.cuModuleGetFunction(&f, uintptr(m), name)
		if err := c.lib.check("cuModuleGetFunction", r); err != nil {
			return err
		}
		var err error
		sizes, err = c.paramSizes(f)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cu: kernel %s: %w", name, err)
	}
	if sizes != nil {
		c.params[Function(f)] = signature{name, sizes}
	}
	return Function(f), nil
}

// signature is a kernel's name and the sizes of its parameters in bytes.
type signature struct {
	name  string
	sizes []int
}

// maxParams bounds the parameters paramSizes looks for; the kernels of
// optraj have at most 9.
const maxParams = 64

// paramSizes returns the sizes in bytes of the parameters of f, or nil
// when the driver cannot tell. The driver answers CUDA_ERROR_INVALID_VALUE
// for the index one past the last parameter. On the context's thread.
func (c *Context) paramSizes(f uintptr) ([]int, error) {
	info := c.lib.fn.cuFuncGetParamInfo
	if info == nil {
		return nil, nil
	}
	sizes := []int{}
	for i := range uint64(maxParams) {
		var offset, size uint64
		err := c.lib.check("cuFuncGetParamInfo", info(f, i, &offset, &size))
		var de *DriverError
		if errors.As(err, &de) && de.Code == ErrorInvalidValue {
			return sizes, nil
		}
		if err != nil {
			return nil, err
		}
		sizes = append(sizes, int(size))
	}
	return nil, fmt.Errorf("cu: kernel has more than %d parameters", maxParams)
}

// checkArgs panics unless args match the kernel's parameters in number
// and size, when Function learnt them.
func (c *Context) checkArgs(f Function, args []any) {
	sig, ok := c.params[f]
	if !ok {
		return
	}
	if len(args) != len(sig.sizes) {
		panic(fmt.Sprintf("cu: kernel %s takes %d parameters, not %d",
			sig.name, len(sig.sizes), len(args)))
	}
	for i, a := range args {
		if n := argSize(a); n != sig.sizes[i] {
			panic(fmt.Sprintf("cu: kernel %s: argument %d is a %T of %d "+
				"bytes; the parameter has %d", sig.name, i, a, n, sig.sizes[i]))
		}
	}
}

// argSize returns the size in bytes of a kernel argument.
func argSize(a any) int {
	switch a.(type) {
	case Ptr, int64, uint64:
		return 8
	case int32, uint32, float32:
		return 4
	}
	panic(fmt.Sprintf("cu: kernel argument of type %T", a))
}

// Launch issues kernel f on the context's stream with the given grid (in
// blocks), block (in threads) and dynamic shared memory (in bytes). The
// arguments are the kernel's parameters in order, each a Ptr, int32,
// uint32, int64, uint64 or float32, matching the kernel's C types
// (pointer, int, unsigned, long long, unsigned long long, float). Launch
// returns the error of issuing the kernel; errors met while it runs are
// reported by Synchronize. It panics on an argument of another type, and
// on arguments that do not match the kernel's parameters where Function
// learnt them.
func (c *Context) Launch(f Function, grid, block Dim3, shared int,
	args ...any) error {
	c.checkArgs(f, args)
	slots, ptrs := marshal(args)
	var params *unsafe.Pointer
	if len(ptrs) > 0 {
		params = &ptrs[0]
	}
	return c.do(func() error {
		r := c.lib.fn.cuLaunchKernel(uintptr(f),
			uint32(grid.X), uint32(grid.Y), uint32(grid.Z),
			uint32(block.X), uint32(block.Y), uint32(block.Z),
			uint32(shared), c.stream, params, 0)
		runtime.KeepAlive(slots)
		runtime.KeepAlive(ptrs)
		return c.lib.check("cuLaunchKernel", r)
	})
}

// marshal stores each argument in an 8-byte slot, little-endian as the
// GPU reads it, and returns the slots with the array of pointers to them
// that cuLaunchKernel takes as kernelParams.
func marshal(args []any) ([]uint64, []unsafe.Pointer) {
	slots := make([]uint64, len(args))
	ptrs := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case Ptr:
			slots[i] = uint64(v)
		case int32:
			slots[i] = uint64(uint32(v))
		case uint32:
			slots[i] = uint64(v)
		case int64:
			slots[i] = uint64(v)
		case uint64:
			slots[i] = v
		case float32:
			slots[i] = uint64(math.Float32bits(v))
		default:
			panic(fmt.Sprintf("cu: kernel argument %d has type %T", i, a))
		}
		ptrs[i] = unsafe.Pointer(&slots[i])
	}
	return slots, ptrs
}
