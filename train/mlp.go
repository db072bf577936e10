package train

import (
	"fmt"
	"math/rand/v2"

	"github.com/optraj/optraj/device"
	"github.com/optraj/optraj/tensor"
)

// MLP is a multilayer perceptron: Linear layers with a ReLU between each
// pair, ending in logits for a softmax cross-entropy loss. Sizes [784, 10]
// give multinomial logistic regression; [784, 128, 10] one hidden layer.
type MLP struct {
	Sizes   []int
	MaxRows int // the largest batch the model's workspaces hold
	Layers  []Layer

	loss  *tensor.Tensor // per-row loss, MaxRows
	dz    *tensor.Tensor // gradient of the loss at the logits, MaxRows×classes
	dev   device.Device
	param []*Param
}

// Stream numbers of the PCG generators drawn from a run's seed, so that
// each random choice has a stream of its own.
const (
	streamInit  = 1 // weight initialisation
	streamOrder = 2 // minibatch order
)

// NewMLP builds an MLP with the given layer sizes on dev for batches of up
// to maxRows rows, initialised from seed.
func NewMLP(dev device.Device, sizes []int, maxRows int, seed uint64) (*MLP, error) {
	if len(sizes) < 2 {
		return nil, fmt.Errorf("train: an MLP needs at least 2 sizes, got %v", sizes)
	}
	for _, s := range sizes {
		if s <= 0 {
			return nil, fmt.Errorf("train: layer size %d in %v", s, sizes)
		}
	}
	m := &MLP{Sizes: sizes, MaxRows: maxRows, dev: dev}
	rng := rand.New(rand.NewPCG(seed, streamInit))
	err := m.build(dev, rng)
	if err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}

func (m *MLP) build(dev device.Device, rng *rand.Rand) error {
	for i := 0; i+1 < len(m.Sizes); i++ {
		l, err := NewLinear(dev, m.Sizes[i], m.Sizes[i+1], m.MaxRows, rng)
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, l)
		m.param = append(m.param, l.Params()...)
		if i+2 == len(m.Sizes) {
			break
		}
		r, err := NewReLU(dev, m.Sizes[i+1], m.MaxRows)
		if err != nil {
			return err
		}
		m.Layers = append(m.Layers, r)
	}
	var err error
	if m.loss, err = tensor.New(dev, m.MaxRows); err != nil {
		return fmt.Errorf("train: loss workspace: %w", err)
	}
	if m.dz, err = tensor.New(dev, m.MaxRows, m.Classes()); err != nil {
		return fmt.Errorf("train: loss workspace: %w", err)
	}
	return nil
}

// Classes returns the number of outputs.
func (m *MLP) Classes() int { return m.Sizes[len(m.Sizes)-1] }

// Device returns the device that holds the model.
func (m *MLP) Device() device.Device { return m.dev }

// Params returns every parameter, in layer order, weight before bias.
func (m *MLP) Params() []*Param { return m.param }

// NumParams returns the number of learned values.
func (m *MLP) NumParams() int {
	n := 0
	for _, p := range m.param {
		n += p.Value.Len()
	}
	return n
}

// Linears returns the Linear layers in order.
func (m *MLP) Linears() []*Linear {
	var ls []*Linear
	for _, l := range m.Layers {
		if lin, ok := l.(*Linear); ok {
			ls = append(ls, lin)
		}
	}
	return ls
}

// Forward returns the logits for the rows of x, a view that stays valid
// until the next call. It panics if x has more than MaxRows rows.
func (m *MLP) Forward(x *tensor.Tensor) *tensor.Tensor {
	if x.Rows() > m.MaxRows {
		panic(fmt.Sprintf("train: batch of %d rows for a model built for %d",
			x.Rows(), m.MaxRows))
	}
	h := x
	for _, l := range m.Layers {
		h = l.Forward(h)
	}
	return h
}

// Loss runs Forward on x and returns the per-row cross-entropy against
// the labels y, and the logits. With grad set it also keeps
// s·∂loss/∂logits for Backward, where s is usually 1/rows so that Backward
// yields the gradient of the mean loss. Both results are views that stay
// valid until the next call.
func (m *MLP) Loss(x *tensor.Tensor, y []int32, grad bool,
	s float32) (loss, logits *tensor.Tensor) {
	z := m.Forward(x)
	rows := x.Rows()
	loss = m.loss.RowSlice(0, rows)
	var dz *tensor.Tensor
	if grad {
		dz = m.dz.RowSlice(0, rows)
	}
	tensor.SoftmaxCrossEntropy(loss, dz, z, y, s)
	return loss, z
}

// Backward propagates the gradient kept by the last Loss call with grad
// set, leaving the parameter gradients in Params()[i].Grad.
func (m *MLP) Backward(rows int) {
	g := m.dz.RowSlice(0, rows)
	for i := len(m.Layers) - 1; i >= 0; i-- {
		g = m.Layers[i].Backward(g, i > 0)
	}
}

// BackwardOutputs propagates the gradient kept by the last Loss call to
// every layer's output, for OutputGrad, without the parameter gradients:
// what per-sample attribution needs, at a fraction of Backward's cost.
func (m *MLP) BackwardOutputs(rows int) {
	g := m.dz.RowSlice(0, rows)
	for i := len(m.Layers) - 1; i > 0; i-- {
		g = m.Layers[i].BackwardInput(g)
	}
	m.Layers[0].(*Linear).dy = g // the data need no gradient
}

// Weights copies every parameter to the host, in Params order.
func (m *MLP) Weights() ([][]float32, error) {
	out := make([][]float32, len(m.param))
	for i, p := range m.param {
		v, err := p.Value.Host()
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// SetWeights copies host values into every parameter, in Params order.
func (m *MLP) SetWeights(w [][]float32) error {
	if len(w) != len(m.param) {
		return fmt.Errorf("train: %d weight tensors for a model with %d", len(w), len(m.param))
	}
	for i, p := range m.param {
		if len(w[i]) != p.Value.Len() {
			return fmt.Errorf("train: %s has %d values, got %d",
				p.Name, p.Value.Len(), len(w[i]))
		}
		if err := p.Value.CopyFrom(w[i]); err != nil {
			return err
		}
	}
	return nil
}

// Free releases the model's device memory.
func (m *MLP) Free() {
	for _, l := range m.Layers {
		l.Free()
	}
	for _, t := range []*tensor.Tensor{m.loss, m.dz} {
		if t != nil {
			t.Free()
		}
	}
}
