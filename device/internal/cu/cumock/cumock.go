//go:build cuda

package cumock

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Build compiles the mock driver from the C source at src with gcc and
// returns the path of a copy of the shared library in a temporary folder
// of t, so that each test that calls Build loads a library of its own,
// with fresh state. gcc runs once per source and process. Build skips the
// test, saying why, when gcc is missing, and fails it when the source
// does not compile.
func Build(t testing.TB, src string) string {
	t.Helper()
	return install(t, "mock "+src, func(dir string) (string, error) {
		lib := filepath.Join(dir, "libmockcuda.so")
		return lib, run(dir, compiler(t, "gcc"), "-std=c11", "-Wall",
			"-Wextra", "-Werror", "-O1", "-shared", "-fPIC", "-o", lib, src)
	})
}

// BuildEmulator is Build for the mock driver linked with the kernel
// emulator of kernels/testdata/emulate.cc (emu, compiled with g++ and the
// kernels' folder kernelDir on the include path), whose cuLaunchKernel
// runs the kernels' CUDA C source on the CPU. It is still not a GPU.
func BuildEmulator(t testing.TB, src, emu, kernelDir string) string {
	t.Helper()
	gcc, gxx := compiler(t, "gcc"), compiler(t, "g++")
	key := "emulator " + src + " " + emu
	return install(t, key, func(dir string) (string, error) {
		mock, kern := filepath.Join(dir, "mock.o"), filepath.Join(dir, "emu.o")
		lib := filepath.Join(dir, "libemucuda.so")
		if err := run(dir, gcc, "-std=c11", "-Wall", "-Wextra", "-Werror",
			"-O1", "-fPIC", "-c", "-o", mock, src); err != nil {
			return "", err
		}
		if err := run(dir, gxx, "-std=c++17", "-Wall", "-Wextra", "-Werror",
			"-Wno-unknown-pragmas", "-O2", "-fPIC", "-I", kernelDir,
			"-c", "-o", kern, emu); err != nil {
			return "", err
		}
		return lib, run(dir, gxx, "-shared", "-o", lib, mock, kern)
	})
}

// compiler returns the path of the named compiler, skipping the test when
// there is none.
func compiler(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no %s to build the mock CUDA driver: %v", name, err)
	}
	return path
}

// run runs a compiler; dir, the folder it builds in, is for the message.
// Relative source paths are relative to the test's package folder.
func run(dir, name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("building the mock CUDA driver in %s: %s: %v\n%s",
			dir, filepath.Base(name), err, out)
	}
	return nil
}

var (
	soMu    sync.Mutex
	soCache = map[string][]byte{}
)

// install builds the library that key names, once per process, with
// build, which gets a scratch folder and returns the library's path; and
// returns the path of a fresh copy of it in a temporary folder of t.
func install(t testing.TB, key string,
	build func(dir string) (string, error)) string {
	t.Helper()
	soMu.Lock()
	so, ok := soCache[key]
	if !ok {
		lib, err := build(t.TempDir())
		if err == nil {
			so, err = os.ReadFile(lib)
		}
		if err != nil {
			soMu.Unlock()
			t.Fatal(err)
		}
		soCache[key] = so
	}
	soMu.Unlock()

	lib := filepath.Join(t.TempDir(), "libcuda.so")
	if err := os.WriteFile(lib, so, 0o755); err != nil {
		t.Fatal(err)
	}
	return lib
}

// Mock holds the test functions of a loaded mock driver (the mock_*
// functions of mockcuda.c).
type Mock struct {
	Reset          func()
	Fail           func(call string, code, after int32)
	SetDeviceCount func(n int32)
	SetCapability  func(major, minor int32)
	SetMemLimit    func(bytes uint64)
	LiveAllocs     func() int32
	LiveStreams    func() int32
	CtxRefs        func(dev int32) int32
	CtxDepth       func() int32
	CallCount      func(call string) int32

	launchCount     func() int32
	launchName      func(i int32) string
	launchDim       func(i, which int32) uint32
	launchNParams   func(i int32) int32
	launchParamSize func(i, p int32) int32
	launchParam     func(i, p int32) uint64
	peek            func(dst unsafe.Pointer, p, n uint64) int32
}

// Open binds the test functions of the mock library at path. Loading the
// same path again, as cu.Load does, gives the same library and state.
func Open(t testing.TB, path string) *Mock {
	t.Helper()
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		t.Fatalf("loading the mock CUDA driver: %v", err)
	}
	m := &Mock{}
	for name, fptr := range m.symbols() {
		addr, err := purego.Dlsym(h, name)
		if err != nil {
			t.Fatalf("mock CUDA driver: %v", err)
		}
		purego.RegisterFunc(fptr, addr)
	}
	return m
}

func (m *Mock) symbols() map[string]any {
	return map[string]any{
		"mock_reset":                  &m.Reset,
		"mock_fail":                   &m.Fail,
		"mock_set_device_count":       &m.SetDeviceCount,
		"mock_set_compute_capability": &m.SetCapability,
		"mock_set_mem_limit":          &m.SetMemLimit,
		"mock_live_allocs":            &m.LiveAllocs,
		"mock_live_streams":           &m.LiveStreams,
		"mock_ctx_refs":               &m.CtxRefs,
		"mock_ctx_depth":              &m.CtxDepth,
		"mock_call_count":             &m.CallCount,
		"mock_launch_count":           &m.launchCount,
		"mock_launch_name":            &m.launchName,
		"mock_launch_dim":             &m.launchDim,
		"mock_launch_nparams":         &m.launchNParams,
		"mock_launch_param_size":      &m.launchParamSize,
		"mock_launch_param":           &m.launchParam,
		"mock_peek":                   &m.peek,
	}
}

// Launch is a kernel launch as the mock recorded it. Params holds each
// parameter's bytes, little-endian and zero-extended to 64 bits, and
// Sizes their sizes in bytes as the kernel's PTX declares them.
type Launch struct {
	Kernel      string
	Grid, Block [3]int
	Shared      int
	Params      []uint64
	Sizes       []int
}

// Launches returns the launches recorded since the last Reset, in order.
func (m *Mock) Launches() []Launch {
	n := m.launchCount()
	ls := make([]Launch, n)
	for i := range n {
		l := &ls[i]
		l.Kernel = m.launchName(i)
		for d := range int32(3) {
			l.Grid[d] = int(m.launchDim(i, d))
			l.Block[d] = int(m.launchDim(i, 3+d))
		}
		l.Shared = int(m.launchDim(i, 6))
		for p := range m.launchNParams(i) {
			l.Params = append(l.Params, m.launchParam(i, p))
			l.Sizes = append(l.Sizes, int(m.launchParamSize(i, p)))
		}
	}
	return ls
}

// Peek returns n bytes of mock device memory at p, and false when the
// range is not inside one live allocation.
func (m *Mock) Peek(p uint64, n int) ([]byte, bool) {
	b := make([]byte, n)
	if n == 0 {
		return b, true
	}
	ok := m.peek(unsafe.Pointer(&b[0]), p, uint64(n)) == 0
	return b, ok
}
