package train

import (
	"fmt"
	"math"

	"github.com/optraj/optraj/tensor"
)

// SGD is stochastic gradient descent with heavy-ball momentum μ and L2
// weight decay λ, in the form PyTorch's torch.optim.SGD uses:
//
//	v ← μ·v + ∇L + λ·w
//	w ← w − η·v
//
// with v starting at zero.
type SGD struct {
	Momentum    float64 // μ
	WeightDecay float64 // λ
	velocity    []*tensor.Tensor
}

// NewSGD returns an optimizer for params with zero velocity.
func NewSGD(params []*Param, momentum, weightDecay float64) (*SGD, error) {
	o := &SGD{Momentum: momentum, WeightDecay: weightDecay}
	for _, p := range params {
		v, err := tensor.New(p.Value.Device(), p.Value.Shape()...)
		if err != nil {
			o.Free()
			return nil, fmt.Errorf("train: momentum for %s: %w", p.Name, err)
		}
		o.velocity = append(o.velocity, v)
	}
	return o, nil
}

// Step updates params with learning rate eta from their gradients.
func (o *SGD) Step(params []*Param, eta float64) {
	for i, p := range params {
		p.Value.SGDStep(p.Grad, o.velocity[i],
			float32(eta), float32(o.Momentum), float32(o.WeightDecay))
	}
}

// Velocity returns the momentum buffers, one per parameter.
func (o *SGD) Velocity() []*tensor.Tensor { return o.velocity }

// Free releases the momentum buffers.
func (o *SGD) Free() {
	for _, v := range o.velocity {
		v.Free()
	}
}

// Schedule names a learning-rate schedule over a run of T steps with base
// rate η₀:
//
//	constant  η_t = η₀
//	cosine    η_t = η₀·(1 + cos(π·t/T))/2
//	step      η_t = η₀, then η₀/10 from 50% of the steps, η₀/100 from 75%
type Schedule string

// The schedules.
const (
	Constant Schedule = "constant"
	Cosine   Schedule = "cosine"
	Step     Schedule = "step"
)

// Rates returns η_t for each of the steps of a run.
func (s Schedule) Rates(base float64, steps int) ([]float64, error) {
	switch s {
	case Constant, Cosine, Step:
	default:
		return nil, fmt.Errorf("train: unknown schedule %q (want constant, cosine or step)", s)
	}
	eta := make([]float64, steps)
	for t := range eta {
		switch s {
		case Constant:
			eta[t] = base
		case Cosine:
			eta[t] = base * (1 + math.Cos(math.Pi*float64(t)/float64(steps))) / 2
		case Step:
			eta[t] = base
			if 4*t >= 3*steps {
				eta[t] = base / 100
			} else if 2*t >= steps {
				eta[t] = base / 10
			}
		}
	}
	return eta, nil
}
