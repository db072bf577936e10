//go:build cuda

package device

import (
	"errors"
	"fmt"
	"math"

	"github.com/optraj/optraj/device/internal/cu"
)

// cudaDevice is the CUDA backend: buffers in GPU memory, copies through
// the driver, and the kernels of kernels/*.cu loaded from their embedded
// PTX. Every driver call runs on the context thread of package cu.
//
// Operations are issued in order to one stream and run asynchronously.
// The first error that one meets, when issued or (through Sync) when run,
// is kept; later operations are then skipped, and Sync, CopyIn and
// CopyOut return it until the device is closed.
type cudaDevice struct {
	ctx   *cu.Context
	name  string
	total int64 // GPU memory in bytes
	k     cudaKernels

	allocs  map[cu.Ptr]int // live allocations: base → float32 count
	scratch cu.Ptr         // device copy of index arguments
	scrLen  int            // int32 capacity of scratch
	err     error          // the first error met
	closed  bool
}

type cudaBuffer struct {
	dev  *cudaDevice
	ptr  cu.Ptr
	n    int
	view bool // made by Slice; Free ignores it
}

func (b *cudaBuffer) Len() int { return b.n }

func (b *cudaBuffer) Slice(i, j int) Buffer {
	if i < 0 || j < i || j > b.n {
		panic(fmt.Sprintf("device: slice [%d:%d] of a buffer of length %d",
			i, j, b.n))
	}
	return &cudaBuffer{dev: b.dev, ptr: b.ptr + cu.Ptr(4*i), n: j - i,
		view: true}
}

// cudaMinMajor is the oldest GPU generation (compute capability major)
// that the PTX of kernels/ targets: gen.sh builds for sm_80.
const cudaMinMajor = 8

// OpenCUDA opens the GPU with the given ordinal through the CUDA driver
// (libcuda.so.1, or the library that $OPTRAJ_LIBCUDA names). The error
// wraps ErrNoDriver when the driver library or a GPU is missing, or when
// the GPU is older than the kernels' target (sm_80), so that Open("auto")
// falls back to the CPU.
func OpenCUDA(ordinal int) (Device, error) {
	lib, err := cu.Load("")
	if err != nil {
		return nil, cudaOpenError(err)
	}
	d, err := openCUDA(lib, ordinal)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return d, nil
}

// cudaOpenError wraps err in ErrNoDriver when it means that there is no
// driver or GPU.
func cudaOpenError(err error) error {
	if cu.IsNoDevice(err) {
		return fmt.Errorf("%w: %w", ErrNoDriver, err)
	}
	return fmt.Errorf("device: opening CUDA: %w", err)
}

// openCUDA opens GPU ordinal of lib: its primary context, a stream and
// the kernels.
func openCUDA(lib *cu.Lib, ordinal int) (*cudaDevice, error) {
	count, err := lib.DeviceCount()
	if err != nil {
		return nil, cudaOpenError(err)
	}
	if count == 0 {
		return nil, fmt.Errorf("%w: the driver sees no GPU", ErrNoDriver)
	}
	if ordinal < 0 || ordinal >= count {
		return nil, fmt.Errorf("device: no GPU %d; the driver sees %d",
			ordinal, count)
	}

	info, err := cudaGPUInfo(lib, ordinal)
	if err != nil {
		return nil, cudaOpenError(err)
	}
	if info.ComputeMajor < cudaMinMajor {
		return nil, fmt.Errorf("%w: %s is sm_%d%d; the kernels are built "+
			"for sm_%d0 and newer", ErrNoDriver, info.Name,
			info.ComputeMajor, info.ComputeMinor, cudaMinMajor)
	}
	ctx, err := lib.NewContext(cu.Device(ordinal))
	if err != nil {
		return nil, cudaOpenError(err)
	}
	d := &cudaDevice{
		ctx:    ctx,
		name:   cudaName(info),
		total:  info.MemoryBytes,
		allocs: map[cu.Ptr]int{},
	}
	if err := d.k.load(ctx); err != nil {
		return nil, errors.Join(err, ctx.Close())
	}
	return d, nil
}

// cudaName describes a GPU for people: "cuda:0 (NVIDIA H100, sm_90,
// 80 GiB)".
func cudaName(g GPUInfo) string {
	return fmt.Sprintf("cuda:%d (%s, sm_%d%d, %.0f GiB)", g.Ordinal, g.Name,
		g.ComputeMajor, g.ComputeMinor, float64(g.MemoryBytes)/(1<<30))
}

// CUDAInfo describes the CUDA driver and its GPUs. The error wraps
// ErrNoDriver when the driver library is missing or sees no GPU.
func CUDAInfo() (DriverInfo, error) {
	lib, err := cu.Load("")
	if err != nil {
		return DriverInfo{}, cudaOpenError(err)
	}
	var info DriverInfo
	if info.DriverVersion, err = lib.DriverVersion(); err != nil {
		return DriverInfo{}, cudaOpenError(err)
	}
	count, err := lib.DeviceCount()
	if err != nil {
		return DriverInfo{}, cudaOpenError(err)
	}
	for i := range count {
		g, err := cudaGPUInfo(lib, i)
		if err != nil {
			return DriverInfo{}, cudaOpenError(err)
		}
		info.GPUs = append(info.GPUs, g)
	}
	return info, nil
}

// cudaGPUInfo asks the driver about GPU ordinal.
func cudaGPUInfo(lib *cu.Lib, ordinal int) (GPUInfo, error) {
	g := GPUInfo{Ordinal: ordinal}
	dev, err := lib.Device(ordinal)
	if err != nil {
		return g, err
	}
	if g.Name, err = lib.DeviceName(dev); err != nil {
		return g, err
	}
	if g.MemoryBytes, err = lib.TotalMem(dev); err != nil {
		return g, err
	}
	g.ComputeMajor, err = lib.Attribute(dev, cu.AttrComputeCapabilityMajor)
	if err != nil {
		return g, err
	}
	g.ComputeMinor, err = lib.Attribute(dev, cu.AttrComputeCapabilityMinor)
	return g, err
}

// Name describes the GPU.
func (d *cudaDevice) Name() string { return d.name }

// Kind returns KindCUDA.
func (d *cudaDevice) Kind() Kind { return KindCUDA }

// Alloc returns a zeroed buffer of n values in GPU memory.
func (d *cudaDevice) Alloc(n int) (Buffer, error) {
	switch {
	case d.closed:
		return nil, errors.New("device: Alloc on a closed CUDA device")
	case n < 0:
		return nil, fmt.Errorf("device: alloc of %d values", n)
	case n == 0:
		return &cudaBuffer{dev: d}, nil
	case int64(n) > d.total/4:
		return nil, fmt.Errorf("device: alloc of %d values (%d bytes) "+
			"on a GPU of %d bytes: %w", n, 4*uint64(n), d.total,
			ErrOutOfMemory)
	}

	p, err := d.ctx.Alloc(4 * n)
	if cu.IsOutOfMemory(err) {
		return nil, fmt.Errorf("device: alloc of %d values: %w: %w",
			n, ErrOutOfMemory, err)
	}
	if err != nil {
		return nil, fmt.Errorf("device: alloc of %d values: %w", n, err)
	}
	if err := d.ctx.SetD32(p, 0, n); err != nil {
		return nil, errors.Join(fmt.Errorf("device: clearing %d values: %w",
			n, err), d.ctx.Free(p))
	}
	d.allocs[p] = n
	return &cudaBuffer{dev: d, ptr: p, n: n}, nil
}

// Free releases a buffer that Alloc returned; views, buffers already
// freed and buffers of a closed device are ignored. A driver error is kept
// for Sync.
func (d *cudaDevice) Free(b Buffer) {
	cb := d.buf(b)
	if cb.view || d.closed {
		return
	}
	if _, ok := d.allocs[cb.ptr]; !ok {
		return
	}
	delete(d.allocs, cb.ptr)
	d.fail("Free", d.ctx.Free(cb.ptr))
}

// CopyIn copies src into the start of dst.
func (d *cudaDevice) CopyIn(dst Buffer, src []float32) error {
	b := d.buf(dst)
	if len(src) > b.n {
		return fmt.Errorf("device: copy of %d values into a buffer of %d",
			len(src), b.n)
	}
	if d.err != nil {
		return d.err
	}
	if err := cu.CopyIn(d.ctx, b.ptr, src); err != nil {
		return fmt.Errorf("device: CopyIn of %d values: %w", len(src), err)
	}
	return nil
}

// CopyOut copies the start of src into dst once the work issued before
// has finished.
func (d *cudaDevice) CopyOut(dst []float32, src Buffer) error {
	b := d.buf(src)
	if len(dst) > b.n {
		return fmt.Errorf("device: copy of %d values out of a buffer of %d",
			len(dst), b.n)
	}
	if d.err != nil {
		return d.err
	}
	if err := cu.CopyOut(d.ctx, dst, b.ptr); err != nil {
		d.fail("CopyOut", err) // may be the error of an earlier launch
		return d.err
	}
	return nil
}

// Sync waits for the GPU and returns the first error any operation met.
func (d *cudaDevice) Sync() error {
	if d.closed {
		return errors.New("device: Sync on a closed CUDA device")
	}
	if d.err == nil {
		d.fail("Sync", d.ctx.Synchronize())
	}
	return d.err
}

// Close frees every buffer and releases the GPU. It returns the first
// error of the release, not the device's kept error.
func (d *cudaDevice) Close() error {
	if d.closed {
		return nil
	}
	var errs []error
	for p := range d.allocs {
		errs = append(errs, d.ctx.Free(p))
	}
	if d.scratch != 0 {
		errs = append(errs, d.ctx.Free(d.scratch))
	}
	errs = append(errs, d.ctx.Close())
	d.closed = true
	d.allocs = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("device: closing %s: %w", d.name, err)
	}
	return nil
}

// buf returns b as a buffer of this device, panicking if it is not.
func (d *cudaDevice) buf(b Buffer) *cudaBuffer {
	cb, ok := b.(*cudaBuffer)
	if !ok || cb.dev != d {
		panic("device: buffer does not belong to this CUDA device")
	}
	return cb
}

// fail keeps err, when it is the first, as the device's error, saying
// which operation met it.
func (d *cudaDevice) fail(op string, err error) {
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("device: %s on %s: %w", op, d.name, err)
	}
}

// upload copies the index argument idx to the scratch buffer, growing it
// as needed, and returns its address, or 0 after an error. Reusing the
// scratch buffer is safe: the synchronous copy runs on the legacy default
// stream, which waits for the work already issued to the device's stream,
// the kernels that read the previous indices included.
func (d *cudaDevice) upload(op string, idx []int32) cu.Ptr {
	if d.err != nil {
		return 0
	}
	if len(idx) > d.scrLen {
		n := max(len(idx), 2*d.scrLen, 1024)
		if d.scratch != 0 {
			d.fail(op, d.ctx.Free(d.scratch))
			d.scratch, d.scrLen = 0, 0
		}
		p, err := d.ctx.Alloc(4 * n)
		if err != nil {
			d.fail(op, fmt.Errorf("index buffer of %d values: %w", n, err))
			return 0
		}
		d.scratch, d.scrLen = p, n
	}
	d.fail(op, cu.CopyIn(d.ctx, d.scratch, idx))
	if d.err != nil {
		return 0
	}
	return d.scratch
}

// cudaInt32 returns v as an int32 for a kernel argument, panicking when a
// dimension is past what the kernels take.
func cudaInt32(op string, v int) int32 {
	if v < 0 || v > math.MaxInt32 {
		panic(fmt.Sprintf("device: %s: dimension %d outside [0, 2³¹)", op, v))
	}
	return int32(v)
}
