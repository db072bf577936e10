package train

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// Param is one learned tensor of a layer and the gradient of the loss with
// respect to it, which Backward overwrites.
type Param struct {
	Name  string
	Value *tensor.Tensor
	Grad  *tensor.Tensor
}

// Layer is one stage of a network. Forward and Backward work on batches of
// up to the maxRows that the layer was built for; their results are views
// into the layer's own memory and stay valid until the next call.
type Layer interface {
	// Forward returns the layer's output for the rows×in input x and keeps
	// what Backward needs.
	Forward(x *tensor.Tensor) *tensor.Tensor

	// Backward takes the gradient of the loss with respect to the last
	// output, sets the gradients of the parameters, and returns the
	// gradient with respect to the last input, or nil if needInput is
	// false.
	Backward(dy *tensor.Tensor, needInput bool) *tensor.Tensor

	// BackwardInput is Backward for the input gradient alone: it leaves
	// the parameter gradients as they are.
	BackwardInput(dy *tensor.Tensor) *tensor.Tensor

	// Params returns the layer's parameters, nil if it has none.
	Params() []*Param

	// Free releases the layer's device memory.
	Free()
}

// Linear is a fully connected layer, y = x·Wᵀ + b, with W of shape out×in
// and b of length out, the layout PyTorch uses.
type Linear struct {
	In, Out int
	W, B    *Param

	x  *tensor.Tensor // last input, rows×in (a view of the caller's)
	dy *tensor.Tensor // last output gradient, rows×out (a view)
	y  *tensor.Tensor // output workspace, maxRows×out
	dx *tensor.Tensor // input-gradient workspace, maxRows×in
}

// NewLinear returns a Linear layer for batches of up to maxRows rows, with
// weights and biases drawn uniformly from [−1/√in, 1/√in] (PyTorch's
// default initialisation) by rng.
func NewLinear(dev device.Device, in, out, maxRows int, rng *rand.Rand) (*Linear, error) {
	l := &Linear{In: in, Out: out}
	bound := 1 / math.Sqrt(float64(in))
	w := uniform(rng, out*in, bound)
	b := uniform(rng, out, bound)

	var err error
	alloc := func(shape ...int) *tensor.Tensor {
		if err != nil {
			return nil
		}
		var t *tensor.Tensor
		t, err = tensor.New(dev, shape...)
		return t
	}
	l.W = &Param{Name: fmt.Sprintf("linear%dx%d.weight", out, in),
		Value: alloc(out, in), Grad: alloc(out, in)}
	l.B = &Param{Name: fmt.Sprintf("linear%dx%d.bias", out, in),
		Value: alloc(out), Grad: alloc(out)}
	l.y = alloc(maxRows, out)
	l.dx = alloc(maxRows, in)
	if err == nil {
		err = l.W.Value.CopyFrom(w)
	}
	if err == nil {
		err = l.B.Value.CopyFrom(b)
	}
	if err != nil {
		l.Free()
		return nil, fmt.Errorf("train: linear layer %d→%d: %w", in, out, err)
	}
	return l, nil
}

func uniform(rng *rand.Rand, n int, bound float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((2*rng.Float64() - 1) * bound)
	}
	return v
}

// Forward returns x·Wᵀ + b.
func (l *Linear) Forward(x *tensor.Tensor) *tensor.Tensor {
	l.x = x
	y := l.y.RowSlice(0, x.Rows())
	y.MatMul(x, false, l.W.Value, true)
	y.AddRowVector(l.B.Value)
	return y
}

// Backward sets ∂W = dyᵀ·x and ∂b = Σ dy, and returns dy·W.
func (l *Linear) Backward(dy *tensor.Tensor, needInput bool) *tensor.Tensor {
	l.W.Grad.MatMul(dy, true, l.x, false)
	l.B.Grad.SumRows(dy, 0)
	if !needInput {
		l.dy = dy
		return nil
	}
	return l.BackwardInput(dy)
}

// BackwardInput returns dy·W and keeps dy for OutputGrad.
func (l *Linear) BackwardInput(dy *tensor.Tensor) *tensor.Tensor {
	l.dy = dy
	dx := l.dx.RowSlice(0, dy.Rows())
	dx.MatMul(dy, false, l.W.Value, false)
	return dx
}

// Input returns the input of the last Forward call, rows×in.
func (l *Linear) Input() *tensor.Tensor { return l.x }

// OutputGrad returns the output gradient of the last Backward call,
// rows×out. Row i is the gradient of the loss with respect to the layer's
// output for sample i, so the gradient of the loss with respect to W is
// Σᵢ dy[i,:]ᵀ·x[i,:]: per-sample gradients are rank one.
func (l *Linear) OutputGrad() *tensor.Tensor { return l.dy }

// Params returns W and b.
func (l *Linear) Params() []*Param { return []*Param{l.W, l.B} }

// Free releases the layer's memory.
func (l *Linear) Free() {
	for _, t := range []*tensor.Tensor{l.y, l.dx} {
		if t != nil {
			t.Free()
		}
	}
	for _, p := range []*Param{l.W, l.B} {
		if p != nil {
			p.Value.Free()
			p.Grad.Free()
		}
	}
}

// ReLU is the rectifier max(x, 0), applied element by element.
type ReLU struct {
	x, y, dx *tensor.Tensor
}

// NewReLU returns a ReLU for batches of up to maxRows rows of width n.
func NewReLU(dev device.Device, n, maxRows int) (*ReLU, error) {
	y, err := tensor.New(dev, maxRows, n)
	if err != nil {
		return nil, fmt.Errorf("train: relu of width %d: %w", n, err)
	}
	dx, err := tensor.New(dev, maxRows, n)
	if err != nil {
		y.Free()
		return nil, fmt.Errorf("train: relu of width %d: %w", n, err)
	}
	return &ReLU{y: y, dx: dx}, nil
}

// Forward returns max(x, 0).
func (r *ReLU) Forward(x *tensor.Tensor) *tensor.Tensor {
	r.x = x
	y := r.y.RowSlice(0, x.Rows())
	y.ReLU(x)
	return y
}

// Backward returns dy where the input was positive and 0 elsewhere.
func (r *ReLU) Backward(dy *tensor.Tensor, needInput bool) *tensor.Tensor {
	if !needInput {
		return nil
	}
	return r.BackwardInput(dy)
}

// BackwardInput returns dy where the input was positive and 0 elsewhere.
func (r *ReLU) BackwardInput(dy *tensor.Tensor) *tensor.Tensor {
	dx := r.dx.RowSlice(0, dy.Rows())
	dx.ReLUBackward(dy, r.x)
	return dx
}

// Params returns nil: a ReLU learns nothing.
func (r *ReLU) Params() []*Param { return nil }

// Free releases the layer's memory.
func (r *ReLU) Free() {
	r.y.Free()
	r.dx.Free()
}
