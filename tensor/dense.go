package tensor

import (
	"fmt"

	gt "gorgonia.org/tensor"

	"github.com/optraj/optraj/device"
)

// FromDense returns a tensor on dev holding a copy of d, which must hold
// float32 values. The shape is d's shape.
func FromDense(dev device.Device, d *gt.Dense) (*Tensor, error) {
	if d.Dtype() != gt.Float32 {
		return nil, fmt.Errorf("tensor: FromDense of %v values, want float32", d.Dtype())
	}
	src := d
	if !d.IsNativelyAccessible() || !d.DataOrder().IsRowMajor() || d.IsView() {
		src = d.Materialize().(*gt.Dense)
	}
	data := src.Float32s()
	shape := []int(d.Shape())
	if len(shape) == 0 {
		shape = []int{}
	}
	return FromHost(dev, data[:numel(shape)], shape...)
}

// Dense copies t into a new gorgonia.org/tensor *Dense of t's shape.
func (t *Tensor) Dense() (*gt.Dense, error) {
	data, err := t.Host()
	if err != nil {
		return nil, err
	}
	shape := t.Shape()
	if len(shape) == 0 {
		return gt.New(gt.FromScalar(data[0])), nil
	}
	return gt.New(gt.WithShape(shape...), gt.WithBacking(data)), nil
}
