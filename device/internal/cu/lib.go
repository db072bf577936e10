//go:build cuda

package cu

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

const (
	// DefaultLibrary is the driver library that Load opens by default.
	DefaultLibrary = "libcuda.so.1"

	// EnvLibrary names an environment variable that, when set, gives the
	// path of a library to load in place of DefaultLibrary.
	EnvLibrary = "OPTRAJ_LIBCUDA"
)

// LibraryPath returns the value of $OPTRAJ_LIBCUDA when it is set and not
// empty, and DefaultLibrary otherwise.
func LibraryPath() string {
	if p := os.Getenv(EnvLibrary); p != "" {
		return p
	}
	return DefaultLibrary
}

// Lib is a loaded CUDA driver library. Its methods that take no Context
// may be called from any goroutine.
type Lib struct {
	path   string
	handle uintptr
	fn     funcs
}

var (
	libsMu sync.Mutex
	libs   = map[string]*Lib{}
)

// Load opens the driver library at path, or at LibraryPath() when path is
// empty, resolves the symbols the package uses and initialises the driver
// with cuInit. A library is loaded once per process and never unloaded;
// later calls with the same path return the same *Lib. The error is a
// *LoadError when the library or a symbol is missing, and a *DriverError
// when cuInit fails; IsNoDevice tells both from other failures.
func Load(path string) (*Lib, error) {
	if path == "" {
		path = LibraryPath()
	}
	libsMu.Lock()
	defer libsMu.Unlock()
	if l, ok := libs[path]; ok {
		return l, nil
	}

	l, err := open(path)
	if err != nil {
		return nil, err
	}
	if err := l.check("cuInit", l.fn.cuInit(0)); err != nil {
		return nil, err
	}
	libs[path] = l
	return l, nil
}

// open loads the library, binds every symbol in l.symbols, and those of
// l.optionalSymbols that it has.
func open(path string) (*Lib, error) {
	h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, &LoadError{Path: path, Err: err}
	}
	l := &Lib{path: path, handle: h}
	for _, s := range l.symbols() {
		addr, err := purego.Dlsym(h, s.name)
		if err != nil {
			return nil, &LoadError{Path: path, Symbol: s.name, Err: err}
		}
		purego.RegisterFunc(s.fptr, addr)
	}
	for _, s := range l.optionalSymbols() {
		if addr, err := purego.Dlsym(h, s.name); err == nil {
			purego.RegisterFunc(s.fptr, addr)
		}
	}
	return l, nil
}

// Path returns the path the library was loaded from.
func (l *Lib) Path() string { return l.path }

// check returns nil when r is CUDA_SUCCESS and otherwise a *DriverError
// for call with the driver's name and message for r. Every driver call
// of the package goes through it.
func (l *Lib) check(call string, r int32) error {
	if r == Success {
		return nil
	}
	return &DriverError{
		Call:    call,
		Code:    int(r),
		Name:    l.errorText(l.fn.cuGetErrorName, r),
		Message: l.errorText(l.fn.cuGetErrorString, r),
	}
}

// errorText returns what describe (cuGetErrorName or cuGetErrorString)
// says about the code r, or a placeholder when the driver does not know r.
func (l *Lib) errorText(describe func(int32, **byte) int32, r int32) string {
	var s *byte
	if describe(r, &s) != Success || s == nil {
		return fmt.Sprintf("CUresult(%d)", r)
	}
	return goString(s)
}

// goString copies the NUL-terminated C string at p.
func goString(p *byte) string {
	n := 0
	for *(*byte)(unsafe.Add(unsafe.Pointer(p), n)) != 0 {
		n++
	}
	return string(unsafe.Slice(p, n))
}
