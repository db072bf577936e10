// Package device is the compute abstraction under every tensor in optraj:
// float32 buffers that live on one device, explicit copies between host and
// device, and the numerical operations that training and attribution need.
//
// Two backends implement Device. The CPU backend is pure Go (with an AVX2
// matrix product from github.com/viterin/vek) and is in every build. The CUDA
// backend exists only in builds with the cuda tag; Open("cuda") in any other
// build returns ErrNoCUDABuild.
//
// All matrices are dense, row-major and contiguous: an m×n matrix occupies
// m·n consecutive float32 values of a Buffer. Operations may run
// asynchronously. A device keeps the first error that an operation meets
// (a failed launch, say) and reports it from the next Sync; after an error
// the device's results are undefined until it is closed. Programmer errors
// (a length that does not match the stated shape, a buffer of another
// device) panic with a message prefixed "device: ".
package device

import (
	"errors"
	"fmt"
)

// Buffer is a span of float32 values in one device's memory. A Buffer is not
// addressable from Go; its values move only through Device.CopyIn,
// Device.CopyOut and Device.Copy.
type Buffer interface {
	// Len returns the number of float32 values in the buffer.
	Len() int

	// Slice returns the view of elements [i, j) of the buffer. The view
	// shares memory with the buffer. Slice panics if 0 ≤ i ≤ j ≤ Len()
	// does not hold.
	Slice(i, j int) Buffer
}

// Device allocates buffers, moves data and runs operations on them.
// A Device is not safe for concurrent use by several goroutines.
type Device interface {
	// Name describes the device for people, such as "cpu (2 threads)".
	Name() string

	// Kind reports the backend.
	Kind() Kind

	// Alloc returns a buffer of n float32 values, set to zero. It returns
	// an error wrapping ErrOutOfMemory when the device cannot hold it.
	Alloc(n int) (Buffer, error)

	// Free releases a buffer that Alloc returned. Views made by Slice must
	// not be used afterwards. Freeing a view is a no-op.
	Free(b Buffer)

	// CopyIn copies len(src) values from host memory to dst[0:len(src)].
	CopyIn(dst Buffer, src []float32) error

	// CopyOut copies len(dst) values from src[0:len(dst)] to host memory.
	// It waits for every earlier operation to finish.
	CopyOut(dst []float32, src Buffer) error

	// Sync waits until every operation issued so far has finished and
	// returns the first error any of them met.
	Sync() error

	// Close releases the device's resources, including every buffer.
	Close() error

	Ops
}

// Ops are the numerical operations of a device. The arguments of an
// operation must all belong to the device that runs it. Index arguments
// (labels, row indices) are host slices; the device copies them itself.
type Ops interface {
	// Copy sets dst = src. The buffers must have the same length.
	Copy(dst, src Buffer)

	// Fill sets every element of x to v.
	Fill(x Buffer, v float32)

	// Scale sets x = α·x.
	Scale(alpha float32, x Buffer)

	// Axpy sets y = α·x + y.
	Axpy(alpha float32, x, y Buffer)

	// Mul sets dst = a ⊙ b, element by element.
	Mul(dst, a, b Buffer)

	// Gemm computes the matrix product
	//
	//	C = α·op(A)·op(B) + β·C
	//
	// where op(X) is X or Xᵀ as transA and transB say, op(A) is m×k, op(B)
	// is k×n and C is m×n. A is stored m×k when not transposed and k×m when
	// transposed, and likewise B. When β is zero, C is not read.
	Gemm(transA, transB bool, m, n, k int, alpha float32,
		a, b Buffer, beta float32, c Buffer)

	// AddRowVector adds the n-vector v to every row of the m×n matrix x.
	AddRowVector(x Buffer, m, n int, v Buffer)

	// SumRows sets dst = β·dst + Σᵢ x[i,:], the sum of the m rows of the
	// m×n matrix x; dst has length n. When β is zero, dst is not read.
	SumRows(dst Buffer, x Buffer, m, n int, beta float32)

	// RowDot sets dst[i] = Σⱼ a[i,j]·b[i,j] for the m rows of the m×n
	// matrices a and b; dst has length m.
	RowDot(dst, a, b Buffer, m, n int)

	// ReLU sets dst = max(x, 0).
	ReLU(dst, x Buffer)

	// ReLUBackward sets dst = g where x > 0 and 0 elsewhere: the gradient
	// through a ReLU whose input was x.
	ReLUBackward(dst, g, x Buffer)

	// SoftmaxCrossEntropy takes the m×n matrix of logits z and the m class
	// labels y, and sets
	//
	//	loss[i]   = log Σⱼ exp z[i,j] − z[i,y[i]]
	//	grad[i,j] = s·(softmax(z[i,:])[j] − [j = y[i]])
	//
	// loss has length m and grad is m×n; grad may be nil. It panics if a
	// label is outside [0, n).
	SoftmaxCrossEntropy(loss, grad, z Buffer, y []int32, m, n int, s float32)

	// SGDStep makes one step of stochastic gradient descent with momentum
	// μ and weight decay λ on the parameters w, given their gradient g and
	// momentum buffer v:
	//
	//	v = μ·v + g + λ·w
	//	w = w − η·v
	SGDStep(w, g, v Buffer, eta, mu, lambda float32)

	// GatherRows sets row r of the len(idx)×n matrix dst to row idx[r] of
	// the matrix src, which has n columns.
	GatherRows(dst, src Buffer, idx []int32, n int)

	// ScatterAddRows adds row r of the len(idx)×n matrix src to row idx[r]
	// of the matrix dst, which has n columns. Repeated indices accumulate.
	ScatterAddRows(dst, src Buffer, idx []int32, n int)
}

// Kind names a backend.
type Kind int

// The backends.
const (
	KindCPU Kind = iota
	KindCUDA
)

func (k Kind) String() string {
	switch k {
	case KindCPU:
		return "cpu"
	case KindCUDA:
		return "cuda"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

var (
	// ErrOutOfMemory is wrapped by the error Alloc returns when the
	// device has no room for the buffer.
	ErrOutOfMemory = errors.New("device: out of memory")

	// ErrNoCUDABuild is returned when a CUDA device is asked of a binary
	// that was built without the cuda tag.
	ErrNoCUDABuild = errors.New(
		"device: this binary has no CUDA support; rebuild with -tags cuda")

	// ErrNoDriver is wrapped by the error that opening a CUDA device
	// returns when the CUDA driver (libcuda.so.1) or a GPU is missing.
	ErrNoDriver = errors.New("device: no CUDA driver or GPU")
)
