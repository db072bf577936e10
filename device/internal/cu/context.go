//go:build cuda

package cu

import (
	"runtime"
	"unsafe"
)

// Ptr is an address in device memory (CUdeviceptr).
type Ptr uint64

// Context is a GPU's primary context, made current on one OS thread that
// serves every call made through the Context: a goroutine locked to its
// thread with runtime.LockOSThread runs the calls, which reach it as
// closures over a channel, one at a time and in order. Work is issued to
// one stream of the context. A Context is not safe for concurrent use by
// several goroutines.
type Context struct {
	lib    *Lib
	dev    Device
	ctx    uintptr // CUcontext
	stream uintptr // CUstream
	mods   []Module
	params map[Function]signature // kernels whose parameters are known
	calls  chan func()
	result chan error
	closed bool
}

// NewContext retains the primary context of dev, starts the thread that
// will serve it, makes the context current there and creates a stream.
func (l *Lib) NewContext(dev Device) (*Context, error) {
	c := &Context{
		lib:    l,
		dev:    dev,
		calls:  make(chan func()),
		result: make(chan error, 1),
		params: map[Function]signature{},
	}
	go c.serve()
	if err := c.do(c.open); err != nil {
		close(c.calls)
		c.closed = true
		return nil, err
	}
	return c, nil
}

// serve runs the calls on a locked OS thread until c.calls is closed. It
// never unlocks the thread, so the thread ends with the goroutine and no
// other goroutine inherits its context stack.
func (c *Context) serve() {
	runtime.LockOSThread()
	for f := range c.calls {
		f()
	}
}

// do runs f on the context's thread and returns its error.
func (c *Context) do(f func() error) error {
	if c.closed {
		return ErrClosed
	}
	c.calls <- func() { c.result <- f() }
	return <-c.result
}

// open retains and pushes the primary context and creates the stream; on
// the context's thread. What it made is undone when a later step fails.
func (c *Context) open() error {
	f := &c.lib.fn
	r := f.cuDevicePrimaryCtxRetain(&c.ctx, int32(c.dev))
	if err := c.lib.check("cuDevicePrimaryCtxRetain", r); err != nil {
		return err
	}

	r = f.cuCtxPushCurrent(c.ctx)
	if err := c.lib.check("cuCtxPushCurrent_v2", r); err != nil {
		c.release()
		return err
	}

	// Flags 0 (CU_STREAM_DEFAULT): the stream synchronises with the legacy
	// default stream, on which the synchronous copies run, so copies and
	// launches stay in the order they were issued.
	r = f.cuStreamCreate(&c.stream, 0)
	if err := c.lib.check("cuStreamCreate", r); err != nil {
		c.pop()
		c.release()
		return err
	}
	return nil
}

// Close unloads the modules, destroys the stream, pops and releases the
// primary context, and ends the thread. Memory allocated through the
// Context must be freed before. It returns the first error it meets, and
// ErrClosed when called again.
func (c *Context) Close() error {
	if c.closed {
		return ErrClosed
	}
	err := c.do(func() error {
		var errs []error
		for _, m := range c.mods {
			r := c.lib.fn.cuModuleUnload(uintptr(m))
			errs = append(errs, c.lib.check("cuModuleUnload", r))
		}
		r := c.lib.fn.cuStreamDestroy(c.stream)
		errs = append(errs, c.lib.check("cuStreamDestroy_v2", r))
		errs = append(errs, c.pop(), c.release())
		return firstError(errs)
	})
	close(c.calls)
	c.closed = true
	return err
}

// pop pops the context from the thread's context stack.
func (c *Context) pop() error {
	var old uintptr
	return c.lib.check("cuCtxPopCurrent_v2", c.lib.fn.cuCtxPopCurrent(&old))
}

// release releases the primary context.
func (c *Context) release() error {
	r := c.lib.fn.cuDevicePrimaryCtxRelease(int32(c.dev))
	return c.lib.check("cuDevicePrimaryCtxRelease_v2", r)
}

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Alloc allocates bytes of device memory. The error is a *DriverError
// with code ErrorOutOfMemory when the GPU has no room.
func (c *Context) Alloc(bytes int) (Ptr, error) {
	var p uint64
	err := c.do(func() error {
		r := c.lib.fn.cuMemAlloc(&p, uint64(bytes))
		return c.lib.check("cuMemAlloc_v2", r)
	})
	return Ptr(p), err
}

// Free frees memory that Alloc returned.
func (c *Context) Free(p Ptr) error {
	return c.do(func() error {
		return c.lib.check("cuMemFree_v2", c.lib.fn.cuMemFree(uint64(p)))
	})
}

// MemInfo returns the free and total device memory in bytes.
func (c *Context) MemInfo() (free, total int64, err error) {
	var f, t uint64
	err = c.do(func() error {
		return c.lib.check("cuMemGetInfo_v2", c.lib.fn.cuMemGetInfo(&f, &t))
	})
	return int64(f), int64(t), err
}

// SetD32 sets the n 32-bit words at p to v.
func (c *Context) SetD32(p Ptr, v uint32, n int) error {
	return c.do(func() error {
		r := c.lib.fn.cuMemsetD32(uint64(p), v, uint64(n))
		return c.lib.check("cuMemsetD32_v2", r)
	})
}

// Scalar is an element type that copies move between host and device.
type Scalar interface {
	~float32 | ~int32 | ~uint32
}

// CopyIn copies src from host memory to device memory at dst. It returns
// when src may be reused.
func CopyIn[T Scalar](c *Context, dst Ptr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	bytes := uint64(len(src)) * uint64(unsafe.Sizeof(src[0]))
	return c.do(func() error {
		p := unsafe.Pointer(unsafe.SliceData(src))
		r := c.lib.fn.cuMemcpyHtoD(uint64(dst), p, bytes)
		runtime.KeepAlive(src)
		return c.lib.check("cuMemcpyHtoD_v2", r)
	})
}

// CopyOut copies len(dst) values from device memory at src to dst, after
// the work issued before it has finished.
func CopyOut[T Scalar](c *Context, dst []T, src Ptr) error {
	if len(dst) == 0 {
		return nil
	}
	bytes := uint64(len(dst)) * uint64(unsafe.Sizeof(dst[0]))
	return c.do(func() error {
		p := unsafe.Pointer(unsafe.SliceData(dst))
		r := c.lib.fn.cuMemcpyDtoH(p, uint64(src), bytes)
		runtime.KeepAlive(dst)
		return c.lib.check("cuMemcpyDtoH_v2", r)
	})
}

// CopyDevice copies bytes of device memory from src to dst, in order with
// the work issued before it.
func (c *Context) CopyDevice(dst, src Ptr, bytes int) error {
	if bytes == 0 {
		return nil
	}
	return c.do(func() error {
		r := c.lib.fn.cuMemcpyDtoD(uint64(dst), uint64(src), uint64(bytes))
		return c.lib.check("cuMemcpyDtoD_v2", r)
	})
}

// Synchronize waits for all work in the context to finish
// (cuCtxSynchronize) and returns the first error any of it met.
func (c *Context) Synchronize() error {
	return c.do(func() error {
		return c.lib.check("cuCtxSynchronize", c.lib.fn.cuCtxSynchronize())
	})
}

// SynchronizeStream waits for the work issued to the context's stream.
func (c *Context) SynchronizeStream() error {
	return c.do(func() error {
		r := c.lib.fn.cuStreamSynchronize(c.stream)
		return c.lib.check("cuStreamSynchronize", r)
	})
}
