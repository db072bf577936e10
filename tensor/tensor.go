// Package tensor provides a float32 tensor over a device buffer and the
// operations that training and attribution need, each dispatched to the
// device that holds the tensor.
//
// A Tensor is a shape and a device.Buffer; its values live on the device
// and reach the host only through Host and CopyFrom. Methods that compute
// write their result into the receiver, in the style of gonum's mat
// package: c.MatMul(a, false, b, true) sets c = a·bᵀ. Shapes are checked
// before any work is issued; a mismatch is a programmer error and panics
// with a message prefixed "tensor: ".
package tensor

import (
	"fmt"
	"slices"

	"github.com/optraj/optraj/device"
)

// Tensor is a dense, row-major float32 array on one device.
type Tensor struct {
	dev   device.Device
	buf   device.Buffer
	shape []int
	view  bool // buf belongs to another tensor
}

// New returns a tensor of the given shape on dev, with every value zero.
// An allocation failure, such as device.ErrOutOfMemory, is returned
// wrapped with the shape.
func New(dev device.Device, shape ...int) (*Tensor, error) {
	n := numel(shape)
	buf, err := dev.Alloc(n)
	if err != nil {
		return nil, fmt.Errorf("tensor: allocating %v: %w", shape, err)
	}
	return &Tensor{dev: dev, buf: buf, shape: slices.Clone(shape)}, nil
}

// FromHost returns a tensor of the given shape on dev holding a copy of
// data. It panics if len(data) does not equal the number of elements.
func FromHost(dev device.Device, data []float32, shape ...int) (*Tensor, error) {
	if len(data) != numel(shape) {
		panic(fmt.Sprintf("tensor: %d values for shape %v", len(data), shape))
	}
	t, err := New(dev, shape...)
	if err != nil {
		return nil, err
	}
	if err := t.CopyFrom(data); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("tensor: negative dimension in %v", shape))
		}
		n *= d
	}
	return n
}

// Device returns the device that holds t.
func (t *Tensor) Device() device.Device { return t.dev }

// Buffer returns the device buffer behind t.
func (t *Tensor) Buffer() device.Buffer { return t.buf }

// Shape returns a copy of t's shape.
func (t *Tensor) Shape() []int { return slices.Clone(t.shape) }

// Len returns the number of elements of t.
func (t *Tensor) Len() int { return t.buf.Len() }

// Rows returns the first dimension of t, or 1 for a scalar.
func (t *Tensor) Rows() int {
	if len(t.shape) == 0 {
		return 1
	}
	return t.shape[0]
}

// Cols returns the number of elements in one row: the product of every
// dimension after the first.
func (t *Tensor) Cols() int {
	if len(t.shape) == 0 {
		return 1
	}
	return numel(t.shape[1:])
}

// Free releases t's device memory. A view frees nothing.
func (t *Tensor) Free() {
	if t.buf != nil && !t.view {
		t.dev.Free(t.buf)
	}
	t.buf = nil
}

// Host copies t's values to a new host slice.
func (t *Tensor) Host() ([]float32, error) {
	out := make([]float32, t.Len())
	if err := t.dev.CopyOut(out, t.buf); err != nil {
		return nil, fmt.Errorf("tensor: copying %v to the host: %w", t.shape, err)
	}
	return out, nil
}

// CopyFrom copies the host values data into t. It panics if len(data) is
// not t.Len().
func (t *Tensor) CopyFrom(data []float32) error {
	if len(data) != t.Len() {
		panic(fmt.Sprintf("tensor: copying %d values into shape %v", len(data), t.shape))
	}
	if err := t.dev.CopyIn(t.buf, data); err != nil {
		return fmt.Errorf("tensor: copying %v to the device: %w", t.shape, err)
	}
	return nil
}

// RowSlice returns a view of rows [i, j) of t, sharing t's memory.
func (t *Tensor) RowSlice(i, j int) *Tensor {
	if len(t.shape) == 0 || i < 0 || j < i || j > t.shape[0] {
		panic(fmt.Sprintf("tensor: rows [%d:%d] of shape %v", i, j, t.shape))
	}
	c := t.Cols()
	shape := slices.Clone(t.shape)
	shape[0] = j - i
	return &Tensor{dev: t.dev, buf: t.buf.Slice(i*c, j*c), shape: shape, view: true}
}

// Reshape returns a view of t with another shape of the same size.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	if numel(shape) != t.Len() {
		panic(fmt.Sprintf("tensor: reshape %v to %v", t.shape, shape))
	}
	return &Tensor{dev: t.dev, buf: t.buf, shape: slices.Clone(shape), view: true}
}

// String describes t's shape and device, not its values.
func (t *Tensor) String() string {
	return fmt.Sprintf("Tensor%v on %s", t.shape, t.dev.Name())
}
