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
	if !d.IsNativelyAccessible() || d.IsMaterializable() {
		src = d.Materialize().(*gt.Dense)
	}
	shape := []int(d.Shape())
	if len(shape) == 0 {
		shape = []int{}
	}
	data := src.Float32s()
	if !src.DataOrder().IsRowMajor() {
		var err error
		if data, err = rowMajor(src, shape); err != nil {
			return nil, err
		}
	}
	return FromHost(dev, data[:numel(shape)], shape...)
}

// rowMajor reads the values of d, of the given shape, in row-major order
// whatever its storage order, one element at a time.
func rowMajor(d *gt.Dense, shape []int) ([]float32, error) {
	out := make([]float32, numel(shape))
	coord := make([]int, len(shape))
	for i := range out {
		v, err := d.At(coord...)
		if err != nil {
			return nil, fmt.Errorf("tensor: FromDense: %w", err)
		}
		out[i] = v.(float32)
		for k := len(coord) - 1; k >= 0; k-- {
			if coord[k]++; coord[k] < shape[k] {
				break
			}
			coord[k] = 0
		}
	}
	return out, nil
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
