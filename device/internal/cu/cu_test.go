//go:build cuda

package cu

// These tests run the binding against the mock driver of
// testdata/mockcuda.c, built with gcc and loaded in place of libcuda.so.1.
// The mock is NOT a GPU: it keeps "device" memory in host memory and
// records launches without running them. The tests check what the binding
// hands the driver (sizes, pointers, kernel parameters, grid and block
// dimensions), that copies round-trip, that calls run on the thread where
// the context is current, and that failures come back as *DriverError
// with the driver's names. They say nothing about the kernels; the
// conformance suite of package device checks those on a real GPU.

import (
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/optraj/optraj/device/internal/cu/cumock"
)

const mockSource = "testdata/mockcuda.c"

// newMock builds and loads a fresh mock driver with one device.
func newMock(t *testing.T) (*Lib, *cumock.Mock) {
	t.Helper()
	path := cumock.Build(t, mockSource)
	m := cumock.Open(t, path)
	l, err := Load(path)
	if err != nil {
		t.Fatalf("Load(mock): %v", err)
	}
	return l, m
}

// newContext opens a context on device 0 of a fresh mock and closes it
// when the test ends.
func newContext(t *testing.T) (*Context, *cumock.Mock) {
	t.Helper()
	l, m := newMock(t)
	c, err := l.NewContext(0)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return c, m
}

// wantDriverError checks that err is a *DriverError for call with code.
func wantDriverError(t *testing.T, err error, call string, code int,
	name string) {
	t.Helper()
	var de *DriverError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T), want a *DriverError", err, err)
	}
	if de.Call != call || de.Code != code || de.Name != name {
		t.Errorf("DriverError{%s, %d, %s}, want {%s, %d, %s}",
			de.Call, de.Code, de.Name, call, code, name)
	}
	if de.Message == "" || !strings.Contains(err.Error(), de.Message) {
		t.Errorf("error %q lacks the driver's message %q", err, de.Message)
	}
}

func TestLoadMissingLibrary(t *testing.T) {
	_, err := Load("/nonexistent/libcuda.so.1")
	var le *LoadError
	if !errors.As(err, &le) || le.Symbol != "" {
		t.Fatalf("Load(missing) = %v, want a *LoadError from dlopen", err)
	}
	if !IsNoDevice(err) {
		t.Errorf("IsNoDevice(%v) = false", err)
	}
}

func TestLibraryPathFromEnvironment(t *testing.T) {
	t.Setenv(EnvLibrary, "")
	if got := LibraryPath(); got != DefaultLibrary {
		t.Errorf("LibraryPath() = %q without %s, want %q",
			got, EnvLibrary, DefaultLibrary)
	}

	path := cumock.Build(t, mockSource)
	t.Setenv(EnvLibrary, path)
	l, err := Load("")
	if err != nil {
		t.Fatalf("Load(\"\") with %s=%s: %v", EnvLibrary, path, err)
	}
	if l.Path() != path {
		t.Errorf("loaded %s, want %s", l.Path(), path)
	}
}

func TestInitWithoutDevice(t *testing.T) {
	path := cumock.Build(t, mockSource)
	cumock.Open(t, path).SetDeviceCount(0)
	_, err := Load(path)
	wantDriverError(t, err, "cuInit", ErrorNoDevice, "CUDA_ERROR_NO_DEVICE")
	if !IsNoDevice(err) {
		t.Errorf("IsNoDevice(%v) = false", err)
	}
}

func TestDeviceQueries(t *testing.T) {
	l, _ := newMock(t)
	if v, err := l.DriverVersion(); err != nil || v != 12040 {
		t.Errorf("DriverVersion() = %d, %v; want 12040", v, err)
	}
	if n, err := l.DeviceCount(); err != nil || n != 1 {
		t.Errorf("DeviceCount() = %d, %v; want 1", n, err)
	}
	d, err := l.Device(0)
	if err != nil {
		t.Fatalf("Device(0): %v", err)
	}
	if name, err := l.DeviceName(d); err != nil ||
		!strings.Contains(name, "not a GPU") {
		t.Errorf("DeviceName = %q, %v", name, err)
	}
	if b, err := l.TotalMem(d); err != nil || b != 1<<30 {
		t.Errorf("TotalMem = %d, %v; want 1 GiB", b, err)
	}
	if v, err := l.Attribute(d, AttrComputeCapabilityMajor); err != nil ||
		v != 8 {
		t.Errorf("compute capability major = %d, %v; want 8", v, err)
	}

	_, err = l.Device(3)
	wantDriverError(t, err, "cuDeviceGet", ErrorInvalidDevice,
		"CUDA_ERROR_INVALID_DEVICE")
}

func TestContextLifecycle(t *testing.T) {
	l, m := newMock(t)
	c, err := l.NewContext(0)
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	if m.CtxRefs(0) != 1 || m.LiveStreams() != 1 {
		t.Errorf("after NewContext: %d context refs, %d streams; want 1, 1",
			m.CtxRefs(0), m.LiveStreams())
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if m.CtxRefs(0) != 0 || m.LiveStreams() != 0 {
		t.Errorf("after Close: %d context refs, %d streams; want 0, 0",
			m.CtxRefs(0), m.LiveStreams())
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := c.Alloc(4); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close = %v, want ErrClosed", err)
	}
}

func TestNewContextFailureReleases(t *testing.T) {
	l, m := newMock(t)
	m.Fail("cuStreamCreate", ErrorOutOfMemory, 0)
	_, err := l.NewContext(0)
	wantDriverError(t, err, "cuStreamCreate", ErrorOutOfMemory,
		"CUDA_ERROR_OUT_OF_MEMORY")
	if m.CtxRefs(0) != 0 {
		t.Errorf("%d context refs after a failed NewContext, want 0",
			m.CtxRefs(0))
	}
}

func TestCopiesRoundTrip(t *testing.T) {
	c, m := newContext(t)
	const n = 37
	a, err := c.Alloc(4 * n)
	if err != nil {
		t.Fatalf("Alloc: %v", err)
	}
	b, err := c.Alloc(4 * n)
	if err != nil {
		t.Fatalf("Alloc: %v", err)
	}

	if err := c.SetD32(a, 0, n); err != nil {
		t.Fatalf("SetD32: %v", err)
	}
	got := make([]float32, n)
	if err := CopyOut(c, got, a); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	for i, v := range got {
		if v != 0 {
			t.Fatalf("after SetD32(0), element %d = %v", i, v)
		}
	}

	want := make([]float32, n)
	for i := range want {
		want[i] = float32(i) - 0.25
	}
	if err := CopyIn(c, a, want); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	if err := c.CopyDevice(b, a, 4*n); err != nil {
		t.Fatalf("CopyDevice: %v", err)
	}
	if err := CopyOut(c, got, b); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("round trip: element %d = %v, want %v", i, got[i], want[i])
		}
	}

	raw, ok := m.Peek(uint64(a)+4, 4)
	if !ok || math.Float32frombits(leUint32(raw)) != want[1] {
		t.Errorf("mock memory at a+4 = %v (ok %v), want %v", raw, ok, want[1])
	}

	// A copy past the end of an allocation is the driver's error.
	err = CopyIn(c, a+4, want)
	wantDriverError(t, err, "cuMemcpyHtoD_v2", ErrorInvalidValue,
		"CUDA_ERROR_INVALID_VALUE")

	for _, p := range []Ptr{a, b} {
		if err := c.Free(p); err != nil {
			t.Errorf("Free: %v", err)
		}
	}
	if m.LiveAllocs() != 0 {
		t.Errorf("%d live allocations after Free, want 0", m.LiveAllocs())
	}
}

func leUint32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// probePTX declares a kernel with one parameter of each kind the binding
// marshals. It is never compiled: the mock only reads the signature.
const probePTX = `.version 7.0
.target sm_80
.address_size 64
.visible .entry probe(
	.param .u64 probe_param_0,
	.param .u32 probe_param_1,
	.param .f32 probe_param_2,
	.param .u64 probe_param_3,
	.param .u32 probe_param_4
)
{
	ret;
}
`

func TestLaunchMarshalling(t *testing.T) {
	c, m := newContext(t)
	mod, err := c.LoadModule(append([]byte(probePTX), 0))
	if err != nil {
		t.Fatalf("LoadModule: %v", err)
	}
	f, err := c.Function(mod, "probe")
	if err != nil {
		t.Fatalf("Function: %v", err)
	}

	m.Reset()
	err = c.Launch(f, Dim3{3, 2, 1}, Dim3{128, 2, 1}, 256,
		Ptr(0xdead_beef_00), int32(-7), float32(1.5), int64(-2), uint32(9))
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}

	ls := m.Launches()
	if len(ls) != 1 {
		t.Fatalf("%d launches recorded, want 1", len(ls))
	}
	l := ls[0]
	if l.Kernel != "probe" || l.Grid != [3]int{3, 2, 1} ||
		l.Block != [3]int{128, 2, 1} || l.Shared != 256 {
		t.Errorf("launch %+v, want probe over 3×2×1 blocks of 128×2×1", l)
	}
	want := []uint64{0xdead_beef_00, 0xffff_fff9,
		uint64(math.Float32bits(1.5)), math.MaxUint64 - 1, 9}
	for i, p := range l.Params {
		if p != want[i] {
			t.Errorf("parameter %d = %#x, want %#x", i, p, want[i])
		}
	}
}

// TestLaunchChecksSignature checks that Launch, knowing the kernel's
// parameters from cuFuncGetParamInfo, refuses arguments of the wrong
// number or size, which the GPU would otherwise read as garbage, or, for
// a 4-byte value passed for an 8-byte parameter, right by accident.
func TestLaunchChecksSignature(t *testing.T) {
	c, _ := newContext(t)
	mod, err := c.LoadModule(append([]byte(probePTX), 0))
	if err != nil {
		t.Fatalf("LoadModule: %v", err)
	}
	f, err := c.Function(mod, "probe")
	if err != nil {
		t.Fatalf("Function: %v", err)
	}
	if got := c.params[f].sizes; !slices.Equal(got, []int{8, 4, 4, 8, 4}) {
		t.Errorf("parameter sizes %v, want [8 4 4 8 4]", got)
	}

	for name, args := range map[string][]any{
		"too few":         {Ptr(0), int32(0), float32(0), int64(0)},
		"int32 for a u64": {Ptr(0), int32(0), float32(0), int32(0), uint32(0)},
		"int64 for a u32": {Ptr(0), int64(0), float32(0), int64(0), uint32(0)},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Launch did not panic")
				}
			}()
			_ = c.Launch(f, Dim3{1, 1, 1}, Dim3{32, 1, 1}, 0, args...)
		})
	}
}

func TestLaunchErrors(t *testing.T) {
	c, _ := newContext(t)
	mod, err := c.LoadModule(append([]byte(probePTX), 0))
	if err != nil {
		t.Fatalf("LoadModule: %v", err)
	}
	_, err = c.Function(mod, "absent")
	wantDriverError(t, err, "cuModuleGetFunction", 500, "CUDA_ERROR_NOT_FOUND")

	if _, err := c.LoadModule([]byte(probePTX)); err == nil {
		t.Errorf("LoadModule accepted an image without a NUL byte")
	}

	// A block of 2048 threads is past every GPU's limit of 1024.
	f, err := c.Function(mod, "probe")
	if err != nil {
		t.Fatalf("Function: %v", err)
	}
	err = c.Launch(f, Dim3{1, 1, 1}, Dim3{2048, 1, 1}, 0,
		Ptr(0), int32(0), float32(0), int64(0), uint32(0))
	wantDriverError(t, err, "cuLaunchKernel", ErrorInvalidValue,
		"CUDA_ERROR_INVALID_VALUE")

	defer func() {
		if recover() == nil {
			t.Errorf("Launch with an int argument did not panic")
		}
	}()
	_ = c.Launch(f, Dim3{1, 1, 1}, Dim3{1, 1, 1}, 0, 7)
}

func TestErrorTranslation(t *testing.T) {
	c, m := newContext(t)
	tests := []struct {
		call string
		code int
		name string
		run  func() error
	}{
		{"cuMemAlloc_v2", ErrorOutOfMemory, "CUDA_ERROR_OUT_OF_MEMORY",
			func() error { _, err := c.Alloc(64); return err }},
		{"cuCtxSynchronize", ErrorLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED",
			c.Synchronize},
		{"cuStreamSynchronize", ErrorLaunchFailed, "CUDA_ERROR_LAUNCH_FAILED",
			c.SynchronizeStream},
		{"cuMemGetInfo_v2", 12345, "CUresult(12345)",
			func() error { _, _, err := c.MemInfo(); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			m.Fail(tt.call, int32(tt.code), 0)
			err := tt.run()
			var de *DriverError
			if !errors.As(err, &de) || de.Call != tt.call ||
				de.Code != tt.code || de.Name != tt.name {
				t.Fatalf("error %v, want %s failing with %s (%d)",
					err, tt.call, tt.name, tt.code)
			}
			if tt.run() != nil {
				t.Errorf("%s failed again; the mock fails it once", tt.call)
			}
		})
	}
}

func TestOutOfMemory(t *testing.T) {
	c, m := newContext(t)
	m.SetMemLimit(1 << 20)
	_, err := c.Alloc(2 << 20)
	wantDriverError(t, err, "cuMemAlloc_v2", ErrorOutOfMemory,
		"CUDA_ERROR_OUT_OF_MEMORY")
	if !IsOutOfMemory(err) || IsNoDevice(err) {
		t.Errorf("IsOutOfMemory, IsNoDevice = %v, %v; want true, false",
			IsOutOfMemory(err), IsNoDevice(err))
	}
}

// TestCallsStayOnContextThread checks that the mock refuses a
// context-bound call from a thread without a current context, so that the
// other tests, which pass, show that the binding keeps its calls on the
// context's thread, even when they come from many goroutines.
func TestCallsStayOnContextThread(t *testing.T) {
	c, _ := newContext(t)

	r := make(chan int32)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var p uint64
		r <- c.lib.fn.cuMemAlloc(&p, 64)
	}()
	if code := <-r; code != 201 {
		t.Fatalf("cuMemAlloc off the context thread = %d, want 201 "+
			"(CUDA_ERROR_INVALID_CONTEXT)", code)
	}

	var mu sync.Mutex // a Context serves one goroutine at a time
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			mu.Lock()
			defer mu.Unlock()
			p, err := c.Alloc(16)
			if err == nil {
				err = c.Free(p)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Alloc/Free from another goroutine: %v", err)
		}
	}
}

func TestMarshalLayout(t *testing.T) {
	slots, ptrs := marshal([]any{Ptr(1), int32(-1), float32(math.Copysign(0, -1))})
	if len(slots) != 3 || len(ptrs) != 3 {
		t.Fatalf("marshal gave %d slots, %d pointers; want 3, 3",
			len(slots), len(ptrs))
	}
	for i := range slots {
		if ptrs[i] != unsafe.Pointer(&slots[i]) {
			t.Errorf("pointer %d does not point at slot %d", i, i)
		}
	}
	if slots[1] != 0xffff_ffff || slots[2] != 0x8000_0000 {
		t.Errorf("slots %#x, want int32 and float32 bits zero-extended", slots)
	}
}
