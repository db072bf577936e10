// Package kernels holds the CUDA C kernels of optraj's CUDA backend and the
// PTX generated from them, embedded so that the backend can load it with
// cuModuleLoadData at run time.
//
// Each kernels/NAME.cu compiles to kernels/NAME.ptx with Debian's clang and
// no CUDA toolkit; gen.sh regenerates the PTX and check.sh fails when the
// committed PTX differs from what gen.sh makes. The package has no GPU code
// of its own, and only the cuda build of package device imports it.
package kernels

import (
	"embed"
	"fmt"
	"strings"
)

//go:embed *.ptx
var ptx embed.FS

// Modules lists the names of the embedded PTX modules, one per .cu file:
// "elementwise", "gemm", and so on.
func Modules() []string {
	entries, err := ptx.ReadDir(".")
	if err != nil {
		panic("kernels: " + err.Error()) // the embedded root always reads
	}
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".ptx"))
	}
	return names
}

// PTX returns the PTX of the named module followed by a NUL byte, as
// cuModuleLoadData takes it.
func PTX(module string) ([]byte, error) {
	b, err := ptx.ReadFile(module + ".ptx")
	if err != nil {
		return nil, fmt.Errorf("kernels: no module %q: %w", module, err)
	}
	return append(b, 0), nil
}
